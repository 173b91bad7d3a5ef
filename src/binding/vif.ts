/**
 * The typed input of a VIF driver, built once from a Neutron port: ids, MAC, MTU, device names
 * and `binding:vif_details` parsed into fields (no positional strings, no substring matching).
 */
import type { Port } from '../openstack/neutron-types.js';
import { KuryrError } from '../errors.js';
import type { HostOp } from './host/types.js';
import { assertIfName, containerIfName, hostVethName, stagedVethName } from './naming.js';

export interface VifDetails {
  /** `ovs_hybrid_plug`: put the tap in a per-port qbr bridge joined to OVS by a qvb/qvo veth. */
  ovsHybridPlug: boolean;
  /** `bridge_name`: the OVS bridge to plug into (br-int when absent). */
  bridgeName?: string;
  /** `port_filter`: Neutron filters this port's traffic itself. */
  portFilter: boolean;
}

export interface VifPlugRequest {
  portId: string;
  networkId: string;
  projectId: string;
  /** Docker endpoint id (written as the OVS `vm-uuid`). */
  endpointId: string;
  /** Lower-case. */
  mac: string;
  mtu: number;
  vifType: string;
  vifDetails: VifDetails;
  /** `tap` + 11 chars of the port id (`kst` while staged). */
  hostIfName: string;
  /** `t_c` + 11 chars of the port id. */
  containerIfName: string;
}

/**
 * The binding a port's claim gives it, for plugging before the claim has landed: the port Neutron
 * returned is still unbound (and may hold another MAC), so the binder is told what it will be.
 */
export interface PlannedBinding {
  /** Docker's MAC for the container, which the claim sets. */
  mac: string;
  /** How this host's agent binds the network's ports (learned from a port Neutron bound here). */
  vifType: string;
  vifDetails?: Record<string, unknown>;
}

/** Plugs the host end of a port's veth for one `binding:vif_type`. Pure: returns the host operations. */
export interface VifDriver {
  readonly vifType: string;
  /**
   * True when this vif type's agent finds a port's host device by its name and wires (and filters)
   * it from what Neutron says of the port at that moment. A port plugged before its claim has
   * landed then waits under its staging name (Binder.activate gives it its name), or the agent
   * would wire it for the port's previous MAC and binding.
   */
  readonly stagesUntilClaimed?: boolean;
  /** Operations that run after the veth pair exists, in the same transaction. */
  plug(vif: VifPlugRequest): HostOp[];
  /** Operations that run before the host veth is deleted; idempotent. */
  unplug(vif: VifPlugRequest): HostOp[];
}

export const DEFAULT_MTU = 1500;

function flag(value: unknown): boolean {
  return value === true || value === 'true' || value === 'True';
}

export function parseVifDetails(raw: Record<string, unknown> | undefined): VifDetails {
  const details: VifDetails = { ovsHybridPlug: flag(raw?.['ovs_hybrid_plug']), portFilter: flag(raw?.['port_filter']) };
  const bridge = raw?.['bridge_name'];
  if (typeof bridge === 'string' && bridge !== '') details.bridgeName = assertIfName(bridge, 'binding:vif_details bridge_name');
  return details;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * Builds the driver input from a Neutron port, or (`planned`) from the port and the binding its
 * pending claim gives it, under the staging name. Throws KURYR_ERR_BINDING on a port that cannot be plugged.
 */
export function buildPlugRequest(port: Port, network: { id: string; mtu?: number }, endpointId: string, planned?: PlannedBinding): VifPlugRequest {
  const mac = (planned?.mac ?? port.mac_address ?? '').toLowerCase();
  if (!MAC_RE.test(mac)) throw new KuryrError('KURYR_ERR_BINDING', `port ${port.id} has no usable MAC address (${JSON.stringify(port.mac_address)})`);
  return {
    portId: port.id,
    networkId: network.id,
    projectId: port.project_id ?? port.tenant_id ?? '',
    endpointId,
    mac,
    mtu: network.mtu || DEFAULT_MTU,
    vifType: planned ? planned.vifType : port['binding:vif_type'] ?? 'unbound',
    vifDetails: parseVifDetails(planned ? planned.vifDetails : port['binding:vif_details']),
    hostIfName: planned ? stagedVethName(port.id) : hostVethName(port.id),
    containerIfName: containerIfName(port.id),
  };
}
