import type { PlannedBinding } from '../binding/vif.js';
import type { Neutron, Network, Port, Subnet, SubnetPool } from '../openstack/neutron-types.js';
import { idTags, SUBNETPOOL_OWNED_TAG } from './naming.js';
import { parsePoolId } from './pool-id.js';

/** A Neutron ID among a pool's tags: the subnet the pool was made for (ipam-driver kuryrPool). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the network driver needs from the host binding layer. */
export interface PortBinder {
  /**
   * `port` is always as Neutron returned it. `planned`: its claim has not landed; the host end is
   * plugged for the binding the claim gives it, under a name the Neutron agent ignores until `activate`.
   */
  bind(port: Port, network: { id: string; mtu?: number }, endpointId: string, planned?: PlannedBinding): Promise<{ hostIfName: string; containerIfName: string }>;
  activate(port: Port): Promise<void>;
  unbind(port: Port, endpointId: string): Promise<void>;
  /** The name of the container end Docker moves into the sandbox. */
  containerIfName(port: Port): string;
  /** True while the port's host end exists on this host: a container here uses the port. */
  hostEndExists(port: Port): Promise<boolean>;
}

/** Who this daemon is to Neutron: the host it binds ports to and the project of its token. */
export interface Identity {
  hostname: string;
  /**
   * Inside a Nova VM: the tag its ports carry (vmPortTag), which tells this VM's ports from other
   * VMs' (bound to no host, or as trunk subports to the VM's compute host).
   */
  ownerTag?: () => string | undefined;
  projectId(): Promise<string | undefined>;
}

/** Serialises work per key (a Docker network or endpoint), so retries and races see settled state. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const current = previous.then(work, work);
    const tail = current.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await current;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/**
 * Neutron is the only store; this is a read-through cache of mappings that never change while the
 * object lives (a Docker network's Neutron network, a pool's subnets, an endpoint's port), so the
 * attach path does not query what it already knows. Every entry can be rebuilt from Neutron tags,
 * which is what happens after a restart.
 */
/** How long a pool RequestPool handed out waits for its CreateNetwork (Docker sends it at once). */
const RESERVATION_HOLD_MS = 10 * 60_000;

export class NeutronState {
  private readonly networks = new Map<string, Network>();
  private readonly networksById = new Map<string, Network>();
  private readonly endpointPorts = new Map<string, Port>();
  /** Ports RequestAddress made, by `${poolId}/${ip}` (oldest first), for CreateEndpoint and ReleaseAddress. */
  private readonly addressPorts = new Map<string, Port[]>();
  private readonly pools = new Map<string, SubnetPool>();
  private readonly poolSubnets = new Map<string, Subnet>();
  private readonly subnetsByNetwork = new Map<string, Subnet[]>();
  private readonly vifBindings = new Map<string, Pick<Port, 'binding:vif_type' | 'binding:vif_details'>>();
  private readonly pending = new Map<string, Promise<void>>();
  /** Pools RequestPool handed out and no CreateNetwork has used yet, by CIDR, with when. */
  private readonly reservations = new Map<string, { poolId: string; at: number }[]>();

  constructor(
    private readonly neutron: Neutron,
    readonly identity: Identity,
  ) {}

  /** True for a port not bound to another host: endpoint calls never act on other hosts' endpoints. */
  isThisHosts(port: Port): boolean {
    const host = port['binding:host_id'] ?? '';
    const ownerTag = this.identity.ownerTag?.();
    if (ownerTag) return host === '' || port.tags.includes(ownerTag);
    return host === '' || host === this.identity.hostname;
  }

  async network(dockerNetworkId: string): Promise<Network | undefined> {
    const cached = this.networks.get(dockerNetworkId);
    if (cached) return cached;
    const found = await this.neutron.listNetworks({ tags: idTags(dockerNetworkId).join(',') });
    if (found.length > 1) {
      // Upstream could create duplicates; pick a stable one rather than failing every call.
      found.sort((a, b) => a.id.localeCompare(b.id));
    }
    const net = found[0];
    if (net) this.networks.set(dockerNetworkId, net);
    return net;
  }

  rememberNetwork(dockerNetworkId: string, net: Network): void {
    this.networks.set(dockerNetworkId, net);
    this.networksById.set(net.id, net);
  }

  /** A Neutron network by its own ID (IPAM knows subnets, not Docker networks). */
  async neutronNetwork(networkId: string): Promise<Network | undefined> {
    const cached = this.networksById.get(networkId);
    if (cached) return cached;
    const net = (await this.neutron.listNetworks({ id: networkId }))[0];
    if (net) this.networksById.set(networkId, net);
    return net;
  }

  forgetNetwork(dockerNetworkId: string): void {
    const net = this.networks.get(dockerNetworkId);
    if (net) this.networksById.delete(net.id);
    this.networks.delete(dockerNetworkId);
  }

  /**
   * An endpoint's port: the one whose device_id is the endpoint ID (ours, pooled, adopted,
   * upstream's), on the Docker network's Neutron network, and not bound to another host (in global
   * scope every host sees the same endpoint IDs; each acts on its own).
   */
  async endpointPort(endpointId: string, dockerNetworkId: string): Promise<Port | undefined> {
    const net = await this.network(dockerNetworkId);
    if (!net) return undefined;
    const cached = this.endpointPorts.get(endpointId);
    if (cached) return cached.network_id === net.id ? cached : undefined;
    const found = await this.neutron.listPorts({ device_id: endpointId, network_id: net.id });
    const port = found.find((p) => this.isThisHosts(p));
    if (port) this.endpointPorts.set(endpointId, port);
    return port;
  }

  rememberEndpointPort(endpointId: string, port: Port): void {
    this.endpointPorts.set(endpointId, port);
  }

  forgetEndpoint(endpointId: string): void {
    this.endpointPorts.delete(endpointId);
  }

  /**
   * The port the next ReleaseAddress of this address frees: the oldest holder. Under Swarm the
   * manager may be handed an address again (a node deleted its task's port) before it releases it
   * for the old task: that release is the old port's, and the new one stays.
   */
  addressPort(poolId: string, ip: string): Port | undefined {
    return this.addressPorts.get(`${poolId}/${ip}`)?.[0];
  }

  /** The cached port holding this address, in any pool (CreateEndpoint knows the address, not the pool): the newest holder. */
  portByAddress(networkId: string, ip: string): Port | undefined {
    for (const holders of this.addressPorts.values()) {
      const port = holders[holders.length - 1]!;
      if (port.network_id === networkId && port.fixed_ips.some((f) => f.ip_address === ip)) return port;
    }
    return undefined;
  }

  rememberAddressPort(poolId: string, ip: string, port: Port): void {
    const key = `${poolId}/${ip}`;
    const holders = (this.addressPorts.get(key) ?? []).filter((p) => p.id !== port.id);
    // Bounded: an address held more than twice at once is a bookkeeping loss, not a swarm race.
    this.addressPorts.set(key, [...holders.slice(-1), port]);
  }

  /** A released holder of the address is forgotten; a newer one stays. */
  forgetAddressPort(poolId: string, ip: string, portId: string): void {
    const key = `${poolId}/${ip}`;
    const rest = (this.addressPorts.get(key) ?? []).filter((p) => p.id !== portId);
    if (rest.length > 0) this.addressPorts.set(key, rest);
    else this.addressPorts.delete(key);
  }

  /** Replaces a port in every cache that holds it (after an update). */
  updatePort(port: Port): void {
    for (const [k, holders] of this.addressPorts) if (holders.some((p) => p.id === port.id)) this.addressPorts.set(k, holders.map((p) => (p.id === port.id ? port : p)));
    for (const [k, p] of this.endpointPorts) if (p.id === port.id) this.endpointPorts.set(k, port);
  }

  forgetPort(portId: string): void {
    for (const [k, holders] of this.addressPorts) {
      const rest = holders.filter((p) => p.id !== portId);
      if (rest.length === holders.length) continue;
      if (rest.length > 0) this.addressPorts.set(k, rest);
      else this.addressPorts.delete(k);
    }
    for (const [k, p] of this.endpointPorts) if (p.id === portId) this.endpointPorts.delete(k);
  }

  async pool(poolId: string): Promise<SubnetPool | undefined> {
    const { neutronPoolId } = parsePoolId(poolId);
    const cached = this.pools.get(neutronPoolId);
    if (cached) return cached;
    const found = await this.neutron.listSubnetPools({ id: neutronPoolId });
    const pool = found[0];
    if (pool) this.pools.set(neutronPoolId, pool);
    return pool;
  }

  forgetPool(poolId: string): void {
    this.pools.delete(parsePoolId(poolId).neutronPoolId);
    this.poolSubnets.delete(poolId);
  }

  /**
   * The subnet Docker's pool addresses come from: the subnet allocated from the pool, or an
   * adopted subnet tagged with the pool ID (that tag tells overlapping CIDRs apart), or the subnet
   * a pool was made for (`neutron.subnet.*` in --ipam-opt; the pool carries the subnet's ID) before
   * any CreateNetwork tagged it: Docker Swarm's manager asks for service VIPs and task addresses
   * before any host has created the network.
   */
  async subnetOfPool(poolId: string): Promise<Subnet | undefined> {
    const cached = this.poolSubnets.get(poolId);
    if (cached) return cached;
    const { neutronPoolId, block } = parsePoolId(poolId);
    if (block) {
      const [carved] = await this.neutron.listSubnets({ subnetpool_id: neutronPoolId, cidr: block });
      if (carved) this.poolSubnets.set(poolId, carved);
      return carved;
    }
    const fromPool = await this.neutron.listSubnets({ subnetpool_id: poolId });
    let subnet = fromPool.length === 1 ? fromPool[0] : undefined;
    if (!subnet) subnet = (await this.neutron.listSubnets({ tags: poolId }))[0] ?? fromPool[0];
    if (!subnet) subnet = await this.namedSubnetOf(poolId);
    if (subnet) this.poolSubnets.set(poolId, subnet);
    return subnet;
  }

  private async namedSubnetOf(poolId: string): Promise<Subnet | undefined> {
    const pool = await this.pool(poolId);
    if (!pool?.tags.includes(SUBNETPOOL_OWNED_TAG)) return undefined;
    const subnetId = pool.tags.find((t) => UUID.test(t));
    return subnetId ? (await this.neutron.listSubnets({ id: subnetId }))[0] : undefined;
  }

  /** A Neutron network's subnets (Join reads gateways and routes from them). */
  async networkSubnets(networkId: string): Promise<Subnet[]> {
    const cached = this.subnetsByNetwork.get(networkId);
    if (cached) return cached;
    const subnets = await this.neutron.listSubnets({ network_id: networkId });
    this.subnetsByNetwork.set(networkId, subnets);
    return subnets;
  }

  /**
   * Pools RequestPool just handed to Docker, by CIDR, newest last. CreateNetwork is told only the
   * CIDR; with overlapping networks several `kuryrPool-<cidr>` pools exist, and this says which one
   * the network being created asked for.
   */
  reservePool(cidr: string, poolId: string): void {
    this.dropReservations((r) => r.poolId === poolId || Date.now() - r.at > RESERVATION_HOLD_MS);
    this.reservations.set(cidr, [...(this.reservations.get(cidr) ?? []), { poolId, at: Date.now() }]);
  }

  reservedPools(cidr: string): string[] {
    return (this.reservations.get(cidr) ?? []).map((r) => r.poolId);
  }

  unreservePool(poolId: string): void {
    this.dropReservations((r) => r.poolId === poolId);
  }

  /** Reservations Docker never followed with CreateNetwork expire, so RequestPool calls alone cannot grow the map. */
  private dropReservations(drop: (r: { poolId: string; at: number }) => boolean): void {
    for (const [cidr, list] of this.reservations) {
      const rest = list.filter((r) => !drop(r));
      if (rest.length) this.reservations.set(cidr, rest);
      else this.reservations.delete(cidr);
    }
  }

  /** True when a subnet is allocated from the pool or adopted under its tag. */
  async poolInUse(poolId: string): Promise<boolean> {
    if ((await this.neutron.listSubnets({ subnetpool_id: poolId })).length > 0) return true;
    return (await this.neutron.listSubnets({ tags: poolId })).length > 0;
  }

  /** After CreateNetwork changed a network's subnets: the list is read again on next use. */
  forgetSubnetList(networkId: string): void {
    this.subnetsByNetwork.delete(networkId);
  }

  /** How ports of a network get bound on this host, learned from a bound port. */
  vifBinding(networkId: string): Pick<Port, 'binding:vif_type' | 'binding:vif_details'> | undefined {
    return this.vifBindings.get(networkId);
  }

  learnVifBinding(port: Port): void {
    const type = port['binding:vif_type'];
    if (type && type !== 'unbound' && type !== 'binding_failed') {
      this.vifBindings.set(port.network_id, { 'binding:vif_type': type, 'binding:vif_details': port['binding:vif_details'] ?? {} });
    }
  }

  /**
   * Neutron bookkeeping a call finished in the background (off Docker's critical path). Later calls
   * on the same port wait for it, so they see settled state.
   */
  track(portId: string, work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.pending.set(portId, settled);
    void settled.then(() => {
      if (this.pending.get(portId) === settled) this.pending.delete(portId);
    });
  }

  async settled(portId: string): Promise<void> {
    await this.pending.get(portId);
  }

  /** Background work under way (for metrics). */
  pendingCount(): number {
    return this.pending.size;
  }

  /** Waits for all background work (shutdown, tests). */
  async drainPending(): Promise<void> {
    await Promise.all([...this.pending.values()]);
  }

  rememberPoolSubnet(poolId: string, subnet: Subnet): void {
    this.poolSubnets.set(poolId, subnet);
  }

  /** Drops every cached fact about a Neutron network's subnets (it is being deleted or released). */
  forgetSubnetsOfNetwork(networkId: string): void {
    for (const [k, s] of this.poolSubnets) if (s.network_id === networkId) this.poolSubnets.delete(k);
    this.subnetsByNetwork.delete(networkId);
    this.vifBindings.delete(networkId);
    this.networksById.delete(networkId);
  }
}
