/**
 * What the benchmark runs against and how much, from the environment. The defaults measure the dev
 * stack's daemon (driver `kuryr`, /etc/kuryr/kuryr.conf) with the sample sizes of issue 4.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { loadConfig } from '../src/config/index.js';
import type { KuryrConfig } from '../src/config/types.js';

export const REPO = new URL('../..', import.meta.url).pathname;

/** The measurements, in the order they run; KURYR_BENCH_PHASES picks some. */
export const PHASES = ['sequential', 'connectivity', 'parallel', 'networks', 'nested'] as const;
export type Phase = (typeof PHASES)[number];

export interface BenchSettings {
  /** kuryr.conf files of the daemon under test, in load order. */
  configFiles: string[];
  config: KuryrConfig;
  /** Docker names a remote plugin after its socket file: `kuryr` for the stack's daemon. */
  driver: string;
  pidFile: string;
  dockerBinary: string;
  image: string;
  /** Sequential `docker run -d` + `docker rm -f` per network (after one untimed warm-up each). */
  sequentialRuns: number;
  connectivityRuns: number;
  parallelContainers: number;
  networkRuns: number;
  /** The pools-on network's own pool size (`-o kuryr.pool.min`): sized for the parallel burst. */
  poolMin: number;
  /** Bound on waiting for the pool to hold poolMin free ports. */
  poolWarmTimeoutMs: number;
  phases: ReadonlySet<Phase>;
  /** Sequential `docker run -d` + `docker rm -f` per network inside the simulated VM (nested phase). */
  nestedRuns: number;
  jsonPath: string;
  htmlPath: string;
}

const ENV_HELP = `Environment:
  KURYR_BENCH_CONFIG        kuryr.conf files of the daemon to measure, comma-separated
                            (default /etc/kuryr/kuryr.conf: the stack's daemon; a private one:
                            /etc/kuryr/kuryr.conf,/tmp/kuryr-NAME.conf from scripts/dev-daemon.sh)
  KURYR_BENCH_PID_FILE      the daemon's pid file (default: /run/kuryr/kuryr-server.pid for driver
                            kuryr, /run/kuryr/<driver>.pid for a dev daemon)
  KURYR_BENCH_OUTPUT        JSON report path (default bench/results/<timestamp>.json); the HTML
                            report is written next to it with .html
  KURYR_BENCH_RUNS          sequential docker run/rm per network (default 20)
  KURYR_BENCH_CONNECT_RUNS  time-to-connectivity samples per network (default 5)
  KURYR_BENCH_PARALLEL      containers started at once (default 30)
  KURYR_BENCH_NETWORK_RUNS  docker network create/rm per driver (default 5)
  KURYR_BENCH_POOL_MIN      free ports the pools-on network keeps (-o kuryr.pool.min; default: the
                            parallel count, so the burst is served from the pool)
  KURYR_BENCH_POOL_WAIT     seconds to wait for a pool to be warm (default 60)
  KURYR_BENCH_PHASES        phases to run, comma-separated (default all: ${PHASES.join(',')});
                            nested runs this build's kuryr-server in a simulated Nova VM, whatever
                            KURYR_BENCH_CONFIG says
  KURYR_BENCH_NESTED_RUNS   sequential docker run/rm per network in the VM (default 15)
  DOCKER                    docker CLI (default /usr/bin/docker)`;

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}=${raw} is not a positive integer\n\n${ENV_HELP}`);
  return value;
}

function phasesFrom(env: NodeJS.ProcessEnv): ReadonlySet<Phase> {
  const raw = env['KURYR_BENCH_PHASES'];
  if (raw === undefined || raw === '') return new Set(PHASES);
  const names = raw.split(',').map((name) => name.trim()).filter(Boolean);
  const unknown = names.filter((name) => !(PHASES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) throw new Error(`KURYR_BENCH_PHASES=${raw}: not a phase: ${unknown.join(', ') || '(none named)'}\n\n${ENV_HELP}`);
  return new Set(names as Phase[]);
}

/** The dev stack writes /run/kuryr/kuryr-server.pid; scripts/dev-daemon.sh NAME writes /run/kuryr/kuryr-NAME.pid. */
function defaultPidFile(driver: string): string {
  return `/run/kuryr/${driver === 'kuryr' ? 'kuryr-server' : driver}.pid`;
}

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(`npm run bench: Kuryr against Docker's bridge on the running stack (issue 4)\n\n${ENV_HELP}`);
    process.exit(0);
  }
  const configFiles = (env['KURYR_BENCH_CONFIG'] || '/etc/kuryr/kuryr.conf').split(',').filter(Boolean);
  const config = loadConfig(
    configFiles.flatMap((file) => ['--config-file', file]),
    env,
    { allowUnknownArgs: true },
  );
  const driver = basename(config.socketPath, '.sock');
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const jsonPath = env['KURYR_BENCH_OUTPUT'] || join(REPO, 'bench', 'results', `${stamp}.json`);
  const htmlPath = jsonPath.endsWith('.json') ? jsonPath.slice(0, -'.json'.length) + '.html' : `${jsonPath}.html`;
  if (!existsSync(dirname(jsonPath)) && env['KURYR_BENCH_OUTPUT']) throw new Error(`KURYR_BENCH_OUTPUT: directory ${dirname(jsonPath)} does not exist`);
  return {
    configFiles,
    config,
    driver,
    pidFile: env['KURYR_BENCH_PID_FILE'] || defaultPidFile(driver),
    dockerBinary: env['DOCKER'] || (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'),
    image: 'kuryr/busybox:latest',
    sequentialRuns: positiveInt(env, 'KURYR_BENCH_RUNS', 20),
    connectivityRuns: positiveInt(env, 'KURYR_BENCH_CONNECT_RUNS', 5),
    parallelContainers: positiveInt(env, 'KURYR_BENCH_PARALLEL', 30),
    networkRuns: positiveInt(env, 'KURYR_BENCH_NETWORK_RUNS', 5),
    poolMin: positiveInt(env, 'KURYR_BENCH_POOL_MIN', positiveInt(env, 'KURYR_BENCH_PARALLEL', 30)),
    poolWarmTimeoutMs: positiveInt(env, 'KURYR_BENCH_POOL_WAIT', 60) * 1000,
    phases: phasesFrom(env),
    nestedRuns: positiveInt(env, 'KURYR_BENCH_NESTED_RUNS', 15),
    jsonPath,
    htmlPath,
  };
}
