/**
 * The node daemon's CNI endpoint ([cni_daemon] enabled) on the real Neutron, the real Linux bridge
 * agent and real network namespaces (`ip netns add`, as podman and containerd bind theirs under
 * /run/netns), driven with the requests kuryr-cni forwards. What an operator checks: each pod's
 * Neutron port (owner, binding, tags, ACTIVE), pods reaching each other and a Docker container on
 * the same Neutron network (one dataplane), nothing left after DEL or GC, and bad requests refused
 * in CNI's error shape without a change in Neutron.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { unixJson } from '../../src/cli/unix-http.js';
import { hostVethName } from '../../src/binding/naming.js';
import { PORT_CNI_TAG, cniIfnameTag, cniPodTag } from '../../src/libnetwork/naming.js';
import type { Network, Subnet } from '../../src/openstack/neutron-types.js';
import { config, docker, DRIVER, eventually, IMAGE, neutron, removeQuietly, sh, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { PrivateDaemon } from './private-daemon.js';

const suffix = uniq();
const SOCKET = `/run/kuryr/kt-cni-${suffix}.sock`;

interface Pod {
  containerId: string;
  ns: string;
  netns: string;
}

function newPod(name: string): Pod {
  const ns = `kt-pod-${name}-${suffix}`;
  return { containerId: randomBytes(32).toString('hex'), ns, netns: `/run/netns/${ns}` };
}

describe('the node daemon serves CNI on Neutron', () => {
  let daemon: PrivateDaemon;
  let network: Network;
  let subnet: Subnet;
  const pods: Pod[] = [];
  const cni = (body: unknown) => unixJson(SOCKET, 'POST', '/v1/cni', body, 120_000);
  const request = (command: string, pod: Pod, extra: Record<string, unknown> = {}) => ({
    command,
    containerId: pod.containerId,
    netns: pod.netns,
    ifname: 'eth0',
    args: { K8S_POD_NAMESPACE: 'kt', K8S_POD_NAME: pod.ns },
    config: { cniVersion: '1.0.0', name: 'kuryr', type: 'kuryr-cni', 'neutron.net.name': network.name, ...extra },
  });
  const podPorts = () => neutron.listPorts({ network_id: network.id, tags: PORT_CNI_TAG });

  before(async () => {
    network = await neutron.createNetwork({ name: `kt-cni-net-${suffix}`, admin_state_up: true });
    const cidr = await freeCidr(4);
    subnet = await neutron.createSubnet({ network_id: network.id, ip_version: 4, cidr, name: `kt-cni-subnet-${suffix}`, gateway_ip: cidr.replace(/0\/24$/, '1'), enable_dhcp: false });
    daemon = await PrivateDaemon.start(`kuryr-cni-${suffix}`, { cni_daemon: { enabled: 'True', socket_path: SOCKET } });
  });

  after(async () => {
    for (const pod of pods) await cni(request('DEL', pod)).catch(() => undefined);
    for (const pod of pods) await sh('ip', ['netns', 'del', pod.ns]).catch(() => undefined);
    await daemon?.stop();
    for (const port of await podPorts().catch(() => [])) await neutron.deletePort(port.id);
    if (network) await neutron.deleteNetwork(network.id);
  });

  async function add(pod: Pod): Promise<{ ip: string; mac: string }> {
    await sh('ip', ['netns', 'add', pod.ns]);
    pods.push(pod);
    const answer = await cni(request('ADD', pod));
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const result = (answer.body as { result: { interfaces: { mac: string }[]; ips: { address: string }[] } }).result;
    return { ip: result.ips[0]!.address.split('/')[0]!, mac: result.interfaces[0]!.mac };
  }

  const pings = (ns: string, ip: string) => sh('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '2', ip]).then(() => true, () => undefined);

  test('two pods get Neutron ports bound to this host, reach each other and a Docker container on the same Neutron network; DEL leaves nothing', async () => {
    const [a, b] = [newPod('a'), newPod('b')];
    const [ea, eb] = [await add(a), await add(b)];
    const ports = await podPorts();
    for (const [pod, seen] of [[a, ea], [b, eb]] as const) {
      const port = ports.find((p) => p.device_id === pod.containerId);
      assert.ok(port, `a port for ${pod.ns}`);
      assert.equal(port['binding:host_id'], config.hostname, 'bound to this host');
      assert.equal(port.mac_address, seen.mac, 'the pod\'s MAC is the port\'s');
      assert.equal(port.fixed_ips[0]!.ip_address, seen.ip, 'and its address');
      assert.ok(port.tags.includes(cniIfnameTag('eth0')) && port.tags.includes(cniPodTag('kt', pod.ns)), 'tagged with the pod');
      const inside = await sh('ip', ['-n', pod.ns, '-br', 'addr', 'show', 'dev', 'eth0']);
      assert.match(inside, new RegExp(`${seen.ip.replaceAll('.', '\\.')}/24`), `eth0 in ${pod.ns} holds its address`);
    }
    await eventually('both pods\' ports ACTIVE (the agent wired them)', async () => ((await podPorts()).every((p) => p.status === 'ACTIVE') ? true : undefined), 60_000, 500);
    await eventually(`${a.ns} reaching ${eb.ip}`, () => pings(a.ns, eb.ip), 30_000, 500);
    await eventually(`${b.ns} reaching ${ea.ip}`, () => pings(b.ns, ea.ip), 30_000, 500);

    // A Docker container on the same Neutron network: one dataplane for both.
    const dockerNet = `kt-cni-docker-${suffix}`;
    try {
      await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', subnet.cidr, '--gateway', subnet.gateway_ip!, '-o', `neutron.net.name=${network.name}`, dockerNet);
      await eventually('a Docker container reaching pod a', async () => ((await docker('run', '--rm', '--net', dockerNet, IMAGE, 'ping', '-c', '1', '-W', '2', ea.ip).then(() => true, () => false)) ? true : undefined), 60_000, 1000);
    } finally {
      await removeQuietly('network', dockerNet);
    }

    const veths = ports.map((p) => hostVethName(p.id));
    for (const pod of [a, b]) {
      const answer = await cni(request('DEL', pod));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal((await cni(request('DEL', pod))).status, 200, 'a second DEL succeeds');
    }
    assert.deepEqual(await podPorts(), [], 'no pod port is left');
    for (const veth of veths) assert.equal(existsSync(`/sys/class/net/${veth}`), false, `${veth} is gone`);
    assert.doesNotMatch(await sh('ip', ['-n', a.ns, '-br', 'link']), /eth0/, 'the pod has no eth0 left');
  });

  test('GC removes the attachments the runtime no longer lists, and only those', async () => {
    const [kept, gone] = [newPod('k'), newPod('g')];
    await add(kept);
    await add(gone);
    const answer = await cni({ command: 'GC', containerId: '', netns: '', ifname: '', args: {}, config: { cniVersion: '1.1.0', name: 'kuryr', type: 'kuryr-cni', 'cni.dev/valid-attachments': [{ containerID: kept.containerId, ifname: 'eth0' }] } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual((await podPorts()).map((p) => p.device_id), [kept.containerId]);
    await cni(request('DEL', kept));
  });

  test('bad requests are refused in CNI\'s error shape and change nothing in Neutron', async () => {
    const pod = newPod('x');
    const before = (await neutron.listPorts({ network_id: network.id })).length;
    const cases: [string, unknown, number][] = [
      ['no container ID', { ...request('ADD', pod), containerId: '' }, 4],
      ['a namespace outside /run/netns', { ...request('ADD', pod), netns: '/etc/passwd' }, 4],
      ['a namespace that does not exist', request('ADD', newPod('none')), 4],
      ['an interface name the kernel refuses', { ...request('ADD', pod), ifname: 'a/b' }, 4],
      ['an unknown command', { ...request('ADD', pod), command: 'EXPLODE' }, 4],
      ['a config without a name', { ...request('ADD', pod), config: { cniVersion: '1.0.0', type: 'kuryr-cni' } }, 7],
    ];
    await sh('ip', ['netns', 'add', pod.ns]);
    pods.push(pod);
    cases.push(['a network that does not exist', request('ADD', pod, { 'neutron.net.name': `nope-${suffix}` }), 7]);
    for (const [what, body, code] of cases) {
      const answer = await cni(body);
      assert.ok(answer.status >= 400, `${what}: refused (${answer.status})`);
      assert.equal((answer.body as { code: number }).code, code, `${what}: code ${JSON.stringify(answer.body)}`);
    }
    assert.equal((await neutron.listPorts({ network_id: network.id })).length, before, 'no port was made');
    assert.equal((await unixJson(SOCKET, 'GET', '/v1/status')).status, 200, 'and the daemon still serves');
  });
});
