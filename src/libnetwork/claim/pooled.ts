import { conflict } from '../../errors.js';
import { isNeutronError, isUnanswered } from '../../openstack/errors.js';
import type { Port } from '../../openstack/neutron-types.js';
import { claimBody } from './common.js';
import type { ClaimRequest, ClaimStrategy } from './types.js';

/** Conditional claims of a pooled port before giving up while its revision keeps moving. */
const CLAIM_ATTEMPTS = 5;

/**
 * A pooled port whose agent does not stage (or the first claim on a network, which tells how its
 * ports bind here): claimed before its host end is plugged.
 */
export const pooled: ClaimStrategy = async (r, keep) => {
  const claimed = await claimPooled(r, keep, claimBody(r, keep));
  r.rollback.push(() => r.ctx.pools.release(claimed));
  return { port: claimed };
};

/**
 * One call claims a pooled port: owner, MAC and binding at once, and only at a revision where it
 * is free (If-Match), so no port ever serves two endpoints.
 */
export async function claimPooled({ ctx, req }: ClaimRequest, keep: Port, body: Partial<Port>): Promise<Port> {
  const { neutron, state, pools } = ctx;
  let revision = keep.revision_number;
  for (let attempt = 1; ; attempt++) {
    let claimed: Port | undefined;
    try {
      claimed = await neutron.updatePort(keep.id, body, revision === undefined ? undefined : { ifRevision: revision });
    } catch (err) {
      // An unanswered PUT may have landed: look before retrying. Any other failure leaves the port
      // taken: Docker's ReleaseAddress puts it back.
      if (!isNeutronError(err, 412) && !(isUnanswered(err) && attempt < CLAIM_ATTEMPTS)) throw err;
      // A newer revision is not necessarily another claim: the agent's status reports on the
      // port's previous tap bump it after the release's scrub. Only an owner is a conflict.
      const current = await neutron.getPort(keep.id);
      if (current.device_id === req.EndpointID) claimed = current;
      else if (current.device_id || attempt >= CLAIM_ATTEMPTS) {
        pools.claimed(keep.id);
        throw conflict(`pooled port ${keep.id} was claimed by another endpoint (${current.device_id.slice(0, 12) || 'its revision kept changing'})`);
      } else revision = current.revision_number;
    }
    if (claimed) {
      pools.claimed(keep.id);
      state.learnVifBinding(claimed);
      state.updatePort(claimed);
      return claimed;
    }
  }
}
