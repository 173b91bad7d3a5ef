/**
 * The IPAM driver's happy path, judged by what exists afterwards in (in-memory) Neutron:
 * RequestPool, RequestAddress, ReleaseAddress, ReleasePool, in the order Docker sends them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GATEWAY_ADDRESS_TYPE, OPT_MAC, OPT_REQUEST_ADDRESS_TYPE } from '../../src/libnetwork/api.js';
import { DEVICE_OWNER, PORT_OWNED_TAG, SUBNETPOOL_OWNED_TAG, subnetPoolName } from '../../src/libnetwork/naming.js';
import { HOST, networkCreate, networkRm, rm, run, wire } from './libnetwork-docker.js';

test('RequestPool makes a Kuryr-tagged subnet pool holding exactly the CIDR, and answers with its ID', async () => {
  const w = wire();
  const answer = await w.ipam.requestPool({ AddressSpace: 'local_scope', Pool: '10.40.1.0/24', SubPool: '', Options: {}, V6: false });
  assert.deepEqual(answer, { PoolID: [...w.subnetPools.keys()][0], Pool: '10.40.1.0/24' });
  const pool = w.subnetPools.get(answer.PoolID)!;
  assert.equal(pool.name, subnetPoolName('kuryrPool', '10.40.1.0/24'));
  assert.deepEqual(pool.prefixes, ['10.40.1.0/24']);
  assert.ok(pool.tags.includes(SUBNETPOOL_OWNED_TAG));
  assert.equal(w.networks.size + w.subnets.size + w.ports.size, 0, 'nothing else in Neutron');
});

test('ReleasePool of a pool no network used (Docker rolling back a failed create) deletes it', async () => {
  const w = wire();
  const { PoolID } = await w.ipam.requestPool({ AddressSpace: 'local_scope', Pool: '10.40.7.0/24', SubPool: '', Options: {}, V6: false });
  await w.ipam.releasePool({ PoolID });
  assert.equal(w.subnetPools.size, 0);
});

test('RequestAddress for the gateway answers the first host address and makes no port', async () => {
  const w = wire();
  const { PoolID } = await w.ipam.requestPool({ AddressSpace: 'local_scope', Pool: '10.40.2.0/24', SubPool: '', Options: {}, V6: false });
  const answer = await w.ipam.requestAddress({ PoolID, Address: '', Options: { [OPT_REQUEST_ADDRESS_TYPE]: GATEWAY_ADDRESS_TYPE } });
  assert.deepEqual(answer, { Address: '10.40.2.1/24' });
  assert.equal(w.ports.size, 0);
});

test('RequestAddress makes one port on the pool\'s subnet, bound to this host, owned and tagged by Kuryr, with Docker\'s MAC, not yet any endpoint\'s', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.40.3.0/24');
  const mac = '02:42:0a:28:03:09';
  const { Address } = await w.ipam.requestAddress({ PoolID: network.poolId, Address: '', Options: { [OPT_MAC]: mac } });
  const [port, ...more] = [...w.ports.values()];
  assert.equal(more.length, 0);
  const subnet = [...w.subnets.values()][0]!;
  assert.deepEqual(port!.fixed_ips, [{ subnet_id: subnet.id, ip_address: Address.split('/')[0] }]);
  assert.match(Address, /^10\.40\.3\.\d+\/24$/);
  assert.notEqual(Address, '10.40.3.1/24', 'never the gateway');
  assert.equal(port!.mac_address, mac);
  assert.equal(port!['binding:host_id'], HOST);
  assert.equal(port!.device_owner, DEVICE_OWNER);
  assert.ok(port!.tags.includes(PORT_OWNED_TAG));
  assert.equal(port!.device_id, '', 'no endpoint has claimed it yet');
});

test('RequestAddress with an address (--ip) gets exactly that address', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.40.4.0/24');
  assert.deepEqual(await w.ipam.requestAddress({ PoolID: network.poolId, Address: '10.40.4.77', Options: {} }), { Address: '10.40.4.77/24' });
  assert.deepEqual([...w.ports.values()].map((p) => p.fixed_ips[0]!.ip_address), ['10.40.4.77']);
});

test('addresses of several containers are distinct, and ReleaseAddress deletes only the released address\'s port', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.40.5.0/24');
  const endpoints = [await run(w, network), await run(w, network), await run(w, network)];
  await w.settle();
  assert.equal(new Set(endpoints.map((e) => e.address)).size, 3);
  await rm(w, network, endpoints[1]!);
  const left = [...w.ports.values()].map((p) => `${p.fixed_ips[0]!.ip_address}/24`).sort();
  assert.deepEqual(left, [endpoints[0]!.address, endpoints[2]!.address].sort());
});

test('ReleasePool, after the last address is released, deletes the subnet pool; DeleteNetwork then leaves nothing', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.40.6.0/24');
  const endpoint = await run(w, network);
  await w.settle();
  await rm(w, network, endpoint);
  assert.equal(w.ports.size, 0);
  await networkRm(w, network);
  assert.deepEqual([...w.subnetPools.values()].map((p) => p.name), [], 'no subnet pool');
  assert.equal(w.subnets.size + w.networks.size, 0);
});

test('a network without --subnet gets the next free block of the default pool, and that pool is never deleted', async () => {
  const w = wire();
  const defaultPool = await w.neutron.createSubnetPool({ name: 'kuryr', prefixes: ['10.41.0.0/16'], default_prefixlen: 24, tags: [] });
  const taken = await w.neutron.createNetwork({ name: 'operator' });
  await w.neutron.createSubnet({ network_id: taken.id, cidr: '10.41.0.0/24', ip_version: 4, subnetpool_id: defaultPool.id });
  const { PoolID, Pool } = await w.ipam.requestPool({ AddressSpace: 'local_scope', Pool: '', SubPool: '', Options: {}, V6: false });
  assert.equal(Pool, '10.41.1.0/24', 'the first /24 no subnet uses');
  await w.ipam.releasePool({ PoolID });
  assert.ok(w.subnetPools.has(defaultPool.id), 'the operator\'s default pool stays');
});
