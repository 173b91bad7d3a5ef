import type { KuryrConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Neutron, Port } from '../openstack/neutron-types.js';
import type { PortPools } from './port-pool.js';
import type { NeutronState, PortBinder, KeyedLock } from './state.js';

/** Everything the two drivers share, injected once at startup. */
export interface DriverContext {
  neutron: Neutron;
  state: NeutronState;
  binder: PortBinder;
  config: KuryrConfig;
  logger: Logger;
  locks: KeyedLock;
  pools: PortPools;
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
