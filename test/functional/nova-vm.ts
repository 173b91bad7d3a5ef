/**
 * A simulated Nova VM for the functional tests of Kuryr's nested modes (issue 10): by hand, what Nova
 * and os-vif do for a VM on a Linux bridge compute host, so that Neutron's real agent protects it.
 *
 * - Neutron: a port with device_owner `compute:nova`, bound to this host (`binding:host_id` = Kuryr's
 *   `hostname`, which is the Linux bridge agent's host), tagged `kuryr-test.vm`. It is not Kuryr's
 *   object and carries none of Kuryr's tags, so Kuryr's cleanup and gc never take it.
 * - The VM: a network namespace holding `eth0` with the port's MAC and IP and a default route via the
 *   subnet's gateway. Its veth peer on the host is `tap<port id[:11]>`, the name the agent watches.
 * - Plugging: once it sees that tap (polling, about 3 s here), the agent creates the network's bridge
 *   `brq<network id[:11]>` with its vxlan device, but it never plugs the tap of a `compute:*` port
 *   (os-vif does that for Nova), so the fixture waits for the bridge and plugs the tap into it. The
 *   agent then treats it as a VM's: ebtables anti-spoofing (MAC and ARP, from the port's MAC, fixed IPs
 *   and allowed_address_pairs), the security groups (iptables on the tap, with a source IP/MAC check),
 *   and the port turns ACTIVE, which is when `boot` returns.
 *
 * Where a nested Kuryr daemon runs: inside the VM's namespace. It creates macvlan (or ipvlan, vlan)
 * children of the VM's NIC (`link_iface` = `eth0`), which exists only there, and hands them by name
 * to the VM's dockerd, which looks for them in its own namespace. A daemon in the host's namespace
 * would reach Keystone on 127.0.0.1 but would make its children off the host's NIC: a test that passes
 * for a wrong reason. Inside the VM, 127.0.0.1 is the VM's own loopback, so the VM reaches the cloud
 * as a real VM does, over its own network: `reachCloud()` makes the host the subnet's gateway (the
 * gateway IP on the brq bridge, so the traffic crosses the tap and the agent's filters) and relays
 * that address's ports 5000 and 9696 to Keystone and Neutron on the host's loopback. The nested
 * daemon then needs `auth_url` and `[neutron] endpoint_override` naming the relay (Keystone's catalog
 * names 127.0.0.1, which inside the VM is nobody).
 *
 * How commands enter the VM:
 * - `exec` (and `command` for long-running processes, e.g. the nested kuryr-server) use
 *   `ip netns exec`, which also mounts a sysfs of the VM's namespace: /sys/class/net then lists the
 *   VM's devices. Kuryr's host layer reads it, so the nested daemon must be started this way.
 * - dockerd is started with `nsenter --net` instead: under `ip netns exec` it dies with "Devices cgroup
 *   isn't mounted" (the remounted /sys hides the cgroup mounts). It runs in a private mount namespace
 *   where /run/docker/plugins is the VM's own directory (`pluginDir`) and the other plugin paths are
 *   empty: like a real VM's dockerd it sees only the VM's plugins, never the host's Kuryr, so the
 *   nested daemon may serve any driver name, `kuryr` included, with its socket in `pluginDir`.
 *
 * `destroy` removes everything (dockerd, namespace, tap, port, the relay when no VM uses it any more)
 * and is safe to call after any failure, also halfway through `boot` (which calls it itself).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { config, docker, eventually, IMAGE, neutron, sh, uniq } from './harness.js';
import type { Port } from '../../src/openstack/neutron-types.js';

/** The tag on every Neutron object the fixture (and tests using it) create, so cleanup finds them. */
export const VM_TAG = 'kuryr-test.vm';

/** Where the dev stack's Keystone and Neutron listen (the host's loopback only). */
const CLOUD_SERVICES = [
  { port: 5000, target: { host: '127.0.0.1', port: 5000 } },
  { port: 9696, target: { host: '127.0.0.1', port: 9696 } },
] as const;

export interface VmOptions {
  /** Neutron network ID. */
  network: string;
  /** The IPv4 subnet to take the address from; by default the network's first IPv4 subnet. */
  subnet?: string;
  /** Security groups of the VM's port; by default Neutron gives the project's `default` group. */
  securityGroups?: string[];
}

/** How a process inside the VM reaches the cloud (see `reachCloud`). */
export interface CloudEndpoints {
  authUrl: string;
  neutronUrl: string;
}

/** What the agent's ebtables rules for a tap allow: source MACs, and ARP sender IPs. */
export interface SpoofRules {
  macs: string[];
  arpIps: string[];
}

/** One relay per network gateway, shared by the VMs of that network that asked for it. */
interface CloudRelay {
  address: string;
  bridge: string;
  servers: Server[];
  sockets: Set<Socket>;
  users: Set<string>;
}
const relays = new Map<string, Promise<CloudRelay>>();

export class NovaVm {
  /** Milliseconds from the port's creation to ACTIVE (with the tap plugged). */
  bootMs = 0;
  /** Milliseconds from the tap's creation to the agent's bridge existing. */
  bridgeMs = 0;
  /** Milliseconds from spawning dockerd to its API answering (0 until started). */
  dockerdMs = 0;
  /** The VM dockerd's process ID, once started. */
  dockerdPid: number | undefined;

  private constructor(
    /** Namespace name (also the name of the VM's dockerd files). */
    readonly ns: string,
    readonly port: Port,
    readonly networkId: string,
    /** The subnet's prefix length, e.g. 24. */
    readonly prefixLength: number,
    readonly gateway: string | null,
  ) {}

  get ip(): string {
    return this.port.fixed_ips[0]!.ip_address;
  }
  get mac(): string {
    return this.port.mac_address;
  }
  get tap(): string {
    return `tap${this.port.id.slice(0, 11)}`;
  }
  get bridge(): string {
    return `brq${this.networkId.slice(0, 11)}`;
  }
  get dockerHost(): string {
    return `unix:///run/docker-${this.ns}.sock`;
  }
  /** The VM dockerd's /run/docker/plugins: a nested Kuryr daemon puts its socket here. */
  get pluginDir(): string {
    return `/run/${this.ns}/plugins`;
  }
  private get dataRoot(): string {
    return `/var/lib/${this.ns}`;
  }
  private get execRoot(): string {
    return `/run/${this.ns}/exec`;
  }
  private get pidFile(): string {
    return `/run/${this.ns}/dockerd.pid`;
  }
  get dockerdLog(): string {
    return `/var/log/kuryr/${this.ns}-dockerd.log`;
  }

  /**
   * Boots a VM named `kt-vm-<name>-<random>` on `opts.network`: creates the port, the namespace and the
   * veth, plugs the tap once the agent made the bridge, and resolves when the port is ACTIVE.
   */
  static async boot(name: string, opts: VmOptions): Promise<NovaVm> {
    const started = Date.now();
    const subnet = opts.subnet
      ? await neutron.getSubnet(opts.subnet)
      : (await neutron.listSubnets({ network_id: opts.network, ip_version: 4 }))[0];
    if (!subnet) throw new Error(`network ${opts.network} has no IPv4 subnet for a VM`);
    const ns = `kt-vm-${name}-${uniq()}`;
    const port = await neutron.createPort({
      network_id: opts.network,
      name: ns,
      fixed_ips: [{ subnet_id: subnet.id }] as Port['fixed_ips'],
      device_owner: 'compute:nova',
      device_id: randomUUID(),
      'binding:host_id': config.hostname,
      tags: [VM_TAG],
      ...(opts.securityGroups ? { security_groups: opts.securityGroups } : {}),
    });
    const vm = new NovaVm(ns, port, opts.network, Number(subnet.cidr.split('/')[1]), subnet.gateway_ip);
    try {
      await vm.wire();
      await eventually(`VM port ${port.id} ACTIVE`, async () => ((await neutron.getPort(port.id)).status === 'ACTIVE' ? true : undefined), 90_000, 250);
      vm.bootMs = Date.now() - started;
      return vm;
    } catch (err) {
      await vm.destroy().catch(() => undefined);
      throw err;
    }
  }

  /** The namespace, the veth with the port's MAC and IP, and the tap in the agent's bridge. */
  private async wire(): Promise<void> {
    const peer = `ktv${uniq()}`;
    await sh('ip', ['netns', 'add', this.ns]);
    await sh('ip', ['link', 'add', this.tap, 'type', 'veth', 'peer', 'name', peer]);
    await sh('ip', ['link', 'set', peer, 'netns', this.ns]);
    await this.exec(['ip', 'link', 'set', peer, 'address', this.mac, 'name', 'eth0']);
    await this.exec(['ip', 'addr', 'add', `${this.ip}/${this.prefixLength}`, 'dev', 'eth0']);
    await this.exec(['ip', 'link', 'set', 'lo', 'up']);
    await this.exec(['ip', 'link', 'set', 'eth0', 'up']);
    if (this.gateway) await this.exec(['ip', 'route', 'add', 'default', 'via', this.gateway]);
    await sh('ip', ['link', 'set', this.tap, 'up']);
    const tapUp = Date.now();
    // The agent makes the bridge when it sees a tap of a port bound to its host, whatever the owner.
    await eventually(`the agent's bridge ${this.bridge}`, async () => (linkExists(this.bridge) ? true : undefined), 60_000, 100);
    this.bridgeMs = Date.now() - tapUp;
    await sh('ip', ['link', 'set', this.tap, 'master', this.bridge]);
  }

  /** Runs a command in the VM (with the VM's sysfs) and returns its stdout. */
  exec(cmd: string[], timeoutMs = 60_000): Promise<string> {
    return sh('ip', ['netns', 'exec', this.ns, ...cmd], timeoutMs);
  }

  /** The argv that runs `cmd` in the VM, for processes a test spawns itself (a nested kuryr-server). */
  command(cmd: string[]): string[] {
    return ['ip', 'netns', 'exec', this.ns, ...cmd];
  }

  /**
   * True when one of `count` pings (default 1, 0.2 s apart) from the VM, or from `opts.ns`, a
   * namespace of a container inside it, gets an answer within `waitSeconds` (default 1).
   */
  async pings(ip: string, opts: { ns?: string; count?: number; waitSeconds?: number } = {}): Promise<boolean> {
    const ns = opts.ns ?? this.ns;
    try {
      await sh('ip', ['netns', 'exec', ns, 'ping', '-c', String(opts.count ?? 1), '-i', '0.2', '-W', String(opts.waitSeconds ?? 1), ip], 30_000);
      return true;
    } catch {
      return false;
    }
  }

  /** The port as Neutron has it now. */
  refresh(): Promise<Port> {
    return neutron.getPort(this.port.id);
  }

  /** What the agent's ebtables anti-spoofing chains for this VM's tap allow (empty when absent). */
  async spoofRules(): Promise<SpoofRules> {
    const chain = async (name: string) => sh('ebtables', ['-t', 'nat', '-L', `${name}-${this.tap}`]).catch(() => '');
    // ebtables prints MAC bytes without leading zeros (02:00:.. as 2:0:..): give them back.
    const macs = [...(await chain('neutronMAC')).matchAll(/--among-src ([0-9a-f:,]+)/gi)]
      .flatMap((m) => m[1]!.split(',').filter(Boolean))
      .map((mac) => mac.split(':').map((b) => b.toLowerCase().padStart(2, '0')).join(':'));
    const arpIps = [...(await chain('neutronARP')).matchAll(/--arp-ip-src ([0-9a-f.:/]+)/g)].map((m) => m[1]!);
    return { macs, arpIps };
  }

  /**
   * Makes Keystone and Neutron reachable from inside the VM at the subnet's gateway, as a real VM
   * reaches its cloud's APIs through its router: the gateway IP on the agent's bridge and a TCP
   * relay from there to the services on the host's loopback.
   */
  async reachCloud(): Promise<CloudEndpoints> {
    const gateway = this.gateway;
    if (!gateway) throw new Error(`VM ${this.ns}: its subnet has no gateway to reach the cloud through`);
    let relay = relays.get(this.networkId);
    if (!relay) {
      relay = startRelay(`${gateway}/${this.prefixLength}`, this.bridge);
      relays.set(this.networkId, relay);
      relay.catch(() => relays.delete(this.networkId));
    }
    (await relay).users.add(this.ns);
    return { authUrl: `http://${gateway}:5000/v3`, neutronUrl: `http://${gateway}:9696` };
  }

  /**
   * Starts the VM's own dockerd (see the module comment) and loads the test image into it.
   * Resolves once its API answers.
   */
  async startDockerd(): Promise<void> {
    for (const dir of [this.pluginDir, `/run/${this.ns}/empty`, this.execRoot, this.dataRoot, '/var/log/kuryr']) mkdirSync(dir, { recursive: true });
    const started = Date.now();
    const log = openSync(this.dockerdLog, 'a');
    // The mounts exist only in dockerd's private mount namespace: the host never sees them.
    const mounts = 'mount --bind "$1" /run/docker/plugins && { [ ! -d /usr/lib/docker/plugins ] || mount --bind "$2" /usr/lib/docker/plugins; } && { [ ! -d /etc/docker/plugins ] || mount --bind "$2" /etc/docker/plugins; } && shift 2 && exec "$@"';
    const child = spawn('nsenter', [
      `--net=/run/netns/${this.ns}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', mounts, 'sh', this.pluginDir, `/run/${this.ns}/empty`,
      '/usr/sbin/dockerd', '-H', this.dockerHost, '--pidfile', this.pidFile, '--data-root', this.dataRoot, '--exec-root', this.execRoot,
      '--bridge=none', '--iptables=false', '--ip-masq=false', '--storage-driver=vfs',
    ], { stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    child.unref();
    this.dockerdPid = child.pid;
    await eventually(`the dockerd of VM ${this.ns} answering (log: ${this.dockerdLog})`, async () => {
      if (child.exitCode !== null) throw new Error(`dockerd exited with ${child.exitCode}: ${readFileSync(this.dockerdLog, 'utf8').split('\n').slice(-5).join(' | ')}`);
      return (await this.docker('version', '--format', '{{.Server.Version}}')) ? true : undefined;
    }, 60_000, 200);
    this.dockerdMs = Date.now() - started;
    await sh('bash', ['-c', `set -o pipefail; /usr/bin/docker save ${IMAGE} | /usr/bin/docker -H ${this.dockerHost} load`], 120_000);
  }

  /** The Docker CLI against the VM's dockerd. */
  docker(...args: string[]): Promise<string> {
    return docker('-H', this.dockerHost, ...args);
  }

  /** Removes the VM: dockerd (with its containers), namespace, tap, port, relay. Idempotent. */
  async destroy(): Promise<void> {
    await this.stopDockerd();
    await sh('ip', ['netns', 'del', this.ns]).catch(() => undefined);
    // Deleting the namespace deletes the veth; a tap left by a failed boot goes here.
    if (linkExists(this.tap)) await sh('ip', ['link', 'del', this.tap]).catch(() => undefined);
    await this.leaveRelay();
    rmSync(`/run/${this.ns}`, { recursive: true, force: true });
    rmSync(this.dataRoot, { recursive: true, force: true });
    await neutron.deletePort(this.port.id);
  }

  /** What of the VM still exists: the namespace, the tap, the port (all false after `destroy`). */
  async leftovers(): Promise<{ namespace: boolean; tap: boolean; port: boolean; dockerd: boolean }> {
    const namespaces = (await sh('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]);
    return {
      namespace: namespaces.includes(this.ns),
      tap: linkExists(this.tap),
      port: (await neutron.listPorts({ id: this.port.id })).length > 0,
      dockerd: this.dockerdPid !== undefined && processAlive(this.dockerdPid),
    };
  }

  private async stopDockerd(): Promise<void> {
    const pid = this.dockerdPid;
    if (pid === undefined) return;
    // The pid is nsenter's, which exec'd into unshare, sh, then dockerd: one process all along.
    if (processAlive(pid)) process.kill(pid, 'SIGTERM');
    const stopped = await eventually(`dockerd ${pid} of VM ${this.ns} stopping`, async () => (processAlive(pid) ? undefined : true), 30_000, 200).catch(() => false);
    if (!stopped) process.kill(pid, 'SIGKILL');
    rmSync(this.dockerHost.replace('unix://', ''), { force: true });
  }

  private async leaveRelay(): Promise<void> {
    const pending = relays.get(this.networkId);
    if (!pending) return;
    const relay = await pending.catch(() => undefined);
    if (!relay) return;
    relay.users.delete(this.ns);
    if (relay.users.size > 0) return;
    relays.delete(this.networkId);
    for (const s of relay.sockets) s.destroy();
    await Promise.all(relay.servers.map((s) => new Promise((r) => s.close(r))));
    // The bridge is gone when the network's last port went; otherwise take the gateway address back.
    await sh('ip', ['addr', 'del', relay.address, 'dev', relay.bridge]).catch(() => undefined);
  }
}

async function startRelay(address: string, bridge: string): Promise<CloudRelay> {
  const listenIp = address.split('/')[0]!;
  await sh('ip', ['addr', 'replace', address, 'dev', bridge]);
  const relay: CloudRelay = { address, bridge, servers: [], sockets: new Set(), users: new Set() };
  try {
    for (const service of CLOUD_SERVICES) relay.servers.push(await relayService(relay, listenIp, service));
  } catch (err) {
    await Promise.all(relay.servers.map((s) => new Promise((r) => s.close(r))));
    await sh('ip', ['addr', 'del', address, 'dev', bridge]).catch(() => undefined);
    throw err;
  }
  return relay;
}

/** One service's relay: every connection to listenIp:port is piped to the service on loopback. */
async function relayService(relay: CloudRelay, listenIp: string, service: (typeof CLOUD_SERVICES)[number]): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect(service.target.port, service.target.host);
    for (const s of [client, upstream]) {
      relay.sockets.add(s);
      s.on('close', () => relay.sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(service.port, listenIp, resolve);
  });
  return server;
}

/** In the host's namespace: the test process's sysfs is the host's. */
function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

function processAlive(pid: number): boolean {
  // A dead child not yet reaped is a zombie: that is not alive.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
