import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { config, docker, dockerFails, dockerNetworkId, DRIVER, eventually, IMAGE, neutron, removeQuietly, sh, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { PrivateDaemon } from './private-daemon.js';
import { idTags } from '../../src/libnetwork/naming.js';
import { createOpenStackClients } from '../../src/openstack/index.js';
import { silentLogger } from '../../src/log.js';
import type { FloatingIp } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const cleanup: (() => Promise<unknown>)[] = [];
/** Router interfaces on Kuryr subnets: Kuryr rightly refuses to delete a network with them, so they go first. */
const detach: (() => Promise<unknown>)[] = [];
const containers: string[] = [];
const networks: string[] = [];

/**
 * scripts/stack.sh's outside world: the external network `public` on the host bridge br-ex
 * (172.24.4.1, this host), router `kuryr-router` with its gateway there, and floating IP
 * 172.24.4.10 for published ports. Its L3 agent runs the forwardings, so the host is a client
 * outside the cloud, as a user's would be.
 */
const STACK_ROUTER = 'kuryr-router';
const STACK_FLOATING_IP = '172.24.4.10';

describe('published ports as floating IP port forwarding', () => {
  let daemon: PrivateDaemon;
  let fip: FloatingIp;
  let routerId = '';

  before(async () => {
    const [router] = (await admin('GET', `routers?name=${STACK_ROUTER}`))['routers'] as unknown as { id: string }[];
    const [found] = await neutron.listFloatingIps({ floating_ip_address: STACK_FLOATING_IP });
    assert.ok(router && found, `the dev stack's router ${STACK_ROUTER} and floating IP ${STACK_FLOATING_IP} exist (scripts/stack.sh up makes them)`);
    routerId = router.id;
    fip = found;
    daemon = await PrivateDaemon.start(`kuryr-pf${suffix.slice(0, 4)}`, { port_forwarding: { floating_ip: fip.floating_ip_address } });
    cleanup.push(() => daemon.stop());
  });
  after(async () => {
    await removeQuietly('container', ...containers);
    for (const undo of detach) await undo().catch(() => undefined);
    await removeQuietly('network', ...networks);
    for (const undo of cleanup.reverse()) await undo().catch(() => undefined);
  });

  test('-p 8080:80 and -p 5353:53/udp: the floating IP\'s ports reach the container from outside, until docker rm', async () => {
    const net = `kt-pub-${suffix}`;
    networks.push(net);
    await docker('network', 'create', '-d', daemon.driver, '--ipam-driver', daemon.driver, '--subnet', await freeCidr(4), net);
    const [n] = await neutron.listNetworks({ tags: idTags(await dockerNetworkId(net)).join(',') });
    const [s] = await neutron.listSubnets({ network_id: n!.id });
    // Detached even when the attach times out: Neutron may have made the interface anyway.
    detach.push(() => adminPut(`routers/${routerId}/remove_router_interface`, { subnet_id: s!.id }));
    await adminPut(`routers/${routerId}/add_router_interface`, { subnet_id: s!.id });
    const c = `kt-pubc-${suffix}`;
    containers.push(c);
    const page = `kuryr published port ${suffix}`;
    await docker('run', '-d', '--name', c, '--net', net, '-p', '8080:80', '-p', '5353:53/udp', IMAGE,
      'sh', '-c', `mkdir /www && echo '${page}' >/www/index.html && exec httpd -f -p 80 -h /www`);
    const ip = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, c);
    const forwardings = await neutron.listPortForwardings(fip.id);
    const mine = forwardings.filter((f) => f.internal_ip_address === ip).map((f) => `${f.protocol} ${f.external_port}->${f.internal_port}`).sort();
    assert.deepEqual(mine, ['tcp 8080->80', 'udp 5353->53']);

    const echo = await udpEcho(c, 53);
    cleanup.push(async () => echo.kill());
    const reply = `pong ${suffix}`;
    assert.equal(await eventually(`http://${STACK_FLOATING_IP}:8080/ answers from the container`, () => httpGet(STACK_FLOATING_IP, 8080), 60_000, 1000), page);
    assert.equal(await eventually(`udp ${STACK_FLOATING_IP}:5353 answers from the container`, () => udpAsk(STACK_FLOATING_IP, 5353, reply), 60_000, 1000), reply);

    await docker('rm', '-f', c);
    assert.equal((await neutron.listPortForwardings(fip.id)).filter((f) => f.internal_ip_address === ip).length, 0, 'forwardings removed');
    await eventually('the floating IP\'s tcp 8080 no longer answers', async () => ((await httpGet(STACK_FLOATING_IP, 8080)) === undefined ? true : undefined), 30_000, 1000);
    await eventually('the floating IP\'s udp 5353 no longer answers', async () => ((await udpAsk(STACK_FLOATING_IP, 5353, reply)) === undefined ? true : undefined), 30_000, 1000);
  });

  test('without [port_forwarding] floating_ip, -p on a Kuryr network is refused with a clear message', async () => {
    const net = `kt-nopub-${suffix}`;
    networks.push(net);
    await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', await freeCidr(4), net);
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

/** The body of http://HOST:PORT/ (trimmed), or undefined when nothing answers within 3 s. */
async function httpGet(host: string, port: number): Promise<string | undefined> {
  return sh('curl', ['-fsS', '--max-time', '3', `http://${host}:${port}/`], 10_000).catch(() => undefined);
}

/** Sends TEXT to HOST:PORT over udp: the reply, or undefined when none comes within 2 s. */
function udpAsk(host: string, port: number, text: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const done = (answer: string | undefined) => {
      clearTimeout(timer);
      sock.close();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), 2000);
    sock.on('message', (msg) => done(msg.toString()));
    sock.on('error', () => done(undefined));
    sock.send(text, port, host);
  });
}

/**
 * A udp echo server on PORT in the container's network namespace (busybox's nc has no udp): this
 * test's own Node, entered into the namespace with nsenter. Resolves once it is bound.
 */
async function udpEcho(container: string, port: number): Promise<ChildProcess> {
  const pid = await docker('inspect', '-f', '{{.State.Pid}}', container);
  const script = `const s = require('dgram').createSocket('udp4'); s.on('message', (m, r) => s.send(m, r.port, r.address)); s.bind(${port}, () => console.log('bound'));`;
  const child = spawn('nsenter', ['-t', pid, '-n', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`udp echo server in ${container} exited (${code})`)));
  });
  return child;
}

// Routers are looked up and wired by the test as an operator would; Kuryr's client has no verbs for them.
const session = createOpenStackClients(config.neutron, silentLogger).session;
async function admin(method: 'GET' | 'PUT', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const r = await session.request('network', method, `/v2.0/${path}`, body === undefined ? {} : { body });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return (r.body ?? {}) as Record<string, unknown>;
}
const adminPut = (path: string, body: unknown) => admin('PUT', path, body);
