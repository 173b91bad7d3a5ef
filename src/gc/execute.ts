/** Carries out a gc plan (reconcile.ts), one object at a time, and says what happened to each. */
import type { Neutron, Port } from '../openstack/neutron-types.js';
import { subjectOf, type GcAction, type GcUpdate, type GcVerb } from './reconcile.js';

export type GcResult = 'deleted' | 'released' | 'repaired' | 'kept' | 'would delete' | 'would release' | 'would repair' | 'failed';

const DONE: Record<Exclude<GcVerb, 'keep'>, GcResult> = { delete: 'deleted', release: 'released', repair: 'repaired' };

export interface GcOutcome {
  action: GcAction;
  result: GcResult;
  /** Why it failed. */
  error?: string;
}

export interface GcEffects {
  neutron: Pick<Neutron, 'deletePort' | 'updatePort' | 'replaceTags' | 'deleteSecurityGroup' | 'deleteSubnet' | 'deleteNetwork' | 'deleteSubnetPool'>;
  /** Deletes a host device (both ends of a veth); an absent device is success. */
  deleteDevice(name: string): Promise<void>;
  /**
   * Inside a Nova VM: before a port is deleted or released, removes its address pairs from the VM's
   * port (nested) or it from the VM's trunk (vlan), as DeleteEndpoint does, so no pair or VLAN id
   * outlives its port.
   */
  releaseFromVm?(port: Port): Promise<void>;
}

/** Writes a release or repair: the port's fields first, then the whole tag list in one call. */
async function update(effects: GcEffects, collection: 'ports' | 'subnets' | 'networks', id: string, change: GcUpdate | undefined): Promise<void> {
  if (!change) throw new Error(`internal: a ${collection} release or repair without its update`);
  if (change.port) await effects.neutron.updatePort(id, change.port);
  await effects.neutron.replaceTags(collection, id, change.tags);
}

async function apply(action: GcAction, effects: GcEffects): Promise<void> {
  const { neutron } = effects;
  const deleting = action.verb === 'delete';
  switch (action.kind) {
    case 'device':
      return effects.deleteDevice(action.device);
    case 'port':
      if (action.verb !== 'repair') await effects.releaseFromVm?.(action.port);
      return deleting ? neutron.deletePort(action.port.id) : update(effects, 'ports', action.port.id, action.update);
    case 'security-group':
      return neutron.deleteSecurityGroup(action.group.id);
    case 'subnet':
      return deleting ? neutron.deleteSubnet(action.subnet.id) : update(effects, 'subnets', action.subnet.id, action.update);
    case 'network':
      return deleting ? neutron.deleteNetwork(action.network.id) : update(effects, 'networks', action.network.id, action.update);
    case 'subnetpool':
      return neutron.deleteSubnetPool(action.pool.id);
  }
}

/**
 * Runs the plan in its order (devices before their ports, ports before their networks). A failure
 * is reported and the rest goes on: what depends on it fails on its own, with Neutron's reason.
 */
export async function executeGcPlan(plan: readonly GcAction[], effects: GcEffects, opts: { dryRun: boolean }): Promise<GcOutcome[]> {
  const outcomes: GcOutcome[] = [];
  for (const action of plan) {
    if (action.verb === 'keep') {
      outcomes.push({ action, result: 'kept' });
    } else if (opts.dryRun) {
      outcomes.push({ action, result: `would ${action.verb}` });
    } else {
      try {
        await apply(action, effects);
        outcomes.push({ action, result: DONE[action.verb] });
      } catch (err) {
        outcomes.push({ action, result: 'failed', error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
  return outcomes;
}

/** One line per object: kind, id, name, why, and what was done. */
export function formatGcOutcome({ action, result, error }: GcOutcome): string {
  const { id, name } = subjectOf(action);
  const named = name && name !== id ? ` "${name}"` : '';
  return `${action.kind} ${id}${named}: ${action.why}; ${result}${error ? `: ${error}` : ''}`;
}

export function summarizeGc(outcomes: readonly GcOutcome[]): string {
  const count = (r: GcResult) => outcomes.filter((o) => o.result === r).length;
  const parts = (['deleted', 'released', 'repaired', 'would delete', 'would release', 'would repair', 'kept', 'failed'] as const).filter((r) => count(r) > 0).map((r) => `${count(r)} ${r}`);
  return parts.length > 0 ? parts.join(', ') : 'nothing to collect';
}
