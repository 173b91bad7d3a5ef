/**
 * HostNetwork over iproute2 and ovs-vsctl. A transaction reads the devices it names (sysfs reads,
 * no process; or one `ip -json` in a named netns), compiles the operations, then runs each run of
 * ip steps as ONE `ip -batch -` process and each run of OVS steps as ONE `ovs-vsctl -- a -- b`.
 * On failure it undoes, in reverse, the steps that ran. No shell is ever involved: names are
 * validated before they reach a batch line, and processes get argv arrays.
 */
import { access, readFile, readlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { KuryrError } from '../../errors.js';
import { silentLogger, type Logger } from '../../log.js';
import { isValidIfName } from '../naming.js';
import { run } from './exec.js';
import { NameLocks } from './lock.js';
import { compile, emptyState, namesOf, ovsArgs, segments, type HostState, type Step } from './plan.js';
import { HostNetworkBase, type ApplyResult, type HostOp, type LinkInfo, type LinkKind } from './types.js';

export interface IprouteOptions {
  /** Run everything inside this named network namespace (`ip -n <netns>`); reads then use `ip -json`. */
  netns?: string;
  /** Defaults: `ip` and `ovs-vsctl` from PATH. */
  ipPath?: string;
  ovsVsctlPath?: string;
  /** ovs-vsctl --timeout, seconds (default 10). */
  ovsTimeoutSec?: number;
  /** Where to read devices when no netns is given (default /sys/class/net). */
  sysfsRoot?: string;
  logger?: Logger;
}

/** A failed step; `transient` when a re-read could succeed (a device appeared or vanished meanwhile). */
class StepFailure extends KuryrError {
  constructor(message: string, readonly transient: boolean) {
    super('KURYR_ERR_BINDING', message);
  }
}

const TRANSIENT_RE = /File exists|Cannot find device|No such device|does not exist/;
const KINDS = new Set<LinkKind>(['bridge', 'veth', 'macvlan', 'ipvlan', 'vlan']);

interface IpJsonLink {
  ifindex: number;
  ifname: string;
  link?: string;
  link_index?: number;
  flags?: string[];
  mtu: number;
  address?: string;
  master?: string;
  linkinfo?: { info_kind?: string };
}

function cleanStderr(stderr: string): string {
  return stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('Command failed')).join('; ') || 'failed with no message';
}

export class IprouteHostNetwork extends HostNetworkBase {
  private readonly netns: string | undefined;
  private readonly ip: string;
  private readonly ovs: string;
  private readonly ovsTimeout: number;
  private readonly sysfs: string;
  private readonly log: Logger;
  private readonly locks = new NameLocks();

  constructor(opts: IprouteOptions = {}) {
    super();
    if (opts.netns !== undefined && !/^[A-Za-z0-9_.-]+$/.test(opts.netns)) {
      throw new KuryrError('KURYR_ERR_CONFIG', `invalid network namespace name ${JSON.stringify(opts.netns)}`);
    }
    this.netns = opts.netns;
    this.ip = opts.ipPath ?? 'ip';
    this.ovs = opts.ovsVsctlPath ?? 'ovs-vsctl';
    this.ovsTimeout = opts.ovsTimeoutSec ?? 10;
    this.sysfs = opts.sysfsRoot ?? '/sys/class/net';
    this.log = opts.logger ?? silentLogger;
  }

  async linkExists(name: string): Promise<boolean> {
    if (this.netns === undefined) return access(`${this.sysfs}/${name}`).then(() => true, () => false);
    return (await this.getLink(name)) !== undefined;
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    return (await this.read([name])).links.get(name);
  }

  apply(ops: readonly HostOp[]): Promise<ApplyResult> {
    const names = namesOf(ops);
    return this.locks.run(names, async () => {
      try {
        return await this.transact(ops, names);
      } catch (err) {
        if (!(err instanceof StepFailure) || !err.transient) throw err;
        this.log.debug({ err: err.message }, 'host transaction raced with another change; re-reading and retrying once');
        return await this.transact(ops, names);
      }
    });
  }

  private async transact(ops: readonly HostOp[], names: string[]): Promise<ApplyResult> {
    const steps = compile(ops, await this.read(names));
    const result: ApplyResult = { ipLines: [], ovsCommands: [], processes: 0 };
    const done: Step[] = [];
    for (const seg of segments(steps)) {
      const failure = await this.runSegment(seg, result);
      if (!failure) { done.push(...seg); continue; }
      // ip stops at the failing line; an OVSDB transaction is all or nothing.
      const ranHere = seg[0]?.backend === 'ovs' ? [] : failure.index === undefined ? seg : seg.slice(0, failure.index);
      const failed = failure.index === undefined ? undefined : seg[failure.index];
      const what = failed?.what ?? seg.map((s) => s.what).join(', ');
      const rollback = await this.compensate([...done, ...ranHere]);
      throw new StepFailure(`${what}: ${cleanStderr(failure.stderr)}${rollback}`, rollback === '' && TRANSIENT_RE.test(failure.stderr));
    }
    if (result.processes > 0 && this.log.isLevelEnabled('debug')) this.log.debug({ ipLines: result.ipLines, ovs: result.ovsCommands }, 'host transaction applied');
    return result;
  }

  /** Runs one segment; returns the failure (index of the failed step when known) or undefined. */
  private async runSegment(seg: Step[], result: ApplyResult, force = false): Promise<{ index?: number; stderr: string } | undefined> {
    result.processes++;
    try {
      if (seg[0]?.backend === 'ovs') {
        const args = ovsArgs(seg, this.ovsTimeout);
        result.ovsCommands.push(args);
        const r = await run(this.ovs, args);
        return r.code === 0 ? undefined : { stderr: r.stderr || `ovs-vsctl exited with ${r.code}` };
      }
      const lines = seg.map((s) => (s.backend === 'ip' ? s.line : ''));
      result.ipLines.push(...lines);
      const r = await run(this.ip, this.ipArgs(force ? ['-force', '-batch', '-'] : ['-batch', '-']), { input: lines.join('\n') + '\n' });
      if (r.code === 0) return undefined;
      const m = /Command failed -:(\d+)/.exec(r.stderr);
      return m ? { index: Number(m[1]) - 1, stderr: r.stderr } : { stderr: r.stderr || `ip exited with ${r.code}` };
    } catch (err) {
      return { stderr: err instanceof Error ? err.message : String(err) };
    }
  }

  /** Undoes steps in reverse; returns '' or a note for the error message. */
  private async compensate(ran: Step[]): Promise<string> {
    const undos = ran.flatMap((s) => (s.undo ? [s.undo] : [])).reverse();
    const problems: string[] = [];
    for (const seg of segments(undos)) {
      const failure = await this.runSegment(seg, { ipLines: [], ovsCommands: [], processes: 0 }, true);
      if (failure) problems.push(cleanStderr(failure.stderr));
    }
    if (problems.length === 0) return '';
    this.log.warn({ problems, undo: undos.map((u) => u.what) }, 'could not fully undo a failed host transaction');
    return ` (rollback incomplete: ${problems.join('; ')})`;
  }

  private ipArgs(args: string[]): string[] {
    return this.netns === undefined ? args : ['-n', this.netns, ...args];
  }

  /** One read of the named devices: sysfs in the host namespace, else one `ip -json link show`. */
  private async read(names: readonly string[]): Promise<HostState> {
    const state = emptyState();
    if (this.netns === undefined) {
      const links = await Promise.all(names.filter(isValidIfName).map((n) => readSysLink(this.sysfs, n)));
      for (const l of links) if (l) state.links.set(l.name, l);
      return state;
    }
    const r = await run(this.ip, this.ipArgs(['-d', '-json', 'link', 'show']));
    if (r.code !== 0) throw new KuryrError('KURYR_ERR_BINDING', `list devices in netns ${this.netns}: ${cleanStderr(r.stderr)}`);
    const all = JSON.parse(r.stdout) as IpJsonLink[];
    const byName = new Map(all.map((l) => [l.ifname, l]));
    for (const l of all) {
      const kind = l.linkinfo?.info_kind as LinkKind | undefined;
      state.links.set(l.ifname, {
        name: l.ifname,
        ifindex: l.ifindex,
        iflink: (l.link !== undefined ? byName.get(l.link)?.ifindex : l.link_index) ?? l.ifindex,
        kind: kind && KINDS.has(kind) ? kind : 'other',
        mac: (l.address ?? '').toLowerCase(),
        mtu: l.mtu,
        up: l.flags?.includes('UP') ?? false,
        ...(l.master ? { master: l.master } : {}),
      });
    }
    return state;
  }
}

async function readSysLink(root: string, name: string): Promise<LinkInfo | undefined> {
  const dir = `${root}/${name}`;
  const text = (f: string) => readFile(`${dir}/${f}`, 'utf8').then((s) => s.trim());
  try {
    const [ifindex, iflink, address, mtu, flags, master, isBridge] = await Promise.all([
      text('ifindex'), text('iflink'), text('address'), text('mtu'), text('flags'),
      readlink(`${dir}/master`).then((p) => basename(p), () => undefined),
      access(`${dir}/bridge`).then(() => true, () => false),
    ]);
    return {
      name,
      ifindex: Number(ifindex),
      iflink: Number(iflink),
      kind: isBridge ? 'bridge' : 'other',
      mac: address.toLowerCase(),
      mtu: Number(mtu),
      up: (Number.parseInt(flags, 16) & 1) === 1,
      ...(master ? { master } : {}),
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KuryrError('KURYR_ERR_BINDING', `read ${dir}: ${(err as Error).message}`, { cause: err });
  }
}
