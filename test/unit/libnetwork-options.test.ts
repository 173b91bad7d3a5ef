import { test } from 'node:test';
import assert from 'node:assert/strict';
import { genericOptions, parseNeutronOptions, parsePoolOptions } from '../../src/libnetwork/options.js';
import { poolSettingTags, poolSettingsFromTags } from '../../src/libnetwork/naming.js';
import { KuryrError } from '../../src/errors.js';

test('neutron.* options are read for both families, other keys ignored', () => {
  const o = parseNeutronOptions({
    'neutron.net.name': 'ext',
    'neutron.net.shared': 'True',
    'neutron.subnet.v6.uuid': 'abc',
    'neutron.pool.name': 'p4',
    'com.docker.network.bridge.name': 'x',
  });
  assert.equal(o.netName, 'ext');
  assert.equal(o.shared, true);
  assert.equal(o.v6.subnetUuid, 'abc');
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
  const sized = parsePoolOptions({ 'kuryr.pool.min': '30' });
  assert.deepEqual(sized, { enabled: true, min: 30 });
  assert.deepEqual(poolSettingTags(sized), ['kuryr.pool:on', 'kuryr.pool.min:30']);
  assert.deepEqual(poolSettingsFromTags(['kuryr.net.uuid.lh:x', ...poolSettingTags(sized)]), sized);
  assert.deepEqual(parsePoolOptions({ 'kuryr.pool': 'off' }), { enabled: false });
  assert.deepEqual(poolSettingsFromTags([]), {}, 'no tags: [vif_pool] decides');
});

test('a pool size that is not a whole number in range, contradicts kuryr.pool=false, or is misspelt is refused', () => {
  for (const bad of [{ 'kuryr.pool.min': '-1' }, { 'kuryr.pool.min': '2.5' }, { 'kuryr.pool.min': '1001' }, { 'kuryr.pool.min': '' }, { 'kuryr.pool.min': true }]) {
    assert.throws(() => parsePoolOptions(bad), (e: unknown) => e instanceof KuryrError && /kuryr\.pool\.min/.test(e.message), JSON.stringify(bad));
  }
  assert.throws(() => parsePoolOptions({ 'kuryr.pool': 'false', 'kuryr.pool.min': '3' }), /kuryr\.pool=false/);
  assert.throws(() => parsePoolOptions({ 'kuryr.pool.mni': '3' }), /kuryr\.pool\.min/);
});
