/** VIF drivers by `binding:vif_type`. A new type is one driver file plus one line here. */
import { bridgeDriver } from './bridge.js';
import { ovsDriver } from './ovs.js';
import { tapDriver } from './tap.js';
import type { VifDriver } from './vif.js';

export type VifDriverRegistry = ReadonlyMap<string, VifDriver>;

export function defaultVifDrivers(): VifDriverRegistry {
  return new Map([bridgeDriver, ovsDriver, tapDriver].map((d) => [d.vifType, d]));
}

const DEFAULT_DRIVERS = defaultVifDrivers();

/**
 * True when a port to be bound as `vifType` is plugged before its claim lands only under its
 * staging name (VifDriver.stagesUntilClaimed); otherwise the claim must land first.
 */
export function stagesUntilClaimed(vifType: string | undefined): boolean {
  return vifType !== undefined && DEFAULT_DRIVERS.get(vifType)?.stagesUntilClaimed === true;
}
