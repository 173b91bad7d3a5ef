/**
 * Kuryr inside a Nova VM: one port binder per `[binding] default_driver` under upstream's nested
 * port drivers (`nested`: macvlan or ipvlan children made legal by address pairs; `vlan`: trunk
 * subports). A new mode is one file and one line here.
 */
import type { Binder } from '../../binding/index.js';
import type { NestedMode } from '../../binding/nested.js';
import type { Neutron } from '../../openstack/neutron-types.js';
import type { PortBinder } from '../state.js';
import { nestedPortBinder } from './port-binder.js';
import { trunkPortBinder } from './trunk-binder.js';
import type { VmPort } from './vm-port.js';
import { VmTrunk } from './vm-trunk.js';

export { VmPort } from './vm-port.js';
export { VmTrunk } from './vm-trunk.js';

export interface NestedDeps {
  binder: Binder;
  vm: VmPort;
  neutron: Neutron;
}

const NESTED_BINDERS: Record<NestedMode, (d: NestedDeps) => PortBinder> = {
  macvlan: (d) => nestedPortBinder(d.binder, 'macvlan', d.vm),
  ipvlan: (d) => nestedPortBinder(d.binder, 'ipvlan', d.vm),
  vlan: (d) => trunkPortBinder(d.binder, new VmTrunk(d.neutron, d.vm)),
};

export function nestedBinderFor(mode: NestedMode, deps: NestedDeps): PortBinder {
  return NESTED_BINDERS[mode](deps);
}
