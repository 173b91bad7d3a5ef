import type { KuryrConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Neutron, Port } from '../openstack/neutron-types.js';
import { vmPortTag } from './naming.js';
import type { PortPools } from './port-pool.js';
import type { NeutronState, PortBinder, KeyedLock } from './state.js';

/**
 * binding:host_id of the ports this daemon makes: its host, whose Neutron agent plugs them; none
 * inside a Nova VM, where no agent runs: the VM's port carries the traffic (and Neutron binds a
 * trunk subport where the trunk is).
 */
/** Tags the ports this daemon makes carry besides their role's: inside a VM, which VM's they are. */
export function hostTags(ctx: Pick<DriverContext, 'vmPort'>): string[] {
  return ctx.vmPort ? [vmPortTag(ctx.vmPort.port.id)] : [];
}

export function bindingHost(config: Pick<KuryrConfig, 'defaultPortDriver' | 'hostname'>): string {
  return insideVm(config) ? '' : config.hostname;
}

/** Upstream's nested port drivers: Kuryr runs inside a Nova VM (`nested`: address pairs; `vlan`: trunk subports). */
export function insideVm(config: Pick<KuryrConfig, 'defaultPortDriver'>): boolean {
  return config.defaultPortDriver === 'nested' || config.defaultPortDriver === 'vlan';
}

/** Everything the two drivers share, injected once at startup. */
export interface DriverContext {
  neutron: Neutron;
  state: NeutronState;
  binder: PortBinder;
  config: KuryrConfig;
  logger: Logger;
  locks: KeyedLock;
  pools: PortPools;
  /**
   * Inside a Nova VM (`nested`): the VM's own port, located at start. A Docker network that names
   * no Neutron network uses the VM port's (as upstream), and ports carry its ID (vmPortTag).
   */
  vmPort?: { readonly port: Port };
  /** Told after the fact about joined endpoints (port DNS names); optional. */
  endpointObserver?: EndpointObserver;
}

/**
 * Work that follows an attach but must stay off Docker's critical path. Called inside the plugin
 * call, so an implementation only queues: it returns at once and never throws.
 */
export interface EndpointObserver {
  /** `settled`: resolves once CreateEndpoint's background Neutron bookkeeping of the port is done. */
  onEndpointJoined(event: { endpointId: string; networkId: string; port: Port; settled: Promise<void> }): void;
  /** DeleteEndpoint: nothing may touch the port once this resolves (it goes back to a pool). */
  onEndpointDeleted?(endpointId: string): Promise<void>;
}
