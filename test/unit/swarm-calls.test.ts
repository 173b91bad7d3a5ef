/**
 * Docker Swarm's calls to two hosts' Kuryr (global scope), in the order a real swarm made them
 * (test/functional/swarm.test.ts, dockerd 20.10): the manager's allocator asks for the network's
 * pool and gateway, AllocateNetwork, then for the service's VIP and every task's address, all
 * before any host's CreateNetwork; the host running a task then asks its own Kuryr for the pool,
 * the gateway, CreateNetwork, and the very address the manager allocated, and plugs it. The
 * network names an existing Neutron subnet (-o and --ipam-opt neutron.subnet.name), as a swarm of
 * Nova VMs uses their network's (a VM's Kuryr takes the VM port's network without neutron.net.*).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GATEWAY_ADDRESS_TYPE, OPT_MAC, OPT_REQUEST_ADDRESS_TYPE } from '../../src/libnetwork/api.js';
import { recordClaim } from '../../src/libnetwork/claim/common.js';
import type { ClaimRequest } from '../../src/libnetwork/claim/types.js';
import type { DriverContext } from '../../src/libnetwork/context.js';
import { DEVICE_OWNER, PORT_OWNED_TAG, SWARM_ALLOCATED_TAG, vmPortTag } from '../../src/libnetwork/naming.js';
import { KeyedLock, NeutronState } from '../../src/libnetwork/state.js';
import { silentLogger } from '../../src/log.js';
import { memoryNeutron } from './libnetwork-fakes.js';
import { dockerId, PROJECT, testConfig, wire, type Wired } from './libnetwork-docker.js';

const CIDR = '10.80.0.0/24';
const SUBNET_NAME = 'vms-subnet';
const NAMED = { 'neutron.subnet.name': SUBNET_NAME };
/** -o: the network (inside a VM Kuryr takes the VM port's without it) and the subnet. */
const DRIVER_OPTIONS = { 'neutron.net.name': 'vms', ...NAMED };

function globalConfig() {
  return { ...testConfig(), capabilityScope: 'global' } as ReturnType<typeof testConfig>;
}

/** Two hosts' Kuryr on one Neutron that holds the operator's network and subnet. */
async function swarm(): Promise<{ manager: Wired; worker: Wired; subnetId: string }> {
  const manager = wire(globalConfig());
  const worker = wire(globalConfig(), { ...manager, host: manager.host });
  const network = await manager.neutron.createNetwork({ name: 'vms' });
  const subnet = await manager.neutron.createSubnet({ name: SUBNET_NAME, network_id: network.id, ip_version: 4, cidr: CIDR, gateway_ip: '10.80.0.1', project_id: PROJECT } as never);
  return { manager, worker, subnetId: subnet.id };
}

const pool = (w: Wired) => w.ipam.requestPool({ AddressSpace: 'global_scope', Pool: CIDR, SubPool: '', Options: NAMED, V6: false });
const gateway = (w: Wired, poolId: string, address = '') => w.ipam.requestAddress({ PoolID: poolId, Address: address, Options: { [OPT_REQUEST_ADDRESS_TYPE]: GATEWAY_ADDRESS_TYPE } });

test('swarm: the manager allocates the VIP and task addresses before any CreateNetwork; the host running a task takes the port of its address, plugs it, and frees it', async () => {
  const { manager, worker, subnetId } = await swarm();
  const networkId = dockerId();

  // The manager's allocator: pool, gateway, AllocateNetwork, VIP, one task's address.
  const { PoolID: poolId } = await pool(manager);
  const { Address: gw } = await gateway(manager, poolId);
  assert.equal(gw, '10.80.0.1/24', 'the subnet\'s gateway');
  await manager.net.allocateNetwork({ NetworkID: networkId, Options: DRIVER_OPTIONS, IPv4Data: [{ AddressSpace: 'global_scope', Pool: CIDR, Gateway: gw }], IPv6Data: [] });
  const serial = { 'com.docker.network.ipam.serial': 'true' };
  const { Address: vip } = await manager.ipam.requestAddress({ PoolID: poolId, Address: '', Options: serial });
  const { Address: task } = await manager.ipam.requestAddress({ PoolID: poolId, Address: '', Options: serial });
  const reserved = [...manager.ports.values()].filter((p) => p.device_owner === DEVICE_OWNER);
  assert.equal(reserved.length, 2, 'an unclaimed Kuryr port holds each of the VIP and the task address');
  assert.ok(reserved.every((p) => p.fixed_ips[0]!.subnet_id === subnetId && p.device_id === '' && p.tags.includes(PORT_OWNED_TAG)));

  // The worker runs the task: its Kuryr gets the same pool, the gateway, the network, the task's address.
  const { PoolID: workerPoolId } = await pool(worker);
  assert.equal(workerPoolId, poolId, 'one pool for the network on every host');
  await gateway(worker, poolId, '10.80.0.1');
  await worker.net.createNetwork({ NetworkID: networkId, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': DRIVER_OPTIONS }, IPv4Data: [{ AddressSpace: 'global_scope', Pool: CIDR, Gateway: gw }], IPv6Data: [] });
  const ip = task.split('/')[0]!;
  const mac = '02:42:0a:50:00:07';
  const { Address: taken } = await worker.ipam.requestAddress({ PoolID: poolId, Address: ip, Options: { [OPT_MAC]: mac } });
  assert.equal(taken, task, 'the address the manager allocated');
  const endpointId = dockerId();
  await worker.net.createEndpoint({ NetworkID: networkId, EndpointID: endpointId, Options: {}, Interface: { Address: taken, MacAddress: mac } });
  await worker.settle();
  const claimed = [...worker.ports.values()].filter((p) => p.device_owner === DEVICE_OWNER && p.fixed_ips[0]!.ip_address === ip);
  assert.equal(claimed.length, 1, 'no second port for the address');
  assert.equal(claimed[0]!.device_id, endpointId, 'the manager\'s port is the endpoint\'s');
  assert.equal(claimed[0]!.mac_address, mac, 'with Docker\'s MAC');

  // The task ends on the worker (its port goes), then the manager frees the address and the VIP.
  await worker.net.deleteEndpoint({ NetworkID: networkId, EndpointID: endpointId });
  await worker.ipam.releaseAddress({ PoolID: poolId, Address: ip });
  await manager.ipam.releaseAddress({ PoolID: poolId, Address: ip });
  await manager.ipam.releaseAddress({ PoolID: poolId, Address: vip.split('/')[0]! });
  assert.deepEqual([...manager.ports.values()].filter((p) => p.device_owner === DEVICE_OWNER), [], 'no Kuryr port is left');
});

/** The calls of a swarm network Kuryr makes itself (no neutron.* options, not inside a VM). */
const OWN_CIDR = '10.81.0.0/24';
const ownPool = (w: Wired) => w.ipam.requestPool({ AddressSpace: 'global_scope', Pool: OWN_CIDR, SubPool: '', Options: {}, V6: false });
const ownNetwork = (gw: string) => ({ IPv4Data: [{ AddressSpace: 'global_scope', Pool: OWN_CIDR, Gateway: gw }], IPv6Data: [] });
const tagged = (w: Wired, networkId: string) => [...w.networks.values()].filter((n) => n.tags.includes(`kuryr.net.uuid.lh:${networkId.slice(0, 32)}`));

/** Two hosts' Kuryr; the manager's allocator has asked for the pool and gateway and allocated the network. */
async function allocatedByManager() {
  const manager = wire(globalConfig());
  const worker = wire(globalConfig(), { ...manager, host: manager.host });
  const networkId = dockerId();
  const { PoolID: poolId } = await ownPool(manager);
  const { Address: gw } = await gateway(manager, poolId);
  await manager.net.allocateNetwork({ NetworkID: networkId, Options: {}, ...ownNetwork(gw) });
  return { manager, worker, networkId, poolId, gw };
}

test('swarm, a network Kuryr makes: AllocateNetwork makes it before the VIP; nodes letting go keep it; FreeNetwork then ReleasePool on the manager remove it', async () => {
  const { manager, worker, networkId, poolId, gw } = await allocatedByManager();
  const [network] = tagged(manager, networkId);
  assert.ok(network, 'AllocateNetwork made the Neutron network');
  assert.ok(network.tags.includes(SWARM_ALLOCATED_TAG), 'marked as the swarm manager\'s');
  const subnets = [...manager.subnets.values()].filter((s) => s.network_id === network.id);
  assert.deepEqual(subnets.map((s) => [s.cidr, s.gateway_ip]), [[OWN_CIDR, '10.81.0.1']], 'and its subnet, with the gateway Docker reserved');
  const { Address: vip } = await manager.ipam.requestAddress({ PoolID: poolId, Address: '', Options: {} });
  const { Address: task } = await manager.ipam.requestAddress({ PoolID: poolId, Address: '', Options: {} });

  // The worker runs the task, then the task ends there and the worker lets go of the network.
  const { PoolID: workerPoolId } = await ownPool(worker);
  assert.equal(workerPoolId, poolId, 'the node gets the pool the manager allocates from');
  await worker.net.createNetwork({ NetworkID: networkId, Options: { 'com.docker.network.generic': {} }, ...ownNetwork(gw) });
  assert.deepEqual(tagged(worker, networkId).map((n) => n.id), [network.id], 'the node\'s CreateNetwork finds the network');
  const ip = task.split('/')[0]!;
  const endpointId = dockerId();
  await worker.ipam.requestAddress({ PoolID: poolId, Address: ip, Options: { [OPT_MAC]: '02:42:0a:51:00:09' } });
  await worker.net.createEndpoint({ NetworkID: networkId, EndpointID: endpointId, Options: {}, Interface: { Address: task, MacAddress: '02:42:0a:51:00:09' } });
  await worker.settle();
  await worker.net.deleteEndpoint({ NetworkID: networkId, EndpointID: endpointId });
  await worker.ipam.releaseAddress({ PoolID: poolId, Address: ip });
  await worker.ipam.releaseAddress({ PoolID: poolId, Address: '10.81.0.1' });
  await worker.ipam.releasePool({ PoolID: poolId });
  await worker.net.deleteNetwork({ NetworkID: networkId });
  assert.deepEqual(tagged(manager, networkId).map((n) => n.id), [network.id], 'the network stays while the swarm has it');
  assert.equal([...manager.subnets.values()].filter((s) => s.network_id === network.id).length, 1, 'so does its subnet');
  assert.ok(manager.subnetPools.has(poolId), 'and its pool');

  // A new task can still get an address; then the service and the network go on the manager.
  const { Address: next } = await manager.ipam.requestAddress({ PoolID: poolId, Address: '', Options: {} });
  await manager.ipam.releaseAddress({ PoolID: poolId, Address: ip });
  for (const address of [next, vip]) await manager.ipam.releaseAddress({ PoolID: poolId, Address: address.split('/')[0]! });
  await manager.net.freeNetwork({ NetworkID: networkId });
  assert.deepEqual(tagged(manager, networkId), [], 'FreeNetwork removed the Neutron network');
  await manager.ipam.releaseAddress({ PoolID: poolId, Address: '10.81.0.1' });
  await manager.ipam.releasePool({ PoolID: poolId });
  assert.equal(manager.subnetPools.has(poolId), false, 'ReleasePool removed the pool');
  assert.deepEqual([...manager.ports.values()], [], 'no port is left');
});

test('swarm: the manager\'s late release of a task\'s address frees nothing of the new task given the same address', async () => {
  const { manager, worker, networkId, poolId, gw } = await allocatedByManager();
  const { Address: old } = await manager.ipam.requestAddress({ PoolID: poolId, Address: '', Options: {} });
  const ip = old.split('/')[0]!;
  await ownPool(worker);
  await worker.net.createNetwork({ NetworkID: networkId, Options: { 'com.docker.network.generic': {} }, ...ownNetwork(gw) });
  await worker.ipam.requestAddress({ PoolID: poolId, Address: ip, Options: {} });
  // Scale-down: the node frees the old task's port first; Neutron hands its address to a new task.
  await worker.ipam.releaseAddress({ PoolID: poolId, Address: ip });
  const { Address: again } = await manager.ipam.requestAddress({ PoolID: poolId, Address: ip, Options: {} });
  assert.equal(again, old);
  const newPort = [...manager.ports.values()].find((p) => p.fixed_ips[0]!.ip_address === ip)!;
  // Then the manager releases the old task's address: the new task's port stays.
  await manager.ipam.releaseAddress({ PoolID: poolId, Address: ip });
  assert.ok(manager.ports.has(newPort.id), 'the new task\'s port is untouched');
  await manager.ipam.releaseAddress({ PoolID: poolId, Address: ip });
  assert.equal(manager.ports.has(newPort.id), false, 'its own release frees it');
});

test('local scope: an address held by another Kuryr port is still refused (only swarm\'s reservations are handed over)', async () => {
  const w = wire(testConfig());
  const network = await w.neutron.createNetwork({ name: 'vms' });
  await w.neutron.createSubnet({ name: SUBNET_NAME, network_id: network.id, ip_version: 4, cidr: CIDR, gateway_ip: '10.80.0.1', project_id: PROJECT } as never);
  const { PoolID: poolId } = await w.ipam.requestPool({ AddressSpace: 'local_scope', Pool: CIDR, SubPool: '', Options: NAMED, V6: false });
  const { Address: first } = await w.ipam.requestAddress({ PoolID: poolId, Address: '', Options: {} });
  await assert.rejects(w.ipam.requestAddress({ PoolID: poolId, Address: first.split('/')[0]!, Options: {} }), /only unbound ports without an owner can be used/);
});

test('global scope: an address whose Kuryr port serves an endpoint is refused', async () => {
  const { manager } = await swarm();
  const networkId = dockerId();
  const { PoolID: poolId } = await pool(manager);
  const { Address: gw } = await gateway(manager, poolId);
  await manager.net.createNetwork({ NetworkID: networkId, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': DRIVER_OPTIONS }, IPv4Data: [{ AddressSpace: 'global_scope', Pool: CIDR, Gateway: gw }], IPv6Data: [] });
  const { Address: address } = await manager.ipam.requestAddress({ PoolID: poolId, Address: '', Options: {} });
  await manager.net.createEndpoint({ NetworkID: networkId, EndpointID: dockerId(), Options: {}, Interface: { Address: address } });
  await manager.settle();
  await assert.rejects(manager.ipam.requestAddress({ PoolID: poolId, Address: address.split('/')[0]!, Options: {} }), /only unbound ports without an owner can be used/);
});

test('inside a VM, claiming a port another VM\'s Kuryr made (a swarm task\'s address) makes it this VM\'s: the other VM\'s tag goes', async () => {
  const { neutron } = memoryNeutron();
  const network = await neutron.createNetwork({ name: 'vms' });
  const port = await neutron.createPort({ network_id: network.id, device_owner: DEVICE_OWNER, tags: [PORT_OWNED_TAG, vmPortTag('vm-manager')] });
  const ctx = {
    neutron, config: globalConfig(), logger: silentLogger, locks: new KeyedLock(),
    state: new NeutronState(neutron, { hostname: 'vm', projectId: async () => PROJECT }),
    vmPort: { port: { id: 'vm-worker' } },
  } as unknown as DriverContext;
  const endpointId = dockerId();
  const r = { ctx, req: { NetworkID: dockerId(), EndpointID: endpointId, Options: {}, Interface: {} }, net: network, addresses: [], rollback: [] } as unknown as ClaimRequest;
  const claimed = await recordClaim(r, port, { device_id: endpointId });
  assert.ok(claimed.tags.includes(vmPortTag('vm-worker')), 'this VM\'s tag');
  assert.ok(!claimed.tags.includes(vmPortTag('vm-manager')), 'not the other VM\'s');
  assert.ok(claimed.tags.includes(PORT_OWNED_TAG));
});
