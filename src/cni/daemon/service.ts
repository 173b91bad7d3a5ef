/**
 * The node daemon's CNI verbs. A pod's interface is a Neutron port, taken from the same per-(network,
 * host) pools as Docker's containers and plugged by the same binder (a veth pair whose host end goes
 * where the port's binding:vif_type says); the container end is then moved into the pod's namespace
 * and configured there. Everything is found again in Neutron by the port's tags and device_id (the
 * container ID), so a restarted daemon, DEL, CHECK and GC need no memory of ADD.
 */
import { conflict, invalidRequest, KuryrError, notFound, withContext } from '../../errors.js';
import { isNeutronError } from '../../openstack/errors.js';
import type { Network, Port, Subnet } from '../../openstack/neutron-types.js';
import { bindingHost, hostTags, type DriverContext } from '../../libnetwork/context.js';
import { parseCidr } from '../../libnetwork/cidr.js';
import {
  DEVICE_OWNER,
  PORT_CNI_TAG,
  PORT_OWNED_TAG,
  PORT_POOLED_TAG,
  cniIfnameTag,
  cniPodTag,
  cniPodUidTag,
  poolSettingsFromTags,
} from '../../libnetwork/naming.js';
import { scopeHint, visibleObjects, visibleSubnets } from '../../libnetwork/scope.js';
import { undo } from '../../libnetwork/undo.js';
import type { CniAttachment, CniNetConf, CniRequest, CniResult } from './api.js';
import { PodNamespace, type PodAddress, type PodRoute } from './pod-netns.js';

/** Neutron caps a tag's length; a pod tag that would not fit is left off (the UID tag names the pod). */
const MAX_TAG = 255;

/** What the service does in a pod's namespace (PodNamespace; a recording double in unit tests). */
export type PodNamespaceOps = Pick<PodNamespace, 'mustExist' | 'plug' | 'inspect' | 'unplug'>;

export class CniService {
  constructor(
    private readonly ctx: DriverContext,
    private readonly podNamespace: (netnsPath: string) => PodNamespaceOps = (path) => new PodNamespace(path),
  ) {}

  async add(req: CniRequest): Promise<CniResult> {
    const pod = this.podNamespace(req.netns);
    return this.ctx.locks.run(`cni:${req.containerId}/${req.ifname}`, async () => {
      await pod.mustExist();
      if (await pod.inspect(req.ifname)) throw conflict(`${req.ifname} already exists in ${req.netns}`);
      const { net, subnet } = await this.networkOf(req.config);
      const rollback: (() => Promise<unknown>)[] = [];
      try {
        const port = (await this.attachmentPort(req)) ?? (await this.newAttachment(req, net, subnet, rollback));
        const { containerIfName } = await this.ctx.binder.bind(port, { id: net.id, mtu: net.mtu }, req.containerId);
        rollback.push(() => this.ctx.binder.unbind(port, req.containerId));
        const subnets = await this.ctx.state.networkSubnets(net.id);
        const { addresses, routes, result } = podConfiguration(port, subnets, req);
        await pod.plug(containerIfName, req.ifname, { mtu: net.mtu, addresses, routes });
        return result;
      } catch (err) {
        await undo(this.ctx.logger, rollback, `CNI ADD ${req.containerId.slice(0, 12)}/${req.ifname}`);
        throw withContext(`CNI ADD ${req.containerId.slice(0, 12)}/${req.ifname}`, err);
      }
    });
  }

  /** Idempotent: whatever of the attachment is still there goes; nothing there is success. */
  async del(req: Pick<CniRequest, 'containerId' | 'ifname' | 'netns'>): Promise<void> {
    await this.ctx.locks.run(`cni:${req.containerId}/${req.ifname}`, async () => {
      for (const port of await this.attachmentPorts(req.containerId, req.ifname)) await this.detach(port, req.containerId);
      // A namespace still there may hold an interface whose port is already gone (a DEL retried).
      if (req.netns) await this.podNamespace(req.netns).unplug(req.ifname).catch(() => undefined);
    });
  }

  /** The attachment is as ADD left it: its port, and the pod's interface with the port's MAC and addresses. */
  async check(req: CniRequest): Promise<void> {
    const [port] = await this.attachmentPorts(req.containerId, req.ifname);
    if (!port) throw notFound(`no Neutron port serves ${req.containerId.slice(0, 12)}/${req.ifname}`);
    const seen = await this.podNamespace(req.netns).inspect(req.ifname);
    if (!seen) throw notFound(`${req.ifname} is missing in ${req.netns}`);
    if (seen.mac !== port.mac_address.toLowerCase()) throw conflict(`${req.ifname} has MAC ${seen.mac}, its port ${port.id} ${port.mac_address}`);
    const missing = port.fixed_ips.map((f) => f.ip_address).filter((ip) => !seen.addresses.some((a) => a.split('/')[0] === ip));
    if (missing.length > 0) throw conflict(`${req.ifname} lacks its port's address ${missing.join(', ')}`);
    if (!seen.up) throw conflict(`${req.ifname} is down`);
  }

  /**
   * Every CNI attachment of this host not in the runtime's valid list goes (its port, and its host
   * end with it). Continues past a failure and reports them all at the end.
   */
  async gc(valid: readonly CniAttachment[]): Promise<{ removed: string[] }> {
    const keep = new Set(valid.map((a) => `${a.containerID}/${a.ifname}`));
    const failures: string[] = [];
    const removed: string[] = [];
    for (const port of await this.hostAttachmentPorts()) {
      const ifname = tagValue(port.tags, cniIfnameTag(''));
      if (keep.has(`${port.device_id}/${ifname}`)) continue;
      await this.ctx.locks.run(`cni:${port.device_id}/${ifname}`, () => this.detach(port, port.device_id)).then(
        () => removed.push(`${port.device_id.slice(0, 12)}/${ifname}`),
        (err: unknown) => failures.push(`${port.id}: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
    if (failures.length > 0) throw new KuryrError('KURYR_ERR_NEUTRON', `GC removed ${removed.length} attachment(s) and failed on ${failures.length}: ${failures.join('; ')}`);
    return { removed };
  }

  /** The Neutron network and subnet a CNI network config names, as `-o neutron.net.*` does for Docker. */
  private async networkOf(config: CniNetConf): Promise<{ net: Network; subnet: Subnet }> {
    const { neutron } = this.ctx;
    const netUuid = config['neutron.net.uuid'];
    const netName = config['neutron.net.name'];
    if (!netUuid && !netName) throw invalidRequest(`CNI network ${config.name} names no Neutron network: set "neutron.net.name" or "neutron.net.uuid" in its config`);
    const nets = await visibleObjects(this.ctx, await neutron.listNetworks(netUuid ? { id: netUuid } : { name: netName }));
    const what = netUuid ? `id ${netUuid}` : `name "${netName}"`;
    if (nets.length !== 1) throw nets.length === 0 ? notFound(`no Neutron network with ${what}${scopeHint(this.ctx)}`) : conflict(`several Neutron networks with ${what}; use "neutron.net.uuid"`);
    const net = nets[0]!;
    const subnets = await visibleSubnets(this.ctx, await this.ctx.state.networkSubnets(net.id));
    const subnetUuid = config['neutron.subnet.uuid'];
    const subnetName = config['neutron.subnet.name'];
    const named = subnetUuid || subnetName ? subnets.filter((s) => (subnetUuid ? s.id === subnetUuid : s.name === subnetName)) : subnets.filter((s) => s.ip_version === 4);
    const subnet = named.length > 0 ? named[0] : subnets[0];
    if (!subnet || ((subnetUuid || subnetName) && named.length !== 1)) {
      throw notFound(`Neutron network ${net.id} has ${subnetUuid || subnetName ? `no single subnet ${subnetUuid ?? `"${subnetName}"`}` : 'no subnet'}`);
    }
    return { net, subnet };
  }

  /** A retried ADD (after a failure midway) finds the port it claimed. */
  private async attachmentPort(req: CniRequest): Promise<Port | undefined> {
    return (await this.attachmentPorts(req.containerId, req.ifname))[0];
  }

  private async attachmentPorts(containerId: string, ifname: string): Promise<Port[]> {
    const ports = await this.ctx.neutron.listPorts({ device_id: containerId, tags: PORT_CNI_TAG });
    return ports.filter((p) => p.tags.includes(cniIfnameTag(ifname)) && p.tags.includes(PORT_OWNED_TAG) && p.device_owner === DEVICE_OWNER);
  }

  /** Kuryr's CNI ports bound to this host (inside a VM: tagged with the VM's port). */
  private async hostAttachmentPorts(): Promise<Port[]> {
    const own = hostTags(this.ctx);
    const filter = own.length > 0 ? { tags: [PORT_CNI_TAG, ...own].join(',') } : { tags: PORT_CNI_TAG, 'binding:host_id': bindingHost(this.ctx.config) };
    return (await this.ctx.neutron.listPorts(filter)).filter((p) => p.device_owner === DEVICE_OWNER && p.tags.includes(PORT_OWNED_TAG));
  }

  /** A pooled port claimed for the attachment, or one created for it: bound here, owned, tagged. */
  private async newAttachment(req: CniRequest, net: Network, subnet: Subnet, rollback: (() => Promise<unknown>)[]): Promise<Port> {
    const { neutron, pools, config } = this.ctx;
    const owner = { device_id: req.containerId, device_owner: DEVICE_OWNER, 'binding:host_id': bindingHost(config), name: `cni-${req.containerId.slice(0, 12)}-${req.ifname}` };
    const tags = attachmentTags(req);
    const wanted = podChosenAddress(req, subnet);
    const pooled = !wanted && (req.config['kuryr.pool'] ?? poolSettingsFromTags(net.tags).enabled ?? config.vifPool.enabled);
    if (pooled) {
      if (!pools.isFilling(net.id)) pools.enable(net.id, await this.ctx.state.networkSubnets(net.id));
      const free = await pools.take(net.id, subnet.id);
      if (free) {
        const claimed = await this.claimPooled(free, owner).catch((err: unknown) => {
          pools.putBack(free);
          throw err;
        });
        rollback.push(() => this.releasePooled(claimed));
        const tagged = await neutron.replaceTags('ports', claimed.id, [...new Set([...claimed.tags, ...tags])]);
        return { ...claimed, tags: tagged };
      }
    }
    const port = await neutron.createPort({
      ...owner,
      network_id: net.id,
      admin_state_up: true,
      fixed_ips: [{ subnet_id: subnet.id, ...(wanted ? { ip_address: wanted } : {}) }],
      ...(req.args['MAC'] ? { mac_address: req.args['MAC'].toLowerCase() } : {}),
      tags: [PORT_OWNED_TAG, ...tags],
    } as Partial<Port> as never);
    rollback.push(() => neutron.deletePort(port.id));
    this.ctx.state.learnVifBinding(port);
    return port;
  }

  /** One conditional update: the pooled port is the attachment's only at a revision where it is free. */
  private async claimPooled(free: Port, owner: Partial<Port>): Promise<Port> {
    const { neutron, pools, state } = this.ctx;
    try {
      const claimed = await neutron.updatePort(free.id, owner, free.revision_number === undefined ? undefined : { ifRevision: free.revision_number });
      pools.claimed(free.id);
      state.learnVifBinding(claimed);
      return claimed;
    } catch (err) {
      if (isNeutronError(err, 412)) throw conflict(`pooled port ${free.id} changed while it was claimed; the runtime retries ADD`);
      throw err;
    }
  }

  /** The attachment's port leaves: unplugged here, then back to its pool (without the pod's tags) or deleted. */
  private async detach(port: Port, containerId: string): Promise<void> {
    await this.ctx.binder.unbind(port, containerId);
    if (port.tags.includes(PORT_POOLED_TAG)) await this.releasePooled(port);
    else await this.ctx.neutron.deletePort(port.id);
  }

  private async releasePooled(port: Port): Promise<void> {
    const kept = port.tags.filter((t) => !t.startsWith(PORT_CNI_TAG));
    try {
      await this.ctx.neutron.replaceTags('ports', port.id, kept);
    } catch (err) {
      if (isNeutronError(err, 404)) return;
      throw err;
    }
    await this.ctx.pools.release({ ...port, tags: kept });
  }
}

/** The tags that find an attachment again: Kuryr's CNI mark, the interface, the pod. */
function attachmentTags(req: CniRequest): string[] {
  const tags = [PORT_CNI_TAG, cniIfnameTag(req.ifname)];
  const ns = req.args['K8S_POD_NAMESPACE'];
  const name = req.args['K8S_POD_NAME'];
  const uid = req.args['K8S_POD_UID'];
  if (name) {
    const tag = cniPodTag(ns ?? '', name);
    if (tag.length <= MAX_TAG) tags.push(tag);
  }
  if (uid) tags.push(cniPodUidTag(uid));
  return tags;
}

/** podman's `--ip` (CNI_ARGS IP=): the address must be on the subnet. */
function podChosenAddress(req: CniRequest, subnet: Subnet): string | undefined {
  const ip = req.args['IP'];
  if (!ip) return undefined;
  const cidr = parseCidr(subnet.cidr);
  if (cidr.version !== (ip.includes(':') ? 6 : 4)) throw invalidRequest(`IP=${ip} is not an address of subnet ${subnet.cidr}`);
  return ip;
}

/** What the pod's interface gets (the port's addresses, gateway and host routes) and the CNI result saying so. */
function podConfiguration(port: Port, subnets: Subnet[], req: CniRequest): { addresses: PodAddress[]; routes: PodRoute[]; result: CniResult } {
  const addresses: PodAddress[] = [];
  const routes: PodRoute[] = [];
  const result: CniResult = { cniVersion: '1.0.0', interfaces: [{ name: req.ifname, mac: port.mac_address.toLowerCase(), sandbox: req.netns }], ips: [], routes: [], dns: {} };
  const nameservers: string[] = [];
  for (const fixed of port.fixed_ips) {
    const subnet = subnets.find((s) => s.id === fixed.subnet_id);
    if (!subnet) continue;
    const cidr = parseCidr(subnet.cidr);
    const address = `${fixed.ip_address}/${cidr.prefixLength}`;
    addresses.push({ cidr: address, version: cidr.version });
    result.ips.push({ address, ...(subnet.gateway_ip ? { gateway: subnet.gateway_ip } : {}), interface: 0 });
    if (subnet.gateway_ip) {
      const dst = cidr.version === 4 ? '0.0.0.0/0' : '::/0';
      routes.push({ dst, gw: subnet.gateway_ip });
      result.routes.push({ dst, gw: subnet.gateway_ip });
    }
    for (const r of subnet.host_routes ?? []) {
      routes.push({ dst: r.destination, gw: r.nexthop });
      result.routes.push({ dst: r.destination, gw: r.nexthop });
    }
    nameservers.push(...(subnet.dns_nameservers ?? []));
  }
  if (addresses.length === 0) throw new KuryrError('KURYR_ERR_NEUTRON', `port ${port.id} has no address on a subnet of network ${port.network_id}`);
  if (nameservers.length > 0) result.dns = { nameservers };
  return { addresses, routes, result };
}

function tagValue(tags: readonly string[], prefix: string): string {
  return tags.find((t) => t.startsWith(prefix))?.slice(prefix.length) ?? '';
}
