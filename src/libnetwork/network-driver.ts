import { KuryrError, conflict, invalidRequest, notFound, withContext } from '../errors.js';
import type { Network, Port, Subnet } from '../openstack/neutron-types.js';
import {
  OPT_ENABLE_IPV6,
  type AllocateNetworkRequest,
  type CapabilitiesResponse,
  type CreateEndpointRequest,
  type CreateEndpointResponse,
  type CreateNetworkRequest,
  type Empty,
  type EndpointOperInfoResponse,
  type EndpointRequest,
  type ExternalConnectivityRequest,
  type IpamData,
  type JoinRequest,
  type JoinResponse,
  type NetworkDriver,
  type NetworkRequest,
  type StaticRoute,
} from './api.js';
import { cidrContains, cidrWithin, parseCidr, splitInterfaceAddress, type Cidr } from './cidr.js';
import { isNeutronError } from '../openstack/errors.js';
import type { DriverContext } from './context.js';
import { undo } from './undo.js';
import { ExposedPorts } from './exposed-ports.js';
import { PublishedPorts } from './published-ports.js';
import { claimPort } from './claim/index.js';
import {
  DEVICE_OWNER,
  PORT_ENDPOINT_TAG,
  PORT_OWNED_TAG,
  isNetworkPoolTag,
  madeByKuryr,
  poolSettingTags,
  NET_TAG_LOW,
  SUBNETPOOL_EXISTING_TAG,
  SUBNETPOOL_OWNED_TAG,
  SUBNET_NAME_PREFIX,
  SWARM_ALLOCATED_TAG,
  existingNetworkTag,
  idTags,
  networkName,
  subnetName,
  subnetPoolName,
} from './naming.js';
import { checkSharedAllowed, genericOptions, parseNeutronOptions, parsePoolOptions, type FamilyOptions, type NeutronOptions } from './options.js';
import { endpointLive, namedPool, scopeHint, visibleObjects, visibleSubnets } from './scope.js';

/** One address family of a CreateNetwork request, resolved before anything changes in Neutron. */
interface FamilyPlan {
  version: 4 | 6;
  cidr: Cidr;
  gateway?: string;
  /** The Neutron subnet pool the subnet is allocated from. */
  poolId: string;
  existingSubnet?: Subnet;
  /** A block of the shared default pool: found by pool and CIDR, not by a pool-ID tag. */
  fromDefaultPool: boolean;
}

/** Kuryr's network driver: Docker networks are Neutron networks, endpoints are Neutron ports. */
export class KuryrNetworkDriver implements NetworkDriver {
  private readonly exposed: ExposedPorts;
  private readonly published: PublishedPorts;
  /**
   * When this daemon made each recent endpoint: container start asks its info twice, at once, and
   * those answers come from memory. Entries older than OPER_INFO_FROM_MEMORY_MS are dropped.
   */
  private readonly recentEndpoints = new Map<string, number>();
  /** Endpoints this daemon made and has not deleted, by Docker network (only ones Neutron holds ports for). */
  private readonly endpointsByNetwork = new Map<string, Set<string>>();

  constructor(private readonly ctx: DriverContext) {
    this.exposed = new ExposedPorts(ctx);
    this.published = new PublishedPorts(ctx);
  }

  getCapabilities(): CapabilitiesResponse {
    return { Scope: this.ctx.config.capabilityScope, ConnectivityScope: this.ctx.config.capabilityScope };
  }

  createNetwork(req: CreateNetworkRequest): Promise<Empty> {
    const wantV6 = req.Options?.[OPT_ENABLE_IPV6] === true || req.Options?.[OPT_ENABLE_IPV6] === 'true';
    return this.ctx.locks.run(`net:${req.NetworkID}`, () => this.provision(req.NetworkID, genericOptions(req.Options), req, { wantV6, bySwarm: false }));
  }

  /**
   * The Neutron network and subnets of a Docker network, made or found (every host of a global
   * network calls this for one Docker network ID, and Swarm's manager first): idempotent.
   */
  private async provision(networkId: string, options: Record<string, unknown>, ipam: Pick<CreateNetworkRequest, 'IPv4Data' | 'IPv6Data'>, how: { wantV6: boolean; bySwarm: boolean }): Promise<Empty> {
    const { state, logger } = this.ctx;
    const opts = parseNeutronOptions(options);
    checkSharedAllowed(opts, this.ctx.config.neutron.allowSharedNetworks);
    const poolOptions = parsePoolOptions(options, this.ctx.config.vifPool.max);
    if (this.ctx.config.defaultPortDriver === 'vlan' && (poolOptions.enabled || poolOptions.min !== undefined)) {
      throw invalidRequest('port pools (kuryr.pool, kuryr.pool.min) are not served for trunk subports (default_port_driver = vlan) yet');
    }
    const extraTags = [...poolSettingTags(poolOptions), ...(how.bySwarm ? [SWARM_ALLOCATED_TAG] : [])];
    // Validate and resolve everything first: a bad request must change nothing in Neutron.
    const plans: FamilyPlan[] = [];
    const v4 = firstPool(ipam.IPv4Data);
    const v6 = firstPool(ipam.IPv6Data);
    if (v4) plans.push(await this.planFamily(4, v4, opts.v4));
    if (v6) plans.push(await this.planFamily(6, v6, opts.v6));
    if (how.wantV6 && !v6) logger.warn({ networkId }, 'IPv6 enabled but Docker sent no IPv6 pool');

    let net = await state.network(networkId);
    const rollback: (() => Promise<unknown>)[] = [];
    if (!net) {
      const vmNetwork = opts.netUuid || opts.netName ? undefined : this.ctx.vmPort?.port.network_id;
      net = opts.netUuid || opts.netName || vmNetwork
        ? await this.adoptNetwork(networkId, vmNetwork ? { ...opts, netUuid: vmNetwork } : opts, extraTags, rollback)
        : await this.newNetwork(networkId, opts, extraTags, rollback);
    } else if (how.bySwarm && !net.tags.includes(SWARM_ALLOCATED_TAG)) {
      await this.ctx.neutron.addTag('networks', net.id, SWARM_ALLOCATED_TAG);
      net = { ...net, tags: [...net.tags, SWARM_ALLOCATED_TAG] };
    }
    try {
      for (const plan of plans) await this.ensureSubnet(net, plan, rollback);
      if (how.bySwarm) for (const plan of plans) await this.markSwarmPool(plan);
    } catch (err) {
      await undo(logger, rollback, `network ${networkId}`);
      state.forgetNetwork(networkId);
      throw withContext(`create network ${networkId.slice(0, 12)}`, err);
    }
    state.rememberNetwork(networkId, net);
    state.forgetSubnetList(net.id);
    for (const plan of plans) state.unreservePool(plan.poolId);
    if (poolOptions.enabled ?? this.ctx.config.vifPool.enabled) this.ctx.pools.enable(net.id, await state.networkSubnets(net.id), poolOptions.min);
    return {};
  }

  /**
   * Every node of a swarm asks its own Kuryr for the network's pool by CIDR: the Kuryr pool the
   * manager's network allocates from says so, and RequestPool hands that one out (ipam-driver).
   */
  private async markSwarmPool(plan: FamilyPlan): Promise<void> {
    if (plan.fromDefaultPool) return; // the operator's default pool: found by CIDR without a mark
    const pool = await this.ctx.state.pool(plan.poolId);
    if (pool && pool.tags.includes(SUBNETPOOL_OWNED_TAG) && !pool.tags.includes(SWARM_ALLOCATED_TAG)) {
      await this.ctx.neutron.addTag('subnetpools', pool.id, SWARM_ALLOCATED_TAG);
    }
  }

  private async planFamily(version: 4 | 6, data: IpamData, family: FamilyOptions): Promise<FamilyPlan> {
    const { neutron, config } = this.ctx;
    const cidr = parseCidr(data.Pool, { strict: true });
    if (cidr.version !== version) throw invalidRequest(`IPv${version}Data pool ${data.Pool} is not IPv${version}`);
    let gateway: string | undefined;
    if (data.Gateway) {
      gateway = splitInterfaceAddress(data.Gateway).ip;
      // The IPAM placeholder for "no gateway" on an existing gateway-less subnet.
      if (gateway === '0.0.0.0' || gateway === '::') gateway = undefined;
      else if (!cidrContains(cidr, gateway)) throw invalidRequest(`gateway ${gateway} is not in ${cidr.text}`);
    }
    let existingSubnet: Subnet | undefined;
    if (family.subnetUuid || family.subnetName) {
      const found = await visibleSubnets(this.ctx, await neutron.listSubnets(family.subnetUuid ? { id: family.subnetUuid } : { name: family.subnetName }));
      if (found.length !== 1) {
        const what = family.subnetUuid ? `id ${family.subnetUuid}` : `name "${family.subnetName}"`;
        throw found.length === 0 ? notFound(`no Neutron subnet with ${what}${scopeHint(this.ctx)}`) : conflict(`several Neutron subnets with ${what}`);
      }
      existingSubnet = found[0]!;
    }
    const reservedPools = this.ctx.state.reservedPools(cidr.text);
    let poolId: string | undefined;
    if (family.poolUuid || family.poolName) {
      const named = await namedPool(this.ctx, family, reservedPools);
      // A user pool that does not hold the CIDR was replaced by a kuryr pool in RequestPool.
      poolId = named.prefixes.some((p) => cidrWithin(cidr, parseCidr(p))) ? named.id : undefined;
    }
    if (!poolId) {
      // Only pools with Kuryr's tag: an operator's pool that merely has the name is not Kuryr's to allocate from.
      const tags = [SUBNETPOOL_OWNED_TAG, ...(existingSubnet ? [existingSubnet.id] : [])].join(',');
      const pools = await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr.text), tags });
      pools.sort((a, b) => a.id.localeCompare(b.id));
      // Overlapping CIDRs: the pool RequestPool reserved for this network, newest first.
      const reserved = reservedPools.filter((id) => pools.some((p) => p.id === id));
      poolId = reserved[reserved.length - 1] ?? pools[0]?.id;
    }
    let fromDefaultPool = false;
    if (!poolId) {
      poolId = await this.defaultPoolHolding(cidr);
      fromDefaultPool = poolId !== undefined;
    }
    if (!poolId) {
      throw notFound(`no Neutron subnet pool for ${cidr.text}: create the network with --ipam-driver kuryr, or name a pool with -o neutron.pool${version === 6 ? '.v6' : ''}.name`);
    }
    return { version, cidr, gateway, poolId, existingSubnet, fromDefaultPool };
  }

  /** A network without --subnet got a block of the default pool (RequestPool): allocate from it. */
  private async defaultPoolHolding(cidr: Cidr): Promise<string | undefined> {
    const neutronCfg = this.ctx.config.neutron;
    const name = cidr.version === 4 ? neutronCfg.defaultSubnetpoolV4 : neutronCfg.defaultSubnetpoolV6;
    const pool = (await this.ctx.neutron.listSubnetPools({ name }))[0];
    return pool?.prefixes.some((p) => cidrWithin(cidr, parseCidr(p))) ? pool.id : undefined;
  }

  private async newNetwork(dockerId: string, opts: NeutronOptions, extraTags: string[], rollback: (() => Promise<unknown>)[]): Promise<Network> {
    const net = await this.ctx.neutron.createNetwork({
      name: networkName(dockerId),
      admin_state_up: true,
      shared: opts.shared,
      tags: [...idTags(dockerId), ...extraTags],
    });
    rollback.push(() => this.ctx.neutron.deleteNetwork(net.id));
    return net;
  }

  /** `-o neutron.net.uuid|name`: use the operator's network; tag it, never delete it. */
  private async adoptNetwork(dockerId: string, opts: NeutronOptions, extraTags: string[], rollback: (() => Promise<unknown>)[]): Promise<Network> {
    const { neutron } = this.ctx;
    const found = await visibleObjects(this.ctx, await neutron.listNetworks(opts.netUuid ? { id: opts.netUuid } : { name: opts.netName }));
    const what = opts.netUuid ? `id ${opts.netUuid}` : `name "${opts.netName}"`;
    if (found.length !== 1) {
      throw found.length === 0 ? notFound(`no Neutron network with ${what}${scopeHint(this.ctx)}`) : conflict(`several Neutron networks with ${what}; use neutron.net.uuid`);
    }
    const net = found[0]!;
    if (net.shared !== opts.shared) {
      throw conflict(`Neutron network ${net.id} has shared=${net.shared} but neutron.net.shared=${opts.shared} was requested`);
    }
    const original = net.tags;
    const tags = [...new Set([...net.tags.filter((t) => !isNetworkPoolTag(t)), ...idTags(dockerId), existingNetworkTag(dockerId), ...extraTags])];
    await neutron.replaceTags('networks', net.id, tags);
    rollback.push(() => neutron.replaceTags('networks', net.id, original));
    return { ...net, tags };
  }

  private async ensureSubnet(net: Network, plan: FamilyPlan, rollback: (() => Promise<unknown>)[]): Promise<void> {
    const { neutron, config } = this.ctx;
    let subnet = plan.existingSubnet;
    if (subnet && subnet.network_id !== net.id) {
      throw conflict(`subnet ${subnet.id} belongs to network ${subnet.network_id}, not ${net.id}`);
    }
    subnet ??= (await neutron.listSubnets({ network_id: net.id, cidr: plan.cidr.text }))[0];
    if (subnet) {
      // An existing subnet is adopted: the pool ID tag is how IPAM finds it (overlapping CIDRs).
      if (!plan.fromDefaultPool && subnet.subnetpool_id !== plan.poolId && !subnet.tags.includes(plan.poolId)) {
        const id = subnet.id;
        await neutron.addTag('subnets', id, plan.poolId);
        rollback.push(() => neutron.removeTag('subnets', id, plan.poolId));
      }
      if (!plan.fromDefaultPool) this.ctx.state.rememberPoolSubnet(plan.poolId, subnet);
      return;
    }
    const created = await neutron.createSubnet({
      name: subnetName(plan.cidr.text),
      network_id: net.id,
      ip_version: plan.version,
      cidr: plan.cidr.text,
      subnetpool_id: plan.poolId,
      enable_dhcp: config.neutron.enableDhcp,
      gateway_ip: plan.gateway ?? null,
      tags: plan.fromDefaultPool ? [] : [plan.poolId],
    });
    rollback.push(() => neutron.deleteSubnet(created.id));
    if (!plan.fromDefaultPool) this.ctx.state.rememberPoolSubnet(plan.poolId, created);
  }

  deleteNetwork(req: NetworkRequest): Promise<Empty> {
    return this.ctx.locks.run(`net:${req.NetworkID}`, async () => {
      const net = await this.ctx.state.network(req.NetworkID);
      if (!net) return {};
      await this.refuseWhileLive(req.NetworkID, net);
      this.endpointsByNetwork.delete(req.NetworkID);
      await this.letGo(req.NetworkID, net);
      return {};
    });
  }

  /**
   * Swarm's manager frees a network it allocated (`docker network rm`), before it releases the
   * network's pool: the swarm's mark goes, and the network with it unless another host's ports
   * still hold it (then the last host's DeleteNetwork, or `kuryr gc`, removes it).
   */
  freeNetwork(req: NetworkRequest): Promise<Empty> {
    if (this.ctx.config.capabilityScope !== 'global') return Promise.resolve({});
    return this.ctx.locks.run(`net:${req.NetworkID}`, async () => {
      const { neutron, state } = this.ctx;
      state.forgetNetwork(req.NetworkID);
      const net = await state.network(req.NetworkID);
      if (!net) return {};
      for (const subnet of await neutron.listSubnets({ network_id: net.id })) {
        const pool = subnet.subnetpool_id ? await state.pool(subnet.subnetpool_id) : undefined;
        if (pool?.tags.includes(SWARM_ALLOCATED_TAG)) await neutron.removeTag('subnetpools', pool.id, SWARM_ALLOCATED_TAG);
      }
      if (net.tags.includes(SWARM_ALLOCATED_TAG)) await neutron.removeTag('networks', net.id, SWARM_ALLOCATED_TAG);
      await this.letGo(req.NetworkID, { ...net, tags: net.tags.filter((t) => t !== SWARM_ALLOCATED_TAG) });
      return {};
    });
  }

  /** This host stops using the network: forgotten here, and removed from Neutron when nobody else uses it. */
  private async letGo(dockerNetworkId: string, net: Network): Promise<void> {
    const { neutron, state } = this.ctx;
    // Docker releases the IPAM pool before DeleteNetwork; while ports (a pool's) remained, ReleasePool
    // had to keep the subnet and its subnet pool, which go once the network has.
    const subnetPools = new Set((await state.networkSubnets(net.id)).flatMap((s) => (s.subnetpool_id ? [s.subnetpool_id] : [])));
    state.forgetNetwork(dockerNetworkId);
    state.forgetSubnetsOfNetwork(net.id);
    await this.ctx.pools.drain(net.id);
    if (await this.usedByOtherHosts(net)) return;
    if (net.tags.includes(existingNetworkTag(dockerNetworkId))) {
      await this.releaseAdoptedNetwork(dockerNetworkId, net);
      return;
    }
    try {
      await neutron.deleteNetwork(net.id);
    } catch (err) {
      if (!isNeutronError(err, 409)) throw withContext(`delete network ${net.id}`, err);
      // Docker has no endpoint left on it, so Kuryr ports still there are leftovers of a crash.
      await this.deleteLeftoverPorts(net.id);
      await neutron.deleteNetwork(net.id).catch((e: unknown) => {
        throw withContext(`delete network ${net.id} (ports not made by Kuryr remain on it)`, e);
      });
    }
    for (const poolId of subnetPools) await this.deleteOrphanedPool(poolId);
  }

  /**
   * Docker removes a network only once it has no endpoints, so a DeleteNetwork while containers of
   * this host still use its ports did not come from Docker's `network rm`: it changes nothing.
   */
  private async refuseWhileLive(dockerNetworkId: string, net: Network): Promise<void> {
    const { neutron, state } = this.ctx;
    const mine = this.endpointsByNetwork.get(dockerNetworkId) ?? new Set<string>();
    // Other Docker networks (other hosts naming it with -o neutron.net.name) may share the Neutron
    // network and this host: then only the endpoints this daemon made on this Docker network count.
    const current = (await neutron.listNetworks({ id: net.id }))[0] ?? net;
    const shared = new Set(current.tags.filter((t) => t.startsWith(NET_TAG_LOW))).size > 1;
    const ports = await neutron.listPorts({ network_id: net.id, device_owner: DEVICE_OWNER });
    const isLive = async (p: Port) => mine.has(p.device_id) || (!shared && state.isThisHosts(p) && (await endpointLive(this.ctx, p)));
    const liveFlags = await Promise.all(ports.map(isLive));
    const live = ports.filter((_, i) => liveFlags[i]);
    if (live.length > 0) {
      throw conflict(`network ${dockerNetworkId.slice(0, 12)} still has ${live.length} live endpoint(s) on this host; disconnect or remove their containers first`);
    }
  }

  /** Kuryr's ports on a removed network, except those a live endpoint (here or on another host) still uses. */
  private async deleteLeftoverPorts(networkId: string): Promise<void> {
    const { neutron, logger } = this.ctx;
    const kuryrs = (await neutron.listPorts({ network_id: networkId, tags: PORT_OWNED_TAG, device_owner: DEVICE_OWNER })).filter(madeByKuryr);
    const live = await Promise.all(kuryrs.map((p) => endpointLive(this.ctx, p)));
    const leftovers = kuryrs.filter((_, i) => !live[i]);
    if (leftovers.length > 0) logger.warn({ portIds: leftovers.map((p) => p.id), networkId }, 'deleting leftover Kuryr ports of a removed Docker network');
    await neutron.deletePorts(leftovers.map((p) => p.id));
  }

  /**
   * Multi-host (global scope): every Docker host has this Docker network ID, hence this Neutron
   * network, and Docker calls DeleteNetwork on each. This host's endpoints are gone by now (Docker
   * refuses to remove a network with endpoints), so Kuryr ports still on it serve other hosts'
   * containers: the network, its tags and subnets are left to them, and the last host's
   * DeleteNetwork removes it. A network Swarm's manager allocated stays until the manager frees it
   * (its VIPs and next tasks come from its subnet). A crashed host's leftover ports also keep it;
   * `kuryr gc` finds those. Under local scope each host's Docker network is its own.
   */
  private async usedByOtherHosts(net: Network): Promise<boolean> {
    if (this.ctx.config.capabilityScope !== 'global') return false;
    const { neutron, logger } = this.ctx;
    const [current] = await neutron.listNetworks({ id: net.id });
    if (current?.tags.includes(SWARM_ALLOCATED_TAG)) {
      logger.info({ networkId: net.id }, 'Neutron network was allocated by the swarm manager: kept until it frees it (docker network rm)');
      return true;
    }
    const ports = await neutron.listPorts({ network_id: net.id, device_owner: DEVICE_OWNER });
    if (ports.length === 0) return false;
    logger.info({ networkId: net.id, ports: ports.length }, 'Neutron network still has Kuryr ports of other Docker hosts: left to them');
    return true;
  }

  private async releaseAdoptedNetwork(dockerId: string, net: Network): Promise<void> {
    const { neutron, logger } = this.ctx;
    // Other Docker networks (other hosts naming the same -o neutron.net.name) may use this network,
    // each tagged with its own ID, added after our cached copy was read: decide on a fresh read.
    const current = (await neutron.listNetworks({ id: net.id }))[0];
    if (!current) return;
    const ours = new Set([...idTags(dockerId), existingNetworkTag(dockerId)]);
    const othersUseIt = current.tags.some((t) => t.startsWith(NET_TAG_LOW) && !ours.has(t));
    if (othersUseIt) {
      logger.info({ networkId: net.id }, 'Neutron network still used by other Docker networks: only this one\'s tags are removed');
    } else {
      for (const subnet of await neutron.listSubnets({ network_id: net.id })) {
        if (await this.madeByKuryr(subnet)) {
          try {
            await neutron.deleteSubnet(subnet.id);
          } catch (err) {
            if (!isNeutronError(err, 409)) throw withContext(`delete subnet ${subnet.id}`, err);
            await this.deleteLeftoverPorts(net.id);
            await neutron.deleteSubnet(subnet.id);
          }
          if (subnet.subnetpool_id) await this.deleteOrphanedPool(subnet.subnetpool_id);
        }
      }
    }
    // One tag at a time: a whole-list PUT could drop tags another host adds meanwhile.
    const drop = current.tags.filter((t) => ours.has(t) || (!othersUseIt && isNetworkPoolTag(t)));
    for (const tag of drop) await neutron.removeTag('networks', net.id, tag);
  }

  /**
   * A subnet on an adopted (operator's) network is Kuryr's to delete only when Kuryr allocated it:
   * Kuryr tags a subnet it allocates from a Docker network's pool with that pool's ID (as upstream
   * does); a block of the operator's default pool (a network without --subnet) has Kuryr's subnet
   * name. An operator's subnet that merely has the name stays.
   */
  private async madeByKuryr(subnet: Subnet): Promise<boolean> {
    if (!subnet.name.startsWith(SUBNET_NAME_PREFIX) || !subnet.subnetpool_id) return false;
    if (subnet.tags.includes(subnet.subnetpool_id)) return true;
    const [pool] = await this.ctx.neutron.listSubnetPools({ id: subnet.subnetpool_id });
    const { defaultSubnetpoolV4, defaultSubnetpoolV6 } = this.ctx.config.neutron;
    return pool?.name === defaultSubnetpoolV4 || pool?.name === defaultSubnetpoolV6;
  }

  /**
   * A subnet still here when the last Docker network lets go of an adopted network was allocated
   * from another Docker network's pool, which that network's ReleasePool kept because this one
   * still used the subnet (ipam-driver usedByOtherDockerNetworks): with the subnet gone, it goes.
   */
  private async deleteOrphanedPool(poolId: string): Promise<void> {
    const { neutron, config } = this.ctx;
    const [pool] = await neutron.listSubnetPools({ id: poolId });
    if (!pool || pool.is_default || !pool.tags.includes(SUBNETPOOL_OWNED_TAG) || pool.tags.includes(SUBNETPOOL_EXISTING_TAG)) return;
    // RequestPool may just have handed it to a new Docker network with the same CIDR.
    if (pool.prefixes.some((prefix) => this.ctx.state.reservedPools(parseCidr(prefix).text).includes(pool.id))) return;
    await neutron.deleteSubnetPool(pool.id).catch((err: unknown) => {
      // Still allocating for someone else: theirs to release.
      if (!isNeutronError(err, 409) && !isNeutronError(err, 412)) throw withContext(`delete subnet pool ${pool.id}`, err);
    });
  }

  /**
   * Swarm's manager allocates a swarm-scoped network once, after its pool and gateway and before
   * any node creates it, then allocates the service VIPs and task addresses from its subnet: the
   * Neutron network and subnet are made here, marked as the swarm's, and every node's
   * CreateNetwork finds them. Under local scope each host's network is its own: nothing to make.
   */
  async allocateNetwork(req: AllocateNetworkRequest): Promise<{ Options: Record<string, string> }> {
    const options = req.Options ?? {};
    if (this.ctx.config.capabilityScope === 'global') {
      await this.ctx.locks.run(`net:${req.NetworkID}`, () => this.provision(req.NetworkID, options, { IPv4Data: req.IPv4Data ?? [], IPv6Data: req.IPv6Data ?? [] }, { wantV6: false, bySwarm: true }));
    }
    return { Options: options };
  }

  createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResponse> {
    return this.ctx.locks.run(`ep:${req.EndpointID}`, () => this.createEndpointLocked(req));
  }

  private async createEndpointLocked(req: CreateEndpointRequest): Promise<CreateEndpointResponse> {
    const { state, binder, logger, config } = this.ctx;
    const iface = req.Interface ?? {};
    const addresses = [iface.Address, iface.AddressIPv6].filter((a): a is string => !!a).map((a) => splitInterfaceAddress(a).ip);
    if (addresses.length === 0) throw invalidRequest('Interface has neither Address nor AddressIPv6: Kuryr needs an address from IPAM');
    const net = await state.network(req.NetworkID);
    if (!net) throw notFound(`network ${req.NetworkID.slice(0, 12)} is not a Kuryr network (no Neutron network carries its tags)`);

    const rollback: (() => Promise<unknown>)[] = [];
    let port: Port;
    try {
      const mac = iface.MacAddress?.toLowerCase();
      const claim = await claimPort({ ctx: this.ctx, req, net, addresses, mac, rollback });
      port = claim.port;
      state.rememberEndpointPort(req.EndpointID, port);
      rollback.push(async () => state.forgetEndpoint(req.EndpointID));
      await binder.bind(port, { id: net.id, mtu: net.mtu }, req.EndpointID, claim.planned);
      rollback.push(() => binder.unbind(port, req.EndpointID));
      if (claim.finish && config.neutron.vifPluggingIsFatal) {
        port = await claim.finish();
      } else if (claim.finish) {
        state.track(port.id, this.finishInBackground(claim.finish, req.EndpointID, port.id));
      }
      if (config.neutron.vifPluggingIsFatal) port = await this.waitActive(port);
    } catch (err) {
      await undo(logger, rollback, `endpoint ${req.EndpointID}`);
      throw withContext(`create endpoint ${req.EndpointID.slice(0, 12)}`, err);
    }
    this.rememberRecent(req.EndpointID);
    const made = this.endpointsByNetwork.get(req.NetworkID) ?? new Set<string>();
    this.endpointsByNetwork.set(req.NetworkID, made.add(req.EndpointID));
    return { Interface: iface.MacAddress ? {} : { MacAddress: port.mac_address } };
  }

  private forgetMade(dockerNetworkId: string, endpointId: string): void {
    const made = this.endpointsByNetwork.get(dockerNetworkId);
    made?.delete(endpointId);
    if (made?.size === 0) this.endpointsByNetwork.delete(dockerNetworkId);
  }

  /** Entries expire as new endpoints come: the map holds at most the endpoints of the last few seconds. */
  private rememberRecent(endpointId: string): void {
    const now = Date.now();
    for (const [id, at] of this.recentEndpoints) if (now - at > OPER_INFO_FROM_MEMORY_MS) this.recentEndpoints.delete(id);
    this.recentEndpoints.set(endpointId, now);
  }

  /**
   * Neutron bookkeeping left off the critical path (device_id, name, tags, and for a pooled port its
   * binding): the host side is plugged already and the agent wires the tap when the port is bound.
   */
  private async finishInBackground(finish: () => Promise<Port>, endpointId: string, portId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await finish();
        return;
      } catch (err) {
        if (attempt >= 3 || (isNeutronError(err, 412) || isNeutronError(err, 404))) {
          this.ctx.logger.error({ err, endpointId, portId }, 'could not record the endpoint on its Neutron port; `kuryr gc` reconciles it');
          return;
        }
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
  }

  /** With vif_plugging_is_fatal, the container starts only on an ACTIVE port. */
  private async waitActive(port: Port): Promise<Port> {
    const timeoutMs = this.ctx.config.neutron.vifPluggingTimeout * 1000;
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
    let current = port;
    while (current.status !== 'ACTIVE') {
      if (Date.now() >= deadline) {
        throw new KuryrError('KURYR_ERR_BINDING', `Neutron port ${port.id} is still ${current.status} after vif_plugging_timeout=${this.ctx.config.neutron.vifPluggingTimeout}s; is the Neutron agent on ${this.ctx.config.hostname} up?`);
      }
      await new Promise((r) => setTimeout(r, 250));
      current = await this.ctx.neutron.getPort(port.id);
    }
    this.ctx.state.updatePort(current);
    return current;
  }

  /**
   * Docker asks this twice inside every container start: those answers come from what Kuryr knows.
   * An operator asking later (a port's status) gets Neutron's current view.
   */
  async endpointOperInfo(req: EndpointRequest): Promise<EndpointOperInfoResponse> {
    const { state, neutron } = this.ctx;
    let port = await state.endpointPort(req.EndpointID, req.NetworkID);
    if (!port) return { Value: {} };
    const made = this.recentEndpoints.get(req.EndpointID);
    if (made === undefined || Date.now() - made > OPER_INFO_FROM_MEMORY_MS) {
      await state.settled(port.id);
      const fresh = await neutron.getPort(port.id);
      port = { ...fresh, tags: fresh.tags ?? port.tags };
      state.updatePort(port);
    }
    return {
      Value: {
        status: port.status,
        neutron_port_id: port.id,
        neutron_network_id: port.network_id,
        mac_address: port.mac_address,
        host: port['binding:host_id'] ?? '',
        vif_type: port['binding:vif_type'] ?? '',
      },
    };
  }

  deleteEndpoint(req: EndpointRequest): Promise<Empty> {
    return this.ctx.locks.run(`ep:${req.EndpointID}`, async () => {
      const { state, binder, neutron } = this.ctx;
      // What this process knew of the endpoint goes with it, whatever Neutron still holds.
      this.exposed.forget(req.EndpointID);
      this.published.forget(req.EndpointID);
      const found = await state.endpointPort(req.EndpointID, req.NetworkID);
      if (!found) return {}; // already gone (Docker's rollbacks may repeat this call), or another host's
      await state.settled(found.id);
      await this.ctx.endpointObserver?.onEndpointDeleted?.(req.EndpointID);
      const port = (await state.endpointPort(req.EndpointID, req.NetworkID)) ?? found;
      await binder.unbind(port, req.EndpointID);
      // IPAM's ReleaseAddress deletes or releases the port; only a port the endpoint made itself goes here.
      if (port.tags.includes(PORT_ENDPOINT_TAG)) {
        await neutron.deletePort(port.id);
        state.forgetPort(port.id);
      }
      state.forgetEndpoint(req.EndpointID);
      this.recentEndpoints.delete(req.EndpointID);
      this.forgetMade(req.NetworkID, req.EndpointID);
      return {};
    });
  }

  async join(req: JoinRequest): Promise<JoinResponse> {
    const { state, binder, config } = this.ctx;
    const net = await state.network(req.NetworkID);
    if (!net) throw notFound(`network ${req.NetworkID.slice(0, 12)} is not a Kuryr network`);
    const port = await state.endpointPort(req.EndpointID, req.NetworkID);
    if (!port) throw notFound(`endpoint ${req.EndpointID.slice(0, 12)} has no Neutron port on this network and host`);
    const subnets = await state.networkSubnets(net.id);
    const response: JoinResponse = {
      InterfaceName: { SrcName: binder.containerIfName(port), DstPrefix: config.binding.vethDstPrefix },
      StaticRoutes: [],
      DisableGatewayService: true,
    };
    const portSubnets = new Set(port.fixed_ips.map((f) => f.subnet_id));
    for (const subnet of subnets) {
      if (portSubnets.has(subnet.id) && subnet.gateway_ip) {
        if (subnet.ip_version === 4) response.Gateway = subnet.gateway_ip;
        else response.GatewayIPv6 = subnet.gateway_ip;
      }
      for (const route of subnet.host_routes ?? []) {
        response.StaticRoutes.push({ Destination: route.destination, RouteType: 0, NextHop: route.nexthop } satisfies StaticRoute);
      }
    }
    this.ctx.endpointObserver?.onEndpointJoined({ endpointId: req.EndpointID, networkId: req.NetworkID, port, settled: state.settled(port.id) });
    return response;
  }

  async leave(): Promise<Empty> {
    // The interface is torn down in DeleteEndpoint; Docker moves it out of the sandbox itself.
    return {};
  }

  async programExternalConnectivity(req: ExternalConnectivityRequest): Promise<Empty> {
    await this.exposed.program(req);
    try {
      await this.published.program(req);
    } catch (err) {
      await this.exposed.revoke(req).catch(() => undefined);
      throw err;
    }
    return {};
  }

  async revokeExternalConnectivity(req: EndpointRequest): Promise<Empty> {
    await this.published.revoke(req);
    return this.exposed.revoke(req);
  }
}

/** How long after CreateEndpoint EndpointOperInfo answers from memory. */
const OPER_INFO_FROM_MEMORY_MS = 5_000;

function firstPool(data: IpamData[] | null): IpamData | undefined {
  // Like upstream, one subnet per family: Docker sends one pool per --subnet.
  return (data ?? []).find((d) => d.Pool);
}
