/**
 * A second containerd 1.6 with its CRI plugin on, beside Docker's own (which runs with CRI
 * disabled): its own root, state, socket, runc root, CNI bin and conf dirs, all under the fixture's
 * directory, started and stopped by the fixture. `restrict_oom_score_adj` is required here: the
 * sandbox's oom_score_adj of -998 needs CAP_SYS_RESOURCE, which this host does not have.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { CriClient } from '../cri/client.js';
import { boundNetns, leftoversOf, runTool, toml, type Leftovers } from './host.js';

/** CRI's network namespaces: /run/netns/cni-<uuid>. */
const NETNS_PREFIX = 'cni-';
const CRI = 'plugins."io.containerd.grpc.v1.cri"';
/** The namespace CRI keeps its images and containers in. */
const K8S_NAMESPACE = 'k8s.io';

/** Why a CRI containerd cannot run here, or undefined when it can. */
export async function containerdUnavailable(): Promise<string | undefined> {
  for (const tool of ['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc']) {
    const found = await runTool('sh', ['-c', `command -v ${tool}`]).catch(() => '');
    if (!found) return `${tool} is not installed (Debian's containerd and runc come with docker.io)`;
  }
  return undefined;
}

export class CriContainerd {
  readonly cri: CriClient;
  private readonly netnsBefore = boundNetns(NETNS_PREFIX);
  private readonly networks = new Set<string>();

  private constructor(
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    this.cri = new CriClient(this.socket);
  }

  get socket(): string {
    return `${this.dir}/containerd.sock`;
  }

  /** The CNI network config dir this containerd reads (the first file by name is the pod network). */
  get cniConfDir(): string {
    return `${this.dir}/net.d`;
  }

  /**
   * Writes config.toml under `dir`, starts containerd in a session of its own and resolves once its
   * CRI answers Version; rejects with the end of its log when it exits or does not answer in 30 s.
   */
  static async start(dir: string, opts: { cniBinDir: string; sandboxImage: string }): Promise<CriContainerd> {
    for (const sub of ['root', 'state', 'opt', 'net.d', 'runc']) mkdirSync(`${dir}/${sub}`, { recursive: true });
    writeFileSync(`${dir}/config.toml`, toml({
      '': { version: 2, root: `${dir}/root`, state: `${dir}/state` },
      grpc: { address: `${dir}/containerd.sock` },
      ttrpc: { address: `${dir}/containerd.sock.ttrpc` },
      'plugins."io.containerd.internal.v1.opt"': { path: `${dir}/opt` },
      [CRI]: { sandbox_image: opts.sandboxImage, stream_server_address: '127.0.0.1', stream_server_port: '0', restrict_oom_score_adj: true },
      [`${CRI}.containerd`]: { snapshotter: 'overlayfs', default_runtime_name: 'runc' },
      [`${CRI}.containerd.runtimes.runc`]: { runtime_type: 'io.containerd.runc.v2' },
      // runc's state beside the rest, not in /run/containerd/runc.
      [`${CRI}.containerd.runtimes.runc.options`]: { Root: `${dir}/runc` },
      [`${CRI}.cni`]: { bin_dir: opts.cniBinDir, conf_dir: `${dir}/net.d`, max_conf_num: 1 },
    }));
    const log = openSync(`${dir}/containerd.log`, 'a');
    const child = spawn('containerd', ['--config', `${dir}/config.toml`], { stdio: ['ignore', log, log], detached: true });
    closeSync(log);
    const runtime = new CriContainerd(dir, child);
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`containerd exited at start (${child.exitCode ?? child.signalCode}): ${runtime.logTail()}`);
      const version = await runtime.cri.version().catch(() => undefined);
      if (version) return runtime;
      if (Date.now() > deadline) {
        await runtime.stop();
        throw new Error(`containerd's CRI did not answer on ${runtime.socket} within 30 s: ${runtime.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  logTail(lines = 15): string {
    try {
      return readFileSync(`${this.dir}/containerd.log`, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  /** `ctr images import` of a docker-archive into CRI's namespace. */
  async importImage(archive: string): Promise<void> {
    await runTool('ctr', ['-a', this.socket, '-n', K8S_NAMESPACE, 'images', 'import', archive], { timeoutMs: 180_000 });
  }

  /** The pod network: `conflist` as the only config in the conf dir; resolves once CRI reports NetworkReady. */
  async setNetwork(conflist: { name: string; cniVersion: string; plugins: object[] }): Promise<void> {
    for (const old of readdirSync(this.cniConfDir)) rmSync(`${this.cniConfDir}/${old}`);
    writeFileSync(`${this.cniConfDir}/10-${conflist.name}.conflist`, JSON.stringify(conflist, null, 2));
    this.networks.add(conflist.name);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const network = (await this.cri.status()).find((c) => c.type === 'NetworkReady');
      if (network?.status) return;
      if (Date.now() > deadline) throw new Error(`containerd did not load ${conflist.name}: ${JSON.stringify(network)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Stops and removes every pod sandbox left (a kubelet's cleanup), then containerd itself (SIGTERM,
   * SIGKILL after 10 s), and reports what is left on the host.
   */
  async stop(): Promise<Leftovers> {
    if (this.running) {
      for (const pod of await this.cri.listPodSandbox().catch(() => [])) {
        await this.cri.stopPodSandbox(pod.id).catch(() => undefined);
        await this.cri.removePodSandbox(pod.id).catch(() => undefined);
      }
      this.cri.close();
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    return leftoversOf(this.dir, NETNS_PREFIX, this.netnsBefore, this.networks);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
}
