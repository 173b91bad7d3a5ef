/**
 * Compiles idempotent HostOps into concrete steps against one read of the host: each step is one
 * `ip -batch` line or one group of ovs-vsctl commands, with its effect on the modelled state and
 * the step that undoes it. Both the iproute2 backend and the fake run these steps, so
 * preconditions, idempotency and compensation are decided here once.
 */
import { KuryrError } from '../../errors.js';
import { assertIfName } from '../naming.js';
import type { HostOp, LinkInfo, LinkKind } from './types.js';

export interface OvsPortRow {
  bridge: string;
  externalIds: Record<string, string>;
}

/** The part of the host a transaction looks at. */
export interface HostState {
  links: Map<string, LinkInfo>;
  /** OVS ports by name; only the fake models them (the real backend never reads OVSDB). */
  ovsPorts: Map<string, OvsPortRow>;
  /** Next ifindex to give a device this model creates (the kernel picks the real one). */
  nextIndex: number;
}

export type Step = {
  /** What the step does, as the start of an error message. */
  what: string;
  apply(state: HostState): void;
  undo?: Step;
} & ({ backend: 'ip'; line: string } | { backend: 'ovs'; commands: string[][] });

export const bindingError = (msg: string) => new KuryrError('KURYR_ERR_BINDING', msg);

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const OVS_TOKEN_RE = /^[A-Za-z0-9_.:-]+$/;

function mac(value: string, what: string): string {
  const m = value.toLowerCase();
  if (!MAC_RE.test(m)) throw bindingError(`invalid MAC ${JSON.stringify(value)} for ${what}`);
  return m;
}

function mtu(value: number | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 68 || value > 65535) throw bindingError(`invalid MTU ${value} for ${what}: want 68-65535`);
  return value;
}

function ovsToken(value: string, what: string): string {
  if (!OVS_TOKEN_RE.test(value)) throw bindingError(`invalid ${what} ${JSON.stringify(value)} for ovs-vsctl`);
  return value;
}

/** Device names an operation list reads or changes (what to read, and what to lock). */
export function namesOf(ops: readonly HostOp[]): string[] {
  const names = new Set<string>();
  for (const o of ops) {
    switch (o.op) {
      case 'ensureBridge': case 'deleteLink': names.add(o.name); break;
      case 'createVethPair': names.add(o.host).add(o.container); break;
      case 'setMaster': names.add(o.dev).add(o.master); break;
      case 'setNoMaster': case 'setUp': names.add(o.dev); break;
      case 'renameLink': names.add(o.from).add(o.to); break;
      case 'createMacvlan': case 'createIpvlan': case 'createVlan': names.add(o.name).add(o.parent); break;
      case 'ovsAddPort': case 'ovsDelPort': names.add(o.port); break;
    }
  }
  return [...names];
}

export function cloneState(s: HostState): HostState {
  return {
    links: new Map([...s.links].map(([k, v]) => [k, { ...v }])),
    ovsPorts: new Map([...s.ovsPorts].map(([k, v]) => [k, { bridge: v.bridge, externalIds: { ...v.externalIds } }])),
    nextIndex: s.nextIndex,
  };
}

export function emptyState(): HostState {
  return { links: new Map(), ovsPorts: new Map(), nextIndex: 1_000_000 };
}

function newLink(s: HostState, name: string, kind: LinkKind, macAddr: string, m: number | undefined, iflink?: number): LinkInfo {
  const ifindex = s.nextIndex++;
  const link: LinkInfo = { name, ifindex, iflink: iflink ?? ifindex, kind, mac: macAddr, mtu: m ?? 1500, up: false };
  s.links.set(name, link);
  return link;
}

function removeLink(s: HostState, name: string): void {
  const l = s.links.get(name);
  if (!l) return;
  s.links.delete(name);
  if (l.kind === 'veth' || l.iflink !== l.ifindex) {
    for (const [n, other] of s.links) {
      if (other.kind === 'veth' && other.ifindex === l.iflink && other.iflink === l.ifindex) s.links.delete(n);
    }
  }
  for (const other of s.links.values()) if (other.master === name) delete other.master;
}

// ---- step builders --------------------------------------------------------------------------

const ipStep = (what: string, line: string, apply: (s: HostState) => void, undo?: Step): Step => ({ backend: 'ip', what, line, apply, ...(undo ? { undo } : {}) });

const delStep = (name: string): Step => ipStep(`delete ${name}`, `link del ${name}`, (s) => removeLink(s, name));

const upStep = (dev: string, undo: boolean): Step =>
  ipStep(`set ${dev} up`, `link set ${dev} up`, (s) => { const l = s.links.get(dev); if (l) l.up = true; }, undo ? downStep(dev) : undefined);

const downStep = (dev: string): Step =>
  ipStep(`set ${dev} down`, `link set ${dev} down`, (s) => { const l = s.links.get(dev); if (l) l.up = false; });

const masterStep = (dev: string, master: string | undefined, undo?: Step): Step =>
  master === undefined
    ? ipStep(`release ${dev} from its bridge`, `link set ${dev} nomaster`, (s) => { const l = s.links.get(dev); if (l) delete l.master; }, undo)
    : ipStep(`enslave ${dev} to ${master}`, `link set ${dev} master ${master}`, (s) => { const l = s.links.get(dev); if (l) l.master = master; }, undo);

const renameStep = (from: string, to: string, undo?: Step): Step =>
  ipStep(`rename ${from} to ${to}`, `link set dev ${from} name ${to}`, (s) => {
    const l = s.links.get(from);
    if (!l) return;
    s.links.delete(from);
    l.name = to;
    s.links.set(to, l);
  }, undo);

const optMtu = (m: number | undefined) => (m === undefined ? '' : ` mtu ${m}`);

/** One compilation: the modelled state as the steps change it, the steps so far, the devices they create. */
class Compilation {
  readonly steps: Step[] = [];
  /** Devices these steps create: their undo is deleting them, not restoring a setting. */
  readonly created = new Set<string>();
  constructor(readonly state: HostState) {}

  push(step: Step): void {
    this.steps.push(step);
    step.apply(this.state);
  }

  link(name: string): LinkInfo | undefined {
    return this.state.links.get(name);
  }

  need(name: string, why: string): LinkInfo {
    const l = this.link(name);
    if (!l) throw bindingError(`${why}: ${name} does not exist`);
    return l;
  }
}

type OpOf<K extends HostOp['op']> = Extract<HostOp, { op: K }>;

function ensureBridge(o: OpOf<'ensureBridge'>, c: Compilation): void {
  const name = assertIfName(o.name, 'bridge name');
  const m = mtu(o.mtu, name);
  const l = c.link(name);
  if (!l) {
    c.push(ipStep(`create bridge ${name}`, `link add name ${name}${optMtu(m)} type bridge forward_delay 0 stp_state 0`,
      (st) => { newLink(st, name, 'bridge', '00:00:00:00:00:00', m); }, delStep(name)));
    c.created.add(name);
  } else if (l.kind !== 'bridge') {
    throw bindingError(`cannot use ${name} as a bridge: a device of kind ${l.kind} already has that name`);
  }
  if (!c.link(name)?.up) c.push(upStep(name, !c.created.has(name)));
}

function createVethPair(o: OpOf<'createVethPair'>, c: Compilation): void {
  const host = assertIfName(o.host, 'veth name');
  const cont = assertIfName(o.container, 'veth name');
  const m = mtu(o.mtu, host) ?? 1500;
  const addr = o.mac === undefined ? undefined : mac(o.mac, cont);
  const h = c.link(host);
  if (h) {
    const p = c.link(cont);
    const isOurPair = p !== undefined && p.iflink === h.ifindex && h.iflink === p.ifindex && (addr === undefined || p.mac === addr);
    if (!isOurPair) {
      const withMac = addr === undefined ? '' : ` (MAC ${addr})`;
      throw bindingError(`cannot create veth ${host}/${cont}: ${host} already exists and is not paired with ${cont}${withMac}; delete it if it is stale`);
    }
  } else {
    const address = addr === undefined ? '' : ` address ${addr}`;
    c.push(ipStep(`create veth pair ${host}/${cont}`, `link add name ${host} mtu ${m} type veth peer name ${cont} mtu ${m}${address}`,
      (st) => {
        const a = newLink(st, host, 'veth', '00:00:00:00:00:00', m);
        const b = newLink(st, cont, 'veth', addr ?? '02:00:00:00:00:00', m, a.ifindex);
        a.iflink = b.ifindex;
      }, delStep(host)));
    c.created.add(host).add(cont);
  }
  if (o.hostUp && !c.link(host)?.up) c.push(upStep(host, !c.created.has(host)));
}

function setMaster(o: OpOf<'setMaster'>, c: Compilation): void {
  const dev = assertIfName(o.dev);
  const master = assertIfName(o.master, 'bridge name');
  const d = c.need(dev, `cannot enslave ${dev} to ${master}`);
  const b = c.need(master, `cannot enslave ${dev} to ${master}`);
  if (b.kind !== 'bridge') throw bindingError(`cannot enslave ${dev} to ${master}: ${master} is not a bridge`);
  if (d.master === master) return;
  c.push(masterStep(dev, master, c.created.has(dev) ? undefined : masterStep(dev, d.master)));
}

function setNoMaster(o: OpOf<'setNoMaster'>, c: Compilation): void {
  const dev = assertIfName(o.dev);
  const d = c.link(dev);
  if (!d || d.master === undefined) return;
  c.push(masterStep(dev, undefined, masterStep(dev, d.master)));
}

function setUp(o: OpOf<'setUp'>, c: Compilation): void {
  const dev = assertIfName(o.dev);
  if (c.need(dev, `cannot bring ${dev} up`).up) return;
  c.push(upStep(dev, !c.created.has(dev)));
}

function renameLink(o: OpOf<'renameLink'>, c: Compilation): void {
  const from = assertIfName(o.from);
  const to = assertIfName(o.to);
  const f = c.link(from);
  if (!f) {
    if (c.link(to)) return;
    throw bindingError(`cannot rename ${from} to ${to}: ${from} does not exist`);
  }
  if (c.link(to)) throw bindingError(`cannot rename ${from} to ${to}: ${to} already exists`);
  // Before Linux 6.2 the kernel renames only a device that is down.
  const wasUp = f.up && !o.live;
  if (wasUp) c.push({ ...downStep(from), undo: upStep(from, false) });
  c.push(renameStep(from, to, renameStep(to, from)));
  if (wasUp) c.push(upStep(to, true));
}

function deleteLink(o: OpOf<'deleteLink'>, c: Compilation): void {
  const name = assertIfName(o.name);
  if (c.link(name)) c.push(delStep(name));
}

/** macvlan, ipvlan and vlan: a device on a parent interface. */
function createLowerDevice(o: OpOf<'createMacvlan' | 'createIpvlan' | 'createVlan'>, c: Compilation): void {
  const name = assertIfName(o.name);
  const parent = assertIfName(o.parent, 'parent interface');
  const kind = o.op === 'createMacvlan' ? 'macvlan' : o.op === 'createIpvlan' ? 'ipvlan' : 'vlan';
  const m = mtu(o.mtu, name);
  const addr = o.op === 'createIpvlan' ? undefined : mac(o.mac, name);
  if (o.op === 'createVlan' && (!Number.isInteger(o.vlanId) || o.vlanId < 1 || o.vlanId > 4094)) {
    throw bindingError(`invalid VLAN id ${o.vlanId} for ${name}: want 1-4094`);
  }
  const p = c.need(parent, `cannot create ${kind} ${name}`);
  const existing = c.link(name);
  if (existing) {
    const same = existing.iflink === p.ifindex && (existing.kind === kind || existing.kind === 'other') && (addr === undefined || existing.mac === addr);
    if (!same) throw bindingError(`cannot create ${kind} ${name} on ${parent}: ${name} already exists and is not that device; delete it if it is stale`);
    return;
  }
  const tail =
    o.op === 'createMacvlan' ? `address ${addr} type macvlan mode ${o.mode}`
    : o.op === 'createIpvlan' ? `type ipvlan mode ${o.mode}`
    : `address ${addr} type vlan id ${o.vlanId}`;
  c.push(ipStep(`create ${kind} ${name} on ${parent}`, `link add link ${parent} name ${name}${optMtu(m)} ${tail}`,
    (st) => { newLink(st, name, kind, addr ?? st.links.get(parent)?.mac ?? '00:00:00:00:00:00', m ?? st.links.get(parent)?.mtu, st.links.get(parent)?.ifindex); },
    delStep(name)));
  c.created.add(name);
}

const ovsDelStep = (bridge: string, port: string): Step =>
  ({ backend: 'ovs', what: `remove ${port} from OVS bridge ${bridge}`, commands: [['--if-exists', 'del-port', bridge, port]], apply: (st) => { st.ovsPorts.delete(port); } });

function ovsAddPort(o: OpOf<'ovsAddPort'>, c: Compilation): void {
  const bridge = assertIfName(o.bridge, 'OVS bridge name');
  const port = assertIfName(o.port, 'OVS port name');
  const ids = Object.entries(o.externalIds).map(([k, v]) => `external_ids:${ovsToken(k, 'external id key')}=${ovsToken(v, `external id ${k}`)}`);
  c.push({
    backend: 'ovs',
    what: `add ${port} to OVS bridge ${bridge}`,
    commands: [['--may-exist', 'add-port', bridge, port], ['set', 'Interface', port, ...ids]],
    apply: (st) => { st.ovsPorts.set(port, { bridge, externalIds: { ...o.externalIds } }); },
    undo: ovsDelStep(bridge, port),
  });
}

function ovsDelPort(o: OpOf<'ovsDelPort'>, c: Compilation): void {
  c.push(ovsDelStep(assertIfName(o.bridge, 'OVS bridge name'), assertIfName(o.port, 'OVS port name')));
}

const COMPILERS: { [K in HostOp['op']]: (o: OpOf<K>, c: Compilation) => void } = {
  ensureBridge,
  createVethPair,
  setMaster,
  setNoMaster,
  setUp,
  renameLink,
  deleteLink,
  createMacvlan: createLowerDevice,
  createIpvlan: createLowerDevice,
  createVlan: createLowerDevice,
  ovsAddPort,
  ovsDelPort,
};

/**
 * Turns operations into steps, checking each against `state` (which it updates as the host would
 * change). Throws KURYR_ERR_BINDING before any step runs when a precondition fails.
 */
export function compile(ops: readonly HostOp[], state: HostState): Step[] {
  const c = new Compilation(state);
  for (const o of ops) (COMPILERS[o.op] as (o: HostOp, c: Compilation) => void)(o, c);
  return c.steps;
}

/** Consecutive steps of one backend: each segment is one child process. */
export function segments(steps: readonly Step[]): Step[][] {
  const out: Step[][] = [];
  for (const step of steps) {
    const last = out[out.length - 1];
    if (last && last[0]?.backend === step.backend) last.push(step);
    else out.push([step]);
  }
  return out;
}

/** The single ovs-vsctl argument vector for a segment of ovs steps. */
export function ovsArgs(steps: readonly Step[], timeoutSec: number): string[] {
  const args = [`--timeout=${timeoutSec}`];
  for (const step of steps) if (step.backend === 'ovs') for (const c of step.commands) args.push('--', ...c);
  return args;
}
