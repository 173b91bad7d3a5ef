/**
 * What the runtime fixtures share: running a tool with its own environment, the host's resource
 * limits (runc cannot raise them here), and the audit of what a runtime left on the host after it
 * was stopped (mounts, network namespaces, processes, under the fixture's directory).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

/** Runs `cmd`; a failure carries the tool's stderr, which names the cause (runc, CNI, storage). */
export async function runTool(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr?.trim() || e.message).slice(-2000)}`);
  }
}

/** This process's hard limit for a resource of /proc/self/limits ('Max open files', 'Max processes'). */
export function hardLimit(resource: string): number | undefined {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(resource));
  const hard = line?.slice(resource.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === 'unlimited' ? undefined : Number(hard);
}

/** Network namespaces bound under /run/netns whose names start with `prefix` (podman's netns-, CRI's cni-). */
export function boundNetns(prefix: string): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

/** Mount points at or under `dir`. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));
}

/** Processes whose command line mentions `dir` (a runtime, its shims, its containers' monitors). */
export function processesMentioning(dir: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cmdline.includes(dir) || cwd.startsWith(dir)) found.push({ pid: Number(entry), cmdline });
    } catch {
      // The process exited while we looked.
    }
  }
  return found;
}

/** libcni's cache of ADD results (`<network>-<container>-<ifname>`), in both runtimes; DEL removes the entry. */
export const CNI_RESULTS = '/var/lib/cni/results';

/** What a runtime left behind; every list is empty after a clean stop. */
export interface Leftovers {
  mounts: string[];
  netns: string[];
  processes: string[];
  /** libcni result cache entries of the runtime's networks: an attachment whose DEL never ran. */
  cniResults: string[];
}

/**
 * Leftovers under `dir`, namespaces starting with `netnsPrefix` that were not there before
 * (`netnsBefore`), and cached CNI results of `networks`.
 */
export function leftoversOf(dir: string, netnsPrefix: string, netnsBefore: readonly string[], networks: Iterable<string>): Leftovers {
  let cached: string[] = [];
  try {
    cached = readdirSync(CNI_RESULTS);
  } catch {
    // No runtime has cached a result yet.
  }
  const names = [...networks];
  return {
    mounts: mountsUnder(dir),
    netns: boundNetns(netnsPrefix).filter((n) => !netnsBefore.includes(n)),
    processes: processesMentioning(dir).map((p) => `${p.pid} ${p.cmdline}`),
    cniResults: cached.filter((f) => names.some((n) => f.startsWith(`${n}-`))),
  };
}

/**
 * Host paths the runtimes make whatever their config says: libcni's cache (/var/lib/cni), podman's
 * blob-info cache of image copies (/var/lib/containers/cache) and runc's default root (/run/runc).
 * `systemPathsAbsent` names those missing before a fixture starts; `removeSystemPaths` removes them
 * afterwards when they hold nothing but what the fixture's runtimes put there.
 */
const SYSTEM_PATHS: Record<string, (entries: string[]) => boolean> = {
  '/var/lib/cni': (entries) => entries.every((e) => e === 'results' || e === 'results/'),
  '/var/lib/containers': (entries) => entries.every((e) => e === 'cache' || e === 'cache/' || e === 'cache/blob-info-cache-v1.boltdb'),
  '/run/runc': (entries) => entries.length === 0,
};

export function systemPathsAbsent(): string[] {
  return Object.keys(SYSTEM_PATHS).filter((p) => !existsSync(p));
}

export function removeSystemPaths(paths: readonly string[]): void {
  for (const path of paths) {
    const onlyOurs = SYSTEM_PATHS[path];
    let entries: string[];
    try {
      entries = readdirSync(path, { recursive: true }) as string[];
    } catch {
      continue;
    }
    if (onlyOurs?.(entries)) rmSync(path, { recursive: true, force: true });
  }
}

/**
 * TOML text of the runtimes' configs (containers.conf, storage.conf, containerd's config.toml):
 * tables of plain values; the table '' holds the top-level keys. JSON quoting is valid TOML for these.
 */
export function toml(tables: Record<string, Record<string, string | string[] | boolean | number>>): string {
  return Object.entries(tables)
    .map(([table, keys]) => `${table ? `[${table}]\n` : ''}${Object.entries(keys).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n')}\n`)
    .join('\n');
}

/**
 * The CNI plugin directory both runtimes search (containerd 1.6 takes exactly one): a symlink per
 * plugin type to its executable, e.g. `{ 'kuryr-cni': '<build>/kuryr-cni.js', loopback: '/usr/lib/cni/loopback' }`.
 */
export function cniBinDir(dir: string, plugins: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [type, executable] of Object.entries(plugins)) symlinkSync(executable, `${dir}/${type}`);
  return dir;
}
