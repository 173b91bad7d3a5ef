/**
 * `npm run bench`: Kuryr against Docker's own bridge on the running stack, in one run (issue 4 §1),
 * and nested Kuryr against Docker's macvlan inside a simulated Nova VM (nested.ts).
 * Prints a table and writes a JSON and an HTML report. It reports, it asserts nothing: exit 0 even
 * when targets are not met; non-zero only when it could not measure (daemon down, no image) or was
 * interrupted. Whatever it created is removed on the way out, interrupted or not.
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { silentLogger } from '../src/log.js';
import { createOpenStackClients } from '../src/openstack/index.js';
import { DockerCli } from './docker-cli.js';
import { PoolProbe, daemonMemory, daemonPid } from './daemon-probe.js';
import { nestedRuns } from './nested.js';
import { neutronRequestCounter } from './neutron-requests.js';
import {
  MODES,
  createNetwork,
  emptyResults,
  networkLifecycles,
  parallelStarts,
  sequentialRuns,
  startPeers,
  timeToConnectivity,
  warmPool,
  type BenchContext,
} from './phases.js';
import { evaluateTargets, formatHtml, formatText, summarizeNested, summarizeTimings, type BenchReport } from './report.js';
import { PHASES, settingsFromEnv, type Phase } from './settings.js';

const startedAt = new Date();
const progress = (line: string) => process.stderr.write(`[bench +${Math.round((Date.now() - startedAt.getTime()) / 1000)}s] ${line}\n`);

async function main(): Promise<number> {
  const settings = settingsFromEnv();
  const phases = PHASES.filter((phase) => settings.phases.has(phase));
  const interrupt = new AbortController();
  // Every docker command in flight listens on it: the parallel phase alone has one per container.
  setMaxListeners(settings.parallelContainers * 2 + 10, interrupt.signal);
  const docker = new DockerCli(settings.dockerBinary, `kb${randomBytes(3).toString('hex')}`, interrupt.signal);
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      progress(`${signal}: stopping, then removing what the benchmark created (again to skip cleanup)`);
      interrupt.abort(new Error(`interrupted by ${signal}`));
    } else {
      progress(`${signal} again: exiting without cleanup; leftovers carry the label ${docker.label}`);
      process.exit(130);
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

  const pid = daemonPid(settings.pidFile);
  const notes: string[] = [];
  if (pid === undefined) notes.push(`No live daemon pid in ${settings.pidFile} (KURYR_BENCH_PID_FILE): memory not measured.`);
  const memory: BenchReport['memory'] = { idle: pid ? daemonMemory(pid) : undefined };

  const counter = await neutronRequestCounter(settings.config);
  if ('unavailable' in counter) notes.push(`Neutron requests not counted: ${counter.unavailable}.`);
  const ctx: BenchContext = {
    settings,
    docker,
    counter: 'unavailable' in counter ? undefined : counter,
    pools: new PoolProbe(createOpenStackClients(settings.config.neutron, silentLogger).neutron, settings.poolMin),
    signal: interrupt.signal,
    networks: { kuryr: { name: `${docker.runId}-off` }, kuryrPool: { name: `${docker.runId}-pool` }, bridge: { name: `${docker.runId}-bridge` } },
    notes,
    progress,
  };
  const results = emptyResults();

  progress(`measuring driver ${settings.driver} (config ${settings.configFiles.join(', ')}), run id ${docker.runId}, phases ${phases.join(', ')}`);
  try {
    await docker.must('image', 'inspect', '-f', '{{.Id}}', settings.image).catch((err: Error) => {
      throw new Error(`${err.message} (scripts/stack.sh up makes it with scripts/make-busybox-image.sh)`);
    });
    const selected = (phase: Phase) => settings.phases.has(phase);
    const onNetworks = selected('sequential') || selected('connectivity') || selected('parallel');
    // The nested phase measures a daemon of its own, in the VM: the others measure the daemon under test.
    const onDaemonUnderTest = onNetworks || selected('networks');
    if (onNetworks) {
      for (const mode of MODES) {
        const network = ctx.networks[mode];
        const created = await createNetwork(ctx, mode, network.name);
        if (!created.ok) throw new Error(`docker network create ${network.name}: ${created.error}`);
        if (mode !== 'bridge') network.neutronId = await ctx.pools.neutronNetworkId(created.stdout);
      }
    }
    if (selected('connectivity')) await startPeers(ctx);

    if (selected('sequential')) {
      await warmPool(ctx, results, 'sequential runs');
      await sequentialRuns(ctx, results);
    }
    if (selected('connectivity')) {
      await warmPool(ctx, results, 'time to connectivity');
      await timeToConnectivity(ctx, results);
    }
    if (selected('parallel')) await parallelStarts(ctx, results);
    if (selected('networks')) await networkLifecycles(ctx, results);
    if (onDaemonUnderTest) memory.afterRuns = pid ? daemonMemory(pid) : undefined;
    if (selected('nested')) results.nested = await nestedRuns(ctx);
  } catch (err) {
    if (interrupt.signal.aborted) return 130;
    progress(`benchmark failed: ${(err as Error).message}`);
    return 1;
  } finally {
    progress('removing containers and networks of this run');
    const leftovers = await docker.removeEverything();
    if (leftovers.length) progress(`could not remove: ${leftovers.join('; ')}`);
  }

  const summaries = summarizeTimings(results);
  const nestedSummaries = summarizeNested(results.nested);
  const finishedAt = new Date();
  const report: BenchReport = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationS: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    machine: { hostname: hostname(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', memoryMiB: Math.round(totalmem() / 2 ** 20), kernel: release() },
    daemon: {
      driver: settings.driver,
      configFiles: settings.configFiles,
      pid,
      neutronRequestsCountedFrom: 'unavailable' in counter ? 'nowhere (not counted)' : counter.source,
      poolsActive: ctx.poolsActive,
      poolConfig: { ...settings.config.vifPool, poolsOnNetworkMin: settings.poolMin },
    },
    settings: {
      sequentialRuns: settings.sequentialRuns,
      connectivityRuns: settings.connectivityRuns,
      parallelContainers: settings.parallelContainers,
      networkRuns: settings.networkRuns,
      nestedRuns: settings.nestedRuns,
      phases,
      image: settings.image,
    },
    memory,
    summaries,
    nestedSummaries,
    targets: evaluateTargets(summaries, nestedSummaries, results, memory, ctx.poolsActive),
    notes,
    results,
  };
  mkdirSync(dirname(settings.jsonPath), { recursive: true });
  writeFileSync(settings.jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(settings.htmlPath, formatHtml(report));
  console.log(formatText(report));
  console.log(`\nReports: ${settings.jsonPath}\n         ${settings.htmlPath}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${(err as Error).message}`);
    process.exit(1);
  },
);
