import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dockerIdFromTags, existingNetworkTag, idTags, networkName, subnetPoolName } from '../../src/libnetwork/naming.js';

const id = '6f2a0c5e8b1d4e7f9a3c2b1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f';

test('a 64-character Docker ID is split into the low and high tags upstream uses', () => {
  assert.deepEqual(idTags(id), [`kuryr.net.uuid.lh:${id.slice(0, 32)}`, `kuryr.net.uuid.uh:${id.slice(32)}`]);
});

test('a 25-character swarm ID gets only the low tag', () => {
  const swarm = 'abcdefghijklmnopqrstuvwxy';
  assert.deepEqual(idTags(swarm), [`kuryr.net.uuid.lh:${swarm}`]);
  assert.equal(dockerIdFromTags(idTags(swarm)), swarm);
});

test('the Docker ID is recovered from tags in any order, among other tags', () => {
  const tags = ['operator-tag', ...idTags(id).reverse(), existingNetworkTag(id)];
  assert.equal(dockerIdFromTags(tags), id);
  assert.equal(dockerIdFromTags(['unrelated']), undefined);
});

test('names follow upstream: kuryr-net-<8 chars>, kuryrPool-<cidr>, existing tag with 12 chars', () => {
  assert.equal(networkName(id), 'kuryr-net-6f2a0c5e');
  assert.equal(subnetPoolName('kuryrPool', '10.0.0.0/24'), 'kuryrPool-10.0.0.0/24');
  assert.equal(existingNetworkTag(id), 'kuryr.net.existing:6f2a0c5e8b1d');
});
