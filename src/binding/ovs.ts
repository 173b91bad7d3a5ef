/**
 * vif_type `ovs` (Neutron Open vSwitch agent): the tap (or, in hybrid mode, qvo) is added to the
 * integration bridge with the external ids the agent matches the port by.
 */
import { op } from './host/types.js';
import { hybridPlug, hybridUnplug } from './ovs-hybrid.js';
import type { VifDriver, VifPlugRequest } from './vif.js';

export const DEFAULT_OVS_BRIDGE = 'br-int';

/** The Interface external ids the OVS agent needs to find and wire the port. */
export function ovsExternalIds(vif: VifPlugRequest): Record<string, string> {
  return {
    'iface-id': vif.portId,
    'attached-mac': vif.mac,
    'iface-status': 'active',
    'vm-uuid': vif.endpointId,
    owner: 'kuryr',
  };
}

export const ovsDriver: VifDriver = {
  vifType: 'ovs',
  plug(vif) {
    const bridge = vif.vifDetails.bridgeName ?? DEFAULT_OVS_BRIDGE;
    if (vif.vifDetails.ovsHybridPlug) return hybridPlug(vif, bridge, ovsExternalIds(vif));
    return [op.setUp(vif.hostIfName), op.ovsAddPort({ bridge, port: vif.hostIfName, externalIds: ovsExternalIds(vif) })];
  },
  unplug(vif) {
    const bridge = vif.vifDetails.bridgeName ?? DEFAULT_OVS_BRIDGE;
    if (vif.vifDetails.ovsHybridPlug) return hybridUnplug(vif, bridge);
    return [op.ovsDelPort(bridge, vif.hostIfName)];
  },
};
