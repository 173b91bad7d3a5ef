/**
 * NeutronState, the drivers' read-through cache of Neutron objects, against the in-memory Neutron:
 * it finds objects by Kuryr's tags, answers what it knows without asking Neutron again, forgets on
 * request, never hands out another host's port, and a fresh one (a restarted daemon) rebuilds
 * everything from Neutron.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NeutronState } from '../../src/libnetwork/state.js';
import { idTags } from '../../src/libnetwork/naming.js';
import type { FixedIp } from '../../src/openstack/neutron-types.js';
import { memoryNeutron } from './libnetwork-fakes.js';
import { HOST, PROJECT, dockerId, networkCreate, run, wire } from './libnetwork-docker.js';

const freshState = (w: ReturnType<typeof wire>) => new NeutronState(w.neutron, { hostname: HOST, projectId: async () => PROJECT });

test('a Docker network\'s Neutron network is found by its tags, then answered from memory until forgotten', async () => {
  const { neutron } = memoryNeutron();
  const id = dockerId();
  const net = await neutron.createNetwork({ name: 'n', tags: idTags(id) });
  const state = new NeutronState(neutron, { hostname: HOST, projectId: async () => PROJECT });
  assert.equal((await state.network(id))?.id, net.id);
  const requests = neutron.requestCount;
  assert.equal((await state.network(id))?.id, net.id);
  assert.equal(neutron.requestCount, requests, 'the second lookup asks Neutron nothing');
  await neutron.deleteNetwork(net.id);
  state.forgetNetwork(id);
  assert.equal(await state.network(id), undefined, 'once forgotten, Neutron\'s answer counts again');
  assert.equal(await state.network(dockerId()), undefined, 'an unknown Docker network has no Neutron network');
});

test('an endpoint\'s port: this host\'s port on the asked network, cached; another host\'s port with the same endpoint is never handed out', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.60.1.0/24');
  const endpoint = await run(w, network);
  await w.settle();
  const [net] = [...w.networks.values()];
  const subnet = [...w.subnets.values()][0]!;
  const port = [...w.ports.values()].find((p) => p.device_id === endpoint.id)!;
  const state = freshState(w);
  assert.equal((await state.endpointPort(endpoint.id, network.id))?.id, port.id);
  const requests = w.neutron.requestCount;
  assert.equal((await state.endpointPort(endpoint.id, network.id))?.id, port.id);
  assert.equal(w.neutron.requestCount, requests, 'answered from memory');

  const otherNetwork = await networkCreate(w, '10.60.2.0/24');
  assert.equal(await state.endpointPort(endpoint.id, otherNetwork.id), undefined, 'not on another Docker network');

  const elsewhere = dockerId();
  await w.neutron.createPort({ network_id: net!.id, device_id: elsewhere, device_owner: 'compute:kuryr', 'binding:host_id': 'host2', fixed_ips: [{ subnet_id: subnet.id }] as FixedIp[] });
  assert.equal(await state.endpointPort(elsewhere, network.id), undefined, 'another host\'s endpoint is not this host\'s to act on');
});

test('a pool\'s subnet is the one allocated from it, or an existing subnet tagged with the pool\'s ID', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.60.3.0/24');
  const state = freshState(w);
  const allocated = [...w.subnets.values()][0]!;
  assert.equal((await state.subnetOfPool(network.poolId))?.id, allocated.id);

  const operatorNet = await w.neutron.createNetwork({ name: 'operator' });
  const adopted = await w.neutron.createSubnet({ network_id: operatorNet.id, cidr: '10.60.4.0/24', ip_version: 4 });
  const pool = await w.neutron.createSubnetPool({ name: 'kuryrPool-10.60.4.0/24', prefixes: ['10.60.4.0/24'], tags: [] });
  await w.neutron.addTag('subnets', adopted.id, pool.id);
  assert.equal((await state.subnetOfPool(pool.id))?.id, adopted.id);
});

test('a restarted daemon\'s cache rebuilds from Neutron: the network, the pool\'s subnet and the endpoint\'s port are found again', async () => {
  const w = wire();
  const network = await networkCreate(w, '10.60.5.0/24');
  const endpoint = await run(w, network);
  await w.settle();
  const state = freshState(w);
  assert.equal((await state.network(network.id))?.id, [...w.networks.keys()][0]);
  assert.equal((await state.subnetOfPool(network.poolId))?.cidr, '10.60.5.0/24');
  assert.equal((await state.endpointPort(endpoint.id, network.id))?.device_id, endpoint.id);
});

test('background work on a port: settled() waits for it, and a failure does not reject the waiters', async () => {
  const state = new NeutronState(memoryNeutron().neutron, { hostname: HOST, projectId: async () => PROJECT });
  const order: string[] = [];
  state.track('p1', new Promise((resolve) => setTimeout(() => resolve(order.push('work done')), 20)));
  state.track('p2', Promise.reject(new Error('Neutron said no')));
  assert.equal(state.pendingCount(), 2);
  await state.settled('p1');
  order.push('settled');
  await state.settled('p2');
  assert.deepEqual(order, ['work done', 'settled']);
  await state.drainPending();
  await new Promise((r) => setImmediate(r));
  assert.equal(state.pendingCount(), 0);
});

test('RequestPool\'s reservations tell overlapping CIDRs\' pools apart, newest last, until CreateNetwork uses them', () => {
  const state = new NeutronState(memoryNeutron().neutron, { hostname: HOST, projectId: async () => PROJECT });
  state.reservePool('10.60.6.0/24', 'pool-a');
  state.reservePool('10.60.6.0/24', 'pool-b');
  assert.deepEqual(state.reservedPools('10.60.6.0/24'), ['pool-a', 'pool-b']);
  state.unreservePool('pool-a');
  assert.deepEqual(state.reservedPools('10.60.6.0/24'), ['pool-b']);
  assert.deepEqual(state.reservedPools('10.60.7.0/24'), []);
});
