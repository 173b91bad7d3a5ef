/**
 * The measurements of issue 4, each on three networks the benchmark creates: Kuryr with pools off,
 * Kuryr with pools on (`-o kuryr.pool=true`) and Docker's built-in bridge driver. A user-defined
 * bridge network rather than the default `bridge`: like a Kuryr network it has Docker's embedded
 * DNS, and the run does not depend on the state of docker0, which other users of the host share. Sequential samples interleave the three, in
 * an order that rotates every round, so that noise from the shared machine and whatever a previous
 * run left working in the background (a pool refilling) fall on all three alike.
 */
import { performance } from 'node:perf_hooks';
import type { DockerCli, Timed } from './docker-cli.js';
import type { PoolProbe, PoolWait } from './daemon-probe.js';
import { markWhenIdle, type RequestCounter, type RequestMark } from './neutron-requests.js';
import type { NestedResults } from './nested.js';
import type { BenchSettings } from './settings.js';

export const MODES = ['kuryr', 'kuryrPool', 'bridge'] as const;
export type Mode = (typeof MODES)[number];
export const KURYR_MODES = ['kuryr', 'kuryrPool'] as const satisfies readonly Mode[];
export const MODE_LABELS: Record<Mode, string> = { kuryr: 'Kuryr, pools off', kuryrPool: 'Kuryr, pools on', bridge: 'Docker bridge' };
/** In container and network names. */
const MODE_SLUGS: Record<Mode, string> = { kuryr: 'off', kuryrPool: 'pool', bridge: 'bridge' };

/** Timings of successful attempts, and what the failed ones said. */
export interface Series {
  samplesMs: number[];
  failures: string[];
}

export interface ParallelResult {
  requested: number;
  started: number;
  distinctAddresses: number;
  wallMs: number;
  rmWallMs: number;
  failures: string[];
  /** Free pooled ports when the burst began (pools-on network only). */
  freePooledPortsBefore?: number;
  neutronRequestsPerContainer?: number;
}

export interface TestNetwork {
  name: string;
  /** Neutron's network behind a Kuryr network. */
  neutronId?: string;
  peer?: { name: string; address: string };
}

export interface BenchResults {
  sequential: { run: Record<Mode, Series>; rm: Record<Mode, Series>; neutronRequestsPerLifecycle: Record<'kuryr' | 'kuryrPool', number[]> };
  connectivity: Record<Mode, Series>;
  parallel: Partial<Record<Mode, ParallelResult>>;
  networks: { create: Record<Mode, Series>; rm: Record<Mode, Series>; neutronRequestsPerLifecycle: Record<'kuryr' | 'kuryrPool', number[]> };
  poolWaits: ({ before: string } & PoolWait)[];
  /** Present when the nested phase ran. */
  nested?: NestedResults;
}

export interface BenchContext {
  settings: BenchSettings;
  docker: DockerCli;
  counter?: RequestCounter;
  pools: PoolProbe;
  signal: AbortSignal;
  networks: Record<Mode, TestNetwork>;
  /** Set by the first pool wait: false when no pooled port ever appeared (pools not in this daemon). */
  poolsActive?: boolean;
  notes: string[];
  progress: (line: string) => void;
}

const emptySeries = (): Record<Mode, Series> => ({
  kuryr: { samplesMs: [], failures: [] },
  kuryrPool: { samplesMs: [], failures: [] },
  bridge: { samplesMs: [], failures: [] },
});

export function emptyResults(): BenchResults {
  return {
    sequential: { run: emptySeries(), rm: emptySeries(), neutronRequestsPerLifecycle: { kuryr: [], kuryrPool: [] } },
    connectivity: emptySeries(),
    parallel: {},
    networks: { create: emptySeries(), rm: emptySeries(), neutronRequestsPerLifecycle: { kuryr: [], kuryrPool: [] } },
    poolWaits: [],
  };
}

/** MODES starting at a different one each round. */
function rotated(round: number): Mode[] {
  const shift = ((round % MODES.length) + MODES.length) % MODES.length;
  return [...MODES.slice(shift), ...MODES.slice(0, shift)];
}

const isKuryr = (mode: Mode): mode is 'kuryr' | 'kuryrPool' => mode !== 'bridge';

export function record(series: Series, result: Timed): void {
  if (result.ok) series.samplesMs.push(result.ms);
  else series.failures.push(result.error ?? 'failed');
}

/** A point in the daemon's Neutron request history, taken around Kuryr runs when requests can be counted. */
async function markIf(ctx: BenchContext, mode: Mode): Promise<RequestMark | undefined> {
  return ctx.counter && isKuryr(mode) ? ctx.counter.mark() : undefined;
}

/** The closing mark of a measured span: after the daemon's background Neutron work of it. */
async function closingMarkIf(ctx: BenchContext, mode: Mode): Promise<RequestMark | undefined> {
  return ctx.counter && isKuryr(mode) ? markWhenIdle(ctx.counter) : undefined;
}

/** A /24 unlikely to collide with other users of the stack; a collision is retried. */
function randomSubnet(): string {
  return `10.${128 + Math.floor(Math.random() * 120)}.${Math.floor(Math.random() * 256)}.0/24`;
}

/** `docker network create` for a mode, timed; retried with another subnet if the first was taken. */
export async function createNetwork(ctx: BenchContext, mode: Mode, name: string): Promise<Timed> {
  const { driver } = ctx.settings;
  let result: Timed | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    ctx.signal.throwIfAborted();
    const subnet = randomSubnet();
    const poolArgs = mode === 'kuryrPool' ? ['-o', 'kuryr.pool=true', '-o', `kuryr.pool.min=${ctx.settings.poolMin}`] : ['-o', 'kuryr.pool=false'];
    const driverArgs = isKuryr(mode) ? ['-d', driver, '--ipam-driver', driver, ...poolArgs] : ['-d', 'bridge'];
    result = await ctx.docker.timed(['network', 'create', ...driverArgs, '--subnet', subnet, '--label', ctx.docker.label, name]);
    if (result.ok || !/overlap|in use|already|conflict/i.test(result.error ?? '')) return result;
  }
  return result!;
}

/** Waits (bounded) for the pools-on network's pool to be warm; skipped once pools proved absent. */
export async function warmPool(ctx: BenchContext, results: BenchResults, before: string): Promise<PoolWait | undefined> {
  const neutronId = ctx.networks.kuryrPool.neutronId;
  if (!neutronId || ctx.poolsActive === false || ctx.pools.warmAt === 0) return undefined;
  ctx.progress(`waiting for the pool to hold ${ctx.pools.warmAt} free ports (${before})`);
  // The first refill may wait for the periodic one (ports_pool_update_frequency); by then plus a
  // margin, a pool that exists has ports.
  const emptyTimeoutMs = Math.min(ctx.settings.poolWarmTimeoutMs, (ctx.settings.config.vifPool.updateFrequency + 10) * 1000);
  const wait = await ctx.pools.waitWarm(neutronId, ctx.settings.poolWarmTimeoutMs, emptyTimeoutMs, ctx.signal);
  results.poolWaits.push({ before, ...wait });
  if (ctx.poolsActive === undefined) ctx.poolsActive = wait.freePorts > 0;
  if (!wait.warm) {
    ctx.notes.push(
      wait.freePorts === 0
        ? `Pools on: no pooled port (tag kuryr.port.pooled) appeared within ${Math.round(wait.waitedMs / 1000)} s; this daemon seems to ignore -o kuryr.pool=true, so "pools on" ran without pools.`
        : `Pools on: the pool held ${wait.freePorts}/${ctx.pools.warmAt} free ports after ${Math.round(wait.waitedMs / 1000)} s (${before}); measured anyway.`,
    );
  }
  return wait;
}

/** One untimed round first: the first container on a network pays one-off costs. */
export async function sequentialRuns(ctx: BenchContext, results: BenchResults): Promise<void> {
  const { docker, settings } = ctx;
  for (let round = -1; round < settings.sequentialRuns; round++) {
    if (round >= 0 && round % 5 === 0) ctx.progress(`sequential docker run/rm: round ${round + 1}/${settings.sequentialRuns}`);
    for (const mode of rotated(round)) {
      ctx.signal.throwIfAborted();
      const name = `${docker.runId}-${MODE_SLUGS[mode]}-${round < 0 ? 'warmup' : round}`;
      const before = await markIf(ctx, mode);
      const run = await docker.timed(['run', '-d', '--name', name, '--net', ctx.networks[mode].name, '--label', docker.label, settings.image, 'sleep', '1d']);
      const rm = await docker.timed(['rm', '-f', name]);
      const after = await closingMarkIf(ctx, mode);
      if (round < 0) {
        if (!run.ok) ctx.notes.push(`Warm-up docker run on ${MODE_LABELS[mode]} failed: ${run.error}`);
        continue;
      }
      record(results.sequential.run[mode], run);
      if (run.ok) record(results.sequential.rm[mode], rm);
      if (run.ok && rm.ok && before && after && isKuryr(mode)) {
        results.sequential.neutronRequestsPerLifecycle[mode].push(await ctx.counter!.between(before, after));
      }
    }
  }
}

/**
 * Peers the connectivity probes ping, started long before so that their own wiring is done. A peer
 * that fails to start costs that network its connectivity samples, not the whole run.
 */
export async function startPeers(ctx: BenchContext): Promise<void> {
  const { docker, settings } = ctx;
  for (const mode of MODES) {
    const name = `${docker.runId}-${MODE_SLUGS[mode]}-peer`;
    const run = await docker.timed(['run', '-d', '--name', name, '--net', ctx.networks[mode].name, '--label', docker.label, settings.image, 'sleep', '1d']);
    if (run.ok) ctx.networks[mode].peer = { name, address: await docker.address(name) };
    else ctx.notes.push(`The ping peer on ${MODE_LABELS[mode]} did not start (${run.error}): no time to connectivity there.`);
  }
}

/**
 * From `docker run` until the new container's first echo reply from the peer. The container pings
 * every 100 ms from its first instant and the CLI streams its output, so the probe adds no process
 * of its own; resolution is the ping interval (plus ARP's own retry time while the port is unwired).
 */
export async function timeToConnectivity(ctx: BenchContext, results: BenchResults): Promise<void> {
  const { docker, settings } = ctx;
  const pingForSeconds = 30;
  for (let round = 0; round < settings.connectivityRuns; round++) {
    ctx.progress(`time to connectivity: round ${round + 1}/${settings.connectivityRuns}`);
    for (const mode of rotated(round)) {
      ctx.signal.throwIfAborted();
      const peer = ctx.networks[mode].peer;
      if (!peer) continue;
      const name = `${docker.runId}-${MODE_SLUGS[mode]}-ping-${round}`;
      const runArgs = ['--name', name, '--net', ctx.networks[mode].name, '--label', docker.label, settings.image];
      const probe = await docker.timedUntilOutput([...runArgs, 'ping', '-i', '0.1', '-w', String(pingForSeconds), peer.address], /bytes from/, (pingForSeconds + 5) * 1000);
      await docker.timed(['rm', '-f', name]);
      record(results.connectivity[mode], probe);
    }
  }
}

/** N containers at once: wall time until every `docker run -d` returned, successes, distinct addresses. */
export async function parallelStarts(ctx: BenchContext, results: BenchResults): Promise<void> {
  const { docker, settings } = ctx;
  for (const mode of MODES) {
    ctx.signal.throwIfAborted();
    const poolWait = mode === 'kuryrPool' ? await warmPool(ctx, results, 'parallel starts') : undefined;
    ctx.progress(`${settings.parallelContainers} parallel starts on ${MODE_LABELS[mode]}`);
    const names = Array.from({ length: settings.parallelContainers }, (_, i) => `${docker.runId}-${MODE_SLUGS[mode]}-par-${i}`);
    const before = await markIf(ctx, mode);
    const startedAt = performance.now();
    const runs = await Promise.all(
      names.map((name) => docker.timed(['run', '-d', '--name', name, '--net', ctx.networks[mode].name, '--label', docker.label, settings.image, 'sleep', '1d'])),
    );
    const wallMs = performance.now() - startedAt;
    const started = names.filter((_, i) => runs[i]!.ok);
    const addresses = started.length
      ? (await docker.timed(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', ...started])).stdout.split('\n').filter(Boolean)
      : [];
    const rmStartedAt = performance.now();
    await Promise.all(names.map((name) => docker.timed(['rm', '-f', name])));
    const rmWallMs = performance.now() - rmStartedAt;
    const after = await closingMarkIf(ctx, mode);
    results.parallel[mode] = {
      requested: names.length,
      started: started.length,
      distinctAddresses: new Set(addresses).size,
      wallMs,
      rmWallMs,
      failures: runs.filter((r) => !r.ok).map((r) => r.error ?? 'failed'),
      freePooledPortsBefore: poolWait?.freePorts,
      neutronRequestsPerContainer: before && after ? (await ctx.counter!.between(before, after)) / names.length : undefined,
    };
  }
}

/** `docker network create` then `rm`, each timed; a pools-on network's rm includes draining its pool. */
export async function networkLifecycles(ctx: BenchContext, results: BenchResults): Promise<void> {
  const { docker, settings } = ctx;
  for (let round = 0; round < settings.networkRuns; round++) {
    ctx.progress(`docker network create/rm: round ${round + 1}/${settings.networkRuns}`);
    for (const mode of rotated(round)) {
      ctx.signal.throwIfAborted();
      const name = `${docker.runId}-${MODE_SLUGS[mode]}-net-${round}`;
      const before = await markIf(ctx, mode);
      const create = await createNetwork(ctx, mode, name);
      record(results.networks.create[mode], create);
      if (!create.ok) continue;
      record(results.networks.rm[mode], await docker.timed(['network', 'rm', name]));
      const after = await closingMarkIf(ctx, mode);
      if (before && after && isKuryr(mode)) results.networks.neutronRequestsPerLifecycle[mode].push(await ctx.counter!.between(before, after));
    }
  }
}
