/**
 * Docker's PoolID. For a `kuryrPool-<cidr>` or user pool it is the Neutron subnet pool's UUID, as
 * upstream. A network without --subnet gets a block carved from the operator's default pool, which
 * many networks share: its PoolID is `<default pool UUID>:<block CIDR>`, so each stays distinct.
 */
export interface PoolRef {
  neutronPoolId: string;
  /** Set for a block of a shared default pool. */
  block?: string;
}

export function parsePoolId(poolId: string): PoolRef {
  const sep = poolId.indexOf(':');
  return sep < 0 ? { neutronPoolId: poolId } : { neutronPoolId: poolId.slice(0, sep), block: poolId.slice(sep + 1) };
}

export function blockPoolId(neutronPoolId: string, block: string): string {
  return `${neutronPoolId}:${block}`;
}
