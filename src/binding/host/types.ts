/**
 * Host plumbing as drivers think of it. Every operation is an idempotent "ensure": applying it to a
 * host where it already holds changes nothing. A list of operations is applied as one transaction
 * (one `ip -batch` process, one `ovs-vsctl` invocation), undone in reverse on failure.
 */

export type LinkKind = 'bridge' | 'veth' | 'macvlan' | 'ipvlan' | 'vlan' | 'other';

/** What Kuryr needs to know about one network device. */
export interface LinkInfo {
  name: string;
  ifindex: number;
  /** ifindex of the veth peer or the lower device; equals ifindex when there is none. */
  iflink: number;
  /** `other` when the backend cannot tell (sysfs names bridges only). */
  kind: LinkKind;
  /** Lower-case MAC. */
  mac: string;
  mtu: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Name of the bridge it is enslaved to. */
  master?: string;
}

export interface VethPairSpec {
  /** Host end. */
  host: string;
  /** Container end: carries the MAC (the kernel picks one when absent). */
  container: string;
  mac?: string;
  /** Set on both ends. */
  mtu: number;
  /** Bring the host end up. */
  hostUp: boolean;
}

export interface MacvlanSpec {
  name: string;
  parent: string;
  mac: string;
  mtu?: number;
  mode: 'bridge' | 'private' | 'vepa' | 'passthru';
}

export interface IpvlanSpec {
  name: string;
  parent: string;
  mtu?: number;
  mode: 'l2' | 'l3' | 'l3s';
}

export interface VlanSpec {
  name: string;
  parent: string;
  vlanId: number;
  mac: string;
  mtu?: number;
}

export interface OvsPortSpec {
  bridge: string;
  port: string;
  /** Written as `external_ids:<key>=<value>` on the Interface row. */
  externalIds: Record<string, string>;
}

/** One idempotent host operation. Build them with the `op` helpers. */
export type HostOp =
  | { op: 'ensureBridge'; name: string; mtu?: number }
  | ({ op: 'createVethPair' } & VethPairSpec)
  | { op: 'setMaster'; dev: string; master: string }
  | { op: 'setNoMaster'; dev: string }
  | { op: 'setUp'; dev: string }
  | { op: 'deleteLink'; name: string }
  | { op: 'renameLink'; from: string; to: string; live: boolean }
  | ({ op: 'createMacvlan' } & MacvlanSpec)
  | ({ op: 'createIpvlan' } & IpvlanSpec)
  | ({ op: 'createVlan' } & VlanSpec)
  | ({ op: 'ovsAddPort' } & OvsPortSpec)
  | { op: 'ovsDelPort'; bridge: string; port: string };

export const op = {
  /** Create the bridge if missing (forward_delay 0, STP off; mtu only at creation), then bring it up. */
  ensureBridge: (name: string, opts: { mtu?: number } = {}): HostOp => ({ op: 'ensureBridge', name, ...opts }),
  /** Create the pair unless it exists (with that MAC); fails if the host name is taken by something else. */
  createVethPair: (spec: VethPairSpec): HostOp => ({ op: 'createVethPair', ...spec }),
  setMaster: (dev: string, master: string): HostOp => ({ op: 'setMaster', dev, master }),
  /** Absent device or no master = nothing to do. */
  setNoMaster: (dev: string): HostOp => ({ op: 'setNoMaster', dev }),
  setUp: (dev: string): HostOp => ({ op: 'setUp', dev }),
  /** Absent = success. Deleting one end of a veth deletes both. */
  deleteLink: (name: string): HostOp => ({ op: 'deleteLink', name }),
  /**
   * Renames; done already when only `to` exists. Keeps its bridge. `live`: while up (Linux 6.2+);
   * else down, rename, back up if it was (the peer briefly loses carrier).
   */
  renameLink: (from: string, to: string, opts: { live: boolean }): HostOp => ({ op: 'renameLink', from, to, live: opts.live }),
  createMacvlan: (spec: MacvlanSpec): HostOp => ({ op: 'createMacvlan', ...spec }),
  createIpvlan: (spec: IpvlanSpec): HostOp => ({ op: 'createIpvlan', ...spec }),
  createVlan: (spec: VlanSpec): HostOp => ({ op: 'createVlan', ...spec }),
  /** `--may-exist add-port` plus the Interface external ids. */
  ovsAddPort: (spec: OvsPortSpec): HostOp => ({ op: 'ovsAddPort', ...spec }),
  /** `--if-exists del-port`. */
  ovsDelPort: (bridge: string, port: string): HostOp => ({ op: 'ovsDelPort', bridge, port }),
} as const;

/** What one applied transaction did, for logs and tests. */
export interface ApplyResult {
  /** Lines sent to `ip -batch` (empty when the host already matched). */
  ipLines: string[];
  /** ovs-vsctl argument vectors, one per invocation. */
  ovsCommands: string[][];
  /** Child processes started. */
  processes: number;
}

/**
 * The host's network devices. `apply` is the transaction; the named verbs are one-op transactions
 * for callers that need a single change. Errors are KuryrError('KURYR_ERR_BINDING', "<what>: <stderr>").
 */
export interface HostNetwork {
  linkExists(name: string): Promise<boolean>;
  getLink(name: string): Promise<LinkInfo | undefined>;
  /**
   * Applies the operations in order as one transaction. Preconditions are checked against one
   * read of the host before anything changes; on a failure, what this call changed is undone in
   * reverse before the error is thrown.
   */
  apply(ops: readonly HostOp[]): Promise<ApplyResult>;

  ensureBridge(name: string, opts?: { mtu?: number }): Promise<void>;
  createVethPair(spec: VethPairSpec): Promise<void>;
  setMaster(dev: string, master: string): Promise<void>;
  setNoMaster(dev: string): Promise<void>;
  setUp(dev: string): Promise<void>;
  deleteLink(name: string): Promise<void>;
  createMacvlan(spec: MacvlanSpec): Promise<void>;
  createIpvlan(spec: IpvlanSpec): Promise<void>;
  createVlan(spec: VlanSpec): Promise<void>;
  ovsAddPort(spec: OvsPortSpec): Promise<void>;
  ovsDelPort(bridge: string, port: string): Promise<void>;
}

/** The single-op verbs, defined once over `apply`. */
export abstract class HostNetworkBase implements HostNetwork {
  abstract linkExists(name: string): Promise<boolean>;
  abstract getLink(name: string): Promise<LinkInfo | undefined>;
  abstract apply(ops: readonly HostOp[]): Promise<ApplyResult>;

  private async one(o: HostOp): Promise<void> {
    await this.apply([o]);
  }
  ensureBridge(name: string, opts: { mtu?: number } = {}) { return this.one(op.ensureBridge(name, opts)); }
  createVethPair(spec: VethPairSpec) { return this.one(op.createVethPair(spec)); }
  setMaster(dev: string, master: string) { return this.one(op.setMaster(dev, master)); }
  setNoMaster(dev: string) { return this.one(op.setNoMaster(dev)); }
  setUp(dev: string) { return this.one(op.setUp(dev)); }
  deleteLink(name: string) { return this.one(op.deleteLink(name)); }
  createMacvlan(spec: MacvlanSpec) { return this.one(op.createMacvlan(spec)); }
  createIpvlan(spec: IpvlanSpec) { return this.one(op.createIpvlan(spec)); }
  createVlan(spec: VlanSpec) { return this.one(op.createVlan(spec)); }
  ovsAddPort(spec: OvsPortSpec) { return this.one(op.ovsAddPort(spec)); }
  ovsDelPort(bridge: string, port: string) { return this.one(op.ovsDelPort(bridge, port)); }
}
