/**
 * What functional tests share: the real Docker CLI, a Neutron client with Kuryr's own credentials
 * (read from the kuryr.conf the dev stack wrote), and helpers to wait for outcomes.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config/index.js';
import type { KuryrConfig } from '../../src/config/types.js';
import { silentLogger } from '../../src/log.js';
import { createOpenStackClients } from '../../src/openstack/index.js';
import type { Neutron } from '../../src/openstack/neutron-types.js';
import { unixJson } from '../../src/cli/unix-http.js';

const run = promisify(execFile);
export const REPO = new URL('../../..', import.meta.url).pathname;
/** Config files of the daemon under test, comma-separated (a private daemon adds an override file). */
export const CONFIG_FILES = (process.env['KURYR_TEST_CONFIG'] ?? '/etc/kuryr/kuryr.conf').split(',');
export const IMAGE = 'kuryr/busybox:latest';
const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

export const config: KuryrConfig = loadConfig(CONFIG_FILES.flatMap((f) => ['--config-file', f]), {}, { allowUnknownArgs: true });
/** Docker names a plugin after its socket file: `kuryr` for the stack's daemon. */
export const DRIVER = basename(config.socketPath, '.sock');
export const neutron: Neutron = createOpenStackClients(config.neutron, silentLogger).neutron;

/** A short random suffix so runs never collide with each other or with leftovers. */
export const uniq = () => randomBytes(3).toString('hex');

export async function docker(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(DOCKER, args, { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`docker ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** Runs docker and returns its error text, failing the test if it unexpectedly succeeds. */
export async function dockerFails(...args: string[]): Promise<string> {
  try {
    await docker(...args);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`expected docker ${args.join(' ')} to fail`);
}

export async function sh(cmd: string, args: string[], timeout = 120_000): Promise<string> {
  const { stdout } = await run(cmd, args, { timeout, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

export async function dockerNetworkId(name: string): Promise<string> {
  return docker('network', 'inspect', '-f', '{{.Id}}', name);
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Every Neutron object carrying Kuryr's marks: what must be empty after a clean teardown. */
export async function kuryrObjects(): Promise<{ networks: number; ports: number; pools: number }> {
  const [networks, ports, pools] = await Promise.all([
    neutron.listNetworks(),
    neutron.listPorts({ tags: 'compute:kuryr' }),
    neutron.listSubnetPools({}),
  ]);
  return {
    networks: networks.filter((n) => n.tags.some((t) => t.startsWith('kuryr.net.uuid.'))).length,
    ports: ports.length,
    pools: pools.filter((p) => p.name.startsWith(`${config.subnetpoolNamePrefix}-`)).length,
  };
}

/** Calls the plugin directly on its socket, as Docker does. */
export function plugin(method: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  return unixJson(config.socketPath, 'POST', `/${method}`, body) as Promise<{ status: number; body: Record<string, unknown> }>;
}

/** Addresses and MAC of a container's interface, as the kernel reports them. */
export async function containerInterface(container: string, ifname = 'eth0'): Promise<{ mac: string; ipv4: string[]; ipv6: string[]; mtu: number }> {
  const out = await docker('exec', container, 'ip', '-o', 'addr', 'show', 'dev', ifname);
  const link = await docker('exec', container, 'ip', '-o', 'link', 'show', 'dev', ifname);
  const mac = /link\/ether ([0-9a-f:]+)/.exec(link)?.[1] ?? '';
  const mtu = Number(/mtu (\d+)/.exec(link)?.[1] ?? 0);
  const ipv4 = [...out.matchAll(/inet ([0-9.]+)\//g)].map((m) => m[1]!);
  const ipv6 = [...out.matchAll(/inet6 ([0-9a-f:]+)\/\d+ scope global/g)].map((m) => m[1]!);
  return { mac, ipv4, ipv6, mtu };
}

export async function removeQuietly(kind: 'container' | 'network', ...names: string[]): Promise<void> {
  for (const name of names) {
    await docker(kind === 'container' ? 'rm' : 'network', ...(kind === 'container' ? ['-f', name] : ['rm', name])).catch(() => undefined);
  }
}

/**
 * Restarts the Kuryr daemon the way an operator would, through the dev stack script. Only
 * *.restarts-daemon.test.ts files may call it (test/unit/test-layout.test.ts checks): scripts/test.sh
 * runs them after the others, and KURYR_TEST_SHARED_ONLY=1 leaves them out.
 */
export async function restartKuryr(): Promise<void> {
  const custom = process.env['KURYR_TEST_RESTART_CMD'];
  if (custom) await sh('bash', ['-c', custom], 120_000);
  else await sh('bash', [`${REPO}scripts/stack.sh`, 'restart-kuryr'], 120_000);
}

/**
 * A host outside Docker on a Neutron network, as a VM would be: a Neutron port (with the given
 * security groups) bound to this host, whose tap is bridged where the Linux bridge agent expects it
 * and whose other end sits in a network namespace of its own.
 */
export async function foreignHost(networkId: string, securityGroups: string[]): Promise<{ ns: string; ip: string; exec: (cmd: string[]) => Promise<string>; remove: () => Promise<void> }> {
  const port = await neutron.createPort({
    network_id: networkId,
    name: `kt-foreign-${uniq()}`,
    device_owner: 'compute:kuryr-test',
    device_id: `kt-foreign-${uniq()}`,
    'binding:host_id': config.hostname,
    security_groups: securityGroups,
  } as never);
  const subnet = await neutron.getSubnet(port.fixed_ips[0]!.subnet_id);
  const ns = `kt-ns-${uniq()}`;
  const tap = `tap${port.id.slice(0, 11)}`;
  const peer = `ktp${uniq()}`;
  const bridge = `brq${networkId.slice(0, 11)}`;
  const ip = port.fixed_ips[0]!.ip_address;
  const prefix = subnet.cidr.split('/')[1];
  await sh('ip', ['netns', 'add', ns]);
  await sh('ip', ['link', 'add', tap, 'type', 'veth', 'peer', 'name', peer]);
  await sh('ip', ['link', 'set', peer, 'netns', ns]);
  await sh('ip', ['-n', ns, 'link', 'set', peer, 'address', port.mac_address, 'name', 'eth0']);
  await sh('ip', ['-n', ns, 'addr', 'add', `${ip}/${prefix}`, 'dev', 'eth0']);
  await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  await sh('bash', ['-c', `ip link show ${bridge} >/dev/null 2>&1 || (ip link add ${bridge} type bridge && ip link set ${bridge} up)`]);
  await sh('ip', ['link', 'set', tap, 'master', bridge, 'up']);
  await eventually(`foreign port ${port.id} ACTIVE`, async () => ((await neutron.getPort(port.id)).status === 'ACTIVE' ? true : undefined), 60_000, 500);
  return {
    ns,
    ip,
    exec: (cmd) => sh('ip', ['netns', 'exec', ns, ...cmd], 30_000),
    remove: async () => {
      await sh('ip', ['link', 'del', tap]).catch(() => undefined);
      await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
      await neutron.deletePort(port.id);
    },
  };
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
export async function terminate(child: ChildProcess, graceMs = 10_000): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killTimer);
}
