/**
 * The runtimes' images, made here without a registry: the busybox-static image the dev stack builds
 * for Docker (scripts/make-busybox-image.sh) is saved from Docker and loaded into podman's private
 * store; a pause image (the same layer, a command that sleeps forever) is committed from it; both are
 * exported as docker-archives for `ctr images import`.
 */
import { mkdirSync } from 'node:fs';
import type { Podman } from './podman.js';
import { runTool } from './host.js';

const DOCKER = '/usr/bin/docker';

export interface TestImages {
  /** busybox-static with every applet (sh, ip, ping, sleep...). */
  busybox: string;
  /** What a pod's sandbox (infra) container runs: sleeps until killed. */
  pause: string;
  /** docker-archives of both, for other runtimes. */
  archives: { busybox: string; pause: string };
}

export async function buildImages(podman: Podman, dir: string, dockerImage: string): Promise<TestImages> {
  mkdirSync(dir, { recursive: true });
  const busybox = 'localhost/kuryr-rt/busybox:local';
  const pause = 'localhost/kuryr-rt/pause:local';
  await runTool(DOCKER, ['save', '-o', `${dir}/docker-busybox.tar`, dockerImage]);
  const loaded = /Loaded image(?:\(s\))?: (\S+)/.exec(await podman.run('load', '-q', '-i', `${dir}/docker-busybox.tar`))?.[1];
  if (!loaded) throw new Error(`podman load of ${dockerImage} named no image`);
  await podman.run('tag', loaded, busybox);
  await podman.run('rmi', loaded);
  const source = `kt-rt-pause-src-${process.pid}`;
  await podman.run('create', '--name', source, '--network', 'none', busybox);
  await podman.run('commit', '-q', '--change', 'CMD=["/bin/sleep","2147483647"]', source, pause);
  await podman.run('rm', source);
  const archives = { busybox: `${dir}/busybox.tar`, pause: `${dir}/pause.tar` };
  await podman.run('save', '-q', '--format', 'docker-archive', '-o', archives.busybox, busybox);
  await podman.run('save', '-q', '--format', 'docker-archive', '-o', archives.pause, pause);
  return { busybox, pause, archives };
}
