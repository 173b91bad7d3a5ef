/**
 * Both drivers wired as the daemon wires them (the real Binder, PortPools and NeutronState), over
 * the in-memory Neutron and the in-memory host, and driven in the order Docker calls them for
 * `docker network create`, `docker run`, `docker rm` and `docker network rm`. Fixture only: no tests.
 */
import { randomBytes } from 'node:crypto';
import { Binder, containerIfName, hostEndExists } from '../../src/binding/index.js';
import { FakeHostNetwork } from '../../src/binding/host/fake.js';
import type { KuryrConfig } from '../../src/config/types.js';
import { silentLogger } from '../../src/log.js';
import { GATEWAY_ADDRESS_TYPE, OPT_MAC, OPT_REQUEST_ADDRESS_TYPE } from '../../src/libnetwork/api.js';
import { KuryrIpamDriver } from '../../src/libnetwork/ipam-driver.js';
import { KuryrNetworkDriver } from '../../src/libnetwork/network-driver.js';
import { PortPools } from '../../src/libnetwork/port-pool.js';
import { KeyedLock, NeutronState, type PortBinder } from '../../src/libnetwork/state.js';
import type { DriverContext } from '../../src/libnetwork/context.js';
import { memoryNeutron, type MemoryNeutron } from './libnetwork-fakes.js';

export const HOST = 'host1';
export const PROJECT = 'kuryr-project';

export const dockerId = () => randomBytes(32).toString('hex');

export function testConfig(vifPool: Partial<KuryrConfig['vifPool']> = {}): KuryrConfig {
  return {
    hostname: HOST,
    capabilityScope: 'local',
    subnetpoolNamePrefix: 'kuryrPool',
    localDefaultAddressSpace: 'local_scope',
    globalDefaultAddressSpace: 'global_scope',
    neutron: { defaultSubnetpoolV4: 'kuryr', defaultSubnetpoolV6: 'kuryr6', enableDhcp: false, vifPluggingIsFatal: false, vifPluggingTimeout: 0, allowOtherProjects: false, allowSharedNetworks: false },
    binding: { vethDstPrefix: 'eth', defaultDriver: 'veth', enabledDrivers: ['veth'], linkIface: '' },
    vifPool: { enabled: false, min: 0, max: 0, batch: 1, updateFrequency: 3600, ...vifPool },
  } as unknown as KuryrConfig;
}

export interface Wired extends MemoryNeutron {
  host: FakeHostNetwork;
  state: NeutronState;
  pools: PortPools;
  net: KuryrNetworkDriver;
  ipam: KuryrIpamDriver;
  /** Waits for the Neutron bookkeeping the drivers leave off Docker's critical path. */
  settle(): Promise<void>;
  /** What the drivers share (CNI's service takes it too). */
  ctx: DriverContext;
}

/**
 * The daemon's wiring (src/daemon.ts), with the in-memory Neutron and host. `restartOf`: a daemon
 * restarted after that one (empty caches and pools; the same Neutron and host).
 */
export function wire(config = testConfig(), restartOf?: Wired): Wired {
  const memory: MemoryNeutron = restartOf ?? memoryNeutron();
  const host = restartOf?.host ?? new FakeHostNetwork();
  const binder = new Binder({ host, config: config.binding, logger: silentLogger });
  const portBinder: PortBinder = {
    bind: (port, network, endpointId, planned) => binder.bind(port, network, endpointId, planned),
    activate: (port) => binder.activate(port),
    unbind: (port, endpointId) => binder.unbind(port, endpointId),
    containerIfName: (port) => containerIfName(port.id),
    hostEndExists: (port) => hostEndExists(host, port.id),
  };
  const state = new NeutronState(memory.neutron, { hostname: HOST, projectId: async () => PROJECT });
  const pools = new PortPools(memory.neutron, config.vifPool, HOST, silentLogger, host);
  const ctx = { neutron: memory.neutron, state, binder: portBinder, config, logger: silentLogger, locks: new KeyedLock(), pools };
  const settle = async () => {
    await state.drainPending();
    await new Promise((r) => setImmediate(r));
    await state.drainPending();
  };
  return { neutron: memory.neutron, networks: memory.networks, subnets: memory.subnets, subnetPools: memory.subnetPools, ports: memory.ports, host, state, pools, net: new KuryrNetworkDriver(ctx), ipam: new KuryrIpamDriver(ctx), settle, ctx };
}

export interface DockerNetwork {
  id: string;
  poolId: string;
  gatewayAddress: string;
}

/** `docker network create -d kuryr --ipam-driver kuryr --subnet <cidr> [-o k=v ...]`: RequestPool, the gateway's RequestAddress, CreateNetwork. */
export async function networkCreate(w: Wired, cidr: string, options: Record<string, string> = {}): Promise<DockerNetwork> {
  const id = dockerId();
  const { PoolID: poolId, Pool } = await w.ipam.requestPool({ AddressSpace: 'local_scope', Pool: cidr, SubPool: '', Options: {}, V6: false });
  const { Address: gatewayAddress } = await w.ipam.requestAddress({ PoolID: poolId, Address: '', Options: { [OPT_REQUEST_ADDRESS_TYPE]: GATEWAY_ADDRESS_TYPE } });
  await w.net.createNetwork({
    NetworkID: id,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': options },
    IPv4Data: [{ AddressSpace: 'local_scope', Pool, Gateway: gatewayAddress }],
    IPv6Data: [],
  });
  return { id, poolId, gatewayAddress };
}

export interface DockerEndpoint {
  id: string;
  /** With its prefix length, as IPAM answered. */
  address: string;
  mac: string;
}

/** `docker run --net <network>`: RequestAddress, CreateEndpoint, Join (Docker generates the MAC). */
export async function run(w: Wired, network: DockerNetwork, mac = `02:42:0a:${randomBytes(3).toString('hex').match(/../g)!.join(':')}`): Promise<DockerEndpoint> {
  const id = dockerId();
  const { Address: address } = await w.ipam.requestAddress({ PoolID: network.poolId, Address: '', Options: { [OPT_MAC]: mac } });
  await w.net.createEndpoint({ NetworkID: network.id, EndpointID: id, Options: {}, Interface: { Address: address, MacAddress: mac } });
  await w.net.join({ NetworkID: network.id, EndpointID: id, SandboxKey: `/var/run/docker/netns/${id.slice(0, 12)}`, Options: {} });
  return { id, address, mac };
}

/** `docker rm -f`: Leave, DeleteEndpoint, ReleaseAddress. */
export async function rm(w: Wired, network: DockerNetwork, endpoint: DockerEndpoint): Promise<void> {
  await w.net.leave();
  await w.net.deleteEndpoint({ NetworkID: network.id, EndpointID: endpoint.id });
  await w.ipam.releaseAddress({ PoolID: network.poolId, Address: endpoint.address.split('/')[0]! });
}

/** `docker network rm`: the gateway's ReleaseAddress, ReleasePool, DeleteNetwork (Docker's order). */
export async function networkRm(w: Wired, network: DockerNetwork): Promise<void> {
  await w.ipam.releaseAddress({ PoolID: network.poolId, Address: network.gatewayAddress.split('/')[0]! });
  await w.ipam.releasePool({ PoolID: network.poolId });
  await w.net.deleteNetwork({ NetworkID: network.id });
}
