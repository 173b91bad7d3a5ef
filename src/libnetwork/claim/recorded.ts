import { claimBody, recordClaim } from './common.js';
import type { ClaimStrategy } from './types.js';

/**
 * IPAM created this port bound to this host with Docker's MAC: it is plugged as it is, and only
 * the bookkeeping (owner, name, endpoint tags) is left, which may follow Docker's call.
 */
export const recorded: ClaimStrategy = async (r, keep) => {
  const body = claimBody(r, keep);
  return { port: keep, finish: () => recordClaim(r, keep, body) };
};
