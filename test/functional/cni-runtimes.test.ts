/**
 * kuryr-cni driven by real container runtimes on the real Neutron: podman 4.3 (its CNI backend) and
 * a second containerd 1.6 through CRI, as a kubelet calls it, both private to the test
 * (test/functional/runtimes/). A private Kuryr daemon serves CNI on a Neutron network the test makes.
 * What an operator checks: each pod's interface holds its Neutron port's address and MAC, pods reach
 * each other and a Docker container on the same Neutron network, removing a pod leaves no port,
 * namespace, mount or process, and the port carries the pod as each runtime named it (podman's
 * CNI_ARGS and the kubelet's differ). A runtime that cannot run here is skipped with the reason.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostVethName } from '../../src/binding/naming.js';
import { PORT_CNI_TAG, cniPodTag, cniPodUidTag } from '../../src/libnetwork/naming.js';
import type { Network, Port, Subnet } from '../../src/openstack/neutron-types.js';
import { kubeletContainerConfig, kubeletSandboxConfig, type PortMapping } from './cri/client.js';
import { config, docker, DRIVER, eventually, IMAGE, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { PrivateDaemon } from './private-daemon.js';
import { TestRuntimes, type CriContainerd, type Leftovers } from './runtimes/index.js';

const PLUGIN = new URL('../../src/cli/kuryr-cni.js', import.meta.url).pathname;
const suffix = uniq();
const SOCKET = `/run/kuryr/kt-rt-${suffix}.sock`;
const K8S_NAMESPACE = 'kt-rt';

const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(2);

describe('kuryr-cni under podman and containerd CRI', () => {
  let daemon: PrivateDaemon;
  let network: Network;
  let subnet: Subnet;
  let runtimes: TestRuntimes;
  const conflist = (name: string) => ({
    cniVersion: '1.0.0',
    name,
    plugins: [{ type: 'kuryr-cni', 'neutron.net.name': network.name, daemonSocket: SOCKET, capabilities: { portMappings: true } }],
  });
  const podPorts = () => neutron.listPorts({ network_id: network.id, tags: PORT_CNI_TAG });
  async function portOf(deviceId: string): Promise<Port> {
    const ports = (await podPorts()).filter((p) => p.device_id === deviceId);
    assert.equal(ports.length, 1, `one Kuryr CNI port for ${deviceId}: ${JSON.stringify(ports.map((p) => p.id))}`);
    return ports[0]!;
  }
  const allActive = () => eventually('the pods\' ports ACTIVE (the agent wired them)', async () => ((await podPorts()).every((p) => p.status === 'ACTIVE') ? true : undefined), 60_000, 500);

  before(async () => {
    network = await neutron.createNetwork({ name: `kt-rt-net-${suffix}`, admin_state_up: true });
    const cidr = await freeCidr(4);
    subnet = await neutron.createSubnet({ network_id: network.id, ip_version: 4, cidr, name: `kt-rt-subnet-${suffix}`, gateway_ip: cidr.replace(/0\/24$/, '1'), enable_dhcp: false });
    daemon = await PrivateDaemon.start(`kuryr-rt-${suffix}`, { cni_daemon: { enabled: 'True', socket_path: SOCKET } });
    // What `npm install` does for a package's bin: the runtimes exec the plugin through its shebang.
    chmodSync(PLUGIN, 0o755);
    const started = Date.now();
    runtimes = await TestRuntimes.start({ plugins: { 'kuryr-cni': PLUGIN }, dockerImage: IMAGE });
    console.log(`# runtimes ready in ${seconds(started)} s (podman: ${runtimes.skipped.podman ?? 'yes'}; containerd CRI: ${runtimes.skipped.containerd ?? 'yes'})`);
  });

  after(async () => {
    const left = await runtimes?.stop();
    await daemon?.stop();
    // Pods' ports left by a failed test, and the pool's ports: the network goes with all of them.
    for (const port of await neutron.listPorts({ network_id: network.id }).catch(() => [])) await neutron.deletePort(port.id).catch(() => undefined);
    if (network) await neutron.deleteNetwork(network.id);
    for (const [runtime, leftovers] of Object.entries(left ?? {})) assertNothingLeft(runtime, leftovers);
  });

  test('podman run on a Kuryr CNI network: the Neutron port\'s IP and MAC, reaching a podman pod and a Docker container; podman rm leaves no port', async (t) => {
    const podman = runtimes.podman;
    if (!podman) return t.skip(runtimes.skipped.podman);
    const net = `kt-rt-podman-${suffix}`;
    podman.addNetwork(conflist(net));
    const name = `kt-rt-a-${suffix}`;
    const started = Date.now();
    const id = await podman.run('run', '-d', '--name', name, '--network', net, runtimes.images!.busybox, 'sleep', '3600');
    console.log(`# podman run -d on the Kuryr CNI network: ${seconds(started)} s`);
    const port = await portOf(id);
    assert.equal(port['binding:host_id'], config.hostname, 'the port is bound to this host');
    const inside = await podman.run('exec', name, 'ip', '-o', 'addr', 'show', 'dev', 'eth0');
    const link = await podman.run('exec', name, 'ip', '-o', 'link', 'show', 'dev', 'eth0');
    assert.match(inside, new RegExp(`inet ${port.fixed_ips[0]!.ip_address.replaceAll('.', '\\.')}/24`), 'eth0 holds the port\'s address');
    assert.match(link, new RegExp(`link/ether ${port.mac_address}`), 'and its MAC');
    assert.ok(port.tags.includes(cniPodTag('', name)), `podman's K8S_POD_NAME (the container's name) tags the port: ${port.tags.join(', ')}`);

    // A podman pod: its infra container holds the pod's network (ADD with K8S_POD_NAME=<pod name>).
    const pod = `kt-rt-pod-${suffix}`;
    await podman.run('pod', 'create', '--name', pod, '--network', net, '--infra-image', runtimes.images!.pause);
    const podStarted = Date.now();
    await podman.run('run', '-d', '--pod', pod, '--name', `kt-rt-in-pod-${suffix}`, runtimes.images!.busybox, 'sleep', '3600');
    console.log(`# podman pod start (infra + 1 container) on the Kuryr CNI network: ${seconds(podStarted)} s`);
    const infra = (await podman.run('pod', 'inspect', pod, '--format', '{{.InfraContainerID}}')).trim();
    const podPort = await portOf(infra);
    assert.ok(podPort.tags.includes(cniPodTag('', pod)), `the pod's name tags its port: ${podPort.tags.join(', ')}`);
    await allActive();
    const podIp = podPort.fixed_ips[0]!.ip_address;
    await eventually(`${name} reaching the pod at ${podIp}`, () => podman.run('exec', name, 'ping', '-c', '1', '-W', '2', podIp).then(() => true), 30_000, 500);

    const dockerNet = `kt-rt-docker-${suffix}`;
    try {
      await docker('network', 'create', '-d', DRIVER, '--ipam-driver', DRIVER, '--subnet', subnet.cidr, '--gateway', subnet.gateway_ip!, '-o', `neutron.net.name=${network.name}`, dockerNet);
      const ip = port.fixed_ips[0]!.ip_address;
      await eventually(`a Docker container reaching ${name} at ${ip}`, async () => ((await docker('run', '--rm', '--net', dockerNet, IMAGE, 'ping', '-c', '1', '-W', '2', ip).then(() => true, () => false)) ? true : undefined), 60_000, 1000);
    } finally {
      await removeQuietly('network', dockerNet);
    }

    const netns = (await podman.run('inspect', '--format', '{{.NetworkSettings.SandboxKey}}', name, infra)).split('\n');
    assert.equal(netns.length, 2);
    await podman.run('rm', '--force', '--time', '0', name);
    await podman.run('pod', 'rm', '--force', '--time', '0', pod);
    assert.deepEqual(await podPorts(), [], 'podman rm left no pod port');
    assertGone([port, podPort], netns);
    podman.removeNetwork(net);
  });

  test('containerd CRI pods get Neutron ports and reach each other; StopPodSandbox then RemovePodSandbox (two DELs) leave nothing', async (t) => {
    const containerd = runtimes.containerd;
    if (!containerd) return t.skip(runtimes.skipped.containerd);
    await containerd.setNetwork(conflist(`kt-rt-cri-${suffix}`));
    const version = await containerd.cri.version();
    console.log(`# CRI runtime: ${version.runtime_name} ${version.runtime_version} (API ${version.runtime_api_version})`);
    const [a, b] = [await runPod(containerd, 'web'), await runPod(containerd, 'db')];
    for (const pod of [a, b]) {
      const port = await portOf(pod.sandboxId);
      assert.equal(pod.ip, port.fixed_ips[0]!.ip_address, 'CRI reports the port\'s address as the pod IP');
      const link = await containerd.cri.execSync(pod.containerId, ['ip', '-o', 'link', 'show', 'dev', 'eth0']);
      assert.match(link.stdout, new RegExp(`link/ether ${port.mac_address}`), 'the pod\'s eth0 has the port\'s MAC');
      assert.ok(port.tags.includes(cniPodTag(K8S_NAMESPACE, pod.name)) && port.tags.includes(cniPodUidTag(pod.uid)), `the kubelet's CNI_ARGS tag the port: ${port.tags.join(', ')}`);
    }
    await allActive();
    await eventually(`pod ${a.name} reaching ${b.ip}`, async () => ((await containerd.cri.execSync(a.containerId, ['ping', '-c', '1', '-W', '2', b.ip])).exitCode === 0 ? true : undefined), 30_000, 500);
    await eventually(`pod ${b.name} reaching ${a.ip}`, async () => ((await containerd.cri.execSync(b.containerId, ['ping', '-c', '1', '-W', '2', a.ip])).exitCode === 0 ? true : undefined), 30_000, 500);

    const ports = [await portOf(a.sandboxId), await portOf(b.sandboxId)];
    for (const pod of [a, b]) {
      await containerd.cri.stopPodSandbox(pod.sandboxId);
      await containerd.cri.stopPodSandbox(pod.sandboxId);
      await containerd.cri.removePodSandbox(pod.sandboxId);
    }
    assert.deepEqual(await containerd.cri.listPodSandbox(), [], 'no sandbox is left');
    assert.deepEqual(await podPorts(), [], 'no pod port is left');
    assertGone(ports, []);
  });

  test('what each runtime sends reaches the daemon: podman\'s IP= and MAC= (CNI_ARGS) choose the port\'s address and MAC; host ports in both spellings are accepted', async (t) => {
    const podman = runtimes.podman;
    if (!podman) return t.skip(runtimes.skipped.podman);
    const net = `kt-rt-args-${suffix}`;
    podman.addNetwork(conflist(net));
    const ip = subnet.cidr.replace(/0\/24$/, '77');
    const mac = `fa:16:3e:${suffix.match(/../g)!.join(':')}`;
    const name = `kt-rt-args-${suffix}`;
    const id = await podman.run('run', '-d', '--name', name, '--network', net, '--ip', ip, '--mac-address', mac, '-p', '127.0.0.1:18080:80/tcp', runtimes.images!.busybox, 'sleep', '3600');
    const port = await portOf(id);
    assert.equal(port.fixed_ips[0]!.ip_address, ip, 'podman\'s --ip');
    assert.equal(port.mac_address, mac, 'podman\'s --mac-address');
    await podman.run('rm', '--force', '--time', '0', name);
    podman.removeNetwork(net);

    const containerd = runtimes.containerd;
    if (!containerd) return t.skip(runtimes.skipped.containerd);
    await containerd.setNetwork(conflist(`kt-rt-cri-${suffix}`));
    const pod = await runPod(containerd, 'ports', [{ protocol: 'TCP', container_port: 80, host_port: 18090, host_ip: '127.0.0.1' }]);
    assert.ok((await portOf(pod.sandboxId)).tags.includes(cniPodTag(K8S_NAMESPACE, pod.name)));
    await containerd.cri.stopPodSandbox(pod.sandboxId);
    await containerd.cri.removePodSandbox(pod.sandboxId);
    assert.deepEqual(await podPorts(), []);
  });

  /** A pod as the kubelet starts one: its log directory, the sandbox (CNI ADD), then a container in it. */
  async function runPod(containerd: CriContainerd, name: string, portMappings: PortMapping[] = []) {
    const uid = randomUUID();
    const config = kubeletSandboxConfig({ namespace: K8S_NAMESPACE, name: `${name}-${suffix}`, uid, logRoot: `${runtimes.dir}/pods`, portMappings });
    mkdirSync(`${config.log_directory}/app`, { recursive: true });
    const started = Date.now();
    const sandboxId = await containerd.cri.runPodSandbox(config);
    const sandboxSeconds = seconds(started);
    const status = await containerd.cri.podSandboxStatus(sandboxId);
    assert.equal(status.state, 'SANDBOX_READY');
    const containerId = await containerd.cri.createContainer(sandboxId, kubeletContainerConfig('app', runtimes.images!.busybox, ['sleep', '3600']), config);
    await containerd.cri.startContainer(containerId);
    console.log(`# CRI pod ${config.metadata.name}: RunPodSandbox ${sandboxSeconds} s, with its container started ${seconds(started)} s`);
    return { name: config.metadata.name, uid, sandboxId, containerId, ip: status.network?.ip ?? '' };
  }
});

/** The pods' host ends and network namespaces are gone from the host. */
function assertGone(ports: Port[], netns: string[]): void {
  for (const port of ports) assert.equal(existsSync(`/sys/class/net/${hostVethName(port.id)}`), false, `the host end of port ${port.id} is gone`);
  for (const path of netns) assert.equal(existsSync(path), false, `${path} is gone`);
}

function assertNothingLeft(runtime: string, left: Leftovers): void {
  assert.deepEqual(left, { mounts: [], netns: [], processes: [], cniResults: [] }, `${runtime} left nothing on the host`);
}
