/**
 * Two Docker hosts in one Docker Swarm, for the multi-host Swarm tests (issue 11 §2).
 *
 * Each host is a simulated Nova VM (nova-vm.ts): a network namespace whose eth0 carries a Neutron
 * port's MAC and IP, plugged into the Linux bridge agent's bridge, with its own dockerd started in
 * that namespace. Swarm's traffic between the hosts (2377/tcp manager API, 7946/tcp+udp gossip,
 * 4789/udp VXLAN data path) therefore crosses the agent's dataplane: the VM ports' anti-spoofing and
 * their security group, which opens those ports as an operator opens them for Swarm nodes on a cloud.
 *
 * Why VMs and not a second Linux bridge agent: Swarm on OpenStack runs on Nova VMs, whose containers
 * Kuryr serves in nested mode (macvlan children of the VM's NIC, allowed address pairs on its port),
 * which the VM simulation exercises against the real agent; a second agent on this machine would
 * need a network namespace and VXLAN endpoint of its own and still be one kernel's bridges.
 *
 * Neither host is the stack's dockerd: swarm mode there would change what the other functional
 * tests (which share that dockerd, some concurrently) see, e.g. a global-scope network would be
 * allowed. Both dockerds start their own containerd (no system containerd socket exists), as
 * children in the VM's namespace, so a managed plugin's "host network" is the VM's.
 *
 * `destroy` leaves the swarm on both hosts, stops the dockerds and removes namespaces, taps, data
 * roots (swarm state included), ports and the network; it is safe after any failure.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { CONFIG_FILES, eventually, neutron, REPO, sh } from './harness.js';
import { NovaVm, type CloudEndpoints } from './nova-vm.js';
import { parseIni } from '../../src/config/ini.js';
import { createVmNetwork, removeVmNetwork, type Ini, type VmNetwork } from './nested-daemon.js';

/** The managed plugin as scripts/build-plugin.sh names it; Docker needs the tag in a driver name. */
export const PLUGIN = 'kuryr/libnetwork2:latest';
/** This build's compiled tree (holding src/), which build-plugin.sh lays into the plugin's rootfs. */
const DIST = new URL('../..', import.meta.url).pathname;

/** Swarm's ports between nodes (docs.docker.com, "Open protocols and ports between the hosts"). */
const SWARM_PORTS = [
  { protocol: 'tcp', port: 2377 },
  { protocol: 'tcp', port: 7946 },
  { protocol: 'udp', port: 7946 },
  { protocol: 'udp', port: 4789 },
] as const;

export interface SwarmNode {
  /** 'manager' or 'worker'. */
  role: string;
  vm: NovaVm;
  /** The host's directory mounted as the plugin's /etc/kuryr (its kuryr.conf), once installed. */
  configDir?: string;
  /** Swarm's node ID. */
  nodeId: string;
  docker(...args: string[]): Promise<string>;
}

/** A swarm task's container on one node, as that node's dockerd shows it. */
export interface TaskContainer {
  node: SwarmNode;
  id: string;
  ip: string;
  mac: string;
}

export class SwarmHosts {
  manager!: SwarmNode;
  worker!: SwarmNode;
  /** Milliseconds: booting both VMs (ports ACTIVE) and starting their dockerds; init + join. */
  readonly timings: Record<string, number> = {};

  private constructor(
    readonly name: string,
    /** What createVmNetwork made so far (for destroy after a failure halfway). */
    readonly made: Partial<VmNetwork>,
    private readonly vms: NovaVm[],
  ) {}

  get network(): VmNetwork {
    return this.made as VmNetwork;
  }
  get nodes(): SwarmNode[] {
    return [this.manager, this.worker];
  }

  /**
   * Makes the hosts' Neutron network and security group (ICMP and Swarm's ports from the subnet),
   * boots two VMs on it, starts their dockerds (the test image loaded in each), makes the first
   * the manager of a new swarm (advertising its VM address) and joins the second as a worker.
   */
  static async create(name: string): Promise<SwarmHosts> {
    const hosts = new SwarmHosts(name, {}, []);
    try {
      await hosts.boot();
      await hosts.formSwarm();
      return hosts;
    } catch (err) {
      await hosts.destroy();
      throw err;
    }
  }

  private async boot(): Promise<void> {
    let started = Date.now();
    const { network, group, subnet } = await createVmNetwork(this.name, { icmp: true, pooled: true }, this.made);
    await neutron.createSecurityGroupRules(SWARM_PORTS.map(({ protocol, port }) => ({
      security_group_id: group.id, direction: 'ingress', ethertype: 'IPv4', protocol, port_range_min: port, port_range_max: port, remote_ip_prefix: subnet.cidr,
    })));
    const booted = await Promise.allSettled(['sm', 'sw'].map((n) => NovaVm.boot(n, { network: network.id, securityGroups: [group.id] })));
    for (const b of booted) if (b.status === 'fulfilled') this.vms.push(b.value);
    for (const b of booted) if (b.status === 'rejected') throw b.reason;
    this.timings['VMs booted (ports ACTIVE)'] = Date.now() - started;
    // No registry: a task's image is loaded on each host, but the hosts still try to pull it first,
    // and the host's name servers are not reachable from the VMs (no NAT), so every lookup waited
    // out its timeout (measured: tasks running after 34-61 s, or not within 3 min). Unreachable
    // routes make the lookups fail at once, as in a VM without Internet access.
    const nameservers = [...readFileSync('/etc/resolv.conf', 'utf8').matchAll(/^nameserver\s+([0-9.]+)\s*$/gm)].map((m) => m[1]!);
    for (const vm of this.vms) for (const ip of nameservers) await vm.exec(['ip', 'route', 'add', 'unreachable', `${ip}/32`]);
    started = Date.now();
    await Promise.all(this.vms.map((vm) => vm.startDockerd()));
    this.timings['dockerds started, image loaded'] = Date.now() - started;
  }

  private async formSwarm(): Promise<void> {
    const started = Date.now();
    const [managerVm, workerVm] = this.vms as [NovaVm, NovaVm];
    await managerVm.docker('swarm', 'init', '--advertise-addr', managerVm.ip, '--listen-addr', `${managerVm.ip}:2377`);
    const token = await managerVm.docker('swarm', 'join-token', '-q', 'worker');
    await workerVm.docker('swarm', 'join', '--token', token, '--advertise-addr', workerVm.ip, '--listen-addr', `${workerVm.ip}:2377`, `${managerVm.ip}:2377`);
    const node = async (role: string, vm: NovaVm): Promise<SwarmNode> => ({
      role, vm, nodeId: await vm.docker('info', '-f', '{{.Swarm.NodeID}}'), docker: (...args: string[]) => vm.docker(...args),
    });
    this.manager = await node('manager', managerVm);
    this.worker = await node('worker', workerVm);
    await eventually('both swarm nodes Ready', async () => {
      const states = (await managerVm.docker('node', 'ls', '--format', '{{.Status}}')).split('\n');
      return states.length === 2 && states.every((s) => s === 'Ready') ? true : undefined;
    }, 60_000, 500);
    this.timings['swarm init + join, both nodes Ready'] = Date.now() - started;
  }

  /**
   * The managed plugin on both hosts, enabled: built once by scripts/build-plugin.sh into the
   * manager's dockerd (its plugin directory kept in a temporary directory) and created from that
   * directory on the worker, as an operator without a registry copies a plugin to another node.
   * Each host's plugin reads its own kuryr.conf (the `config` mount's source, set while disabled):
   * the stack's options and credentials with nested mode on the VM's eth0, global scope, and
   * Keystone and Neutron at the VM's gateway relay; its Docker is its own host's dockerd.
   */
  async installPlugin(extra: Ini = {}): Promise<void> {
    let started = Date.now();
    const cloud = await Promise.all(this.vms.map((vm) => vm.reachCloud()));
    const dir = mkdtempSync('/var/tmp/kt-swarm-plugin-');
    try {
      await sh('env', [`DOCKER_HOST=${this.manager.vm.dockerHost}`, 'bash', `${REPO}scripts/build-plugin.sh`, '--dist', DIST, '--dir', `${dir}/plugin`], 900_000);
      this.timings['plugin built and created on the manager'] = Date.now() - started;
      started = Date.now();
      await this.worker.docker('plugin', 'create', PLUGIN, `${dir}/plugin`);
      this.timings['plugin created on the worker from the same directory'] = Date.now() - started;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    started = Date.now();
    await Promise.all(this.nodes.map(async (node, i) => {
      node.configDir = writeHostConfig(node.vm, cloud[i]!, extra);
      await node.docker('plugin', 'set', PLUGIN, `config.source=${node.configDir}`, `docker-socket.source=${node.vm.dockerHost.replace('unix://', '')}`);
      await node.docker('plugin', 'enable', PLUGIN);
    }));
    this.timings['plugin set and enabled on both hosts'] = Date.now() - started;
    // Swarm places a task only on nodes whose description lists its network plugin, which a node
    // reports some seconds after the plugin is enabled: a service created before that runs all
    // its tasks on the nodes that had reported it.
    started = Date.now();
    await eventually(`the swarm manager listing ${PLUGIN} on both nodes`, async () => {
      const listed = await Promise.all(this.nodes.map(async (node) => (await this.manager.docker('node', 'inspect', '-f', '{{range .Description.Engine.Plugins}}{{.Type}}={{.Name}} {{end}}', node.nodeId)).split(' ').includes(`Network=${PLUGIN}`)));
      return listed.every(Boolean) ? true : undefined;
    }, 120_000, 1000);
    this.timings['plugin listed by the manager on both nodes'] = Date.now() - started;
  }

  /** The running containers of a service's tasks on each node, with their address on `network`. */
  async taskContainers(service: string, network: string): Promise<TaskContainer[]> {
    const found: TaskContainer[] = [];
    for (const node of this.nodes) {
      const ids = (await node.docker('ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`)).split('\n').filter(Boolean);
      for (const id of ids) {
        const [ip = '', mac = ''] = (await node.docker('inspect', '-f', `{{with index .NetworkSettings.Networks "${network}"}}{{.IPAddress}} {{.MacAddress}}{{end}}`, id)).split(' ');
        found.push({ node, id, ip, mac });
      }
    }
    return found;
  }

  /** Waits until the service has exactly `replicas` running containers, spread over both nodes when ≥ 2. */
  async untilRunning(service: string, network: string, replicas: number, timeoutMs = 180_000): Promise<TaskContainer[]> {
    return eventually(`${replicas} running tasks of ${service} on both nodes`, async () => {
      const tasks = await this.taskContainers(service, network);
      if (tasks.length !== replicas || tasks.some((t) => !t.ip)) return undefined;
      if (replicas >= 2 && new Set(tasks.map((t) => t.node.role)).size < 2) return undefined;
      return tasks;
    }, timeoutMs, 1000);
  }

  /**
   * Leaves the swarm on both hosts (worker first), destroys the VMs (dockerds, namespaces, taps,
   * data roots with the swarm state, ports) and the network with what Kuryr left on it.
   * Never throws; answers what could not be removed.
   */
  async destroy(): Promise<string[]> {
    const leftovers: string[] = [];
    for (const vm of [...this.vms].reverse()) {
      await vm.docker('swarm', 'leave', '--force').catch(() => undefined);
      // A plugin still enabled would be stopped by dockerd's shutdown too; disabling says so first.
      await vm.docker('plugin', 'disable', '--force', PLUGIN).catch(() => undefined);
    }
    for (const vm of this.vms) await vm.destroy().catch((err: Error) => leftovers.push(`VM ${vm.ns}: ${err.message.split('\n')[0]}`));
    leftovers.push(...(await removeVmNetwork(this.made)));
    return leftovers;
  }
}

/**
 * The host's kuryr.conf for its plugin, in a root-only directory under the VM's run directory
 * (removed with the VM): the stack's options (credentials included: they stay on the host) with
 * the nested host's options over them.
 */
function writeHostConfig(vm: NovaVm, cloud: CloudEndpoints, extra: Ini): string {
  const dir = `/run/${vm.ns}/kuryr`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const options: Ini = {};
  for (const file of CONFIG_FILES) {
    for (const [section, entries] of parseIni(readFileSync(file, 'utf8'), file).sections) {
      options[section] = { ...options[section], ...Object.fromEntries([...entries].map(([k, e]) => [k, e.value])) };
    }
  }
  const nested: Ini = {
    DEFAULT: { capability_scope: 'global', default_port_driver: 'nested', enabled_port_drivers: 'nested', kuryr_uri: '', metrics_listen: '', debug: 'True' },
    binding: { default_driver: 'macvlan', enabled_drivers: 'macvlan', link_iface: 'eth0' },
    // No agent binds a nested container's port: it never turns ACTIVE.
    neutron: { auth_url: cloud.authUrl, endpoint_override: cloud.neutronUrl, vif_plugging_is_fatal: 'False' },
    vif_pool: { enabled: 'False' },
  };
  for (const layer of [nested, extra]) {
    for (const [section, values] of Object.entries(layer)) options[section] = { ...options[section], ...values };
  }
  // A value of several lines continues on indented lines.
  const text = Object.entries(options)
    .map(([section, values]) => `[${section}]\n${Object.entries(values).map(([k, v]) => `${k} = ${v.replaceAll('\n', '\n  ')}`).join('\n')}\n`)
    .join('\n');
  writeFileSync(`${dir}/kuryr.conf`, text, { mode: 0o600 });
  return dir;
}
