/**
 * In-memory HostNetwork for unit tests of driver logic. It runs the same compiled steps as the
 * iproute2 backend (so preconditions, idempotency and rollback are the real ones) against a model
 * of devices and OVS ports, records the ip lines and ovs-vsctl argv it would have run, and can be
 * told to fail a step.
 */
import { KuryrError } from '../../errors.js';
import { cloneState, compile, emptyState, ovsArgs, segments, type HostState, type OvsPortRow, type Step } from './plan.js';
import { HostNetworkBase, type ApplyResult, type HostOp, type LinkInfo, type LinkKind } from './types.js';

export class FakeHostNetwork extends HostNetworkBase {
  private state: HostState = emptyState();
  /** Every transaction applied (including failed ones, up to the failure). */
  readonly transactions: ApplyResult[] = [];
  private failWhen: ((step: Step) => string | undefined) | undefined;

  /** Pre-creates a device, as if something else had made it. */
  addLink(name: string, opts: { kind?: LinkKind; mac?: string; mtu?: number; up?: boolean; master?: string } = {}): LinkInfo {
    const ifindex = this.state.nextIndex++;
    const link: LinkInfo = { name, ifindex, iflink: ifindex, kind: opts.kind ?? 'other', mac: opts.mac ?? '02:00:00:00:00:01', mtu: opts.mtu ?? 1500, up: opts.up ?? false, ...(opts.master ? { master: opts.master } : {}) };
    this.state.links.set(name, link);
    return link;
  }

  /** Makes the first step whose ip line or ovs argv contains `needle` fail with `message`. */
  failOn(needle: string, message = 'RTNETLINK answers: Operation not permitted'): void {
    this.failWhen = (step) => ((step.backend === 'ip' ? step.line : step.commands.flat().join(' ')).includes(needle) ? message : undefined);
  }

  clearFailures(): void {
    this.failWhen = undefined;
  }

  links(): LinkInfo[] {
    return [...this.state.links.values()].map((l) => ({ ...l }));
  }

  ovsPorts(): Map<string, OvsPortRow> {
    return cloneState(this.state).ovsPorts;
  }

  /** All ip lines and ovs-vsctl argv ever sent, in order. */
  get ipLines(): string[] {
    return this.transactions.flatMap((t) => t.ipLines);
  }
  get ovsCommands(): string[][] {
    return this.transactions.flatMap((t) => t.ovsCommands);
  }

  async linkExists(name: string): Promise<boolean> {
    return this.state.links.has(name);
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    const l = this.state.links.get(name);
    return l && { ...l };
  }

  async apply(ops: readonly HostOp[]): Promise<ApplyResult> {
    const steps = compile(ops, cloneState(this.state));
    const result: ApplyResult = { ipLines: [], ovsCommands: [], processes: 0 };
    this.transactions.push(result);
    const done: Step[] = [];
    for (const seg of segments(steps)) {
      result.processes++;
      if (seg[0]?.backend === 'ovs') result.ovsCommands.push(ovsArgs(seg, 10));
      for (const step of seg) {
        if (step.backend === 'ip') result.ipLines.push(step.line);
        const failure = this.failWhen?.(step);
        if (failure !== undefined) {
          for (const u of done.flatMap((d) => (d.undo ? [d.undo] : [])).reverse()) u.apply(this.state);
          throw new KuryrError('KURYR_ERR_BINDING', `${step.what}: ${failure}`);
        }
        step.apply(this.state);
        done.push(step);
      }
    }
    return result;
  }
}
