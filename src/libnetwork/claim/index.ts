/**
 * CreateEndpoint's claim: the port IPAM made for the endpoint's addresses becomes the endpoint's.
 * One function picks how (strategyFor); each way is a small strategy of its own.
 */
import { stagesUntilClaimed } from '../../binding/registry.js';
import { conflict } from '../../errors.js';
import type { Port } from '../../openstack/neutron-types.js';
import { PORT_EXISTING_TAG, PORT_POOLED_TAG, madeByKuryr } from '../naming.js';
import { describePort } from '../scope.js';
import { adopted } from './adopted.js';
import { macChanges } from './common.js';
import { ownPort } from './own.js';
import { pooled } from './pooled.js';
import { recorded } from './recorded.js';
import { staged } from './staged.js';
import type { Claim, ClaimRequest, ClaimStrategy } from './types.js';

export type { Claim, ClaimRequest } from './types.js';

const STRATEGIES = {
  /** A retried CreateEndpoint: the port is this endpoint's already. */
  retried: async (_r, port) => ({ port }),
  pooled,
  staged,
  adopted,
  recorded,
} satisfies Record<string, ClaimStrategy>;

export async function claimPort(r: ClaimRequest): Promise<Claim> {
  const port = await portOfAddresses(r);
  return port ? STRATEGIES[strategyFor(r, port)](r, port) : ownPort(r);
}

function strategyFor({ ctx, req, mac }: ClaimRequest, port: Port): keyof typeof STRATEGIES {
  if (port.device_id === req.EndpointID) return 'retried';
  if (port.tags.includes(PORT_POOLED_TAG)) {
    return stagesUntilClaimed(ctx.state.vifBinding(port.network_id)?.['binding:vif_type']) ? 'staged' : 'pooled';
  }
  if (port.tags.includes(PORT_EXISTING_TAG) || macChanges(port, mac)) return 'adopted';
  return 'recorded';
}

/**
 * The port IPAM made (or adopted) for the endpoint's addresses, free or already this endpoint's;
 * undefined when no port holds them.
 */
async function portOfAddresses({ ctx, req, net, addresses }: ClaimRequest): Promise<Port | undefined> {
  const { neutron, state } = ctx;
  const found: Port[] = [];
  for (const ip of addresses) {
    const port = state.portByAddress(net.id, ip) ?? (await neutron.listPorts({ network_id: net.id, fixed_ips: [`ip_address=${ip}`] }))[0];
    if (port && !found.some((p) => p.id === port.id)) found.push(port);
  }
  for (const port of found) {
    if (!madeByKuryr(port) && !port.tags.includes(PORT_EXISTING_TAG)) {
      const held = port.fixed_ips.map((f) => f.ip_address).filter((ip) => addresses.includes(ip));
      throw conflict(`address ${held.join(', ')} is held by ${await describePort(ctx, port)}, which Kuryr did not allocate`);
    }
  }
  // IPAM puts every address of an endpoint on one port (dual stack included).
  if (found.length > 1) throw conflict(`the endpoint's addresses are on different Neutron ports: ${found.map((p) => p.id).join(', ')}`);
  const port = found[0];
  if (port?.device_id && !(port.device_id === req.EndpointID && state.isThisHosts(port))) {
    throw conflict(`${await describePort(ctx, port)} already serves another endpoint`);
  }
  return port;
}
