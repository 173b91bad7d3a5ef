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
  // The agent finds taps by name when it polls and wires them (anti-spoofing rules included) from
  // what Neutron says of their port then. A pooled port's claim sets its MAC and binding, and until
  // it lands that is the previous container's MAC (or none bound): a tap seen before then would
  // drop this container's traffic until a later poll, seconds or the whole life of a short
  // container. Under its staging name the host end is already in the bridge, so the container is
  // reachable at once, and Docker does not wait for Neutron.
  stagesUntilClaimed: true,
  plug(vif) {
    const brq = linuxBridgeName(vif.networkId);
    return [op.ensureBridge(brq), op.setMaster(vif.hostIfName, brq), op.setUp(vif.hostIfName)];
  },
  unplug(vif) {
    return [op.setNoMaster(vif.hostIfName)];
  },
};
