import { claimBody, recordClaim } from './common.js';
import type { ClaimStrategy } from './types.js';

/**
 * A pre-created port IPAM adopted (tagged existing), or a port whose MAC Docker changes: the port
 * is bound here only by this update, and Neutron changes a MAC only before binding, so the claim
 * lands before the host end is plugged. Undone, the port is as it was.
 */
export const adopted: ClaimStrategy = async (r, keep) => {
  const { neutron } = r.ctx;
  const port = await recordClaim(r, keep, claimBody(r, keep));
  r.rollback.push(() => neutron.updatePort(keep.id, { device_id: keep.device_id, device_owner: keep.device_owner, 'binding:host_id': keep['binding:host_id'] ?? '' }));
  r.rollback.push(() => neutron.replaceTags('ports', keep.id, keep.tags));
  return { port };
};
