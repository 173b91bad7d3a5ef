import { notFound } from '../../errors.js';
import type { Subnet } from '../../openstack/neutron-types.js';
import { canonicalIp, cidrContains, parseCidr } from '../cidr.js';
import { DEVICE_OWNER, PORT_ENDPOINT_TAG, endpointPortName, idTags } from '../naming.js';
import { bindingHost, hostTags } from '../context.js';
import type { Claim, ClaimRequest } from './types.js';

/** No port holds the addresses (another IPAM driver gave them): the endpoint makes one of its own. */
export async function ownPort({ ctx, req, net, addresses, mac, rollback }: ClaimRequest): Promise<Claim> {
  const { neutron, state, config } = ctx;
  const subnets = await state.networkSubnets(net.id);
  const port = await neutron.createPort({
    name: endpointPortName(req.EndpointID),
    network_id: net.id,
    admin_state_up: true,
    fixed_ips: addresses.map((ip) => ({ subnet_id: subnetFor(subnets, ip).id, ip_address: ip })),
    ...(mac ? { mac_address: mac } : {}),
    device_owner: DEVICE_OWNER,
    device_id: req.EndpointID,
    'binding:host_id': bindingHost(config),
    tags: [PORT_ENDPOINT_TAG, ...idTags(req.EndpointID), ...hostTags(ctx)],
  });
  rollback.push(() => neutron.deletePort(port.id));
  return { port };
}

function subnetFor(subnets: Subnet[], ip: string): Subnet {
  const subnet = subnets.find((s) => cidrContains(parseCidr(s.cidr), canonicalIp(ip)));
  if (!subnet) throw notFound(`no subnet of the network holds ${ip}`);
  return subnet;
}
