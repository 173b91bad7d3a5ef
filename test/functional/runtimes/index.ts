/**
 * Real container runtimes driving CNI plugins, for tests: podman 4.3 with its CNI backend and a
 * second containerd 1.6 with CRI, both private to one directory under /tmp that `stop` removes with
 * everything in it. Each runtime is probed: one that cannot run here is absent, with the reason, so a
 * test skips visibly instead of failing on the host.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { buildImages, type TestImages } from './images.js';
import { containerdUnavailable, CriContainerd } from './containerd.js';
import { CNI_RESULTS, cniBinDir, removeSystemPaths, runTool, systemPathsAbsent, type Leftovers } from './host.js';
import { Podman, podmanUnavailable } from './podman.js';

export { CriContainerd } from './containerd.js';
export { Podman } from './podman.js';
export type { TestImages } from './images.js';
export type { Leftovers } from './host.js';

/** Debian's reference CNI plugins (containernetworking-plugins); CRI's own loopback setup calls `loopback`. */
export const REFERENCE_PLUGINS = '/usr/lib/cni';

export interface RuntimesOptions {
  /** CNI plugin executables by type (`{ 'kuryr-cni': path }`), linked into the runtimes' plugin dir. */
  plugins: Record<string, string>;
  /** A Docker image with busybox-static, the source of the runtimes' images (the stack's kuryr/busybox). */
  dockerImage: string;
}

export class TestRuntimes {
  /** Ready to run containers: set only when the runtime started and has the images. */
  podman?: Podman;
  containerd?: CriContainerd;
  images?: TestImages;
  /** Why a runtime is absent: not installed, or it could not start here (with its error). */
  readonly skipped: { podman?: string; containerd?: string } = {};
  /** What `stop` stops, ready or not. */
  private readonly started: { podman?: Podman; containerd?: CriContainerd } = {};
  /** Host paths that only exist because of this fixture's runtimes, removed by `stop`. */
  private readonly systemPaths = systemPathsAbsent();

  private constructor(readonly dir: string) {}

  /** Makes the directory, the plugin dir, podman and the images, then containerd (which needs podman's images). */
  static async start(opts: RuntimesOptions): Promise<TestRuntimes> {
    const runtimes = new TestRuntimes(mkdtempSync('/tmp/kt-rt-'));
    try {
      const bin = cniBinDir(`${runtimes.dir}/cni-bin`, { ...opts.plugins, ...(existsSync(`${REFERENCE_PLUGINS}/loopback`) ? { loopback: `${REFERENCE_PLUGINS}/loopback` } : {}) });
      await runtimes.startPodman(bin, opts.dockerImage);
      await runtimes.startContainerd(bin);
    } catch (err) {
      await runtimes.stop();
      throw err;
    }
    return runtimes;
  }

  private async startPodman(bin: string, dockerImage: string): Promise<void> {
    this.skipped.podman = await podmanUnavailable();
    if (this.skipped.podman) return;
    try {
      const podman = (this.started.podman = await Podman.start(`${this.dir}/podman`, bin));
      this.images = await buildImages(podman, `${this.dir}/images`, dockerImage);
      this.podman = podman;
    } catch (err) {
      this.skipped.podman = `podman cannot run here: ${(err as Error).message}`;
    }
  }

  private async startContainerd(bin: string): Promise<void> {
    this.skipped.containerd = await containerdUnavailable();
    if (!this.skipped.containerd && !this.images) this.skipped.containerd = `its images come from podman, which is absent: ${this.skipped.podman}`;
    if (!this.skipped.containerd && !existsSync(`${bin}/loopback`)) this.skipped.containerd = `CRI needs the loopback CNI plugin in ${REFERENCE_PLUGINS} (Debian's containernetworking-plugins)`;
    if (this.skipped.containerd || !this.images) return;
    try {
      const containerd = (this.started.containerd = await CriContainerd.start(`${this.dir}/containerd`, { cniBinDir: bin, sandboxImage: this.images.pause }));
      await containerd.importImage(this.images.archives.pause);
      await containerd.importImage(this.images.archives.busybox);
      this.containerd = containerd;
    } catch (err) {
      this.skipped.containerd = `containerd's CRI cannot run here: ${(err as Error).message}`;
    }
  }

  /**
   * Stops both runtimes (removing their containers, pods and images), reports what each left on the
   * host, then removes the leftovers anyway (processes by pid, mounts, namespaces) and the directory.
   */
  async stop(): Promise<{ podman?: Leftovers; containerd?: Leftovers }> {
    const left: { podman?: Leftovers; containerd?: Leftovers } = {};
    if (this.started.containerd) left.containerd = await this.started.containerd.stop();
    if (this.started.podman) left.podman = await this.started.podman.stop();
    for (const leftovers of Object.values(left)) await removeLeftovers(leftovers);
    rmSync(this.dir, { recursive: true, force: true });
    removeSystemPaths(this.systemPaths);
    return left;
  }
}

async function removeLeftovers(left: Leftovers): Promise<void> {
  for (const p of left.processes) {
    try {
      process.kill(Number(p.split(' ')[0]), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  // Deepest first, so that a mount under another comes off before it.
  for (const m of [...left.mounts].sort((a, b) => b.length - a.length)) await runTool('umount', ['-l', m]).catch(() => undefined);
  for (const ns of left.netns) await runTool('ip', ['netns', 'del', ns]).catch(() => undefined);
  for (const entry of left.cniResults) rmSync(`${CNI_RESULTS}/${entry}`, { force: true });
}
