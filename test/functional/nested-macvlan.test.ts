/**
 * Nested Kuryr, macvlan mode, on the real dataplane: a Kuryr daemon inside a simulated Nova VM
 * (nova-vm.ts) with `default_port_driver = nested` and `[binding] default_driver = macvlan` gives each
 * container of the VM's own dockerd a macvlan child of the VM's eth0 and a Neutron port (unbound:
 * no agent plugs it) on the VM port's network, and adds the container's `{ip, mac}` to the VM port's
 * allowed_address_pairs. The Linux bridge agent's anti-spoofing on the VM's tap is what lets that
 * traffic through (proven for hand-made children by nova-vm.test.ts): here the peer VM reaches the
 * container only while its pair is there, parallel attaches lose no pair, detaches take back exactly
 * their own, and pairs the VM port had before Kuryr are never touched. Neutron caps a port's pairs
 * (`max_allowed_address_pair`), which caps the containers of one VM: the attach past it fails
 * cleanly.
 *
 * The daemon runs in the VM's namespace (`vm.command`, see nova-vm.ts: its sysfs must be the VM's)
 * and reaches Keystone and Neutron over the VM's network (`vm.reachCloud()`), its socket in the VM
 * dockerd's plugin directory under a driver name of its own.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { CONFIG_FILES, config, eventually, IMAGE, neutron, sh, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { NovaVm, VM_TAG, type CloudEndpoints } from './nova-vm.js';
import { unixJson } from '../../src/cli/unix-http.js';
import { DEVICE_OWNER, existingNetworkTag, idTags, SUBNETPOOL_OWNED_TAG, subnetPoolName } from '../../src/libnetwork/naming.js';
import type { AllowedAddressPair, Network, Port, SecurityGroup, Subnet, SubnetPool } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
const SERVER = new URL('../../src/cli/kuryr-server.js', import.meta.url).pathname;
/** The VM's interface inside its namespace (nova-vm.ts names the veth end `eth0`). */
const LINK_IFACE = 'eth0';
/**
 * Neutron's `max_allowed_address_pair` (the dev stack keeps Neutron's default, 10): a
 * VM port holds at most this many pairs, so one VM holds at most this many nested containers,
 * fewer the pairs the VM had before. An attach past it gets Neutron's 400 AllowedAddressPairExhausted.
 */
const NEUTRON_MAX_PAIRS = Number(/^max_allowed_address_pair\s*=\s*(\d+)/m.exec(readFileSync('/etc/kuryr-stack/neutron.conf', 'utf8'))?.[1] ?? 10);

// ---------------------------------------------------------------------------------------------
// The nested daemon: this build's kuryr-server, started inside the VM.
// ---------------------------------------------------------------------------------------------

type Ini = Record<string, Record<string, string>>;

function renderIni(sections: Ini): string {
  return Object.entries(sections)
    .map(([section, options]) => `[${section}]\n${Object.entries(options).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`)
    .join('\n');
}

/** A kuryr-server running (or having run) in a VM's namespace. */
interface NestedDaemon {
  /** The Docker driver name: Docker names a plugin after its socket file. */
  driver: string;
  socketPath: string;
  logFile: string;
  configFile: string;
  child: ChildProcess;
}

const running = (d: NestedDaemon) => d.child.exitCode === null && d.child.signalCode === null;

/** The last lines of the daemon's stdout/stderr and of its log file, for failure messages. */
function daemonOutput(d: NestedDaemon, lines = 15): string {
  const tail = (file: string) => {
    try {
      return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  return `--- ${d.logFile}.out ---\n${tail(`${d.logFile}.out`)}\n--- ${d.logFile} ---\n${tail(d.logFile)}`;
}

/**
 * Spawns kuryr-server inside the VM with the stack's kuryr.conf plus the nested overrides: the
 * stack's credentials, but Keystone and Neutron at the relay the VM reaches (`cloud`), its socket in
 * the VM dockerd's plugin directory, the VM's dockerd as its Docker, no TCP listener, no metrics,
 * no discovery file, no pools.
 */
function spawnNestedDaemon(vm: NovaVm, cloud: CloudEndpoints, driver: string, linkIface: string): NestedDaemon {
  const socketPath = `${vm.pluginDir}/${driver}.sock`;
  const logFile = `/var/log/kuryr/${driver}.log`;
  const configFile = `/tmp/${driver}.conf`;
  const overrides: Ini = {
    DEFAULT: {
      default_port_driver: 'nested',
      enabled_port_drivers: 'nested',
      socket_path: socketPath,
      kuryr_uri: '',
      plugin_spec_dir: '',
      metrics_listen: '',
      log_file: logFile,
      debug: 'True',
    },
    binding: { default_driver: 'macvlan', enabled_drivers: 'macvlan', link_iface: linkIface },
    // No agent binds a container's port in a VM: it never turns ACTIVE, so waiting for it cannot be fatal.
    neutron: { auth_url: cloud.authUrl, endpoint_override: cloud.neutronUrl, vif_plugging_is_fatal: 'False' },
    // The containers are the VM dockerd's; the host's dockerd knows none of them.
    docker: { docker_host: vm.dockerHost },
    vif_pool: { enabled: 'False' },
  };
  mkdirSync(vm.pluginDir, { recursive: true });
  mkdirSync('/var/log/kuryr', { recursive: true });
  writeFileSync(configFile, renderIni(overrides), { mode: 0o600 });
  const out = openSync(`${logFile}.out`, 'a');
  const files = [...CONFIG_FILES, configFile].flatMap((f) => ['--config-file', f]);
  // `ip netns exec` execs node: the child's pid is the daemon's.
  const [cmd, ...args] = vm.command([process.execPath, SERVER, ...files]);
  const child = spawn(cmd!, args, { stdio: ['ignore', out, out] });
  closeSync(out);
  return { driver, socketPath, logFile, configFile, child };
}

/** Resolves once the daemon answers Plugin.Activate on its socket; fails at once if it exits. */
async function untilServing(d: NestedDaemon, timeoutMs = 60_000): Promise<void> {
  await eventually(`kuryr-server ${d.driver} answering Plugin.Activate on ${d.socketPath}`, async () => {
    if (!running(d)) throw new Error(`exited (code ${d.child.exitCode}, signal ${d.child.signalCode})\n${daemonOutput(d)}`);
    const answer = await unixJson(d.socketPath, 'POST', '/Plugin.Activate', undefined, 2000).catch(() => undefined);
    return answer?.status === 200 ? true : undefined;
  }, timeoutMs, 200).catch((err: Error) => {
    throw new Error(`${err.message}\n${daemonOutput(d)}`);
  });
}

/** SIGTERM (SIGKILL after 10 s), then removes its config file and socket. Idempotent. */
async function stopDaemon(d: NestedDaemon | undefined): Promise<void> {
  if (!d) return;
  if (running(d)) {
    const exited = new Promise((r) => d.child.once('exit', r));
    d.child.kill('SIGTERM');
    const killTimer = setTimeout(() => d.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killTimer);
  }
  rmSync(d.configFile, { force: true });
  rmSync(d.socketPath, { force: true });
}

// ---------------------------------------------------------------------------------------------
// What an operator looks at: the container's device, its Neutron port, the VM port's pairs.
// ---------------------------------------------------------------------------------------------

/** A container of the VM's dockerd as its kernel sees it. */
interface Container {
  name: string;
  ip: string;
  mac: string;
  /** `macvlan mode <mode>` of its eth0, or '' when eth0 is no macvlan. */
  macvlanMode: string;
  /** The ifindex, in the VM's namespace, of its eth0's parent (`eth0@if<n>`). */
  parentIfindex: number;
}

async function inspectContainer(vm: NovaVm, name: string): Promise<Container> {
  // The VM's dockerd shares the host's PID namespace: its container PIDs are the host's.
  const pid = await vm.docker('inspect', '-f', '{{.State.Pid}}', name);
  const inContainer = (cmd: string[]) => sh('nsenter', [`--net=/proc/${pid}/ns/net`, ...cmd]);
  const link = await inContainer(['ip', '-d', '-o', 'link', 'show', 'dev', 'eth0']);
  const addr = await inContainer(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  return {
    name,
    ip: /inet ([0-9.]+)\//.exec(addr)?.[1] ?? '',
    mac: /link\/ether ([0-9a-f:]+)/.exec(link)?.[1] ?? '',
    macvlanMode: /macvlan mode (\S+)/.exec(link)?.[1] ?? '',
    parentIfindex: Number(/eth0@if(\d+):/.exec(link)?.[1] ?? -1),
  };
}

/** `docker rm -f` of those of `names` that exist (an earlier failure may have left them). */
async function removeContainers(vm: NovaVm, names: string[]): Promise<void> {
  const existing = new Set((await vm.docker('ps', '-a', '--format', '{{.Names}}')).split('\n'));
  await Promise.all(names.filter((n) => existing.has(n)).map((n) => vm.docker('rm', '-f', n)));
}

/** Starts a long-running container on `network` in the VM and reads its interface. */
async function runContainer(vm: NovaVm, name: string, network: string): Promise<Container> {
  await vm.docker('run', '-d', '--name', name, '--network', network, IMAGE, 'sleep', '3600');
  return inspectContainer(vm, name);
}

const pairKey = (p: AllowedAddressPair) => `${p.ip_address} ${(p.mac_address ?? '').toLowerCase()}`;
const containerPair = (c: Container) => pairKey({ ip_address: c.ip, mac_address: c.mac });

/** The VM port's allowed_address_pairs as sorted `ip mac` strings (readable in a deepEqual diff). */
async function vmPairs(vm: NovaVm): Promise<string[]> {
  return ((await vm.refresh()).allowed_address_pairs ?? []).map(pairKey).sort();
}

/** Ports Kuryr made (device_owner compute:kuryr) on a network. */
function kuryrPortsOn(networkId: string): Promise<Port[]> {
  return neutron.listPorts({ network_id: networkId, device_owner: DEVICE_OWNER });
}

/** The one Kuryr port holding `ip` on the network. */
async function portOf(networkId: string, ip: string): Promise<Port> {
  const ports = (await kuryrPortsOn(networkId)).filter((p) => p.fixed_ips.some((f) => f.ip_address === ip));
  assert.equal(ports.length, 1, `exactly one ${DEVICE_OWNER} port on network ${networkId} holds ${ip}: ${ports.map((p) => p.id).join(', ') || 'none'}`);
  return ports[0]!;
}

/** Subnet pools Kuryr's IPAM made for a CIDR (`kuryrPool-<cidr>`, with Kuryr's tag). */
function kuryrPoolsFor(cidr: string): Promise<SubnetPool[]> {
  return neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, cidr), tags: SUBNETPOOL_OWNED_TAG });
}

/** macvlan devices left in the VM's namespace (a container's child there is one not cleaned up). */
async function macvlansInVm(vm: NovaVm): Promise<string[]> {
  return (await vm.exec(['ip', '-o', 'link', 'show', 'type', 'macvlan'])).split('\n').filter(Boolean);
}

/** Waits until `container` in the VM pings `ip` (the agent applies a new pair within seconds). */
async function containerReaches(vm: NovaVm, container: string, ip: string, timeoutMs = 60_000): Promise<void> {
  await eventually(`${container} reaching ${ip}`, async () => {
    await vm.docker('exec', container, 'ping', '-c', '1', '-W', '1', ip);
    return true;
  }, timeoutMs, 200);
}

/** Waits until the peer VM's pings of `ip` get answers (`reachable`) or none (`!reachable`). */
async function peerReaches(peer: NovaVm, ip: string, reachable: boolean, timeoutMs = 60_000): Promise<void> {
  await eventually(`peer ${reachable ? 'reaching' : 'no longer reaching'} ${ip}`, async () => ((await peer.pings(ip)) === reachable ? true : undefined), timeoutMs, 200);
}

describe('nested Kuryr, macvlan mode: containers inside a Nova VM on the real dataplane', () => {
  let network: Network;
  let subnet: Subnet;
  let group: SecurityGroup;
  let prefix = '';
  let vm: NovaVm;
  let peer: NovaVm;
  let cloud: CloudEndpoints;
  let daemon: NestedDaemon | undefined;
  let badDaemon: NestedDaemon | undefined;
  /** Why the tests are skipped (this kernel has no macvlan), or ''. */
  let unsupported = '';
  /** The pairs the VM port held before Kuryr ran: an operator's VIP, which Kuryr must never touch. */
  let operatorPairs: string[] = [];
  const driver = `kt-nested-${suffix}`;
  const dockerNet = `kt-nested-net-${suffix}`;
  let dockerNetId = '';
  const c1 = `kt-nested-c1-${suffix}`;
  /** As many containers as the VM port has room for next to the operator's pair (set in before). */
  let parallelNames: string[] = [];
  /** One container more than the VM port has room for. */
  const overflow = `kt-nested-over-${suffix}`;
  const figures: string[] = [];

  const skipped = (t: TestContext) => {
    if (unsupported) t.skip(unsupported);
    return unsupported !== '';
  };

  before(async () => {
    const cidr = await freeCidr(4);
    prefix = cidr.replace(/\.0\/24$/, '');
    network = await neutron.createNetwork({ name: `kt-nested-vmnet-${suffix}`, admin_state_up: true, tags: [VM_TAG] });
    // As nova-vm.test.ts: no DHCP (the VMs' addresses are configured), .200+ outside the pool.
    subnet = await neutron.createSubnet({
      name: `kt-nested-subnet-${suffix}`, network_id: network.id, ip_version: 4, cidr, gateway_ip: `${prefix}.1`, enable_dhcp: false,
      allocation_pools: [{ start: `${prefix}.2`, end: `${prefix}.199` }],
    } as never);
    // ICMP from anywhere: a drop seen below is then the anti-spoofing's, not the security group's.
    group = await neutron.createSecurityGroup({ name: `kt-nested-sg-${suffix}`, tags: [VM_TAG] });
    await neutron.createSecurityGroupRules([{ security_group_id: group.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp' }]);
    [vm, peer] = await Promise.all([
      NovaVm.boot('nm', { network: network.id, securityGroups: [group.id] }),
      NovaVm.boot('np', { network: network.id, securityGroups: [group.id] }),
    ]);
    // A VIP the operator gave the VM (keepalived-style, on the VM's own MAC): Kuryr must leave it be.
    await neutron.updatePort(vm.port.id, { allowed_address_pairs: [{ ip_address: `${prefix}.250` }] });
    operatorPairs = await vmPairs(vm);
    parallelNames = Array.from({ length: NEUTRON_MAX_PAIRS - operatorPairs.length }, (_, i) => `kt-nested-p${i}-${suffix}`);

    // The kernel must have macvlan devices; probed in the VM where Kuryr will make them.
    try {
      await vm.exec(['ip', 'link', 'add', 'link', LINK_IFACE, 'name', 'ktprobe', 'type', 'macvlan', 'mode', 'bridge']);
      await vm.exec(['ip', 'link', 'del', 'ktprobe']);
    } catch (err) {
      const text = (err as Error).message;
      if (!/Unknown device type|not supported/i.test(text)) throw err;
      unsupported = `this kernel has no macvlan devices: ${text.trim().split('\n').pop()}`;
      return;
    }

    await vm.startDockerd();
    cloud = await vm.reachCloud();
    const started = Date.now();
    daemon = spawnNestedDaemon(vm, cloud, driver, LINK_IFACE);
    await untilServing(daemon);
    figures.push(`nested daemon start (spawn -> Plugin.Activate answered): ${Date.now() - started} ms`);
  });

  after(async () => {
    // Safe after any failure: every step ignores what is already gone.
    if (vm && daemon && running(daemon)) {
      await removeContainers(vm, [c1, overflow, ...parallelNames]).catch(() => undefined);
      await vm.docker('network', 'rm', dockerNet).catch(() => undefined);
    }
    await stopDaemon(badDaemon).catch(() => undefined);
    await stopDaemon(daemon).catch(() => undefined);
    await Promise.all([vm?.destroy(), peer?.destroy()].map((p) => p?.catch(() => undefined)));
    if (network) {
      // What a failed run left of Kuryr's: its ports, and the subnet pool its IPAM made for the CIDR.
      for (const port of await kuryrPortsOn(network.id).catch(() => [])) await neutron.deletePort(port.id).catch(() => undefined);
      if (subnet) for (const pool of await kuryrPoolsFor(subnet.cidr).catch(() => [])) await neutron.deleteSubnetPool(pool.id).catch(() => undefined);
    }
    if (group) await neutron.deleteSecurityGroup(group.id).catch(() => undefined);
    if (network) await neutron.deleteNetwork(network.id).catch(() => undefined);
    for (const line of figures) console.log(`# nested-macvlan figure: ${line}`);
  });

  test('with a link_iface whose MAC no Neutron port has, the nested daemon exits at start with an error naming link_iface', async (t) => {
    if (skipped(t)) return;
    // An interface of the VM that is not its Neutron port's: a veth with a MAC the kernel made up.
    await vm.exec(['ip', 'link', 'add', 'ktnomac', 'type', 'veth', 'peer', 'name', 'ktnomacp']);
    t.after(() => vm.exec(['ip', 'link', 'del', 'ktnomac']).catch(() => undefined));
    badDaemon = spawnNestedDaemon(vm, cloud, `${driver}-bad`, 'ktnomac');
    const bad = badDaemon;
    await eventually(`kuryr-server ${bad.driver} exiting`, async () => (running(bad) ? undefined : true), 60_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}: it started although no Neutron port has link_iface's MAC\n${daemonOutput(bad)}`);
    });
    assert.notEqual(bad.child.exitCode, 0, `exit code (signal ${bad.child.signalCode})`);
    const output = daemonOutput(bad, 50);
    assert.match(output, /link_iface/, 'the error names the option');
    assert.match(output, /ktnomac/, 'the error names the interface');
    assert.ok(daemon && running(daemon), 'the good daemon still runs');
  });

  test('docker network create without -o neutron.net.* uses the VM port\'s Neutron network, tagged as an existing network', async (t) => {
    if (skipped(t)) return;
    await vm.docker('network', 'create', '-d', driver, '--ipam-driver', driver, '--subnet', subnet.cidr, dockerNet);
    dockerNetId = await vm.docker('network', 'inspect', '-f', '{{.Id}}', dockerNet);
    const tagged = await neutron.listNetworks({ tags: idTags(dockerNetId).join(',') });
    assert.deepEqual(tagged.map((n) => n.id), [network.id], 'the Docker network is the VM\'s Neutron network, and no other was made');
    assert.ok(tagged[0]!.tags.includes(existingNetworkTag(dockerNetId)), `tagged as existing (${tagged[0]!.tags.join(', ')}), so network rm leaves it`);
    assert.deepEqual((await neutron.listSubnets({ network_id: network.id })).map((s) => s.id), [subnet.id], 'no subnet was added to it');
  });

  test('a container in the VM and the peer VM reach each other; its port is unbound on the VM\'s network with its MAC; its eth0 is a macvlan child of the VM\'s eth0; the VM port holds its pair', async (t) => {
    if (skipped(t)) return;
    const started = Date.now();
    const c = await runContainer(vm, c1, dockerNet);
    const runMs = Date.now() - started;
    assert.match(c.ip, new RegExp(`^${prefix.replaceAll('.', '\\.')}\\.`), 'the container\'s address is in the VM\'s subnet');

    await containerReaches(vm, c1, peer.ip);
    const firstPingMs = Date.now() - started;
    await peerReaches(peer, c.ip, true);
    figures.push(`one container: docker run ${runMs} ms; first ping to the peer answered ${firstPingMs} ms after docker run started`);

    const port = await portOf(network.id, c.ip);
    assert.equal(port.device_owner, DEVICE_OWNER);
    assert.equal(port.network_id, network.id, 'on the VM port\'s network');
    assert.equal(port['binding:host_id'] ?? '', '', 'no host: no agent binds a nested container\'s port');
    assert.equal(port['binding:vif_type'], 'unbound');
    assert.equal(port.mac_address.toLowerCase(), c.mac, 'the port\'s MAC is the container\'s');

    assert.equal(c.macvlanMode, 'bridge', 'eth0 is a bridge-mode macvlan');
    const vmEth0 = Number(await vm.exec(['cat', `/sys/class/net/${LINK_IFACE}/ifindex`]));
    assert.equal(c.parentIfindex, vmEth0, `eth0's parent is the VM's ${LINK_IFACE}`);

    assert.deepEqual(await vmPairs(vm), [...operatorPairs, containerPair(c)].sort(), 'the VM port holds the operator\'s pairs and the container\'s');
  });

  test('the pair is what lets the container through: removed by hand, the peer no longer reaches the container; put back, it does again', async (t) => {
    if (skipped(t)) return;
    const c = await inspectContainer(vm, c1);
    const pair = containerPair(c);
    const held = (await vm.refresh()).allowed_address_pairs ?? [];
    assert.ok(held.some((p) => pairKey(p) === pair), 'the container\'s pair is there to begin with');

    const removed = Date.now();
    await neutron.updatePort(vm.port.id, { allowed_address_pairs: held.filter((p) => pairKey(p) !== pair) });
    // The agent updates the tap's ebtables and iptables rules a few seconds after the API change.
    await peerReaches(peer, c.ip, false);
    figures.push(`pair removed by hand: peer cut off ${Date.now() - removed} ms after the update`);
    assert.equal(await peer.pings(c.ip, { count: 3 }), false, 'without the pair the peer does not reach the container');
    await assert.rejects(vm.docker('exec', c1, 'ping', '-c', '2', '-W', '1', peer.ip), 'without the pair the container does not reach the peer');
    assert.ok(await vm.pings(peer.ip), 'the VM\'s own traffic still passes');

    const restored = Date.now();
    const now = (await vm.refresh()).allowed_address_pairs ?? [];
    await neutron.updatePort(vm.port.id, { allowed_address_pairs: [...now, { ip_address: c.ip, mac_address: c.mac }] });
    await peerReaches(peer, c.ip, true);
    figures.push(`pair put back by hand: peer reaches the container ${Date.now() - restored} ms after the update`);
    await containerReaches(vm, c1, peer.ip);
    assert.deepEqual(await vmPairs(vm), [...operatorPairs, pair].sort());
  });

  test('docker rm -f takes back exactly the container\'s pair, deletes its port, and its device is gone', async (t) => {
    if (skipped(t)) return;
    const c = await inspectContainer(vm, c1);
    const port = await portOf(network.id, c.ip);
    await vm.docker('rm', '-f', c1);
    await eventually('the container\'s pair removed from the VM port', async () => (!(await vmPairs(vm)).includes(containerPair(c)) ? true : undefined), 30_000).catch(() => false);
    assert.deepEqual(await vmPairs(vm), operatorPairs, 'only the container\'s pair went; the operator\'s VIP stays');
    await eventually(`port ${port.id} deleted`, async () => ((await neutron.listPorts({ id: port.id })).length === 0 ? true : undefined), 30_000).catch(() => false);
    assert.deepEqual((await neutron.listPorts({ id: port.id })).map((p) => p.id), [], 'the container\'s port is deleted');
    assert.deepEqual(await macvlansInVm(vm), [], 'no macvlan device left in the VM');
    assert.ok(await vm.pings(peer.ip), 'the VM\'s own traffic still passes');
  });

  test('as many containers as the VM port has room for, started at once, all reach the peer; the VM port holds exactly its former pairs plus theirs', async (t) => {
    if (skipped(t)) return;
    assert.ok(await vm.pings(peer.ip), 'the VM reaches the peer before');
    assert.deepEqual(await vmPairs(vm), operatorPairs, 'nothing of Kuryr\'s on the VM port to begin with');

    // Every attach is a read-modify-write of the same port: a lost update would lose a pair here.
    const started = Date.now();
    const runs = await Promise.allSettled(parallelNames.map((name) => runContainer(vm, name, dockerNet)));
    const runMs = Date.now() - started;
    assert.deepEqual(runs.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : [])), [], 'every docker run succeeds');
    const containers = runs.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    assert.equal(new Set(containers.map((c) => c.ip)).size, parallelNames.length, `distinct addresses: ${containers.map((c) => c.ip).join(', ')}`);
    assert.deepEqual(await vmPairs(vm), [...operatorPairs, ...containers.map(containerPair)].sort(), 'the former pairs plus one per container, none lost');

    await Promise.all(containers.map((c) => containerReaches(vm, c.name, peer.ip)));
    figures.push(`${containers.length} containers: docker run in parallel ${runMs} ms, all reaching the peer ${Date.now() - started} ms after the start`);
    for (const c of containers) {
      const port = await portOf(network.id, c.ip);
      assert.equal(port.mac_address.toLowerCase(), c.mac, `${c.name}: its port has its MAC`);
      assert.equal(c.macvlanMode, 'bridge', `${c.name}: eth0 is a bridge-mode macvlan`);
    }
  });

  test(`one container more than Neutron's max_allowed_address_pair (${NEUTRON_MAX_PAIRS}) lets the VM port hold: docker run fails naming the limit, and leaves no port, no pair, no device`, async (t) => {
    if (skipped(t)) return;
    const pairsBefore = await vmPairs(vm);
    const portsBefore = (await kuryrPortsOn(network.id)).map((p) => p.id).sort();
    assert.equal(pairsBefore.length, NEUTRON_MAX_PAIRS, 'the VM port is full');
    const error = await vm.docker('run', '-d', '--name', overflow, '--network', dockerNet, IMAGE, 'sleep', '3600').then(
      () => assert.fail('docker run succeeded past the VM port\'s limit of allowed address pairs'),
      (err: Error) => err.message,
    );
    assert.match(error, /AllowedAddressPairExhausted|allowed address pair/i, 'the error says why');
    assert.deepEqual(await vmPairs(vm), pairsBefore, 'the VM port\'s pairs are unchanged');
    assert.deepEqual((await kuryrPortsOn(network.id)).map((p) => p.id).sort(), portsBefore, 'no port is left of the failed container');
    assert.equal((await macvlansInVm(vm)).length, 0, 'no device is left of it in the VM');
    await removeContainers(vm, [overflow]);
    await containerReaches(vm, parallelNames[0]!, peer.ip, 10_000);
  });

  test('removing them all at once leaves the VM port exactly its former pairs, no port and no device; the VM still reaches the peer', async (t) => {
    if (skipped(t)) return;
    const removing = Date.now();
    await Promise.all(parallelNames.map((name) => vm.docker('rm', '-f', name)));
    // Waited for, then asserted: a failure then shows which pairs and ports stayed.
    const gone = await eventually('every container pair removed', async () => ((await vmPairs(vm)).length === operatorPairs.length ? true : undefined), 60_000).catch(() => false);
    if (gone) figures.push(`${parallelNames.length} containers: docker rm -f in parallel, pairs gone ${Date.now() - removing} ms after the start`);
    assert.deepEqual(await vmPairs(vm), operatorPairs, 'exactly the former pairs');
    await eventually('every container port deleted', async () => ((await kuryrPortsOn(network.id)).length === 0 ? true : undefined), 30_000).catch(() => false);
    assert.deepEqual((await kuryrPortsOn(network.id)).map((p) => `${p.id} ${p.fixed_ips[0]?.ip_address}`), [], 'every container port deleted');
    assert.deepEqual(await macvlansInVm(vm), [], 'no macvlan device left in the VM');
    assert.ok(await vm.pings(peer.ip), 'the VM reaches the peer after');
  });

  test('after docker network rm the VM\'s Neutron network and subnet are still there, untagged, and no Kuryr port or subnet pool is left for them', async (t) => {
    if (skipped(t)) return;
    // Docker refuses to remove a network with containers: those an earlier failure left go first.
    await removeContainers(vm, [c1, overflow, ...parallelNames]);
    await vm.docker('network', 'rm', dockerNet);
    const left = await neutron.listNetworks({ id: network.id });
    assert.equal(left.length, 1, 'the VM\'s network is the VM\'s: network rm leaves it');
    assert.deepEqual(left[0]!.tags, [VM_TAG], 'Kuryr\'s tags are gone from it');
    const subnets = await neutron.listSubnets({ network_id: network.id });
    assert.deepEqual(subnets.map((s) => `${s.id} ${s.cidr}`), [`${subnet.id} ${subnet.cidr}`], 'its subnet stays');
    assert.deepEqual(subnets[0]!.tags, subnet.tags, 'the subnet\'s tags are as before (no subnet pool ID left on it)');
    assert.deepEqual(await kuryrPortsOn(network.id), [], `no ${DEVICE_OWNER} port on it`);
    assert.deepEqual((await kuryrPoolsFor(subnet.cidr)).map((p) => `${p.id} ${p.name}`), [], 'no subnet pool Kuryr\'s IPAM made for the CIDR');
    assert.deepEqual(await vmPairs(vm), operatorPairs, 'the VM port holds the operator\'s pairs only');
    assert.equal((await vm.refresh()).status, 'ACTIVE', 'the VM port is untouched');
  });

  test('stopping the daemon and destroying the VMs leaves nothing behind', async (t) => {
    if (skipped(t)) return;
    // Containers an earlier failure left go while the daemon runs, so Kuryr deletes their ports.
    await removeContainers(vm, [c1, overflow, ...parallelNames]);
    await vm.docker('network', 'rm', dockerNet).catch(() => undefined);
    await stopDaemon(badDaemon);
    await stopDaemon(daemon);
    assert.ok(daemon && !running(daemon), 'the nested daemon exited');
    await Promise.all([vm.destroy(), peer.destroy()]);
    for (const v of [vm, peer]) assert.deepEqual(await v.leftovers(), { namespace: false, tap: false, port: false, dockerd: false }, v.ns);
    assert.deepEqual(await neutron.listPorts({ network_id: network.id, tags: VM_TAG }), [], 'no VM port is left on the network');
    assert.deepEqual(await kuryrPortsOn(network.id), [], `no ${DEVICE_OWNER} port is left on the network`);
  });
});
