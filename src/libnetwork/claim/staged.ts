import type { PlannedBinding } from '../../binding/vif.js';
import type { Port } from '../../openstack/neutron-types.js';
import { claimBody } from './common.js';
import { claimPooled } from './pooled.js';
import type { ClaimRequest, ClaimStrategy } from './types.js';

/**
 * A pooled port on a network whose agent stages (VifDriver.stagesUntilClaimed): plugged at once,
 * under its staging name, for the binding its claim gives it; the claim and the activation of the
 * host end follow, off Docker's path.
 */
export const staged: ClaimStrategy = async (r, keep) => {
  const { ctx, rollback } = r;
  const body = claimBody(r, keep);
  rollback.push(async () => ctx.pools.putBack(keep));
  const finish = async (): Promise<Port> => {
    const claimed = await claimPooled(r, keep, body);
    await ctx.binder.activate(claimed);
    return claimed;
  };
  return { port: keep, planned: plannedBinding(r, keep), finish };
};

/** Docker's MAC (or the port's own) and the binding this host's agent gave the network's other ports. */
function plannedBinding({ ctx, mac }: ClaimRequest, keep: Port): PlannedBinding {
  const learned = ctx.state.vifBinding(keep.network_id);
  return { mac: mac ?? keep.mac_address, vifType: learned?.['binding:vif_type'] ?? 'unbound', vifDetails: learned?.['binding:vif_details'] };
}
