import { conflict, invalidRequest, notFound, withContext } from '../errors.js';
import type { Port, Subnet, SubnetPool } from '../openstack/neutron-types.js';
import {
  GATEWAY_ADDRESS_TYPE,
  OPT_MAC,
  OPT_REQUEST_ADDRESS_TYPE,
  type AddressSpacesResponse,
  type Empty,
  type IpamCapabilitiesResponse,
  type IpamDriver,
  type ReleaseAddressRequest,
  type ReleasePoolRequest,
  type RequestAddressRequest,
  type RequestAddressResponse,
  type RequestPoolRequest,
  type RequestPoolResponse,
} from './api.js';
import { canonicalIp, cidrContains, firstFreeBlock, firstHost, ipVersion, parseCidr, type Cidr } from './cidr.js';
import { blockPoolId, parsePoolId } from './pool-id.js';
import { PortCreateBatcher } from './port-batcher.js';
import { isNeutronError } from '../openstack/errors.js';
import { bindingHost, hostTags, type DriverContext } from './context.js';
import { DEVICE_OWNER, madeByKuryr, PORT_EXISTING_TAG, PORT_OWNED_TAG, PORT_POOLED_TAG, SUBNETPOOL_EXISTING_TAG, SUBNETPOOL_OWNED_TAG, SUBNET_NAME_PREFIX, SWARM_ALLOCATED_TAG, UNBOUND_PORT_NAME, NET_TAG_LOW, NET_TAG_HIGH, poolSettingsFromTags, subnetPoolName, vmPortTag } from './naming.js';
import { checkSharedAllowed, parseNeutronOptions, type FamilyOptions, type PoolOptions } from './options.js';
import { describePort, endpointLive, namedPool, scopeHint, visibleSubnets } from './scope.js';

/** Kuryr's IPAM driver: Docker pools are Neutron subnet pools, addresses are Neutron ports. */
/** A port IPAM created that no endpoint has claimed yet. */
function isFreshKuryrPort(port: Port): boolean {
  return madeByKuryr(port) && port.device_id === '';
}

/** How long the second family of a dual-stack endpoint may take to ask for its address. */
const POOLED_BY_MAC_MS = 60_000;

/**
 * Docker makes the MACs it generates locally administered with the prefix 02:42. Any other MAC
 * came from `docker run --mac-address`, possibly for a pre-created port: such a request bypasses
 * the pool, or the pooled port's claim would meet that port's MAC (409).
 */
function dockerGeneratedMac(mac: string): boolean {
  return mac.startsWith('02:42:');
}

/** How long a carved block is held back from other networks before its subnet must exist. */
const CARVE_HOLD_MS = 60_000;

export class KuryrIpamDriver implements IpamDriver {
  /**
   * Pooled ports handed out by MAC, so the second family of a dual-stack endpoint finds its port:
   * each of its subnets is handed out once, and entries expire (requests cannot grow the map).
   */
  private readonly pooledByMac = new Map<string, { port: Port; subnets: Set<string>; at: number }>();
  /**
   * Ports RequestAddress adopted, by port ID, with Docker's MAC and the subnets handed out: the
   * second family of a dual-stack endpoint (`--ip` and `--ip6` of one pre-created port, same MAC)
   * joins the adoption instead of meeting a port Kuryr already tagged. Entries expire.
   */
  private readonly adopting = new Map<string, { mac: string | undefined; subnets: Set<string>; at: number }>();
  /** Default-pool blocks handed to Docker, by CIDR, with when. */
  private readonly carved = new Map<string, number>();

  private readonly creates: PortCreateBatcher;

  constructor(private readonly ctx: DriverContext) {
    this.creates = new PortCreateBatcher(ctx.neutron);
  }

  getCapabilities(): IpamCapabilitiesResponse {
    // Docker's MAC lets RequestAddress create the port with the MAC the container will use.
    return { RequiresMACAddress: true, RequiresRequestReplay: false };
  }

  getDefaultAddressSpaces(): AddressSpacesResponse {
    return {
      LocalDefaultAddressSpace: this.ctx.config.localDefaultAddressSpace,
      GlobalDefaultAddressSpace: this.ctx.config.globalDefaultAddressSpace,
    };
  }

  async requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse> {
    if (!req.Pool && req.SubPool) throw invalidRequest('SubPool (--ip-range) given without Pool (--subnet)');
    const opts = parseNeutronOptions(req.Options);
    checkSharedAllowed(opts, this.ctx.config.neutron.allowSharedNetworks);
    const family = req.V6 ? opts.v6 : opts.v4;
    const version = req.V6 ? 6 : 4;
    if (!req.Pool) return this.defaultPool(version);
    const cidr = parseCidr(req.SubPool || req.Pool, { strict: true });
    if (cidr.version !== version) throw invalidRequest(`pool ${cidr.text} is not an IPv${version} CIDR`);
    const subnetId = await this.resolveSubnetId(family);
    if (family.poolUuid || family.poolName) {
      const pool = await namedPool(this.ctx, family);
      if (pool.prefixes.some((p) => parseCidr(p).text === cidr.text)) {
        if (pool.shared !== opts.shared) {
          throw conflict(`subnet pool ${pool.id} has shared=${pool.shared} but neutron.net.shared=${opts.shared} was requested`);
        }
        if (!pool.tags.includes(SUBNETPOOL_EXISTING_TAG)) await this.ctx.neutron.addTag('subnetpools', pool.id, SUBNETPOOL_EXISTING_TAG);
        // A pool of several prefixes serves several networks: the PoolID names the block, as for the default pool.
        return { PoolID: pool.prefixes.length > 1 ? blockPoolId(pool.id, cidr.text) : pool.id, Pool: cidr.text };
      }
      // The user's pool does not hold this CIDR: like upstream, serve it from a pool of our own.
    }
    const pool = await this.kuryrPool(cidr, subnetId, opts.shared);
    return { PoolID: pool.id, Pool: cidr.text };
  }

  /**
   * No --subnet: a block of the default pool's default prefix length, free in Neutron and not
   * handed out by this daemon in the last minute (its subnet may not exist yet).
   */
  private async defaultPool(version: 4 | 6): Promise<RequestPoolResponse> {
    const name = version === 4 ? this.ctx.config.neutron.defaultSubnetpoolV4 : this.ctx.config.neutron.defaultSubnetpoolV6;
    const pool = (await this.ctx.neutron.listSubnetPools({ name }))[0];
    if (!pool) {
      throw notFound(`default IPv${version} subnet pool "${name}" does not exist in Neutron; create it or give --subnet`);
    }
    return this.ctx.locks.run(`carve:${pool.id}`, async () => {
      const now = Date.now();
      for (const [block, at] of this.carved) if (now - at > CARVE_HOLD_MS) this.carved.delete(block);
      const used = (await this.ctx.neutron.listSubnets({ subnetpool_id: pool.id })).map((s) => parseCidr(s.cidr));
      used.push(...[...this.carved.keys()].map((b) => parseCidr(b)));
      const length = Number(pool.default_prefixlen);
      const block = firstFreeBlock(pool.prefixes.map((p) => parseCidr(p)), length, used);
      if (!block) throw conflict(`default subnet pool "${name}" (${pool.prefixes.join(', ')}) has no free /${length} left`);
      this.carved.set(block.text, now);
      return { PoolID: blockPoolId(pool.id, block.text), Pool: block.text };
    });
  }

  private async resolveSubnetId(family: FamilyOptions): Promise<string | undefined> {
    if (family.subnetUuid) {
      const [subnet] = await visibleSubnets(this.ctx, await this.ctx.neutron.listSubnets({ id: family.subnetUuid }));
      if (!subnet) throw notFound(`no Neutron subnet with id ${family.subnetUuid}${scopeHint(this.ctx)}`);
      return subnet.id;
    }
    if (!family.subnetName) return undefined;
    const found = await visibleSubnets(this.ctx, await this.ctx.neutron.listSubnets({ name: family.subnetName }));
    if (found.length !== 1) {
      throw found.length === 0
        ? notFound(`no Neutron subnet is named "${family.subnetName}"${scopeHint(this.ctx)}`)
        : conflict(`${found.length} Neutron subnets are named "${family.subnetName}"; use neutron.subnet.uuid`);
    }
    return found[0]!.id;
  }

  /**
   * Get-or-create `kuryrPool-<cidr>`. A pool named for an adopted subnet is shared (every host adopting
   * that subnet uses it). Otherwise an existing pool is reused only while no network uses it, so two
   * Docker networks with the same CIDR get two pools, and their subnets, told apart by the pool ID.
   * Only pools carrying Kuryr's tag are reused (and later deleted): a name proves nothing.
   */
  private async kuryrPool(cidr: Cidr, subnetId: string | undefined, shared: boolean): Promise<SubnetPool> {
    const { neutron, state } = this.ctx;
    const name = subnetPoolName(this.ctx.config.subnetpoolNamePrefix, cidr.text);
    return this.ctx.locks.run(`pool:${name}`, async () => {
      const existing = await neutron.listSubnetPools({ name, tags: [SUBNETPOOL_OWNED_TAG, ...(subnetId ? [subnetId] : [])].join(',') });
      existing.sort((a, b) => a.id.localeCompare(b.id));
      let pool: SubnetPool | undefined = subnetId ? existing[0] : this.swarmPool(existing);
      for (const candidate of subnetId || pool ? [] : existing) {
        if (state.reservedPools(cidr.text).includes(candidate.id)) continue;
        if (!(await state.poolInUse(candidate.id))) {
          pool = candidate;
          break;
        }
      }
      pool ??= await neutron.createSubnetPool({
        name,
        prefixes: [cidr.text],
        default_prefixlen: cidr.prefixLength,
        min_prefixlen: cidr.prefixLength,
        shared,
        tags: [SUBNETPOOL_OWNED_TAG, ...(subnetId ? [subnetId] : [])],
      } as Partial<SubnetPool>);
      state.reservePool(cidr.text, pool.id);
      return pool;
    });
  }

  /**
   * Under global scope every node of a swarm asks for the pool of a network Swarm's manager
   * allocated, by its CIDR: the pool that network allocates from (marked by AllocateNetwork).
   */
  private swarmPool(candidates: SubnetPool[]): SubnetPool | undefined {
    if (this.ctx.config.capabilityScope !== 'global') return undefined;
    return candidates.find((p) => p.tags.includes(SWARM_ALLOCATED_TAG));
  }

  async releasePool(req: ReleasePoolRequest): Promise<Empty> {
    const { neutron, state, config, logger } = this.ctx;
    state.forgetPool(req.PoolID);
    state.unreservePool(req.PoolID);
    const { neutronPoolId, block } = parsePoolId(req.PoolID);
    if (block) {
      // A block of the default pool or of a named one: its subnet went with the network; the pool is the operator's.
      this.carved.delete(block);
      await this.unmarkUnusedPool(neutronPoolId);
      return {};
    }
    const pool = (await neutron.listSubnetPools({ id: req.PoolID }))[0];
    if (!pool) return {};
    // The operator's default pools and user-given pools are never deleted, only un-marked.
    if (pool.name === config.neutron.defaultSubnetpoolV4 || pool.name === config.neutron.defaultSubnetpoolV6 || pool.is_default) return {};
    for (const subnet of await neutron.listSubnets({ tags: pool.id })) {
      if (subnet.subnetpool_id === pool.id) {
        // A subnet Kuryr allocated from this pool for a network another host or the swarm still uses.
        if (await this.keptByItsNetwork(subnet)) return {};
        continue;
      }
      // A pool named for an adopted subnet (-o neutron.subnet.name) is every such network's pool.
      if (pool.tags.includes(subnet.id) && (await this.keptByItsNetwork(subnet))) {
        logger.info({ poolId: pool.id, subnetId: subnet.id }, 'subnet pool still serves other Docker networks (other hosts, or the swarm); kept');
        return {};
      }
      await neutron.removeTag('subnets', subnet.id, pool.id);
    }
    if (pool.tags.includes(SUBNETPOOL_EXISTING_TAG)) {
      await neutron.removeTag('subnetpools', pool.id, SUBNETPOOL_EXISTING_TAG);
      return {};
    }
    if (!pool.tags.includes(SUBNETPOOL_OWNED_TAG)) {
      logger.info({ poolId: pool.id }, 'subnet pool does not carry Kuryr\'s tag (not made by Kuryr for a Docker network); kept');
      return {};
    }
    for (const subnet of await neutron.listSubnets({ subnetpool_id: pool.id })) {
      if (!subnet.name.startsWith(SUBNET_NAME_PREFIX)) continue;
      if (await this.keptByItsNetwork(subnet)) {
        // The last of them removes the subnet and this pool (DeleteNetwork, FreeNetwork, releaseAdoptedNetwork).
        logger.info({ poolId: pool.id, subnetId: subnet.id }, 'subnet still used by other Docker networks (other hosts, or the swarm); it and its pool kept');
        return {};
      }
      try {
        await neutron.deleteSubnet(subnet.id);
      } catch (err) {
        if (!isNeutronError(err, 409)) throw withContext(`release pool ${pool.id}: delete subnet ${subnet.id}`, err);
        logger.info({ poolId: pool.id, subnetId: subnet.id }, 'subnet still in use elsewhere; pool kept');
        return {};
      }
    }
    try {
      await neutron.deleteSubnetPool(pool.id);
    } catch (err) {
      // Another network (another host under local scope) still allocates from it.
      if (!isNeutronError(err, 409) && !isNeutronError(err, 412)) throw withContext(`release pool ${pool.id}`, err);
      logger.info({ poolId: pool.id }, 'subnet pool still in use; kept');
    }
    return {};
  }

  /** An operator's pool Kuryr marked as used (a named one) loses the mark once no Kuryr subnet comes from it. */
  private async unmarkUnusedPool(poolId: string): Promise<void> {
    const { neutron } = this.ctx;
    const [pool] = await neutron.listSubnetPools({ id: poolId });
    if (!pool?.tags.includes(SUBNETPOOL_EXISTING_TAG)) return;
    const kuryrSubnets = (await neutron.listSubnets({ subnetpool_id: poolId })).filter((s) => s.name.startsWith(SUBNET_NAME_PREFIX));
    if (kuryrSubnets.length === 0) await neutron.removeTag('subnetpools', poolId, SUBNETPOOL_EXISTING_TAG);
  }

  async requestAddress(req: RequestAddressRequest): Promise<RequestAddressResponse> {
    const { state } = this.ctx;
    const options = req.Options ?? {};
    const isGateway = options[OPT_REQUEST_ADDRESS_TYPE] === GATEWAY_ADDRESS_TYPE;
    const address = req.Address ? canonicalIp(req.Address) : undefined;
    const pool = await state.pool(req.PoolID);
    if (!pool) throw notFound(`subnet pool ${req.PoolID} does not exist in Neutron`);
    const subnet = await state.subnetOfPool(req.PoolID);
    if (isGateway) return { Address: this.gatewayAddress(parseCidr(parsePoolId(req.PoolID).block ?? pool.prefixes[0] ?? ''), subnet, address) };
    if (!subnet) throw notFound(`no Neutron subnet serves pool ${req.PoolID} yet`);
    const cidr = parseCidr(subnet.cidr);
    if (address && !cidrContains(cidr, address)) throw invalidRequest(`address ${address} is not in subnet ${subnet.cidr}`);
    const mac = options[OPT_MAC]?.toLowerCase();
    // --ip, --mac-address (and adoption) bypass the pool; so does a pool that is empty right now.
    const pooled = !address && !(mac && !dockerGeneratedMac(mac)) ? await this.takePooled(subnet, mac) : undefined;
    const port = pooled ?? (await this.allocatePort(subnet, address, mac));
    const ip = port.fixed_ips.find((f) => f.subnet_id === subnet.id)?.ip_address;
    if (!ip) throw notFound(`port ${port.id} has no address on subnet ${subnet.id}`);
    state.rememberAddressPort(req.PoolID, ip, port);
    return { Address: `${ip}/${cidr.prefixLength}` };
  }

  /**
   * A free pooled port, taken from memory (no Neutron call unless the pool ran dry). Dual stack: Docker asks once per
   * family with the same MAC, and the second request gets the other address of the same port.
   */
  private async takePooled(subnet: Subnet, mac: string | undefined): Promise<Port | undefined> {
    const { pools, state } = this.ctx;
    if (mac) {
      const pending = this.pooledByMac.get(mac);
      if (pending && !pending.subnets.has(subnet.id) && pending.port.fixed_ips.some((f) => f.subnet_id === subnet.id)) {
        pending.subnets.add(subnet.id);
        return pending.port;
      }
    }
    const settings = await this.poolSettings(subnet.network_id);
    if (!(settings.enabled ?? this.ctx.config.vifPool.enabled)) return undefined;
    if (!pools.isFilling(subnet.network_id)) pools.enable(subnet.network_id, await state.networkSubnets(subnet.network_id), settings.min);
    const port = await pools.take(subnet.network_id, subnet.id);
    if (port && mac) {
      const now = Date.now();
      for (const [m, e] of this.pooledByMac) if (now - e.at > POOLED_BY_MAC_MS) this.pooledByMac.delete(m);
      this.pooledByMac.set(mac, { port, subnets: new Set([subnet.id]), at: now });
    }
    return port;
  }

  /** A network's own pool settings, kept on its tags (from -o kuryr.pool, -o kuryr.pool.min). */
  private async poolSettings(networkId: string): Promise<PoolOptions> {
    const net = await this.ctx.state.neutronNetwork(networkId);
    return poolSettingsFromTags(net?.tags ?? []);
  }

  /**
   * The gateway Docker reserves before CreateNetwork. With no subnet yet, Docker's --gateway or,
   * when absent, the first host address (Neutron's own default), so networks work without --gateway.
   */
  private gatewayAddress(cidr: Cidr, subnet: Subnet | undefined, address: string | undefined): string {
    if (subnet) {
      const len = parseCidr(subnet.cidr).prefixLength;
      if (!address) return subnet.gateway_ip ? `${subnet.gateway_ip}/${len}` : ipVersion(subnet.cidr.split('/')[0]!) === 4 ? '0.0.0.0/0' : '::/0';
      if (subnet.gateway_ip && canonicalIp(subnet.gateway_ip) === address) return `${address}/${len}`;
      throw conflict(`gateway ${address} differs from the gateway ${subnet.gateway_ip ?? '(none)'} of existing subnet ${subnet.id}`);
    }
    const gateway = address ?? firstHost(cidr);
    if (!cidrContains(cidr, gateway)) throw invalidRequest(`gateway ${gateway} is not in pool ${cidr.text}`);
    return `${gateway}/${cidr.prefixLength}`;
  }

  /**
   * One Neutron call on the normal path: the port is created bound to this host, with Docker's MAC
   * and Kuryr's tag in the create body, so it never exists untagged. Only when Neutron says the
   * address or MAC is taken do we look for a pre-created port to adopt.
   */
  private async allocatePort(subnet: Subnet, address: string | undefined, mac: string | undefined): Promise<Port> {
    const { neutron, config } = this.ctx;
    try {
      const port = await this.creates.create({
        name: UNBOUND_PORT_NAME,
        network_id: subnet.network_id,
        admin_state_up: true,
        fixed_ips: [{ subnet_id: subnet.id, ...(address ? { ip_address: address } : {}) }],
        ...(mac ? { mac_address: mac.toLowerCase() } : {}),
        device_owner: DEVICE_OWNER,
        'binding:host_id': bindingHost(config),
        tags: [PORT_OWNED_TAG, ...hostTags(this.ctx)],
      } as Partial<Port>);
      this.ctx.state.learnVifBinding(port);
      return port;
    } catch (err) {
      if (address && isNeutronError(err, 409, 'IpAddressAlreadyAllocated')) {
        const [port] = await neutron.listPorts({ network_id: subnet.network_id, fixed_ips: [`subnet_id=${subnet.id}`, `ip_address=${address}`] });
        if (port) return this.adopt(port, `address ${address}`, subnet.id, mac);
      }
      if (mac && isNeutronError(err, 409, 'MacAddressInUse')) {
        const [port] = await neutron.listPorts({ network_id: subnet.network_id, mac_address: mac.toLowerCase() });
        if (port && isFreshKuryrPort(port) && !port.fixed_ips.some((f) => f.subnet_id === subnet.id)) {
          // Dual stack: Docker asks once per family with the same MAC; both addresses go on one port.
          const fixed_ips = [...port.fixed_ips, { subnet_id: subnet.id, ...(address ? { ip_address: address } : {}) }];
          return neutron.updatePort(port.id, { fixed_ips: fixed_ips as Port['fixed_ips'] });
        }
        if (port) return this.adopt(port, `MAC ${mac}`, subnet.id, mac);
      }
      throw withContext(`allocate an address on subnet ${subnet.id}`, err);
    }
  }

  /** A pre-created port is adopted only when nobody owns it: never hijack a VM's or router's port. */
  private async adopt(port: Port, why: string, subnetId: string, mac: string | undefined): Promise<Port> {
    if (this.isSwarmReservation(port)) return port;
    const owned = port.device_owner || port.device_id || port['binding:host_id'];
    if (owned && !port.tags.includes(PORT_EXISTING_TAG)) {
      throw conflict(`${why} belongs to ${await describePort(this.ctx, port)}; only unbound ports without an owner can be used for a container`);
    }
    if (port.tags.includes(PORT_EXISTING_TAG) && this.joinsAdoption(port, subnetId, mac)) return port;
    if (port.tags.includes(PORT_EXISTING_TAG) || port.tags.includes(PORT_OWNED_TAG)) {
      throw conflict(`${why} is already used by a Kuryr port`);
    }
    const tags = [...port.tags, PORT_EXISTING_TAG];
    await this.ctx.neutron.replaceTags('ports', port.id, tags);
    this.rememberAdoption(port.id, subnetId, mac);
    return { ...port, tags };
  }

  /**
   * Under Docker Swarm (global scope) the manager's Kuryr allocates every task's address (its
   * RequestAddress makes an unclaimed port), and the host that runs the task then asks its own
   * Kuryr for that very address: the unclaimed port Kuryr made for it is that request's. A port an
   * endpoint holds (device_id), or a pooled one, is not.
   */
  private isSwarmReservation(port: Port): boolean {
    return this.ctx.config.capabilityScope === 'global' && madeByKuryr(port) && port.device_id === '' && !port.tags.includes(PORT_POOLED_TAG);
  }

  private rememberAdoption(portId: string, subnetId: string, mac: string | undefined): void {
    const now = Date.now();
    for (const [id, e] of this.adopting) if (now - e.at > POOLED_BY_MAC_MS) this.adopting.delete(id);
    this.adopting.set(portId, { mac, subnets: new Set([subnetId]), at: now });
  }

  /**
   * True when this request is the other family of an adoption this daemon just made: same port,
   * still unclaimed, same Docker MAC, a subnet not handed out yet.
   */
  private joinsAdoption(port: Port, subnetId: string, mac: string | undefined): boolean {
    const pending = this.adopting.get(port.id);
    if (!pending || Date.now() - pending.at > POOLED_BY_MAC_MS || port.device_id !== '') return false;
    if (pending.mac !== mac || pending.subnets.has(subnetId)) return false;
    pending.subnets.add(subnetId);
    return true;
  }

  async releaseAddress(req: ReleaseAddressRequest): Promise<Empty> {
    if (!req.Address) return {};
    const { state } = this.ctx;
    const ip = canonicalIp(req.Address);
    const pendingFor = state.addressPort(req.PoolID, ip);
    if (pendingFor) await state.settled(pendingFor.id);
    const cached = state.addressPort(req.PoolID, ip);
    // Anything else holding the address (a router's gateway port, a VM's port that merely carries
    // Kuryr's tag) is not ours to touch.
    const ports = (await this.holdersOf(req.PoolID, ip, cached)).filter((p) => madeByKuryr(p) || p.tags.includes(PORT_EXISTING_TAG));
    const mine: Port[] = [];
    for (const port of ports) {
      if (!(await endpointLive(this.ctx, port))) {
        mine.push(port);
      } else if (this.ctx.config.capabilityScope === 'global' && !state.isThisHosts(port)) {
        // Swarm: the manager releases a task's address while (or after) the node running the task
        // frees it; a port an endpoint on another host holds is that host's to free.
        this.ctx.logger.debug({ portId: port.id, ip }, 'address released, its port held by an endpoint on another host: left to that host');
      } else {
        // Docker releases an address only after DeleteEndpoint: a live endpoint's port is not this call's to free.
        throw conflict(`address ${ip} is still used by a live endpoint (its port is bound${state.isThisHosts(port) ? ' here' : ' on another host'}); DeleteEndpoint comes first`);
      }
    }
    for (const port of mine) await this.releasePort(port, ip);
    if (cached) state.forgetAddressPort(req.PoolID, ip, cached.id);
    return {};
  }

  /**
   * The ports holding a released address: the one this daemon handed out for it (read again under
   * global scope, where another host may have claimed or deleted it since), else Neutron's.
   */
  private async holdersOf(poolId: string, ip: string, cached: Port | undefined): Promise<Port[]> {
    const { neutron, state } = this.ctx;
    if (cached) return this.ctx.config.capabilityScope === 'global' ? neutron.listPorts({ id: cached.id }) : [cached];
    const subnet = await state.subnetOfPool(poolId);
    if (!subnet) return [];
    return neutron.listPorts({ network_id: subnet.network_id, fixed_ips: [`subnet_id=${subnet.id}`, `ip_address=${ip}`] });
  }

  private async releasePort(port: Port, ip: string): Promise<void> {
    if (port.tags.includes(PORT_POOLED_TAG)) {
      await this.releasePooled(port, ip);
    } else if (port.tags.includes(PORT_EXISTING_TAG)) {
      await this.releaseAdopted(port);
    } else {
      await this.ctx.neutron.deletePort(port.id);
    }
    this.ctx.state.forgetPort(port.id);
  }

  /**
   * Several Docker networks (several hosts naming one operator network with -o neutron.net.name)
   * share its subnets. Docker's `network rm` calls ReleasePool before DeleteNetwork, so the
   * releasing network's own ID is still among the Neutron network's tags: a second Docker network
   * ID there is another user. Under Swarm a node releases the pool when its last task goes, while
   * the manager still allocates from it: the swarm's mark keeps it until FreeNetwork. (Other
   * global-scope hosts share one Docker network ID: there the subnet delete fails with 409 while
   * their ports remain, which keeps subnet and pool.)
   */
  private async keptByItsNetwork(subnet: Subnet): Promise<boolean> {
    const [network] = await this.ctx.neutron.listNetworks({ id: subnet.network_id });
    if (network?.tags.includes(SWARM_ALLOCATED_TAG)) return true;
    return new Set(network?.tags.filter((t) => t.startsWith(NET_TAG_LOW))).size > 1;
  }

  /** A pooled port goes back to its pool once all its addresses are released. */
  private async releasePooled(port: Port, ip: string): Promise<void> {
    const { pools } = this.ctx;
    if (port.device_id === '') {
      pools.putBack(port); // taken by RequestAddress, never claimed by an endpoint
      return;
    }
    if (pools.lastAddressReleased(port, ip)) this.ctx.state.track(port.id, pools.releaseInBackground(port));
  }

  /** An adopted port goes back to how the operator made it: unbound, unowned, untagged by us. */
  private async releaseAdopted(port: Port): Promise<void> {
    const { neutron } = this.ctx;
    const ours = new Set([PORT_EXISTING_TAG, ...port.tags.filter((t) => t.startsWith(NET_TAG_LOW) || t.startsWith(NET_TAG_HIGH) || t.startsWith(vmPortTag('')))]);
    try {
      await neutron.updatePort(port.id, { device_owner: '', device_id: '', 'binding:host_id': '' });
      await neutron.replaceTags('ports', port.id, port.tags.filter((t) => !ours.has(t)));
    } catch (err) {
      if (!isNeutronError(err, 404)) throw withContext(`release adopted port ${port.id}`, err);
    }
  }
}
