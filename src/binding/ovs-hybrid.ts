/**
 * OVS hybrid plug (vif_details.ovs_hybrid_plug): tap → per-port Linux bridge qbr → veth qvb/qvo →
 * qvo in the OVS integration bridge, carrying the port's external ids.
 */
import { op, type HostOp } from './host/types.js';
import { ovsHybridNames } from './naming.js';
import type { VifPlugRequest } from './vif.js';

export function hybridPlug(vif: VifPlugRequest, bridge: string, externalIds: Record<string, string>): HostOp[] {
  const { qbr, qvb, qvo } = ovsHybridNames(vif.portId);
  return [
    op.ensureBridge(qbr),
    op.createVethPair({ host: qvb, container: qvo, mtu: vif.mtu, hostUp: true }),
    op.setUp(qvo),
    op.setMaster(qvb, qbr),
    op.setMaster(vif.hostIfName, qbr),
    op.setUp(vif.hostIfName),
    op.ovsAddPort({ bridge, port: qvo, externalIds }),
  ];
}

export function hybridUnplug(vif: VifPlugRequest, bridge: string): HostOp[] {
  const { qbr, qvb, qvo } = ovsHybridNames(vif.portId);
  // deleting qvb deletes its peer qvo; deleting qbr releases the tap
  return [op.ovsDelPort(bridge, qvo), op.deleteLink(qvb), op.deleteLink(qbr)];
}
