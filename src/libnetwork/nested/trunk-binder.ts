/**
 * Upstream's `vlan` port driver inside a Nova VM: a container's port becomes a subport of the VM
 * port's trunk with a VLAN id of its own (VmTrunk), and its device is a VLAN child of link_iface
 * with that id and the port's MAC. Neutron binds the subport where the trunk's parent is bound.
 */
import type { Binder } from '../../binding/index.js';
import { containerIfName } from '../../binding/naming.js';
import type { PortBinder } from '../state.js';
import type { VmTrunk } from './vm-trunk.js';

export function trunkPortBinder(binder: Binder, trunk: VmTrunk): PortBinder {
  return {
    async bind(port, network) {
      const vlanId = await trunk.addSubport(port);
      try {
        const { containerIfName: name } = await binder.bindNested('vlan', port, { vlanId, ...(network.mtu ? { mtu: network.mtu } : {}) });
        return { hostIfName: name, containerIfName: name };
      } catch (err) {
        await trunk.removeSubport(port).catch(() => undefined);
        throw err;
      }
    },
    // Nothing waits under a staging name: no agent in the VM wires devices by name.
    activate: async () => undefined,
    async unbind(port) {
      await binder.unbindNested('vlan', port);
      await trunk.removeSubport(port);
    },
    containerIfName: (port) => containerIfName(port.id),
    // The device lives in the container's namespace; the port is in use while it is a subport.
    hostEndExists: async (port) => (await trunk.subports()).some((s) => s.port_id === port.id),
  };
}
