/**
 * `kuryr gc`: which Kuryr objects in Neutron and which host devices no Docker network or endpoint
 * owns any more, and what to do with each. Pure: it reads snapshots of Docker, Neutron and the
 * host's devices and returns a plan; execute.ts carries it out.
 *
 * Ownership is read from Kuryr's own marks, never from a name alone (upstream's names are anyone's
 * to give, and Kuryr runs with admin credentials):
 * - a port is Kuryr's when it carries a Kuryr port tag AND Kuryr's device owner (`compute:kuryr`);
 *   an adopted port (`kuryr.port.existing`) still waiting for its endpoint has no owner at all. A
 *   VM's port that merely carries the `compute:kuryr` tag is listed as kept, never touched, and it
 *   keeps its network;
 * - an exposed-ports security group is Kuryr's when tagged `kuryr.sg.exposed` (upstream
 *   kuryr-libnetwork tags none: its groups are listed as kept);
 * - a `<prefix>-<cidr>` subnet pool is Kuryr's when tagged `kuryr.subnetpool.owned`, and a
 *   `kuryr-subnet-<cidr>` subnet when allocated from such a pool.
 *
 * Several Kuryr daemons (and hosts) may share one Neutron, so the rules only judge what can be tied
 * to this host and this dockerd, and objects that may be mid-creation (ports being claimed,
 * networks, security groups, subnet pools) are judged only once unchanged for a grace period:
 * - a Neutron network tagged for a Docker network this dockerd does not have is an orphan only if
 *   no port on it is bound to another host, in use in a sandbox or recent, it holds no port Kuryr did
 *   not make, and a Kuryr port on it is bound to this host (or `--networks` says every such network
 *   is ours). Adopted networks
 *   (`kuryr.net.existing`) are released (untagged, our subnets removed), never deleted;
 * - a Kuryr port bound to this host, on a network of this daemon's driver or on no network Docker
 *   still has, whose endpoint is in no network of this dockerd (or an IPAM
 *   address no endpoint claimed, unless it is a `--aux-address`) is deleted, unless its veth sits
 *   in a running sandbox (another dockerd on this host may own it); an adopted port is released
 *   (unbound, untagged); pooled ports belong to their pool and are left alone;
 * - a port holding the address of a live endpoint that it does not record (a crash before
 *   CreateEndpoint's background bookkeeping) is repaired: device_id, name and tags are written;
 * - an exposed-ports security group whose port is gone or an orphan is deleted;
 * - a `<prefix>-<cidr>` subnet pool no subnet uses is deleted (never the operator's pools);
 * - a tap/t_c veth whose port is gone, or is an orphan, is deleted.
 */
import { hostEndNames } from '../binding/naming.js';
import { EXPOSED_GROUP_TAG, exposedGroupName } from '../libnetwork/exposed-ports.js';
import {
  DEVICE_OWNER,
  NET_TAG_HIGH,
  NET_TAG_LOW,
  PORT_ENDPOINT_TAG,
  PORT_EXISTING_TAG,
  PORT_CNI_TAG,
  PORT_OWNED_TAG,
  PORT_POOLED_TAG,
  SUBNETPOOL_EXISTING_TAG,
  SUBNETPOOL_OWNED_TAG,
  SUBNET_NAME_PREFIX,
  SWARM_ALLOCATED_TAG,
  UNBOUND_PORT_NAME,
  dockerIdFromTags,
  endpointPortName,
  existingNetworkTag,
  idTags,
  poolHostTag,
  vmPortTag,
} from '../libnetwork/naming.js';
import type { Network, Port, SecurityGroup, Subnet, SubnetPool } from '../openstack/neutron-types.js';

/** Neutron resources as listed: standard-attr-timestamp adds these. */
export type Stamped<T> = T & { created_at?: string; updated_at?: string };

export interface DockerEndpoint {
  id: string;
  /** The Docker network it is attached to. */
  networkId: string;
  /** Canonical IP addresses, without prefix length. */
  addresses: string[];
}

export interface DockerView {
  /** Every network of this dockerd, whatever its driver (ID -> driver name). */
  networks: ReadonlyMap<string, string>;
  /** Every endpoint attached in any of them. */
  endpoints: readonly DockerEndpoint[];
  /** `--aux-address` addresses (canonical text): IPAM holds a port for each, with no endpoint. */
  auxAddresses: ReadonlySet<string>;
}

/**
 * What Neutron holds. A port missing from `ports` is taken to not exist, so `ports` must hold every
 * port on `networks`, every port bound to this host and every port an exposed-ports group names.
 */
export interface NeutronView {
  /** Networks tagged with a Docker network ID. */
  networks: Stamped<Network>[];
  ports: Stamped<Port>[];
  /** Subnets on `networks`, and subnets allocated from or tagged with `subnetPools`. */
  subnets: Subnet[];
  /** Pools named `<subnetpool_name_prefix>-...`. */
  subnetPools: Stamped<SubnetPool>[];
  /** Groups named `<port id>-exposed_ports`. */
  securityGroups: Stamped<SecurityGroup>[];
}

export interface HostDevice {
  name: string;
  /** Its veth peer is in another network namespace: a running sandbox holds it. */
  inSandbox: boolean;
}

export interface HostView {
  /** veth devices of the host namespace named like Kuryr's (tap/t_c + 11 characters of a port ID). */
  devices: HostDevice[];
}

export interface GcPolicy {
  /**
   * Whose ports are this daemon's to judge: `[DEFAULT] hostname` (the binding:host_id of this
   * host's ports), or inside a Nova VM (nested) the VM port's tag, `kuryr.vm.port:<id>`.
   */
  hostname: string;
  /** The binding:host_id a repaired port gets: the hostname, or none inside a VM. */
  bindingHost: string;
  /** Milliseconds since the epoch. */
  now: number;
  /** Objects that could be mid-creation are judged only once unchanged this long. */
  gracePeriodMs: number;
  /** Also delete orphan networks no port ties to this host (right when one dockerd uses this Neutron). */
  unattributedNetworks: boolean;
  subnetpoolNamePrefix: string;
  /** The operator's default pools (`[neutron] default_subnetpool_v4/v6`): never deleted. */
  defaultPoolNames: readonly string[];
  /**
   * Docker driver names this daemon serves: ports on a live network of another driver (another
   * Kuryr daemon sharing this dockerd) are that daemon's to judge. Empty: every driver's.
   */
  driverNames: readonly string[];
}

/** `repair`: a live endpoint's port lost its bookkeeping (a crash before CreateEndpoint recorded it). */
export type GcVerb = 'delete' | 'release' | 'repair' | 'keep';

/** What a release or repair writes: port fields (ports only), then the whole tag list. */
export interface GcUpdate {
  port?: Partial<Port>;
  tags: string[];
}

export type GcAction = { verb: GcVerb; why: string; update?: GcUpdate } & (
  | { kind: 'device'; device: string }
  | { kind: 'port'; port: Port }
  | { kind: 'security-group'; group: SecurityGroup }
  | { kind: 'subnet'; subnet: Subnet }
  | { kind: 'network'; network: Network }
  | { kind: 'subnetpool'; pool: SubnetPool }
);

/** Host devices Kuryr names: `tap`/`t_c`/`kst` (staged tap) + the first 11 characters of a Neutron port ID. */
export const KURYR_DEVICE_RE = /^(tap|t_c|kst)([0-9a-f]{8}-[0-9a-f]{2})$/;
const EXPOSED_SUFFIX = exposedGroupName('');
const KURYR_PORT_TAGS = [PORT_OWNED_TAG, PORT_ENDPOINT_TAG, PORT_EXISTING_TAG, PORT_POOLED_TAG];
const POOL_HOST_PREFIX = poolHostTag('');
/** Every mark Kuryr puts on Neutron objects starts with this. */
const KURYR_TAG_PREFIX = 'kuryr.';

export function subjectOf(action: GcAction): { id: string; name: string } {
  switch (action.kind) {
    case 'device': return { id: action.device, name: action.device };
    case 'port': return action.port;
    case 'security-group': return action.group;
    case 'subnet': return action.subnet;
    case 'network': return action.network;
    case 'subnetpool': return action.pool;
  }
}

const hasKuryrTag = (port: Port): boolean => port.tags.some((t) => KURYR_PORT_TAGS.includes(t));

/**
 * Kuryr's tag and Kuryr's device owner: every port Kuryr makes is created with both. An adopted
 * port that IPAM marked but no endpoint claimed yet has no owner at all (adoption requires that).
 */
function isKuryrPort(port: Port): boolean {
  if (!hasKuryrTag(port)) return false;
  if (port.device_owner === DEVICE_OWNER) return true;
  return port.tags.includes(PORT_EXISTING_TAG) && port.device_owner === '' && port.device_id === '';
}

/** Why a port with Kuryr's tag is not Kuryr's: its device owner is someone else's (a VM's, a router's). */
const notOursWhy = (port: Port) =>
  `it carries a Kuryr tag, but its device owner is "${port.device_owner}" (device ${port.device_id || 'none'}), not ${DEVICE_OWNER}: not Kuryr's port`;

const VM_PORT_PREFIX = vmPortTag('');

/** The host a port is (or, pooled, waits to be) bound on, or the VM it serves (its vmPortTag); '' when none. */
function hostOf(port: Port): string {
  return port['binding:host_id'] || port.tags.find((t) => t.startsWith(POOL_HOST_PREFIX))?.slice(POOL_HOST_PREFIX.length) || port.tags.find((t) => t.startsWith(VM_PORT_PREFIX)) || '';
}

const short = (id: string) => id.slice(0, 12);
const withoutKuryrTags = (tags: readonly string[]) => tags.filter((t) => !t.startsWith(KURYR_TAG_PREFIX));

type Timestamped = { created_at?: string; updated_at?: string };

/** Plans the collection. Actions come in the order they must run: devices, ports, groups, subnets, networks, pools. */
export function planGc(neutron: NeutronView, docker: DockerView, host: HostView, policy: GcPolicy): GcAction[] {
  const planner = new GcPlanner(neutron, docker, host, policy);
  planner.planNetworks();
  planner.planHostPorts();
  planner.planExposedGroups();
  planner.planPools(planner.planSubnets());
  planner.planDevices();
  return planner.actions();
}

/**
 * One planning run: the views, lookups built once, and the verdicts so far. Each `plan*` step adds
 * the actions of one kind of object; later steps read the verdicts of earlier ones (a group or a
 * device goes with its port, a pool with the subnets left).
 */
class GcPlanner {
  private readonly verdicts = new Map<string, GcVerb>();
  private readonly out = { device: [] as GcAction[], port: [] as GcAction[], group: [] as GcAction[], subnet: [] as GcAction[], network: [] as GcAction[], pool: [] as GcAction[] };
  private readonly deletedNetworks = new Set<string>();
  private readonly releasedNetworks = new Set<string>();
  private readonly sandboxed: ReadonlySet<string>;
  private readonly portsByNetwork = new Map<string, Stamped<Port>[]>();
  private readonly netById: ReadonlyMap<string, Network>;
  /** Endpoint IDs Docker has. */
  private readonly live: ReadonlySet<string>;
  private readonly endpointsByNetwork = new Map<string, DockerEndpoint[]>();

  constructor(
    private readonly neutron: NeutronView,
    private readonly docker: DockerView,
    private readonly host: HostView,
    private readonly policy: GcPolicy,
  ) {
    this.sandboxed = new Set(host.devices.filter((d) => d.inSandbox).map((d) => d.name));
    for (const port of neutron.ports) this.portsByNetwork.set(port.network_id, [...(this.portsByNetwork.get(port.network_id) ?? []), port]);
    this.netById = new Map(neutron.networks.map((n) => [n.id, n]));
    this.live = new Set(docker.endpoints.map((e) => e.id));
    for (const e of docker.endpoints) this.endpointsByNetwork.set(e.networkId, [...(this.endpointsByNetwork.get(e.networkId) ?? []), e]);
  }

  actions(): GcAction[] {
    const o = this.out;
    return [...o.device, ...o.port, ...o.group, ...o.subnet, ...o.network, ...o.pool];
  }

  private age(o: Timestamped): number {
    // No timestamp (no standard-attr-timestamp): treat as new, never as old enough to remove.
    const at = Date.parse(o.updated_at ?? o.created_at ?? '');
    return Number.isNaN(at) ? 0 : this.policy.now - at;
  }

  private young(o: Timestamped): boolean {
    return this.age(o) < this.policy.gracePeriodMs;
  }

  private graceText(o: Timestamped): string {
    return `changed ${Math.round(this.age(o) / 1000)} s ago, within the ${Math.round(this.policy.gracePeriodMs / 1000)} s grace period`;
  }

  private inSandbox(port: Port): boolean {
    return hostEndNames(port.id).some((name) => this.sandboxed.has(name));
  }

  /** On a live network of a driver this daemon does not serve: that daemon's to judge. */
  private otherDriver(port: Port): boolean {
    const net = this.netById.get(port.network_id);
    const driver = net && this.docker.networks.get(dockerIdFromTags(net.tags) ?? '');
    return driver !== undefined && this.policy.driverNames.length > 0 && !this.policy.driverNames.includes(driver);
  }

  private judgePort(port: Port, verb: 'delete' | 'keep', why: string): void {
    if (verb === 'delete' && port.tags.includes(PORT_EXISTING_TAG)) {
      // Adopted: back to how the operator made it, unbound, without our marks and exposed-ports group.
      const exposed = this.neutron.securityGroups.find((g) => g.name === exposedGroupName(port.id));
      const unbound: Partial<Port> = { device_owner: '', device_id: '', 'binding:host_id': '', security_groups: port.security_groups.filter((g) => g !== exposed?.id) };
      this.verdicts.set(port.id, 'release');
      this.out.port.push({ kind: 'port', port, verb: 'release', why, update: { port: unbound, tags: withoutKuryrTags(port.tags) } });
      return;
    }
    this.verdicts.set(port.id, verb);
    this.out.port.push({ kind: 'port', port, verb, why });
  }

  /** Records a live endpoint on the port that holds its address, as CreateEndpoint would have. */
  private repairPort(port: Port, endpoint: DockerEndpoint, ip: string): void {
    const body: Partial<Port> = { device_id: endpoint.id, device_owner: DEVICE_OWNER };
    if ((port['binding:host_id'] ?? '') !== this.policy.bindingHost) body['binding:host_id'] = this.policy.bindingHost;
    if (!port.tags.includes(PORT_EXISTING_TAG)) body.name = endpointPortName(endpoint.id);
    const tags = [...port.tags.filter((t) => !t.startsWith(NET_TAG_LOW) && !t.startsWith(NET_TAG_HIGH)), ...idTags(endpoint.id)];
    this.verdicts.set(port.id, 'repair');
    const why = `endpoint ${short(endpoint.id)} holds its address ${ip}, but the port does not record it (CreateEndpoint's bookkeeping was lost)`;
    this.out.port.push({ kind: 'port', port, verb: 'repair', why, update: { port: body, tags } });
  }

  /** Networks whose Docker network this dockerd does not have: deleted (adopted ones released) with their Kuryr ports, unless something ties them elsewhere. */
  planNetworks(): void {
    for (const net of this.neutron.networks) {
      const dockerId = dockerIdFromTags(net.tags);
      if (!dockerId || this.docker.networks.has(dockerId)) continue;
      const unknown = `Docker network ${short(dockerId)} is not a network of this dockerd`;
      const adopted = net.tags.includes(existingNetworkTag(dockerId));
      const kuryrPorts = (this.portsByNetwork.get(net.id) ?? []).filter(isKuryrPort);
      const keep = this.whyKeepNetwork(net, unknown, adopted, kuryrPorts);
      if (keep) {
        this.out.network.push({ kind: 'network', network: net, verb: 'keep', why: keep });
        continue;
      }
      (adopted ? this.releasedNetworks : this.deletedNetworks).add(net.id);
      for (const port of kuryrPorts) this.judgePort(port, 'delete', `its Docker network ${short(dockerId)} is gone`);
      if (adopted) {
        this.out.network.push({ kind: 'network', network: net, verb: 'release', why: `${unknown}; the Neutron network was adopted, so it is only untagged`, update: { tags: withoutKuryrTags(net.tags) } });
      } else {
        this.out.network.push({ kind: 'network', network: net, verb: 'delete', why: unknown });
      }
    }
  }

  /** Why a network Docker no longer has must stay: in use elsewhere, not only Kuryr's, recent, or not tied to this host. */
  private whyKeepNetwork(net: Stamped<Network>, unknown: string, adopted: boolean, kuryrPorts: readonly Stamped<Port>[]): string | undefined {
    const lowTags = net.tags.filter((t) => t.startsWith(NET_TAG_LOW));
    const otherHosts = [...new Set(kuryrPorts.map(hostOf).filter((h) => h !== '' && h !== this.policy.hostname))];
    // On an adopted network the operator's own ports are expected; on ours, they would make the delete fail.
    const foreign = adopted ? [] : (this.portsByNetwork.get(net.id) ?? []).filter((p) => !isKuryrPort(p) && p.device_owner !== 'network:dhcp');
    if (lowTags.length > 1) return `it is tagged for ${lowTags.length} Docker networks; judge it by hand`;
    if (net.tags.includes(SWARM_ALLOCATED_TAG)) return `${unknown}, but Swarm's manager allocated it (a node runs none of its tasks): \`docker network rm\` on the manager removes it`;
    if (otherHosts.length > 0) return `${unknown}, but ports on it are bound to ${otherHosts.join(', ')}`;
    if (foreign.length > 0) return `${unknown}, but it holds ports Kuryr did not make (${[...new Set(foreign.map((p) => p.device_owner || p.id))].join(', ')})`;
    if (this.young(net)) return `${unknown}, but it was ${this.graceText(net)}`;
    if (kuryrPorts.some((p) => this.inSandbox(p))) return `${unknown}, but a port on it is in use in a running sandbox (another dockerd's container?)`;
    if (kuryrPorts.some((p) => this.young(p))) return `${unknown}, but a port on it was changed within the grace period`;
    if (!kuryrPorts.some((p) => hostOf(p) === this.policy.hostname) && !this.policy.unattributedNetworks) {
      return `${unknown}, but no port ties it to this host: another host's dockerd may own it (\`kuryr gc --networks\` removes it)`;
    }
    return undefined;
  }

  /** This host's Kuryr ports on networks Docker still has (or on no Kuryr network at all). */
  planHostPorts(): void {
    for (const port of this.neutron.ports) {
      if (this.verdicts.has(port.id) || hostOf(port) !== this.policy.hostname || this.otherDriver(port)) continue;
      if (!isKuryrPort(port)) {
        if (hasKuryrTag(port)) this.judgePort(port, 'keep', notOursWhy(port));
        continue;
      }
      if (port.tags.includes(PORT_CNI_TAG)) {
        // Docker knows nothing of pods: the runtime's CNI GC (with its list of live attachments) judges them.
        this.judgePort(port, 'keep', "a pod's interface (kuryr-cni): CNI GC judges it");
        continue;
      }
      this.judgeHostPort(port);
    }
  }

  private judgeHostPort(port: Stamped<Port>): void {
    const recorded = dockerIdFromTags(port.tags) ?? (port.device_id || undefined);
    if ((recorded && this.live.has(recorded)) || (port.device_id && this.live.has(port.device_id))) return;
    const ips = port.fixed_ips.map((f) => f.ip_address);
    const net = this.netById.get(port.network_id);
    const holders = this.endpointsByNetwork.get(dockerIdFromTags(net?.tags ?? []) ?? '') ?? [];
    const holder = holders.find((e) => e.addresses.some((a) => ips.includes(a)));
    if (holder) {
      // CreateEndpoint may still be recording it in the background: only a settled port is repaired.
      if (!this.young(port)) this.repairPort(port, holder, holder.addresses.find((a) => ips.includes(a))!);
      return;
    }
    if (port.tags.includes(PORT_POOLED_TAG)) return; // the pool's to manage
    if (!recorded && ips.some((ip) => this.docker.auxAddresses.has(ip))) return; // --aux-address: held for the network's life
    let why: string;
    if (recorded) why = `endpoint ${short(recorded)} is in no network of this dockerd`;
    else why = `IPAM address ${ips.join(', ')} was never claimed by an endpoint${port.name === UNBOUND_PORT_NAME ? '' : ` (name "${port.name}")`}`;
    if (!net) why += '; its network is no Kuryr network any more';
    if (this.young(port)) this.judgePort(port, 'keep', `${why}, but it was ${this.graceText(port)}`);
    else if (this.inSandbox(port)) this.judgePort(port, 'keep', `${why}, but its veth is in use in a running sandbox (another dockerd's container?)`);
    else this.judgePort(port, 'delete', why);
  }

  /** Exposed-ports groups Kuryr made, of ports that are gone or going. */
  planExposedGroups(): void {
    const portIds = new Set(this.neutron.ports.map((p) => p.id));
    for (const group of this.neutron.securityGroups) {
      if (!group.name.endsWith(EXPOSED_SUFFIX)) continue;
      const portId = group.name.slice(0, -EXPOSED_SUFFIX.length);
      const verdict = this.verdicts.get(portId);
      let why: string;
      if (!portIds.has(portId)) why = `its port ${portId} is gone`;
      else if (verdict === 'delete' || verdict === 'release') why = `its port ${portId} is an orphan`;
      else continue;
      const keep = (reason: string) => this.out.group.push({ kind: 'security-group', group, verb: 'keep', why: `${why}, but ${reason}` });
      if (!group.tags.includes(EXPOSED_GROUP_TAG)) keep(`it has no ${EXPOSED_GROUP_TAG} tag: Kuryr did not make it (upstream kuryr-libnetwork's groups have none); delete it by hand if it is no one's`);
      else if (this.young(group)) keep(`it was ${this.graceText(group)}`);
      else this.out.group.push({ kind: 'security-group', group, verb: 'delete', why });
    }
  }

  /**
   * Subnets: those of deleted networks go with them; on released (adopted) networks ours are
   * deleted and the operator's lose our pool-ID tags. Returns the subnets left once the plan has run.
   */
  planSubnets(): SubnetAfter[] {
    const poolIds = new Set(this.neutron.subnetPools.map((p) => p.id));
    const ownedPoolIds = new Set(this.neutron.subnetPools.filter((p) => p.tags.includes(SUBNETPOOL_OWNED_TAG)).map((p) => p.id));
    const subnetsAfter: SubnetAfter[] = [];
    for (const subnet of this.neutron.subnets) {
      if (this.deletedNetworks.has(subnet.network_id)) continue;
      if (!this.releasedNetworks.has(subnet.network_id)) {
        subnetsAfter.push({ subnetpoolId: subnet.subnetpool_id, tags: subnet.tags });
      } else if (subnet.name.startsWith(SUBNET_NAME_PREFIX) && ownedPoolIds.has(subnet.subnetpool_id ?? '')) {
        // Allocated from a pool Kuryr made: Kuryr made it (an adopted subnet only carries the pool's ID as a tag).
        this.out.subnet.push({ kind: 'subnet', subnet, verb: 'delete', why: 'Kuryr made it on an adopted network whose Docker network is gone' });
      } else {
        const tags = subnet.tags.filter((t) => !poolIds.has(t));
        if (tags.length < subnet.tags.length) {
          this.out.subnet.push({ kind: 'subnet', subnet, verb: 'release', why: 'adopted subnet of a Docker network that is gone', update: { tags } });
        }
        subnetsAfter.push({ subnetpoolId: subnet.subnetpool_id, tags });
      }
    }
    return subnetsAfter;
  }

  /** Kuryr's subnet pools that no subnet uses once the plan has run (never the operator's pools). */
  planPools(subnetsAfter: readonly SubnetAfter[]): void {
    const { policy } = this;
    for (const pool of this.neutron.subnetPools) {
      if (!pool.name.startsWith(`${policy.subnetpoolNamePrefix}-`)) continue;
      if (pool.tags.includes(SUBNETPOOL_EXISTING_TAG) || pool.is_default || policy.defaultPoolNames.includes(pool.name)) continue;
      if (subnetsAfter.some((s) => s.subnetpoolId === pool.id || s.tags.includes(pool.id))) continue;
      const why = 'no subnet is allocated from it or tagged with it';
      if (!pool.tags.includes(SUBNETPOOL_OWNED_TAG)) {
        const reason = `it has no ${SUBNETPOOL_OWNED_TAG} tag: Kuryr did not make it (upstream kuryr-libnetwork's and older Kuryr's pools have none); delete it by hand if it is no one's`;
        this.out.pool.push({ kind: 'subnetpool', pool, verb: 'keep', why: `${why}, but ${reason}` });
      } else if (this.young(pool)) this.out.pool.push({ kind: 'subnetpool', pool, verb: 'keep', why: `${why}, but it was ${this.graceText(pool)}` });
      else this.out.pool.push({ kind: 'subnetpool', pool, verb: 'delete', why });
    }
  }

  /** Host devices: judged after the ports they belong to. */
  planDevices(): void {
    for (const { name: device, inSandbox: held } of this.host.devices) {
      const prefix = KURYR_DEVICE_RE.exec(device)?.[2];
      if (!prefix) continue;
      const owners = this.neutron.ports.filter((p) => p.id.startsWith(prefix));
      if (owners.length === 0) {
        // A running container still holds the other end: pulling it would cut it off; it goes with the container.
        if (held) this.out.device.push({ kind: 'device', device, verb: 'keep', why: `no Neutron port ${prefix}... exists any more, but a running sandbox holds its peer` });
        else this.out.device.push({ kind: 'device', device, verb: 'delete', why: `no Neutron port ${prefix}... exists any more` });
        continue;
      }
      if (owners.length > 1) continue; // two ports share the prefix: cannot tell whose it is
      const port = owners[0]!;
      const verdict = this.verdicts.get(port.id);
      if (verdict === 'delete' || verdict === 'release') {
        this.out.device.push({ kind: 'device', device, verb: 'delete', why: `its port ${port.id} is an orphan` });
      } else if (!verdict && this.isIdlePooledPort(port)) {
        this.out.device.push({ kind: 'device', device, verb: 'delete', why: `its port ${port.id} is a pooled port no endpoint uses` });
      }
    }
  }

  /** This host's settled pooled port (of a driver this daemon serves) that no endpoint uses. */
  private isIdlePooledPort(port: Stamped<Port>): boolean {
    return isKuryrPort(port) && port.tags.includes(PORT_POOLED_TAG) && hostOf(port) === this.policy.hostname && !this.otherDriver(port) && !this.live.has(port.device_id) && !this.young(port);
  }
}

/** A subnet as it will be once the plan has run: what ties it to a pool. */
interface SubnetAfter {
  subnetpoolId: string | null;
  tags: string[];
}
