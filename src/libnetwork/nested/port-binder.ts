/**
 * Upstream's `nested` port driver: Kuryr inside a Nova VM, no Neutron agent there. A container's
 * device is a macvlan (or ipvlan) child of the VM's interface, and its traffic leaves through the
 * VM's port, whose anti-spoofing lets it pass only for the `{ip_address, mac_address}` pairs in
 * that port's allowed_address_pairs: binding a port adds its pairs, unbinding removes exactly them.
 */
import type { Binder } from '../../binding/index.js';
import { containerIfName } from '../../binding/naming.js';
import type { AllowedAddressPair, Port } from '../../openstack/neutron-types.js';
import type { PortBinder } from '../state.js';
import { samePair, type VmPort } from './vm-port.js';

/** The nested binding modes served: both are children of link_iface on the VM's own network. */
export type NestedPairMode = 'macvlan' | 'ipvlan';

/** The VM port's pairs that let a container's traffic through: one per address of its port. */
export function containerPairs(mode: NestedPairMode, vmPort: Port, port: Port): AllowedAddressPair[] {
  // An ipvlan child sends with the VM's MAC; a macvlan child with the container port's.
  return port.fixed_ips.map((f) => ({ ip_address: f.ip_address, mac_address: mode === 'ipvlan' ? vmPort.mac_address : port.mac_address }));
}

export function nestedPortBinder(binder: Binder, mode: NestedPairMode, vm: VmPort): PortBinder {
  const pairsOf = (port: Port): AllowedAddressPair[] => containerPairs(mode, vm.port, port);
  return {
    async bind(port, network) {
      const { containerIfName: name } = await binder.bindNested(mode, port, network.mtu ? { mtu: network.mtu } : {});
      try {
        await vm.addPairs(pairsOf(port));
      } catch (err) {
        await binder.unbindNested(mode, port).catch(() => undefined);
        throw err;
      }
      return { hostIfName: name, containerIfName: name };
    },
    // Nothing waits under a staging name: no agent on the VM wires devices by name.
    activate: async () => undefined,
    async unbind(port) {
      await vm.removePairs(pairsOf(port));
      await binder.unbindNested(mode, port);
    },
    containerIfName: (port) => containerIfName(port.id),
    // The device lives in the container's namespace; the port is in use while the VM port holds its pairs.
    async hostEndExists(port) {
      const held = await vm.heldPairs();
      return pairsOf(port).every((p) => held.some((h) => samePair(h, p)));
    },
  };
}
