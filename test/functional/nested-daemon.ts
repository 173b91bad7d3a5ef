/**
 * Fixtures of the nested tests and the benchmark. A nested Kuryr daemon: this build's kuryr-server started
 * inside a simulated Nova VM (nova-vm.ts) with `default_port_driver = nested` and macvlan children of
 * the VM's NIC. It runs in the VM's namespace (`vm.command`: its sysfs must be the VM's) and reaches
 * Keystone and Neutron over the VM's network (`vm.reachCloud()`), its socket in the VM dockerd's plugin
 * directory under a driver name of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { CONFIG_FILES, config, eventually, neutron, terminate } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { kuryrGcIn } from './kuryr-gc.js';
import { VM_TAG, type CloudEndpoints, type NovaVm } from './nova-vm.js';
import { unixJson } from '../../src/cli/unix-http.js';
import { DEVICE_OWNER, SUBNETPOOL_OWNED_TAG, subnetPoolName } from '../../src/libnetwork/naming.js';
import type { Creatable, Network, SecurityGroup, Subnet, SubnetPool } from '../../src/openstack/neutron-types.js';

const SERVER = new URL('../../src/cli/kuryr-server.js', import.meta.url).pathname;


export type Ini = Record<string, Record<string, string>>;

function renderIni(sections: Ini): string {
  return Object.entries(sections)
    .map(([section, options]) => `[${section}]\n${Object.entries(options).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`)
    .join('\n');
}

/** A kuryr-server running (or having run) in a VM's namespace. */
export interface NestedDaemon {
  /** The Docker driver name: Docker names a plugin after its socket file. */
  driver: string;
  socketPath: string;
  logFile: string;
  configFile: string;
  child: ChildProcess;
}

export const running = (d: NestedDaemon) => d.child.exitCode === null && d.child.signalCode === null;

/** The last lines of the daemon's stdout/stderr and of its log file, for failure messages. */
export function daemonOutput(d: NestedDaemon, lines = 15): string {
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
 * no discovery file, no pools; `extra` adds or replaces options.
 */
export function spawnNestedDaemon(vm: NovaVm, cloud: CloudEndpoints, driver: string, linkIface: string, extra: Ini = {}): NestedDaemon {
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
  for (const [section, options] of Object.entries(extra)) overrides[section] = { ...overrides[section], ...options };
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
export async function untilServing(d: NestedDaemon, timeoutMs = 60_000): Promise<void> {
  await eventually(`kuryr-server ${d.driver} answering Plugin.Activate on ${d.socketPath}`, async () => {
    if (!running(d)) throw new Error(`exited (code ${d.child.exitCode}, signal ${d.child.signalCode})\n${daemonOutput(d)}`);
    const answer = await unixJson(d.socketPath, 'POST', '/Plugin.Activate', undefined, 2000).catch(() => undefined);
    return answer?.status === 200 ? true : undefined;
  }, timeoutMs, 200).catch((err: Error) => {
    throw new Error(`${err.message}\n${daemonOutput(d)}`);
  });
}

/** SIGTERM (SIGKILL after 10 s), then removes its config file and socket. Idempotent. */
export async function stopDaemon(d: NestedDaemon | undefined): Promise<void> {
  if (!d) return;
  if (running(d)) await terminate(d.child);
  rmSync(d.configFile, { force: true });
  rmSync(d.socketPath, { force: true });
}

/** `kuryr gc` as an operator runs it inside the VM: this build's CLI with the nested daemon's config files. */
export function nestedGc(vm: NovaVm, d: NestedDaemon, ...args: string[]): Promise<{ code: number; lines: string[] }> {
  return kuryrGcIn({ configFiles: [...CONFIG_FILES, d.configFile], inside: (cmd) => vm.command(cmd) }, ...args);
}

/** What a ping that ran until stopped saw: echoes out and back, and the runs of lost echoes. */
export interface PingRecord {
  transmitted: number;
  received: number;
  summary: string;
  /** Each run of consecutive lost echoes: how many, and the time of the last echo answered before it. */
  gaps: { lost: number; after: string }[];
}

export interface ContinuousPing {
  stop(): Promise<PingRecord>;
}

/** Pings `ip` from the VM every 200 ms until stopped: a drop of the VM's own traffic shows as a gap. */
export function pingContinuously(vm: NovaVm, ip: string): ContinuousPing {
  const [cmd, ...argv] = vm.command(['ping', '-D', '-i', '0.2', '-W', '1', ip]);
  const child = spawn(cmd!, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  /** Answered sequence numbers and when (ping -D prints the epoch time of each answer). */
  const answered = new Map<number, number>();
  let pending = '';
  let tail = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const echo = /^\[(\d+\.\d+)\].*icmp_seq=(\d+)/.exec(line);
      if (echo) answered.set(Number(echo[2]), Number(echo[1]) * 1000);
      tail = (tail + line + '\n').slice(-2048); // the statistics come last
    }
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    async stop() {
      child.kill('SIGINT'); // ping prints its statistics on SIGINT
      await closed;
      const summary = /(\d+) packets transmitted, (\d+) received[^\n]*/.exec(tail + pending);
      if (!summary) throw new Error(`ping ${ip} from ${vm.ns} printed no statistics: ${(tail + pending).slice(-500)}`);
      const transmitted = Number(summary[1]);
      const gaps: PingRecord['gaps'] = [];
      let lastAnswer = 0;
      for (let seq = 1; seq <= transmitted; seq++) {
        const at = answered.get(seq);
        if (at !== undefined) lastAnswer = at;
        else if (answered.has(seq - 1) || seq === 1) gaps.push({ lost: 1, after: new Date(lastAnswer).toISOString() });
        else gaps[gaps.length - 1]!.lost++;
      }
      return { transmitted, received: Number(summary[2]), summary: summary[0], gaps };
    },
  };
}

/** A Neutron network for simulated VMs and their nested containers, with what Kuryr may leave on it. */
export interface VmNetwork {
  network: Network;
  /** No DHCP (the VMs' addresses are configured); .2–.199 for Neutron, .200 and up for hand-picked addresses. */
  subnet: Subnet;
  group: SecurityGroup;
  /** The subnet's first three octets. */
  prefix: string;
  /** With `pooled`: the operator's subnet pool the subnet comes from, holding a second free /24 for Docker networks. */
  pool?: SubnetPool;
}

/**
 * Creates the network, its subnet on a free /24 and a security group (allowing ICMP from anywhere with
 * `icmp`), filling `made` as it goes so removeVmNetwork cleans up after a failure halfway.
 */
export async function createVmNetwork(name: string, opts: { icmp: boolean; pooled?: boolean }, made: Partial<VmNetwork> = {}): Promise<VmNetwork> {
  const cidr = await freeCidr(4);
  const prefix = (made.prefix = cidr.replace(/\.0\/24$/, ''));
  const network = (made.network = await neutron.createNetwork({ name: `${name}-vmnet`, admin_state_up: true, tags: [VM_TAG] }));
  if (opts.pooled) {
    // Neutron allocates every subnet of a network from one pool or none (subnet pool affinity).
    made.pool = await neutron.createSubnetPool({ name: `${name}-vmpool`, prefixes: [cidr, await freeCidr(4)], default_prefixlen: 24 });
  }
  made.subnet = await neutron.createSubnet({
    name: `${name}-vmsubnet`, network_id: network.id, ip_version: 4, cidr, gateway_ip: `${prefix}.1`, enable_dhcp: false,
    allocation_pools: [{ start: `${prefix}.2`, end: `${prefix}.199` }],
    ...(made.pool ? { subnetpool_id: made.pool.id } : {}),
  } as Creatable<Subnet>);
  made.group = await neutron.createSecurityGroup({ name: `${name}-vmsg`, tags: [VM_TAG] });
  if (opts.icmp) await neutron.createSecurityGroupRules([{ security_group_id: made.group.id, direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp' }]);
  return made as VmNetwork;
}

/**
 * Removes what createVmNetwork made and what Kuryr left on it (its ports, the subnet pool its IPAM
 * made for the CIDR). Call once the VMs are gone. Never throws; answers what could not be removed.
 */
export async function removeVmNetwork(made: Partial<VmNetwork>): Promise<string[]> {
  const leftovers: string[] = [];
  const attempt = async (what: string, action: () => Promise<unknown>) => {
    await action().catch((err: Error) => leftovers.push(`${what}: ${err.message.split('\n')[0]}`));
  };
  const { network, subnet, group } = made;
  if (network) {
    for (const port of await neutron.listPorts({ network_id: network.id, device_owner: DEVICE_OWNER }).catch(() => [])) {
      await attempt(`port ${port.id}`, () => neutron.deletePort(port.id));
    }
  }
  if (subnet) {
    const pools = await neutron.listSubnetPools({ name: subnetPoolName(config.subnetpoolNamePrefix, subnet.cidr), tags: SUBNETPOOL_OWNED_TAG }).catch(() => []);
    for (const pool of pools) await attempt(`subnet pool ${pool.id}`, () => neutron.deleteSubnetPool(pool.id));
  }
  if (group) await attempt(`security group ${group.id}`, () => neutron.deleteSecurityGroup(group.id));
  if (network) await attempt(`network ${network.id}`, () => neutron.deleteNetwork(network.id));
  if (made.pool) await attempt(`subnet pool ${made.pool.id}`, () => neutron.deleteSubnetPool(made.pool!.id));
  return leftovers;
}
