import type { Port } from '../../openstack/neutron-types.js';
import { bindingHost, hostTags } from '../context.js';
import { DEVICE_OWNER, endpointPortName, idTags, vmPortTag } from '../naming.js';
import type { ClaimRequest } from './types.js';

/** True when Docker chose a MAC the port does not have yet. */
export function macChanges(port: Port, mac: string | undefined): mac is string {
  return mac !== undefined && port.mac_address.toLowerCase() !== mac;
}

/** The update that makes a port the endpoint's: owner, name, binding to this host and Docker's MAC. */
export function claimBody({ ctx, req, mac }: ClaimRequest, port: Port): Partial<Port> {
  const body: Partial<Port> = { device_id: req.EndpointID, name: endpointPortName(req.EndpointID) };
  if (port.device_owner !== DEVICE_OWNER) body.device_owner = DEVICE_OWNER;
  const host = bindingHost(ctx.config);
  if ((port['binding:host_id'] ?? '') !== host) body['binding:host_id'] = host;
  if (!port.admin_state_up) body.admin_state_up = true;
  // Docker already gave the container this MAC; Neutron must agree or anti-spoofing drops it.
  if (macChanges(port, mac)) body.mac_address = mac;
  return body;
}

/**
 * Applies the claim, then adds the endpoint tags upstream kuryr-libnetwork finds its ports by. Inside
 * a VM the port becomes this VM's: another VM's tag goes (under Docker Swarm the manager's Kuryr made
 * the port, in its VM, for a task another VM runs).
 */
export async function recordClaim({ ctx, req }: ClaimRequest, port: Port, body: Partial<Port>): Promise<Port> {
  const updated = await ctx.neutron.updatePort(port.id, body);
  const own = hostTags(ctx);
  const kept = own.length > 0 ? updated.tags.filter((t) => !t.startsWith(vmPortTag(''))) : updated.tags;
  const tags = await ctx.neutron.replaceTags('ports', updated.id, [...new Set([...kept, ...idTags(req.EndpointID), ...own])]);
  const tagged = { ...updated, tags };
  ctx.state.updatePort(tagged);
  return tagged;
}
