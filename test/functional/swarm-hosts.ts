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
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { eventually, neutron } from './harness.js';
import { NovaVm } from './nova-vm.js';
import { createVmNetwork, removeVmNetwork, type VmNetwork } from './nested-daemon.js';

/** Swarm's ports between nodes (docs.docker.com, "Open protocols and ports between the hosts"). */
const SWARM_PORTS = [
  { protocol: 'tcp', port: 2377 },
  { protocol: 'tcp', port: 7946 },
  { protocol: 'udp', port: 7946 },
  { protocol: 'udp', port: 4789 },
] as const;

/** Docker's directory of legacy plugin spec files. */
const SPEC_DIR = '/usr/lib/docker/plugins';

export interface SwarmNode {
  /** 'manager' or 'worker'. */
  role: string;
  vm: NovaVm;
  /** Swarm's node ID. */
  nodeId: string;
  docker(...args: string[]): Promise<string>;
}

/** A swarm task's container on one node, as that node's dockerd shows it. */
export interface TaskContainer {
  node: SwarmNode;
  id: string;
  ip: string;
}

export class SwarmHosts {
  manager!: SwarmNode;
  worker!: SwarmNode;
  /** Milliseconds: booting both VMs (ports ACTIVE) and starting their dockerds; init + join. */
  readonly timings: Record<string, number> = {};
  private madeSpecDir = false;

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
    const { network, group, subnet } = await createVmNetwork(this.name, { icmp: true }, this.made);
    await neutron.createSecurityGroupRules(SWARM_PORTS.map(({ protocol, port }) => ({
      security_group_id: group.id, direction: 'ingress', ethertype: 'IPv4', protocol, port_range_min: port, port_range_max: port, remote_ip_prefix: subnet.cidr,
    })));
    const booted = await Promise.allSettled(['sm', 'sw'].map((n) => NovaVm.boot(n, { network: network.id, securityGroups: [group.id] })));
    for (const b of booted) if (b.status === 'fulfilled') this.vms.push(b.value);
    for (const b of booted) if (b.status === 'rejected') throw b.reason;
    this.timings['VMs booted (ports ACTIVE)'] = Date.now() - started;
    started = Date.now();
    // nova-vm.ts binds an empty directory over Docker's legacy spec directory, which a machine whose
    // Kuryr writes no spec file may not have: made here (empty) and removed by destroy.
    if (!existsSync(SPEC_DIR)) {
      mkdirSync(SPEC_DIR, { recursive: true });
      this.madeSpecDir = true;
    }
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

  /** The running containers of a service's tasks on each node, with their address on `network`. */
  async taskContainers(service: string, network: string): Promise<TaskContainer[]> {
    const found: TaskContainer[] = [];
    for (const node of this.nodes) {
      const ids = (await node.docker('ps', '-q', '--filter', `label=com.docker.swarm.service.name=${service}`)).split('\n').filter(Boolean);
      for (const id of ids) {
        const ip = await node.docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, id);
        found.push({ node, id, ip });
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
    }
    for (const vm of this.vms) await vm.destroy().catch((err: Error) => leftovers.push(`VM ${vm.ns}: ${err.message.split('\n')[0]}`));
    leftovers.push(...(await removeVmNetwork(this.made)));
    if (this.madeSpecDir) {
      try {
        rmdirSync(SPEC_DIR);
        rmdirSync(dirname(SPEC_DIR));
      } catch {
        // not empty: something else uses it now
      }
    }
    return leftovers;
  }
}
