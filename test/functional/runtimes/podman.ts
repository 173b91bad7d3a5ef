/**
 * podman 4.3 as a real CNI runtime, entirely private to a test: its own containers.conf (through
 * CONTAINERS_CONF, which in 4.3 replaces the system's files) forcing the CNI backend (netavark cannot
 * call CNI plugins), CNI plugins from the test's bin dir, network configs from a private dir (never
 * /etc/cni/net.d), ulimits within the host's hard limits (runc cannot raise them without
 * CAP_SYS_RESOURCE), and a vfs store, run and lock dir under the fixture's directory, so nothing of
 * /etc/containers or /var/lib/containers is touched and nothing is mounted outside the containers.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { boundNetns, hardLimit, leftoversOf, runTool, toml, type Leftovers } from './host.js';

/** podman's network namespaces: /run/netns/netns-<uuid>. */
const NETNS_PREFIX = 'netns-';

/** Why podman cannot serve as a CNI runtime here, or undefined when it can. */
export async function podmanUnavailable(): Promise<string | undefined> {
  const version = await runTool('podman', ['--version'], { timeoutMs: 30_000 }).catch((err: Error) => err);
  if (version instanceof Error) return `podman is not installed (scripts/test.sh installs Debian's podman): ${version.message}`;
  const major = Number(/(\d+)\.\d+/.exec(version)?.[1]);
  if (major !== 4) return `${version}: only podman 4 has the CNI backend (5 dropped it)`;
  return undefined;
}

export class Podman {
  private readonly netnsBefore = boundNetns(NETNS_PREFIX);
  private readonly networks = new Set<string>();

  private constructor(
    readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Writes the private configuration under `dir` and checks podman took it (CNI backend, vfs store). */
  static async start(dir: string, cniBinDir: string): Promise<Podman> {
    for (const sub of ['net.d', 'storage', 'run', 'tmp']) mkdirSync(`${dir}/${sub}`, { recursive: true });
    const nofile = hardLimit('Max open files') ?? 1_048_576;
    const nproc = Math.min(hardLimit('Max processes') ?? 8192, 8192);
    writeFileSync(`${dir}/containers.conf`, toml({
      containers: { default_ulimits: [`nofile=${nofile}:${nofile}`, `nproc=${nproc}:${nproc}`] },
      network: { network_backend: 'cni', cni_plugin_dirs: [cniBinDir], network_config_dir: `${dir}/net.d` },
      engine: { cgroup_manager: 'cgroupfs', events_logger: 'file', events_logfile_path: `${dir}/events.log`, tmp_dir: `${dir}/tmp`, image_copy_tmp_dir: `${dir}/tmp`, lock_type: 'file', runtime: 'runc' },
    }));
    writeFileSync(`${dir}/storage.conf`, toml({ storage: { driver: 'vfs', graphroot: `${dir}/storage`, runroot: `${dir}/run` } }));
    const podman = new Podman(dir, { ...process.env, CONTAINERS_CONF: `${dir}/containers.conf`, CONTAINERS_STORAGE_CONF: `${dir}/storage.conf` });
    const info = JSON.parse(await podman.run('info', '--format', 'json')) as { host: { networkBackend: string }; store: { graphDriverName: string; graphRoot: string } };
    if (info.host.networkBackend !== 'cni' || info.store.graphRoot !== `${dir}/storage`) {
      throw new Error(`podman ignored ${dir}/containers.conf: backend ${info.host.networkBackend}, store ${info.store.graphDriverName} at ${info.store.graphRoot}`);
    }
    return podman;
  }

  /** One podman command with the private configuration. */
  run(...args: string[]): Promise<string> {
    return runTool('podman', args, { env: this.env, timeoutMs: 180_000 });
  }

  /** A CNI network podman lists at once: `<name>.conflist` in the private config dir. */
  addNetwork(conflist: { name: string; cniVersion: string; plugins: object[] }): void {
    writeFileSync(`${this.dir}/net.d/${conflist.name}.conflist`, JSON.stringify(conflist, null, 2));
    this.networks.add(conflist.name);
  }

  removeNetwork(name: string): void {
    rmSync(`${this.dir}/net.d/${name}.conflist`, { force: true });
  }

  /** Removes every container (its CNI DEL runs), pod and image of the private store, then reports what is left. */
  async stop(): Promise<Leftovers> {
    await this.run('rm', '--all', '--force', '--time', '0').catch(() => undefined);
    await this.run('pod', 'rm', '--all', '--force', '--time', '0').catch(() => undefined);
    await this.run('rmi', '--all', '--force').catch(() => undefined);
    return leftoversOf(this.dir, NETNS_PREFIX, this.netnsBefore, this.networks);
  }
}
