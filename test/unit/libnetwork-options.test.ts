import { test } from 'node:test';
import assert from 'node:assert/strict';
import { genericOptions, parseNeutronOptions } from '../../src/libnetwork/options.js';
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
