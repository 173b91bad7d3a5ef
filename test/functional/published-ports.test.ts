import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { docker, dockerFails, dockerNetworkId, DRIVER, eventually, IMAGE, neutron, removeQuietly, uniq } from './harness.js';
import { PrivateDaemon } from './private-daemon.js';
import { idTags } from '../../src/libnetwork/naming.js';
import type { FloatingIp } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const cleanup: (() => Promise<unknown>)[] = [];
/** Router interfaces on Kuryr subnets: Kuryr rightly refuses to delete a network with them, so they go first. */
const detach: (() => Promise<unknown>)[] = [];
const containers: string[] = [];
const networks: string[] = [];

/**
 * Neutron checks a forwarding's internal port is behind a router with a gateway on the floating
 * IP's network, so the test builds that topology. (Forwarded traffic itself needs Neutron's L3
 * agent, which the dev stack does not run: the test checks what Neutron is told to do.)
 */
describe('published ports as floating IP port forwarding', () => {
  let daemon: PrivateDaemon;
  let fip: FloatingIp;
  let subnetCidr = '';
  let routerId = '';

  before(async () => {
    const third = Math.floor(Math.random() * 250);
    const ext = await neutron.createNetwork({ name: `kt-ext-${suffix}`, admin_state_up: true, 'router:external': true } as never);
    cleanup.push(() => neutron.deleteNetwork(ext.id));
    await neutron.createSubnet({ network_id: ext.id, ip_version: 4, cidr: `198.18.${third}.0/24`, enable_dhcp: false, name: `kt-ext-sub-${suffix}` });
    routerId = await adminPost('routers', { router: { name: `kt-router-${suffix}`, external_gateway_info: { network_id: ext.id } } });
    cleanup.push(() => adminDelete(`routers/${routerId}`));
    const fipId = await adminPost('floatingips', { floatingip: { floating_network_id: ext.id } });
    cleanup.push(() => adminDelete(`floatingips/${fipId}`));
    fip = (await neutron.listFloatingIps({ id: fipId }))[0]!;
    daemon = await PrivateDaemon.start(`kuryr-pf${suffix.slice(0, 4)}`, { port_forwarding: { floating_ip: fip.floating_ip_address } });
    cleanup.push(() => daemon.stop());
    subnetCidr = `10.${100 + Math.floor(Math.random() * 150)}.${third}.0/24`;
  });
  after(async () => {
    await removeQuietly('container', ...containers);
    for (const undo of detach) await undo().catch(() => undefined);
    await removeQuietly('network', ...networks);
    for (const undo of cleanup.reverse()) await undo().catch(() => undefined);
  });

  test('-p HOST:CONTAINER forwards the floating IP\'s port to the container, and rm removes the forwarding', async () => {
    const net = `kt-pub-${suffix}`;
    networks.push(net);
    await docker('network', 'create', '-d', daemon.driver, '--ipam-driver', daemon.driver, '--subnet', subnetCidr, net);
    const [n] = await neutron.listNetworks({ tags: idTags(await dockerNetworkId(net)).join(',') });
    const [s] = await neutron.listSubnets({ network_id: n!.id });
    // Detached even when the attach times out: Neutron may have made the interface anyway.
    detach.push(() => adminPut(`routers/${routerId}/remove_router_interface`, { subnet_id: s!.id }));
    await adminPut(`routers/${routerId}/add_router_interface`, { subnet_id: s!.id });
    const c = `kt-pubc-${suffix}`;
    containers.push(c);
    await docker('run', '-d', '--name', c, '--net', net, '-p', '8080:80', '-p', '5353:53/udp', IMAGE, 'sleep', '600');
    const ip = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c);
    const forwardings = await neutron.listPortForwardings(fip.id);
    const mine = forwardings.filter((f) => f.internal_ip_address === ip).map((f) => `${f.protocol} ${f.external_port}->${f.internal_port}`).sort();
    assert.deepEqual(mine, ['tcp 8080->80', 'udp 5353->53']);
    await docker('rm', '-f', c);
    assert.equal((await neutron.listPortForwardings(fip.id)).filter((f) => f.internal_ip_address === ip).length, 0, 'forwardings removed');
  });

  test('without [port_forwarding] floating_ip, -p on a Kuryr network is refused with a clear message', async () => {
    const net = `kt-nopub-${suffix}`;
    networks.push(net);
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', `10.${100 + Math.floor(Math.random() * 150)}.${Math.floor(Math.random() * 250)}.0/24`, net);
    const err = await dockerFails('run', '-d', '--name', `kt-nopubc-${suffix}`, '--net', net, '-p', '8081:80', IMAGE, 'sleep', '600');
    containers.push(`kt-nopubc-${suffix}`);
    assert.match(err, /need a floating IP to forward from: set \[port_forwarding\] floating_ip/);
    await eventually('no Kuryr port left behind', async () => {
      const [n] = await neutron.listNetworks({ tags: idTags(await dockerNetworkId(net)).join(',') });
      const ports = await neutron.listPorts({ network_id: n!.id, device_owner: 'compute:kuryr' });
      return ports.length === 0 ? true : undefined;
    });
  });
});

// Routers and floating IPs are set up by the test as an operator would; Kuryr's client has no verbs for them.
import { config } from './harness.js';
import { createOpenStackClients } from '../../src/openstack/index.js';
import { silentLogger } from '../../src/log.js';
const session = createOpenStackClients(config.neutron, silentLogger).session;
async function admin(method: 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<Record<string, { id: string }>> {
  const r = await session.request('network', method, `/v2.0/${path}`, body === undefined ? {} : { body });
  if (r.status >= 300 && !(method === 'DELETE' && r.status === 404)) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return (r.body ?? {}) as Record<string, { id: string }>;
}
async function adminPost(path: string, body: Record<string, unknown>): Promise<string> {
  const key = Object.keys(body)[0]!;
  return (await admin('POST', path, body))[key]!.id;
}
const adminPut = (path: string, body: unknown) => admin('PUT', path, body);
const adminDelete = (path: string) => admin('DELETE', path);
