/**
 * What the drivers will and will not touch, against a scripted fake Neutron: other hosts' endpoints,
 * other Docker networks' pools, other projects' objects, and maps that requests cannot grow.
 */
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { hostEndExists, hostVethName, stagedVethName } from '../../src/binding/naming.js';
import { FakeHostNetwork } from '../../src/binding/host/fake.js';
import { KuryrError } from '../../src/errors.js';
import { NeutronError } from '../../src/openstack/errors.js';
import { silentLogger } from '../../src/log.js';
import type { KuryrConfig } from '../../src/config/types.js';
import { KuryrIpamDriver } from '../../src/libnetwork/ipam-driver.js';
import { KuryrNetworkDriver } from '../../src/libnetwork/network-driver.js';
import { KeyedLock, NeutronState, type PortBinder } from '../../src/libnetwork/state.js';
import { PortPools } from '../../src/libnetwork/port-pool.js';
import type { Neutron, Port } from '../../src/openstack/neutron-types.js';
import { fakeNeutron } from './libnetwork-fakes.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);
const OWN = 'kuryr-project';

function configWith(neutron: Partial<KuryrConfig['neutron']> = {}): KuryrConfig {
  return {
    hostname: 'host1',
    capabilityScope: 'global',
    subnetpoolNamePrefix: 'kuryrPool',
    neutron: { defaultSubnetpoolV4: 'kuryr', defaultSubnetpoolV6: 'kuryr6', enableDhcp: true, vifPluggingIsFatal: false, vifPluggingTimeout: 0, allowOtherProjects: false, allowSharedNetworks: false, ...neutron },
    binding: { vethDstPrefix: 'eth' },
    vifPool: { enabled: false, min: 0, max: 0, batch: 1, updateFrequency: 60 },
  } as unknown as KuryrConfig;
}

function drivers(neutron: Neutron, config = configWith(), host = new FakeHostNetwork()) {
  const unbound: string[] = [];
  const binder: PortBinder = { bind: async () => ({ hostIfName: 'tap', containerIfName: 't_c' }), activate: async () => undefined, unbind: async (p) => void unbound.push(p.id), containerIfName: () => 't_c', hostEndExists: (p) => hostEndExists(host, p.id) };
  const pools = new PortPools(neutron, config.vifPool, 'host1', silentLogger, host);
  const ctx = { neutron, state: new NeutronState(neutron, { hostname: 'host1', projectId: async () => OWN }), binder, config, logger: silentLogger, locks: new KeyedLock(), pools };
  return { net: new KuryrNetworkDriver(ctx), ipam: new KuryrIpamDriver(ctx), ctx, unbound };
}

const writes = (calls: string[]) => calls.filter((c) => /^(create|update|delete|replaceTags|addTag|removeTag)/.test(c));

function endpointPort(over: Partial<Port>): Port {
  return { id: randomUUID(), name: `${EP}-port`, network_id: 'net-1', mac_address: '02:42:0a:00:00:05', fixed_ips: [{ subnet_id: 's1', ip_address: '10.0.0.5' }], device_id: EP, device_owner: 'compute:kuryr', admin_state_up: true, status: 'ACTIVE', project_id: OWN, security_groups: [], tags: ['compute:kuryr'], 'binding:host_id': 'host1', ...over };
}

test('endpoint calls act only on the port of this network and this host: another host\'s endpoint is neither unbound nor deleted', async () => {
  const elsewhere = endpointPort({ 'binding:host_id': 'host2', tags: ['kuryr.port.endpoint'] });
  const { neutron, calls } = fakeNeutron({
    listNetworks: () => [{ id: 'net-1', tags: [], shared: false }],
    listPorts: (f: never) => ((f as { network_id?: string }).network_id === 'net-1' ? [elsewhere] : []),
  });
  const { net, unbound } = drivers(neutron);
  assert.deepEqual(await net.deleteEndpoint({ NetworkID: NET, EndpointID: EP }), {});
  assert.deepEqual(await net.endpointOperInfo({ NetworkID: NET, EndpointID: EP }), { Value: {} });
  await assert.rejects(net.join({ NetworkID: NET, EndpointID: EP, SandboxKey: '/x' }), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_NOT_FOUND');
  assert.deepEqual(unbound, [], 'nothing unplugged');
  assert.deepEqual(writes(calls), [], 'nothing written');
  assert.ok(calls.filter((c) => c.startsWith('listPorts')).every((c) => c.includes('"network_id":"net-1"')), 'the lookup names the network');
});

test('ReleaseAddress deletes nothing of a port a live endpoint holds on another host: refused under local scope, left to that host under global scope (Swarm\'s manager releases task addresses)', async () => {
  for (const capabilityScope of ['local', 'global'] as const) {
    const live = endpointPort({ 'binding:host_id': 'host2' });
    const poolId = randomUUID();
    const { neutron, calls } = fakeNeutron({
      listSubnets: () => [{ id: 's1', network_id: 'net-1', cidr: '10.0.0.0/24', tags: [], subnetpool_id: poolId }],
      listPorts: () => [live],
    });
    const { ipam } = drivers(neutron, { ...configWith(), capabilityScope });
    const release = ipam.releaseAddress({ PoolID: poolId, Address: '10.0.0.5' });
    if (capabilityScope === 'local') await assert.rejects(release, (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFLICT' && /live endpoint/.test(e.message));
    else assert.deepEqual(await release, {});
    assert.deepEqual(writes(calls), [], `${capabilityScope} scope: nothing written`);
  }
});

test('RequestPool naming a pool Kuryr made for another Docker network is refused and marks nothing', async () => {
  const theirs = { id: randomUUID(), name: 'kuryrPool-10.0.0.0/24', prefixes: ['10.0.0.0/24'], tags: ['kuryr.subnetpool.owned'], shared: false, project_id: OWN, ip_version: 4, default_prefixlen: 24 };
  const { neutron, calls } = fakeNeutron({ listSubnetPools: () => [theirs] });
  const { ipam } = drivers(neutron);
  for (const opt of [{ 'neutron.pool.name': theirs.name }, { 'neutron.pool.uuid': theirs.id }] as Record<string, string>[]) {
    await assert.rejects(
      ipam.requestPool({ AddressSpace: '', Pool: '10.0.0.0/24', SubPool: '', V6: false, Options: opt }),
      (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFLICT' && /made by Kuryr for another Docker network/.test(e.message),
    );
  }
  assert.deepEqual(writes(calls), []);
});

test('neutron.net.uuid of another project\'s network is not found unless [neutron] allow_other_projects', async () => {
  const foreign = { id: randomUUID(), name: 'theirs', shared: false, admin_state_up: true, tags: [], project_id: 'other' };
  const pool = { id: randomUUID(), name: 'kuryrPool-10.0.0.0/24', prefixes: ['10.0.0.0/24'], tags: ['kuryr.subnetpool.owned'], shared: false };
  const script = {
    listSubnetPools: () => [pool],
    listNetworks: (f: never) => ((f as { id?: string }).id === foreign.id ? [foreign] : []),
    listSubnets: () => [],
    replaceTags: (_c: never, _id: never, tags: never) => tags,
    createSubnet: () => ({ id: 's1', network_id: foreign.id, cidr: '10.0.0.0/24', tags: [] }),
  };
  const req = { NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: '10.0.0.0/24' }], IPv6Data: [], Options: { 'com.docker.network.generic': { 'neutron.net.uuid': foreign.id } } };
  const refused = fakeNeutron(script);
  await assert.rejects(drivers(refused.neutron).net.createNetwork(req), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_NOT_FOUND' && /allow_other_projects/.test(e.message));
  assert.deepEqual(writes(refused.calls), [], 'nothing tagged');
  const allowed = fakeNeutron(script);
  assert.deepEqual(await drivers(allowed.neutron, configWith({ allowOtherProjects: true })).net.createNetwork(req), {});
  assert.ok(allowed.calls.some((c) => c.startsWith(`replaceTags ["networks","${foreign.id}"`)), 'adopted with the operator\'s opt-in');
});

test('an address held by another project\'s port is refused without naming that port, its owner or device', async () => {
  const vm = endpointPort({ project_id: 'other', device_owner: 'compute:nova', device_id: 'secret-vm', tags: [] });
  const { neutron } = fakeNeutron({
    listNetworks: () => [{ id: 'net-1', tags: [], shared: false }],
    listPorts: () => [vm],
  });
  const { net } = drivers(neutron);
  await assert.rejects(net.createEndpoint({ NetworkID: NET, EndpointID: EP, Options: {}, Interface: { Address: '10.0.0.5/24' } }), (e: unknown) => {
    const msg = (e as Error).message;
    return e instanceof KuryrError && e.code === 'KURYR_ERR_CONFLICT' && /another project/.test(msg) && !msg.includes(vm.id) && !msg.includes('secret-vm') && !msg.includes('compute:nova');
  });
});

test('pool reservations RequestPool made for a CreateNetwork that never came expire', () => {
  mock.timers.enable({ apis: ['Date'], now: 0 });
  try {
    const { neutron } = fakeNeutron({});
    const state = new NeutronState(neutron, { hostname: 'host1', projectId: async () => OWN });
    state.reservePool('10.0.0.0/24', 'p1');
    assert.deepEqual(state.reservedPools('10.0.0.0/24'), ['p1']);
    mock.timers.tick(11 * 60_000);
    state.reservePool('10.0.1.0/24', 'p2');
    assert.deepEqual(state.reservedPools('10.0.0.0/24'), [], 'the stale reservation went with the next one');
    assert.deepEqual(state.reservedPools('10.0.1.0/24'), ['p2']);
  } finally {
    mock.timers.reset();
  }
});

test('EndpointOperInfo for random endpoint IDs remembers nothing and answers empty', async () => {
  const { neutron } = fakeNeutron({ listNetworks: () => [{ id: 'net-1', tags: [], shared: false }], listPorts: () => [] });
  const { net } = drivers(neutron);
  for (let i = 0; i < 100; i++) {
    assert.deepEqual(await net.endpointOperInfo({ NetworkID: NET, EndpointID: randomUUID().replace(/-/g, '').padEnd(64, '0') }), { Value: {} });
  }
  assert.equal((net as unknown as { recentEndpoints: Map<string, number> }).recentEndpoints.size, 0);
});

test('a MAC names a pooled port for each of its subnets once: a repeated RequestAddress with the same MAC gets another port', async () => {
  const poolId = randomUUID();
  const subnet = { id: 's1', network_id: 'net-1', cidr: '10.0.0.0/24', ip_version: 4, tags: [], subnetpool_id: poolId };
  let n = 0;
  const { neutron } = fakeNeutron({
    listSubnetPools: () => [{ id: poolId, name: 'kuryrPool-10.0.0.0/24', prefixes: ['10.0.0.0/24'], tags: ['kuryr.subnetpool.owned'], shared: false }],
    listSubnets: () => [subnet],
    listNetworks: () => [{ id: 'net-1', tags: ['kuryr.pool:on'], shared: false }],
    createPorts: (bodies: never) =>
      (bodies as unknown[]).map(() => ({ id: randomUUID(), network_id: 'net-1', device_id: '', security_groups: [], tags: ['compute:kuryr', 'kuryr.port.pooled'], fixed_ips: [{ subnet_id: 's1', ip_address: `10.0.0.${++n}` }] })),
  });
  const config = { ...configWith(), vifPool: { enabled: true, min: 1, max: 0, batch: 2, updateFrequency: 60 } } as KuryrConfig;
  const { ipam } = drivers(neutron, config);
  const mac = { 'com.docker.network.endpoint.macaddress': '02:42:0a:00:00:07' };
  const first = await ipam.requestAddress({ PoolID: poolId, Address: '', Options: mac });
  const second = await ipam.requestAddress({ PoolID: poolId, Address: '', Options: mac });
  assert.notEqual(second.Address, first.Address, 'one port never serves two RequestAddress calls for one subnet');
});

/** Neutron's port filters as the drivers use them: device_owner, and tags (all of them). */
function matches(port: Port, f: { device_owner?: string; tags?: string }): boolean {
  return (f.device_owner === undefined || port.device_owner === f.device_owner) && (f.tags ?? '').split(',').every((t) => t === '' || port.tags.includes(t));
}

/** A VM's port that merely carries Kuryr's tag: Kuryr's device owner is what makes a port Kuryr's. */
const vmPortWithKuryrTag = (over: Partial<Port> = {}) =>
  endpointPort({ device_owner: 'compute:nova', device_id: randomUUID(), 'binding:host_id': 'host9', name: 'vm-eth0', ...over });

test('ReleaseAddress never deletes a VM\'s port that only carries Kuryr\'s tag', async () => {
  const vm = vmPortWithKuryrTag();
  const poolId = randomUUID();
  const { neutron, calls } = fakeNeutron({
    listSubnets: () => [{ id: 's1', network_id: 'net-1', cidr: '10.0.0.0/24', tags: [], subnetpool_id: poolId }],
    listPorts: () => [vm],
  });
  const { ipam } = drivers(neutron);
  assert.deepEqual(await ipam.releaseAddress({ PoolID: poolId, Address: '10.0.0.5' }), {});
  assert.deepEqual(writes(calls), [], 'the VM port is left as it is');
});

test('CreateEndpoint refuses an address a VM\'s port holds, whatever tags it carries, and names no foreign IDs', async () => {
  const vm = vmPortWithKuryrTag({ project_id: 'another-project' });
  const { neutron, calls } = fakeNeutron({
    listNetworks: () => [{ id: 'net-1', tags: [], shared: false }],
    listPorts: () => [vm],
  });
  const { net } = drivers(neutron);
  await assert.rejects(
    net.createEndpoint({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.0.0.5/24' }, Options: {} }),
    (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFLICT' && /Kuryr did not allocate/.test(e.message) && !e.message.includes(vm.id) && !e.message.includes(vm.device_id),
  );
  assert.deepEqual(writes(calls), [], 'the VM port is neither claimed nor retagged');
});

test('DeleteNetwork deletes leftover Kuryr ports, never a VM\'s port carrying Kuryr\'s tag', async () => {
  const leftover = endpointPort({ device_id: '', 'binding:host_id': '', name: 'kuryr-unbound-port' });
  const vm = vmPortWithKuryrTag();
  const deleted: string[] = [];
  let netDeletes = 0;
  const { neutron } = fakeNeutron({
    listNetworks: () => [{ id: 'net-1', tags: [`kuryr.net.uuid.lh:${NET.slice(0, 32)}`, `kuryr.net.uuid.uh:${NET.slice(32)}`], shared: false }],
    listSubnets: () => [],
    // Neutron's own filtering: a caller that does not ask for Kuryr's device owner gets both.
    listPorts: (f: never) => [leftover, vm].filter((p) => matches(p, f as { device_owner?: string; tags?: string })),
    deleteNetwork: () => {
      // The first delete finds ports still on the network (Neutron's 409), as after a crash.
      if (++netDeletes === 1) throw new NeutronError({ method: 'DELETE', path: '/v2.0/networks/net-1', httpStatus: 409, type: 'NetworkInUse' });
    },
    deletePorts: (ids: never) => void deleted.push(...(ids as string[])),
  });
  const { net } = drivers(neutron, { ...configWith(), capabilityScope: 'local' });
  assert.deepEqual(await net.deleteNetwork({ NetworkID: NET }), {});
  assert.deepEqual(deleted, [leftover.id], 'the leftover goes, the VM port survives');
  assert.equal(netDeletes, 2, 'the network is deleted once its leftovers are');
});

test('ReleaseAddress refuses a port whose host end exists on this host (the host layer says so), and frees it once the device is gone', async () => {
  const port = endpointPort({});
  const poolId = randomUUID();
  const deleted: string[] = [];
  const { neutron } = fakeNeutron({
    listSubnets: () => [{ id: 's1', network_id: 'net-1', cidr: '10.0.0.0/24', tags: [], subnetpool_id: poolId }],
    listPorts: () => (deleted.includes(port.id) ? [] : [port]),
    deletePort: (id: never) => void deleted.push(id),
  });
  const host = new FakeHostNetwork();
  host.addLink(hostVethName(port.id), { kind: 'veth' });
  const { ipam } = drivers(neutron, configWith(), host);
  await assert.rejects(ipam.releaseAddress({ PoolID: poolId, Address: '10.0.0.5' }), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFLICT' && /live endpoint/.test(e.message));
  assert.deepEqual(deleted, [], 'a container here still uses the port');
  await host.deleteLink(hostVethName(port.id));
  assert.deepEqual(await ipam.releaseAddress({ PoolID: poolId, Address: '10.0.0.5' }), {});
  assert.deepEqual(deleted, [port.id], 'without its host end the port is released');
});

test('a restarted pool leaves out pooled ports whose host end (tap or staged name) exists on this host', async () => {
  const [tapped, staged, free] = [randomUUID(), randomUUID(), randomUUID()];
  const pooled = (id: string) => endpointPort({ id, device_id: '', name: 'kuryr-pooled-port', 'binding:host_id': '', tags: ['compute:kuryr', 'kuryr.port.pooled', 'kuryr.pool.host:host1'] });
  const { neutron } = fakeNeutron({ listPorts: () => [tapped, staged, free].map(pooled) });
  const host = new FakeHostNetwork();
  host.addLink(hostVethName(tapped), { kind: 'veth' });
  host.addLink(stagedVethName(staged), { kind: 'veth' });
  const pools = new PortPools(neutron, { enabled: true, min: 0, max: 0, batch: 1, updateFrequency: 60 }, 'host1', silentLogger, host);
  await pools.start();
  pools.stop();
  assert.deepEqual([...pools.sizes()], [['net-1', 1]], 'only the port no container uses is free');
  assert.equal((await pools.take('net-1', 's1'))?.id, free);
});
