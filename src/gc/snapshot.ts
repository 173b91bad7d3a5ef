/**
 * Reads what gc judges: host devices, then Neutron, then Docker. The order matters. A device is
 * created after its port and removed before it, so a device seen before the port listing whose port
 * is missing from it is garbage. Docker is read last, so a network or endpoint that became live
 * while Neutron was read is seen as live.
 */
import type { DockerApi } from '../docker/client.js';
import { DockerApiError } from '../docker/client.js';
import { KuryrError } from '../errors.js';
import { run } from '../binding/host/exec.js';
import { canonicalIp, isIp } from '../libnetwork/cidr.js';
import { exposedGroupName } from '../libnetwork/exposed-ports.js';
import { NET_TAG_LOW, vmPortTag } from '../libnetwork/naming.js';
import type { Filters, Neutron, Port, Subnet } from '../openstack/neutron-types.js';
import { KURYR_DEVICE_RE, type DockerEndpoint, type DockerView, type HostDevice, type HostView, type NeutronView, type Stamped } from './reconcile.js';

/** IDs per query in repeated filters (`?network_id=a&network_id=b`), to keep URLs short. */
const IDS_PER_QUERY = 40;

export interface Snapshot {
  host: HostView;
  neutron: NeutronView;
  docker: DockerView;
}

/**
 * Host-namespace veth devices named like Kuryr's, from one `ip -json link show type veth`. A peer
 * in another namespace shows as `link_netnsid` instead of a `link` name.
 */
export async function listKuryrDevices(ipPath = 'ip', kinds: readonly string[] = ['veth']): Promise<HostDevice[]> {
  const devices: HostDevice[] = [];
  for (const kind of kinds) {
    const r = await run(ipPath, ['-json', 'link', 'show', 'type', kind]);
    if (r.code !== 0) throw new KuryrError('KURYR_ERR_BINDING', `list ${kind} devices: ${r.stderr.trim() || `ip exited with ${r.code}`}`);
    const links = JSON.parse(r.stdout || '[]') as { ifname: string; link_netnsid?: number }[];
    devices.push(...links.filter((l) => KURYR_DEVICE_RE.test(l.ifname)).map((l) => ({ name: l.ifname, inSandbox: l.link_netnsid !== undefined })));
  }
  return devices;
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += IDS_PER_QUERY) out.push(items.slice(i, i + IDS_PER_QUERY));
  return out;
}

async function listMany<T extends { id: string }>(list: (f: Filters) => Promise<T[]>, queries: Filters[]): Promise<T[]> {
  const byId = new Map<string, T>();
  for (const q of queries) for (const item of await list(q)) byId.set(item.id, item);
  return [...byId.values()];
}

export async function readNeutron(neutron: Neutron, opts: { hostname: string; subnetpoolNamePrefix: string }): Promise<NeutronView> {
  // Groups before ports: a group is made for a port that exists, so a group whose port is missing is garbage.
  const suffix = exposedGroupName('');
  const securityGroups = (await neutron.listSecurityGroups()).filter((g) => g.name.endsWith(suffix));
  const networks = (await neutron.listNetworks()).filter((n) => n.tags.some((t) => t.startsWith(NET_TAG_LOW)));
  const ports = await listMany<Stamped<Port>>((f) => neutron.listPorts(f), [
    // Inside a VM (nested) `hostname` is the VM port's tag: its containers' ports are bound to no host.
    opts.hostname.startsWith(vmPortTag('')) ? { tags: opts.hostname } : { 'binding:host_id': opts.hostname },
    ...chunks(networks.map((n) => n.id)).map((ids) => ({ network_id: ids })),
    ...chunks(securityGroups.map((g) => g.name.slice(0, -suffix.length))).map((ids) => ({ id: ids })),
  ]);
  const subnetPools = (await neutron.listSubnetPools()).filter((p) => p.name.startsWith(`${opts.subnetpoolNamePrefix}-`));
  const poolIds = subnetPools.map((p) => p.id);
  const subnets = await listMany<Subnet>((f) => neutron.listSubnets(f), [
    ...chunks(networks.map((n) => n.id)).map((ids) => ({ network_id: ids })),
    ...chunks(poolIds).map((ids) => ({ subnetpool_id: ids })),
    ...chunks(poolIds).map((ids) => ({ 'tags-any': ids.join(',') })),
  ]);
  return { networks, ports, subnets, subnetPools, securityGroups };
}

/** Every network of this dockerd, with the endpoints and aux addresses each holds. */
export async function readDocker(docker: DockerApi): Promise<DockerView> {
  const networks = new Map<string, string>();
  const endpoints: DockerEndpoint[] = [];
  const auxAddresses = new Set<string>();
  for (const listed of await docker.listNetworks()) {
    networks.set(listed.Id, listed.Driver);
    let net;
    try {
      net = await docker.inspectNetwork(listed.Id);
    } catch (err) {
      if (err instanceof DockerApiError && err.httpStatus === 404) continue; // removed meanwhile
      throw err;
    }
    for (const e of Object.values(net.Containers ?? {})) {
      if (!e.EndpointID) continue;
      const addresses = [e.IPv4Address, e.IPv6Address].map((a) => (a ?? '').split('/')[0]!).filter(isIp).map(canonicalIp);
      endpoints.push({ id: e.EndpointID, networkId: listed.Id, addresses });
    }
    for (const config of net.IPAM?.Config ?? []) {
      for (const ip of Object.values(config.AuxiliaryAddresses ?? {})) if (isIp(ip)) auxAddresses.add(canonicalIp(ip));
    }
  }
  return { networks, endpoints, auxAddresses };
}

export async function takeSnapshot(deps: {
  neutron: Neutron;
  docker: DockerApi;
  listDevices: () => Promise<HostDevice[]>;
  hostname: string;
  subnetpoolNamePrefix: string;
}): Promise<Snapshot> {
  const host = { devices: await deps.listDevices() };
  const neutron = await readNeutron(deps.neutron, deps);
  const docker = await readDocker(deps.docker);
  return { host, neutron, docker };
}
