/** vif_type `tap`: the veth stays unbridged; something else (e.g. a routed setup) picks up the tap. */
import { op } from './host/types.js';
import type { VifDriver } from './vif.js';

export const tapDriver: VifDriver = {
  vifType: 'tap',
  plug: (vif) => [op.setUp(vif.hostIfName)],
  unplug: () => [],
};
