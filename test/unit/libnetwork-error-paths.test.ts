/**
 * Error paths of the drivers, against a scripted fake Neutron (the only place a fake is allowed):
 * a failure midway undoes what the call did, and a refused request changes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeHostNetwork } from '../../src/binding/host/fake.js';
import { KuryrError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { KuryrConfig } from '../../src/config/types.js';
import { KuryrIpamDriver } from '../../src/libnetwork/ipam-driver.js';
import { KuryrNetworkDriver } from '../../src/libnetwork/network-driver.js';
import { KeyedLock, NeutronState, type PortBinder } from '../../src/libnetwork/state.js';
import { PortPools } from '../../src/libnetwork/port-pool.js';
import { NeutronError } from '../../src/openstack/errors.js';
import type { Neutron, Network, Port } from '../../src/openstack/neutron-types.js';
import { fakeNeutron } from './libnetwork-fakes.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);

const config = {
  hostname: 'host1',
  capabilityScope: 'local',
  subnetpoolNamePrefix: 'kuryrPool',
  processExternalConnectivity: true,
  localDefaultAddressSpace: 'no_address_space',
  globalDefaultAddressSpace: 'no_address_space',
  neutron: { defaultSubnetpoolV4: 'kuryr', defaultSubnetpoolV6: 'kuryr6', enableDhcp: true, vifPluggingIsFatal: false, vifPluggingTimeout: 0 },
  binding: { vethDstPrefix: 'eth' },
  vifPool: { enabled: false, min: 0, max: 0, batch: 1, updateFrequency: 60 },
} as unknown as KuryrConfig;

function neutronError(status: number, type: string): NeutronError {
  return new NeutronError({ method: 'POST', path: '/v2.0/x', httpStatus: status, type, neutronMessage: `${type} happened` });
}

const okBinder: PortBinder = { bind: async () => ({ hostIfName: 'tap', containerIfName: 't_c' }), activate: async () => undefined, unbind: async () => undefined, containerIfName: () => 't_c', hostEndExists: async () => false };

function drivers(neutron: Neutron, binder = okBinder) {
  const pools = new PortPools(neutron, { enabled: false, min: 0, max: 0, batch: 1, updateFrequency: 60 }, 'host1', silentLogger, new FakeHostNetwork());
  const ctx = { neutron, state: new NeutronState(neutron, { hostname: 'host1', projectId: async () => 'kuryr-project' }), binder, config, logger: silentLogger, locks: new KeyedLock(), pools };
  return { net: new KuryrNetworkDriver(ctx), ipam: new KuryrIpamDriver(ctx), ctx };
}

const pool = { id: 'pool-1', name: 'kuryrPool-10.0.0.0/24', prefixes: ['10.0.0.0/24'], tags: [], shared: false, ip_version: 4, default_prefixlen: 24 };

test('CreateNetwork that fails creating the subnet deletes the network it created', async () => {
  const { neutron, calls } = fakeNeutron({
    listSubnetPools: () => [pool],
    listNetworks: () => [],
    createNetwork: (body: never) => ({ id: 'net-1', tags: (body as { tags: string[] }).tags, shared: false }),
    listSubnets: () => [],
    createSubnet: () => {
      throw neutronError(409, 'OverQuota');
    },
    deleteNetwork: () => undefined,
  });
  const { net } = drivers(neutron);
  await assert.rejects(
    net.createNetwork({ NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: '10.0.0.0/24', Gateway: '10.0.0.1/24' }], IPv6Data: [], Options: {} }),
    (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFLICT' && /create network aaaaaaaaaaaa: .*OverQuota/.test(e.message),
  );
  assert.ok(calls.at(-1)?.startsWith('deleteNetwork ["net-1"]'), `last call undoes the network: ${calls.at(-1)}`);
});

test('CreateNetwork with a bad gateway changes nothing in Neutron', async () => {
  const { neutron, calls } = fakeNeutron({});
  const { net } = drivers(neutron);
  await assert.rejects(net.createNetwork({ NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: '10.0.0.0/24', Gateway: '10.1.0.1/24' }], IPv6Data: [], Options: {} }), /not in 10\.0\.0\.0\/24/);
  assert.deepEqual(calls, []);
});

test('adopting a network whose shared flag differs is refused before any tag is written', async () => {
  const existing: Network = { id: 'op-net', name: 'op', shared: true, admin_state_up: true, tags: [] };
  const { neutron, calls } = fakeNeutron({ listSubnetPools: () => [pool], listNetworks: (f: never) => ((f as { name?: string }).name === 'op' ? [existing] : []) });
  const { net } = drivers(neutron);
  await assert.rejects(
    net.createNetwork({ NetworkID: NET, IPv4Data: [{ AddressSpace: '', Pool: '10.0.0.0/24' }], IPv6Data: [], Options: { 'com.docker.network.generic': { 'neutron.net.name': 'op' } } }),
    (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFLICT',
  );
  assert.ok(!calls.some((c) => c.startsWith('replaceTags') || c.startsWith('addTag')), 'no tag written');
});

test('--ip naming an address a VM port holds is refused; the VM port is not touched', async () => {
  const vmPort = { id: 'vm-port', project_id: 'kuryr-project', device_owner: 'compute:nova', device_id: 'vm-1', tags: [], fixed_ips: [{ subnet_id: 's1', ip_address: '10.0.0.9' }] } as unknown as Port;
  const { neutron, calls } = fakeNeutron({
    listSubnetPools: () => [pool],
    listSubnets: () => [{ id: 's1', network_id: 'net-1', cidr: '10.0.0.0/24', tags: [] }],
    createPort: () => {
      throw neutronError(409, 'IpAddressAlreadyAllocated');
    },
    listPorts: () => [vmPort],
  });
  const { ipam } = drivers(neutron);
  await assert.rejects(
    ipam.requestAddress({ PoolID: 'pool-1', Address: '10.0.0.9', Options: {} }),
    (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFLICT' && /belongs to Neutron port vm-port \(device_owner "compute:nova"/.test(e.message),
  );
  assert.ok(!calls.some((c) => c.startsWith('updatePort') || c.startsWith('replaceTags')), 'the VM port was left alone');
});

test('CreateEndpoint whose host binding fails writes nothing to the port and forgets the endpoint', async () => {
  const port = { id: 'p1', network_id: 'net-1', mac_address: '02:42:0a:00:00:05', name: 'kuryr-unbound-port', device_id: '', device_owner: 'compute:kuryr', admin_state_up: true, tags: ['compute:kuryr'], fixed_ips: [{ subnet_id: 's1', ip_address: '10.0.0.5' }], 'binding:host_id': 'host1' } as unknown as Port;
  const failing: PortBinder = { ...okBinder, bind: async () => { throw new KuryrError('KURYR_ERR_BINDING', 'port p1 has binding:vif_type=binding_failed'); } };
  const { neutron, calls } = fakeNeutron({
    listNetworks: () => [{ id: 'net-1', tags: [], mtu: 1450 }],
    listPorts: (f: never) => ((f as { tags?: string }).tags ? [] : [port]),
    updatePort: (_id: never, body: never) => ({ ...port, ...(body as object) }),
    replaceTags: (_c: never, _id: never, tags: never) => tags,
  });
  const { net } = drivers(neutron, failing);
  await assert.rejects(
    net.createEndpoint({ NetworkID: NET, EndpointID: EP, Options: {}, Interface: { Address: '10.0.0.5/24', MacAddress: '02:42:0a:00:00:05' } }),
    (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_BINDING' && /binding_failed/.test(e.message),
  );
  // The port is recorded as the endpoint's only after the host side is plugged: nothing to undo.
  assert.ok(!calls.some((c) => c.startsWith('updatePort') || c.startsWith('replaceTags')), `no write: ${calls.join('; ')}`);
  // The endpoint is forgotten: a retried DeleteEndpoint looks it up in Neutron (and finds no tagged port).
  assert.deepEqual(await net.deleteEndpoint({ NetworkID: NET, EndpointID: EP }), {});
});

test('ReleasePool never deletes the operator\'s default pool', async () => {
  const { neutron, calls } = fakeNeutron({ listSubnetPools: () => [{ ...pool, id: 'def', name: 'kuryr', prefixes: ['10.10.0.0/16'] }] });
  const { ipam } = drivers(neutron);
  assert.deepEqual(await ipam.releasePool({ PoolID: 'def' }), {});
  assert.ok(!calls.some((c) => c.startsWith('delete')), 'nothing deleted');
});

test('a Neutron outage surfaces as a bounded, clear error in CreateEndpoint', async () => {
  const { neutron } = fakeNeutron({
    listNetworks: () => {
      throw new NeutronError({ method: 'GET', path: '/v2.0/networks', transport: 'connection refused' });
    },
  });
  const { net } = drivers(neutron);
  await assert.rejects(net.createEndpoint({ NetworkID: NET, EndpointID: EP, Options: {}, Interface: { Address: '10.0.0.5/24' } }), (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_NEUTRON');
});

test('a dry pool whose bulk refill Neutron refuses hands out nothing (the caller creates its own port), and takers do not each retry it', async () => {
  const subnet = { id: 'sub-1', network_id: 'net-1', cidr: '10.0.0.0/24' };
  const { neutron, calls } = fakeNeutron({
    createPorts: () => {
      throw neutronError(409, 'OverQuota');
    },
  });
  const pools = new PortPools(neutron, { enabled: true, min: 2, max: 0, batch: 4, updateFrequency: 60 }, 'host1', silentLogger, new FakeHostNetwork());
  pools.enable('net-1', [subnet as never]);
  // Two takers arrive while the refill enable() started is failing: they wait for it rather than each creating.
  const taken = await Promise.all([pools.take('net-1', 'sub-1'), pools.take('net-1', 'sub-1')]);
  assert.deepEqual(taken, [undefined, undefined]);
  assert.ok(calls.filter((c) => c.startsWith('createPorts')).length <= 2, `the failed refill and at most one retry: ${calls.join('; ')}`);
  assert.ok(!calls.some((c) => !c.startsWith('createPorts')), `nothing but creates: ${calls.join('; ')}`);
});

test('a pooled claim whose PUT went unanswered but landed is recognised, not retried into a conflict', async () => {
  const pooled = { id: 'p1', network_id: 'net-1', mac_address: '02:42:0a:00:00:05', name: 'kuryr-pooled-port', device_id: '', device_owner: 'compute:kuryr', admin_state_up: true, revision_number: 3, tags: ['compute:kuryr', 'kuryr.port.pooled'], fixed_ips: [{ subnet_id: 's1', ip_address: '10.0.0.5' }], 'binding:host_id': '' } as unknown as Port;
  const landed = { ...pooled, device_id: EP, 'binding:host_id': 'host1', 'binding:vif_type': 'bridge', revision_number: 4 };
  let puts = 0;
  const { neutron, calls } = fakeNeutron({
    listNetworks: () => [{ id: 'net-1', tags: [], mtu: 1450 }],
    listPorts: () => [pooled],
    updatePort: () => {
      puts++;
      // Neutron applies the PUT but its answer never arrives.
      throw new NeutronError({ method: 'PUT', path: '/v2.0/ports/p1', transport: 'no answer within 15 s (timeout)', timedOut: true });
    },
    getPort: () => landed,
  });
  const { net, ctx } = drivers(neutron);
  await net.createEndpoint({ NetworkID: NET, EndpointID: EP, Options: {}, Interface: { Address: '10.0.0.5/24' } });
  assert.equal(puts, 1, 'no second PUT: the first one landed');
  assert.ok(calls.some((c) => c.startsWith('getPort')), 'it looked at what Neutron holds');
  const recorded = await ctx.state.endpointPort(EP, NET);
  assert.equal(recorded?.device_id, EP, 'the endpoint holds the port as Neutron has it');
  assert.equal(recorded?.revision_number, 4);
});

test('ports an unanswered bulk create made anyway are found by their tags before the pool makes more', async () => {
  const subnet = { id: 'sub-1', network_id: 'net-1', cidr: '10.0.0.0/24' };
  // Neutron port IDs are UUIDs (the pool checks their host devices by names derived from them).
  const ids = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002'];
  const made = ids.map((id, i) => ({ id, network_id: 'net-1', device_id: '', tags: ['kuryr.port.pooled', 'kuryr.pool.host:host1'], fixed_ips: [{ subnet_id: 'sub-1', ip_address: `10.0.0.${i + 1}` }] }));
  let creates = 0;
  const { neutron, calls } = fakeNeutron({
    createPorts: () => {
      creates++;
      // Neutron makes the ports but its answer never arrives.
      throw new NeutronError({ method: 'POST', path: '/v2.0/ports', transport: 'no answer within 15 s (timeout)', timedOut: true });
    },
    listPorts: () => made,
  });
  const pools = new PortPools(neutron, { enabled: true, min: 1, max: 0, batch: 2, updateFrequency: 60 }, 'host1', silentLogger, new FakeHostNetwork());
  pools.enable('net-1', [subnet as never]);
  // The taker's refill goes unanswered; the one it starts next looks before it creates.
  const first = await pools.take('net-1', 'sub-1');
  assert.ok(first && ids.includes(first.id), `a port of the unanswered create serves: ${calls.join('; ')}`);
  assert.equal(creates, 1, 'no second create while those ports were free');
  const second = await pools.take('net-1', 'sub-1');
  assert.ok(second && ids.includes(second.id) && second.id !== first.id, 'the other one serves the next taker');
});
