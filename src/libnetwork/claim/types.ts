import type { PlannedBinding } from '../../binding/vif.js';
import type { Network, Port } from '../../openstack/neutron-types.js';
import type { CreateEndpointRequest } from '../api.js';
import type { DriverContext } from '../context.js';

/** How CreateEndpoint makes a Neutron port the endpoint's. */
export interface Claim {
  /** The port as Neutron last returned it: what the endpoint records and the binder plugs. */
  port: Port;
  /**
   * Set when the port is plugged before its claim has landed: the binding the claim gives it (the
   * host end waits under its staging name until `finish` has activated it).
   */
  planned?: PlannedBinding;
  /** Records the claim in Neutron, possibly after Docker's call has returned; resolves to the port as Neutron then has it. */
  finish?: () => Promise<Port>;
}

/** What a claim works from. */
export interface ClaimRequest {
  ctx: DriverContext;
  req: CreateEndpointRequest;
  net: Network;
  /** The endpoint's addresses (IPAM's answers), without prefix length. */
  addresses: string[];
  /** Docker's MAC for the container, lower-case, when Docker chose one. */
  mac?: string;
  /** Undo steps, run in reverse when the endpoint fails after the claim. */
  rollback: (() => Promise<unknown>)[];
}

/** One way of making `port` (the port IPAM made for the endpoint's addresses) the endpoint's. */
export type ClaimStrategy = (r: ClaimRequest, port: Port) => Promise<Claim>;
