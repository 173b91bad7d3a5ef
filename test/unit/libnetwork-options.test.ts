import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSharedAllowed, genericOptions, parseNeutronOptions, parsePoolOptions } from '../../src/libnetwork/options.js';
import { poolSettingTags, poolSettingsFromTags } from '../../src/libnetwork/naming.js';
import { KuryrError } from '../../src/errors.js';

test('neutron.* options are read for both families, other keys ignored', () => {
  const o = parseNeutronOptions({
    'neutron.net.name': 'ext',
    'neutron.net.shared': 'True',
    'neutron.subnet.v6.uuid': '5F1A2B3C-4d5e-6f70-8192-a3b4c5d6e7f8',
    'neutron.pool.name': 'p4',
    'com.docker.network.bridge.name': 'x',
  });
  assert.equal(o.netName, 'ext');
  assert.equal(o.shared, true);
  assert.equal(o.v6.subnetUuid, '5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8', 'UUIDs are compared as Neutron writes them');
  assert.equal(o.v4.poolName, 'p4');
  assert.equal(o.v4.subnetUuid, undefined);
});

test('a misspelt neutron option is an error naming the known ones, not silently ignored', () => {
  assert.throws(() => parseNeutronOptions({ 'neutron.net.uid': 'x' }), (e: unknown) => e instanceof KuryrError && /neutron\.net\.uuid/.test(e.message));
});

test('shared must be a boolean word', () => {
  assert.equal(parseNeutronOptions({ 'neutron.net.shared': 'no' }).shared, false);
  assert.throws(() => parseNeutronOptions({ 'neutron.net.shared': 'maybe' }), KuryrError);
});

test('generic options come from com.docker.network.generic and must be a map', () => {
  assert.deepEqual(genericOptions({ 'com.docker.network.generic': { a: 'b' } }), { a: 'b' });
  assert.deepEqual(genericOptions(null), {});
  assert.throws(() => genericOptions({ 'com.docker.network.generic': 'x' }), KuryrError);
});

test('-o kuryr.pool.min sizes one network\'s pool, turns pools on for it, and survives a restart on the network\'s tags', () => {
  const sized = parsePoolOptions({ 'kuryr.pool.min': '30' }, 0);
  assert.deepEqual(sized, { enabled: true, min: 30 });
  assert.deepEqual(poolSettingTags(sized), ['kuryr.pool:on', 'kuryr.pool.min:30']);
  assert.deepEqual(poolSettingsFromTags(['kuryr.net.uuid.lh:x', ...poolSettingTags(sized)]), sized);
  assert.deepEqual(parsePoolOptions({ 'kuryr.pool': 'off' }, 0), { enabled: false });
  assert.deepEqual(poolSettingsFromTags([]), {}, 'no tags: [vif_pool] decides');
});

test('a pool size that is not a whole number in range, contradicts kuryr.pool=false, or is misspelt is refused', () => {
  for (const bad of [{ 'kuryr.pool.min': '-1' }, { 'kuryr.pool.min': '2.5' }, { 'kuryr.pool.min': '1001' }, { 'kuryr.pool.min': '' }, { 'kuryr.pool.min': true }]) {
    assert.throws(() => parsePoolOptions(bad, 0), (e: unknown) => e instanceof KuryrError && /kuryr\.pool\.min/.test(e.message), JSON.stringify(bad));
  }
  assert.throws(() => parsePoolOptions({ 'kuryr.pool': 'false', 'kuryr.pool.min': '3' }, 0), /kuryr\.pool=false/);
  assert.throws(() => parsePoolOptions({ 'kuryr.pool.mni': '3' }, 0), /kuryr\.pool\.min/);
});

test('a *.uuid option must be a UUID: a comma or a second filter cannot ride along into a Neutron query', () => {
  const id = '5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8';
  for (const key of ['neutron.net.uuid', 'neutron.subnet.uuid', 'neutron.subnet.v6.uuid', 'neutron.pool.uuid', 'neutron.pool.v6.uuid']) {
    for (const bad of [`${id},kuryr.net.uuid.lh:x`, `${id}&tags=x`, '-rf', 'abc', ` ${id}`]) {
      assert.throws(() => parseNeutronOptions({ [key]: bad }), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_INVALID_REQUEST' && e.message.includes(`${key}=`), `${key}=${bad}`);
    }
  }
});

test('a *.name option is plain text: no control character, no comma, at most 255 characters', () => {
  for (const key of ['neutron.net.name', 'neutron.subnet.name', 'neutron.pool.v6.name']) {
    assert.doesNotThrow(() => parseNeutronOptions({ [key]: 'team-a net_1 (prod)' }));
    for (const bad of ['a,b', 'a\nb', 'a\u0000', 'x'.repeat(256)]) {
      assert.throws(() => parseNeutronOptions({ [key]: bad }), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_INVALID_REQUEST', `${key}=${JSON.stringify(bad)}`);
    }
  }
});

test('neutron.net.shared=true needs the operator\'s [neutron] allow_shared_networks', () => {
  const shared = parseNeutronOptions({ 'neutron.net.shared': 'true' });
  assert.throws(() => checkSharedAllowed(shared, false), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_FORBIDDEN' && /allow_shared_networks/.test(e.message));
  checkSharedAllowed(shared, true);
  checkSharedAllowed(parseNeutronOptions({}), false);
});

test('kuryr.pool.min is bounded by [vif_pool] ports_pool_max when that is set', () => {
  assert.deepEqual(parsePoolOptions({ 'kuryr.pool.min': '20' }, 20), { enabled: true, min: 20 });
  assert.throws(() => parsePoolOptions({ 'kuryr.pool.min': '21' }, 20), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_INVALID_REQUEST' && /ports_pool_max = 20/.test(e.message));
  assert.deepEqual(parsePoolOptions({ 'kuryr.pool.min': '500' }, 0), { enabled: true, min: 500 }, '0: no maximum');
});
