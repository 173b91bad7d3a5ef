/**
 * Port pools on their happy path, judged by the ports in (in-memory) Neutron and the devices on the
 * (in-memory) host: a pooled network keeps free ports ready, a container takes one, `docker rm`
 * gives it back, `docker network rm` drains the pool, and a restarted daemon finds the pool again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostVethName } from '../../src/binding/naming.js';
import { DEVICE_OWNER, PORT_OWNED_TAG, PORT_POOLED_TAG, POOLED_PORT_NAME, poolHostTag } from '../../src/libnetwork/naming.js';
import type { Port } from '../../src/openstack/neutron-types.js';
import { HOST, networkCreate, networkRm, rm, run, testConfig, wire, type Wired } from './libnetwork-docker.js';

const MIN = 3;
const pooledConfig = () => testConfig({ min: MIN, batch: MIN });

const freePooled = (w: Wired): Port[] => [...w.ports.values()].filter((p) => p.tags.includes(PORT_POOLED_TAG) && p.device_id === '');

/** Lets the pool's background fill run (the in-memory Neutron answers at once). */
async function filled(w: Wired, count = MIN): Promise<Port[]> {
  for (let turn = 0; turn < 1000 && freePooled(w).length < count; turn++) await new Promise((r) => setImmediate(r));
  await w.settle();
  return freePooled(w);
}

test('a pooled network keeps ports_pool_min free ports: addressed on its subnet, unbound, owned by Kuryr, tagged as pooled for this host', async () => {
  const w = wire(pooledConfig());
  await networkCreate(w, '10.50.1.0/24', { 'kuryr.pool': 'true' });
  const free = await filled(w);
  assert.equal(free.length, MIN);
  const subnet = [...w.subnets.values()][0]!;
  for (const port of free) {
    assert.deepEqual(port.fixed_ips.map((f) => f.subnet_id), [subnet.id]);
    assert.equal(port['binding:host_id'] ?? '', '', 'unbound: the claim sets Docker\'s MAC, which Neutron refuses on a bound port');
    assert.equal(port.device_owner, DEVICE_OWNER);
    assert.equal(port.name, POOLED_PORT_NAME);
    for (const tag of [PORT_OWNED_TAG, PORT_POOLED_TAG, poolHostTag(HOST)]) assert.ok(port.tags.includes(tag), `tagged ${tag}`);
  }
  assert.deepEqual(w.host.links(), [], 'nothing on the host for free ports');
});

test('a container takes a pooled port: the same port becomes its endpoint\'s, bound here with Docker\'s MAC and plugged; the pool refills', async () => {
  const w = wire(pooledConfig());
  const network = await networkCreate(w, '10.50.2.0/24', { 'kuryr.pool': 'true' });
  const before = new Set((await filled(w)).map((p) => p.id));
  const endpoint = await run(w, network);
  await w.settle();
  const port = [...w.ports.values()].find((p) => p.device_id === endpoint.id);
  assert.ok(port, 'a port serves the endpoint');
  assert.ok(before.has(port.id), 'one of the free pooled ports');
  assert.equal(`${port.fixed_ips[0]!.ip_address}/24`, endpoint.address);
  assert.equal(port['binding:host_id'], HOST);
  assert.equal(port.mac_address, endpoint.mac);
  assert.ok(w.host.links().some((l) => l.name === hostVethName(port.id) && l.up), 'its tap is plugged under its final name');
  assert.ok((await filled(w)).length >= MIN, 'the pool is back to at least its minimum (it refills in batches)');
});

test('docker rm gives the port back to the pool, scrubbed (unbound, no device), and its veth goes', async () => {
  const w = wire(pooledConfig());
  const network = await networkCreate(w, '10.50.3.0/24', { 'kuryr.pool': 'true' });
  await filled(w);
  const endpoint = await run(w, network);
  await w.settle();
  const portId = [...w.ports.values()].find((p) => p.device_id === endpoint.id)!.id;
  await rm(w, network, endpoint);
  await w.settle();
  const port = w.ports.get(portId);
  assert.ok(port, 'the port is kept, not deleted');
  assert.equal(port.device_id, '');
  assert.equal(port['binding:host_id'] ?? '', '');
  assert.equal(port.name, POOLED_PORT_NAME);
  assert.ok(port.tags.includes(PORT_POOLED_TAG));
  assert.ok(freePooled(w).some((p) => p.id === portId), 'free again');
  assert.deepEqual(w.host.links().filter((l) => l.kind === 'veth'), [], 'no veth left');
});

test('docker network rm drains the pool: no port, subnet, network or subnet pool is left', async () => {
  const w = wire(pooledConfig());
  const network = await networkCreate(w, '10.50.4.0/24', { 'kuryr.pool': 'true' });
  await filled(w);
  const endpoint = await run(w, network);
  await w.settle();
  await rm(w, network, endpoint);
  await w.settle();
  await networkRm(w, network);
  assert.equal(w.ports.size, 0);
  assert.equal(w.subnets.size + w.networks.size + w.subnetPools.size, 0);
});

test('after a restart the pool is rebuilt from Neutron\'s tags and its ports serve the next container', async () => {
  const first = wire(pooledConfig());
  const network = await networkCreate(first, '10.50.5.0/24', { 'kuryr.pool': 'true' });
  const pooledBefore = new Set((await filled(first)).map((p) => p.id));
  const restarted = wire(pooledConfig(), first);
  await restarted.pools.start();
  restarted.pools.stop();
  const endpoint = await run(restarted, network);
  await restarted.settle();
  const port = [...first.ports.values()].find((p) => p.device_id === endpoint.id)!;
  assert.ok(pooledBefore.has(port.id), 'the container\'s port was pooled before the restart');
});
