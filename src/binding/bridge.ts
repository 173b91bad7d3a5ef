/**
 * vif_type `bridge` (Neutron Linux bridge agent). The agent does not plug taps of ports whose
 * device_owner starts with `compute:` (it expects Nova/libvirt to), so Kuryr ensures the
 * network's brq bridge and enslaves the tap itself. The bridge is left in place on unplug: the
 * agent owns its lifecycle.
 */
import { op } from './host/types.js';
import { linuxBridgeName } from './naming.js';
import type { VifDriver } from './vif.js';

export const bridgeDriver: VifDriver = {
  vifType: 'bridge',
  plug(vif) {
    const brq = linuxBridgeName(vif.networkId);
    return [op.ensureBridge(brq), op.setMaster(vif.hostIfName, brq), op.setUp(vif.hostIfName)];
  },
  unplug(vif) {
    return [op.setNoMaster(vif.hostIfName)];
  },
};
