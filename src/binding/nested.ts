/**
 * Nested modes (containers inside a Nova VM, no agent on the VM): the container device is made
 * directly on the VM's interface. The Neutron side (allowed-address-pairs on the VM port, trunk
 * subports) belongs to the caller; this is only the device.
 */
import { op, type HostOp } from './host/types.js';

export type NestedMode = 'macvlan' | 'ipvlan' | 'vlan';

export interface NestedDevice {
  name: string;
  parent: string;
  mac: string;
  mtu?: number;
  vlanId?: number;
}

export const NESTED_MODES: readonly NestedMode[] = ['macvlan', 'ipvlan', 'vlan'];

export function nestedPlugOps(mode: NestedMode, d: NestedDevice): HostOp[] {
  const mtu = d.mtu === undefined ? {} : { mtu: d.mtu };
  switch (mode) {
    case 'macvlan':
      return [op.createMacvlan({ name: d.name, parent: d.parent, mac: d.mac, mode: 'bridge', ...mtu })];
    case 'ipvlan':
      // ipvlan devices share the parent's MAC; the port MAC cannot be set
      return [op.createIpvlan({ name: d.name, parent: d.parent, mode: 'l2', ...mtu })];
    case 'vlan':
      return [op.createVlan({ name: d.name, parent: d.parent, vlanId: d.vlanId ?? 0, mac: d.mac, ...mtu })];
  }
}
