/**
 * The node daemon's CNI verbs over the in-memory Neutron and host (the daemon's own wiring, as for
 * Docker), with a recording double of the pod namespaces. What an operator checks: the pod's port
 * in Neutron (owner, binding, tags), the host end plugged, the pod's interface configured from the
 * port, and nothing left after DEL or GC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CniService, type PodNamespaceOps } from '../../src/cni/daemon/service.js';
import type { CniRequest } from '../../src/cni/daemon/api.js';
import type { PodAddress, PodInterface, PodRoute } from '../../src/cni/daemon/pod-netns.js';
import { hostVethName } from '../../src/binding/naming.js';
import { DEVICE_OWNER, PORT_CNI_TAG, PORT_POOLED_TAG, cniIfnameTag, cniPodTag, cniPodUidTag } from '../../src/libnetwork/naming.js';
import { HOST, PROJECT, testConfig, wire, type Wired } from './libnetwork-docker.js';

/** Pod namespaces by path: what plug configured, as `ip -n NAME addr show` would report it (the fake host keeps the moved device). */
class RecordedPods {
  readonly pods = new Map<string, Map<string, PodInterface & { routes: PodRoute[]; mtu?: number }>>();
  constructor(private readonly w: Wired) {}

  ops = (path: string): PodNamespaceOps => ({
    mustExist: async () => undefined,
    plug: async (hostDevice: string, ifname: string, opts: { mtu?: number; addresses: PodAddress[]; routes: PodRoute[] }) => {
      const link = await this.w.host.getLink(hostDevice);
      if (!link) throw new Error(`Cannot find device "${hostDevice}"`);
      const pod = this.pods.get(path) ?? new Map();
      pod.set(ifname, { ifname, mac: link.mac, addresses: opts.addresses.map((a) => a.cidr), up: true, routes: opts.routes, ...(opts.mtu ? { mtu: opts.mtu } : {}) });
      this.pods.set(path, pod);
    },
    inspect: async (ifname: string) => this.pods.get(path)?.get(ifname),
    unplug: async (ifname: string) => void this.pods.get(path)?.delete(ifname),
  });
}

async function node(vifPool: Parameters<typeof testConfig>[0] = {}) {
  const w = wire(testConfig(vifPool));
  const network = await w.neutron.createNetwork({ name: 'pods', mtu: 1450 } as never);
  const subnet = await w.neutron.createSubnet({ name: 'pods-v4', network_id: network.id, ip_version: 4, cidr: '10.90.0.0/24', gateway_ip: '10.90.0.1', dns_nameservers: ['10.90.0.2'], project_id: PROJECT } as never);
  const pods = new RecordedPods(w);
  const cni = new CniService(w.ctx, pods.ops);
  return { w, network, subnet, pods, cni };
}

const containerId = () => randomBytes(32).toString('hex');

function addRequest(id: string, extra: Partial<CniRequest['config']> = {}, args: Record<string, string> = {}): CniRequest {
  return {
    command: 'ADD',
    containerId: id,
    netns: `/var/run/netns/cni-${id.slice(0, 8)}`,
    ifname: 'eth0',
    args: { K8S_POD_NAMESPACE: 'shop', K8S_POD_NAME: 'web-1', K8S_POD_UID: '0c9a6d3e-2f44-4a47-9b3e-59d0f3c1b2a1', ...args },
    config: { cniVersion: '1.0.0', name: 'kuryr', type: 'kuryr-cni', 'neutron.net.name': 'pods', ...extra },
  };
}

const cniPorts = (w: Wired) => [...w.ports.values()].filter((p) => p.tags.includes(PORT_CNI_TAG));

test('ADD gives the pod a Neutron port bound to this host, tagged with the pod, plugged on the host, configured in the pod, and says so in the result', async () => {
  const { w, network, subnet, pods, cni } = await node();
  const id = containerId();
  const req = addRequest(id);
  const result = await cni.add(req);

  const [port] = cniPorts(w);
  assert.ok(port, 'a Neutron port for the pod');
  assert.equal(port.network_id, network.id);
  assert.equal(port.device_id, id, 'its device is the pod sandbox (the container ID)');
  assert.equal(port.device_owner, DEVICE_OWNER);
  assert.equal(port['binding:host_id'], HOST, 'bound to this host, whose agent wires it');
  for (const tag of [cniIfnameTag('eth0'), cniPodTag('shop', 'web-1'), cniPodUidTag('0c9a6d3e-2f44-4a47-9b3e-59d0f3c1b2a1')]) assert.ok(port.tags.includes(tag), tag);
  assert.ok(await w.host.linkExists(hostVethName(port.id)), 'the host end exists');
  const ip = port.fixed_ips[0]!.ip_address;
  const seen = pods.pods.get(req.netns)?.get('eth0');
  assert.deepEqual(seen && { mac: seen.mac, addresses: seen.addresses, routes: seen.routes, mtu: seen.mtu }, { mac: port.mac_address, addresses: [`${ip}/24`], routes: [{ dst: '0.0.0.0/0', gw: '10.90.0.1' }], mtu: 1450 });
  assert.deepEqual(result, {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: port.mac_address, sandbox: req.netns }],
    ips: [{ address: `${ip}/24`, gateway: '10.90.0.1', interface: 0 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.90.0.1' }],
    dns: { nameservers: ['10.90.0.2'] },
  });
  assert.equal(port.fixed_ips[0]!.subnet_id, subnet.id);
});

test('DEL removes the port and the host end; a second DEL, and a DEL for a pod never added, succeed', async () => {
  const { w, pods, cni } = await node();
  const id = containerId();
  const req = addRequest(id);
  await cni.add(req);
  const [port] = cniPorts(w);
  await cni.del(req);
  assert.deepEqual(cniPorts(w), [], 'the port is gone');
  assert.equal(await w.host.linkExists(hostVethName(port!.id)), false, 'and its host end');
  assert.equal(pods.pods.get(req.netns)?.has('eth0'), false, 'and the pod\'s interface');
  await cni.del(req);
  await cni.del({ containerId: containerId(), ifname: 'eth0', netns: '' });
});

test('with a pool, ADD claims a pooled port and DEL returns it to the pool without the pod\'s tags', async () => {
  const { w, network, cni } = await node({ enabled: true, min: 2, batch: 2 });
  const req = addRequest(containerId());
  await cni.add(req);
  const [port] = cniPorts(w);
  assert.ok(port!.tags.includes(PORT_POOLED_TAG), 'a pooled port');
  assert.equal(port!.device_id, req.containerId);
  await cni.del(req);
  const back = w.ports.get(port!.id);
  assert.ok(back, 'the port stays in Neutron');
  assert.equal(back.device_id, '', 'free again');
  assert.deepEqual(back.tags.filter((t) => t.startsWith(PORT_CNI_TAG)), [], 'without the pod\'s tags');
  assert.ok((w.pools.sizes().get(network.id) ?? 0) >= 1, 'back in the pool');
});

test('ADD of an interface the pod already has, or on a network the config does not name, changes nothing in Neutron', async () => {
  const { w, cni } = await node();
  const req = addRequest(containerId());
  await cni.add(req);
  const before = w.ports.size;
  await assert.rejects(cni.add(req), /eth0 already exists/);
  await assert.rejects(cni.add({ ...addRequest(containerId()), config: { cniVersion: '1.0.0', name: 'kuryr', type: 'kuryr-cni' } }), /names no Neutron network/);
  await assert.rejects(cni.add(addRequest(containerId(), { 'neutron.net.name': 'nope' })), /no Neutron network with name "nope"/);
  assert.equal(w.ports.size, before);
});

test('IP= (podman --ip) gives the pod that address', async () => {
  const { w, cni } = await node();
  await cni.add(addRequest(containerId(), {}, { IP: '10.90.0.77' }));
  assert.equal(cniPorts(w)[0]!.fixed_ips[0]!.ip_address, '10.90.0.77');
});

test('CHECK passes on what ADD made and fails once the pod\'s interface is gone', async () => {
  const { pods, cni } = await node();
  const req = addRequest(containerId());
  await cni.add(req);
  await cni.check({ ...req, command: 'CHECK' });
  pods.pods.get(req.netns)!.delete('eth0');
  await assert.rejects(cni.check({ ...req, command: 'CHECK' }), /eth0 is missing/);
});

test('GC removes the attachments not in the valid list, and only those', async () => {
  const { w, cni } = await node();
  const kept = addRequest(containerId());
  const gone = addRequest(containerId());
  await cni.add(kept);
  await cni.add(gone);
  const goneport = cniPorts(w).find((p) => p.device_id === gone.containerId)!;
  const { removed } = await cni.gc([{ containerID: kept.containerId, ifname: 'eth0' }]);
  assert.deepEqual(removed, [`${gone.containerId.slice(0, 12)}/eth0`]);
  assert.deepEqual(cniPorts(w).map((p) => p.device_id), [kept.containerId]);
  assert.equal(await w.host.linkExists(hostVethName(goneport.id)), false);
});
