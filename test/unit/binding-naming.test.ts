import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerIfName, hostVethName, isValidIfName, linuxBridgeName, ovsHybridNames } from '../../src/binding/naming.js';
import { KuryrError } from '../../src/errors.js';

const PORT = '5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8';
const NET = '9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9';

test('host veth is tap + the first 11 chars of the port id', () => {
  assert.equal(hostVethName(PORT), 'tap5f1a2b3c-4d');
});

test('container end is t_c + the first 11 chars of the port id', () => {
  assert.equal(containerIfName(PORT), 't_c5f1a2b3c-4d');
});

test('Linux bridge is brq + the first 11 chars of the network id', () => {
  assert.equal(linuxBridgeName(NET), 'brq9e8d7c6b-5a');
});

test('OVS hybrid names are qbr/qvb/qvo + the first 11 chars of the port id', () => {
  assert.deepEqual(ovsHybridNames(PORT), { qbr: 'qbr5f1a2b3c-4d', qvb: 'qvb5f1a2b3c-4d', qvo: 'qvo5f1a2b3c-4d' });
});

test('every derived name fits IFNAMSIZ (at most 14 chars, limit 15 + NUL)', () => {
  const names = [hostVethName(PORT), containerIfName(PORT), linuxBridgeName(NET), ...Object.values(ovsHybridNames(PORT))];
  for (const n of names) {
    assert.equal(n.length, 14, n);
    assert.ok(isValidIfName(n), n);
  }
});

test('an id that could smuggle text into an ip -batch line, or is no Neutron id, is refused', () => {
  for (const bad of ['a b', 'x\nlink del eth0', '../x', '', 'abc', '-5f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f', `${PORT},x`, `${PORT}0`]) {
    assert.throws(() => hostVethName(bad), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_BINDING');
  }
});

test('interface-name validation: length and characters', () => {
  assert.ok(isValidIfName('br-int'));
  assert.ok(isValidIfName('a'.repeat(15)));
  assert.ok(!isValidIfName('a'.repeat(16)));
  assert.ok(!isValidIfName('eth0 up'));
  assert.ok(!isValidIfName('..'));
});
