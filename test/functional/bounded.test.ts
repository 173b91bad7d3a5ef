/**
 * A flood of junk cannot grow the daemon: 50,000 plugin calls to random paths and for random
 * endpoint IDs (well-formed and malformed) leave its resident memory within 20 % of where it was
 * after a warm-up, its metrics with the same series, and the daemon answering.
 *
 * Calls for unknown endpoints ask Neutron (is there a port with this device_id?), which is slow on
 * this small stack: one call in 50 does, so the run takes a couple of minutes while every
 * request-keyed path (endpoint lookups, external connectivity, the metrics' method labels) sees
 * thousands of distinct keys.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { parseExposition } from '../../src/metrics/index.js';
import { PrivateDaemon } from './private-daemon.js';

const CALLS = 50_000;
const WARM_UP_CALLS = 5_000;
/** One call in this many asks Neutron about an endpoint it has never seen. */
const NEUTRON_EVERY = 50;
/** Calls in flight at once (Docker itself makes a handful; the plugin server caps connections at 256). */
const PARALLEL = 16;
/** The flood stops here whatever its count, so a slow daemon fails the test instead of hanging it. */
const FLOOD_DEADLINE_MS = 200_000;
const SETTLE_MS = 15_000;
const MAX_GROWTH = 0.2;

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const id = () => hex(32);

interface Call {
  method: 'POST' | 'GET';
  path: string;
  body: string;
}

const post = (path: string, body: unknown): Call => ({ method: 'POST', path, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** Calls that ask Neutron: every endpoint call for an endpoint nobody created. */
const neutronCalls: (() => Call)[] = [
  () => post('/NetworkDriver.EndpointOperInfo', { NetworkID: id(), EndpointID: id() }),
  () => post('/NetworkDriver.DeleteEndpoint', { NetworkID: id(), EndpointID: id() }),
  () => post('/NetworkDriver.RevokeExternalConnectivity', { NetworkID: id(), EndpointID: id() }),
  () => post('/NetworkDriver.ProgramExternalConnectivity', { NetworkID: id(), EndpointID: id(), Options: {} }),
  () => post('/NetworkDriver.Join', { NetworkID: id(), EndpointID: id(), SandboxKey: `/var/run/docker/netns/${hex(6)}` }),
];

/** Calls answered without Neutron: unknown paths, malformed requests, calls that need nothing. */
const localCalls: (() => Call)[] = [
  () => post(`/${hex(8)}`, {}),
  () => post(`/NetworkDriver.${hex(6)}?${hex(4)}=${hex(4)}`, {}),
  () => post(`/IpamDriver.${hex(6)}/${hex(6)}`, { PoolID: hex(20) }),
  () => ({ method: 'GET', path: `/${hex(8)}`, body: '' }),
  () => post('/NetworkDriver.Leave', { NetworkID: id(), EndpointID: id() }),
  () => post('/NetworkDriver.EndpointOperInfo', { NetworkID: id(), EndpointID: `${hex(31)},device_owner=x` }),
  () => post('/NetworkDriver.DeleteEndpoint', { NetworkID: id(), EndpointID: hex(31) }),
  () => post('/NetworkDriver.Join', { NetworkID: id(), EndpointID: id() }),
  () => post('/NetworkDriver.RevokeExternalConnectivity', `{"NetworkID": "${id()}", "EndpointID": `),
  () => post('/IpamDriver.ReleaseAddress', { PoolID: hex(40), Address: `-${hex(4)}` }),
  () => post('/NetworkDriver.ProgramExternalConnectivity', { NetworkID: id(), EndpointID: 5, Options: { [hex(8)]: hex(2000) } }),
];

function nthCall(n: number): Call {
  if (n % NEUTRON_EVERY === 0) return neutronCalls[(n / NEUTRON_EVERY) % neutronCalls.length]!();
  return localCalls[n % localCalls.length]!();
}

let daemon: PrivateDaemon;
let metricsPort = 0;
const agent = new Agent({ keepAlive: true, maxSockets: PARALLEL });

function send(call: Call): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: daemon.socketPath, agent, method: call.method, path: call.path, timeout: 60_000, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${call.path}: no answer within 60 s`)));
    req.on('error', reject);
    req.end(call.body);
  });
}

/**
 * Sends calls `from`..`to`-1 with PARALLEL in flight; stops at the deadline or at the first call
 * without an answer (a daemon that ran out of memory). Returns the statuses seen.
 */
async function flood(from: number, to: number, deadline: number): Promise<{ sent: number; statuses: Map<number, number> }> {
  let next = from;
  let failure: unknown;
  const statuses = new Map<number, number>();
  const worker = async () => {
    while (next < to && Date.now() < deadline && failure === undefined) {
      const n = next++;
      try {
        const status = await send(nthCall(n));
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  assert.ok(daemon.running, `the daemon exited after ${next - from} calls (see ${daemon.logFile}.out)`);
  if (failure !== undefined) throw failure;
  return { sent: next - from, statuses };
}

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `VmRSS of ${pid}`);
  return Number(m[1]);
}

/** Lets the daemon go idle (V8 shrinks its heap when allocation stops), then reads its RSS. */
async function settledRss(): Promise<number> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  assert.ok(daemon.running, `the daemon exited while idle (see ${daemon.logFile}.out)`);
  return rssKiB(daemon.pid);
}

async function metricSeries(): Promise<{ series: number; dockerMethods: string[] }> {
  const text = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
    (res) => res.text(),
    (err: unknown) => {
      assert.ok(daemon.running, `the daemon exited while its metrics were scraped (see ${daemon.logFile}.out)`);
      throw err;
    },
  );
  const samples = parseExposition(text);
  const dockerMethods = [...new Set(samples.filter((s) => s.name === 'kuryr_docker_calls_total').map((s) => s.labels['method'] ?? ''))].sort();
  return { series: samples.length, dockerMethods };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** The heap limits scripts/stack.sh runs the daemon with (KURYR_NODE_FLAGS; the others are not allowed in NODE_OPTIONS). */
const STACK_HEAP_FLAGS = '--max-semi-space-size=1 --max-old-space-size=48';

before(async () => {
  metricsPort = await freePort();
  const saved = process.env['NODE_OPTIONS'];
  process.env['NODE_OPTIONS'] = STACK_HEAP_FLAGS;
  try {
    daemon = await PrivateDaemon.start('kuryr-bounded', { DEFAULT: { metrics_listen: `127.0.0.1:${metricsPort}`, debug: 'False' } });
  } finally {
    if (saved === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = saved;
  }
});

after(async () => {
  agent.destroy();
  await daemon?.stop();
});

test(`${CALLS} calls to random paths and for random endpoint IDs leave the daemon's RSS within 20 % and its metrics series unchanged`, async () => {
  const warm = await flood(0, WARM_UP_CALLS, Date.now() + FLOOD_DEADLINE_MS);
  assert.equal(warm.sent, WARM_UP_CALLS, 'the warm-up finished in time');
  const rssBefore = await settledRss();
  const metricsBefore = await metricSeries();

  const started = Date.now();
  const run = await flood(WARM_UP_CALLS, WARM_UP_CALLS + CALLS, started + FLOOD_DEADLINE_MS);
  const seconds = (Date.now() - started) / 1000;
  const rssAfter = await settledRss();
  const metricsAfter = await metricSeries();
  const activate = await daemon.call('Plugin.Activate');

  console.log(
    `${run.sent} calls in ${seconds.toFixed(1)} s (${(run.sent / seconds).toFixed(0)} calls/s; ${Math.floor(run.sent / NEUTRON_EVERY)} asked Neutron); ` +
      `statuses ${JSON.stringify(Object.fromEntries(run.statuses))}; ` +
      `RSS ${(rssBefore / 1024).toFixed(1)} MiB after the warm-up, ${(rssAfter / 1024).toFixed(1)} MiB after the flood (${(((rssAfter - rssBefore) / rssBefore) * 100).toFixed(1)} %); ` +
      `metric samples ${metricsBefore.series} -> ${metricsAfter.series}; Docker method labels ${metricsAfter.dockerMethods.length}`,
  );
  assert.equal(run.sent, CALLS, `all ${CALLS} calls within ${FLOOD_DEADLINE_MS / 1000} s`);
  assert.equal(activate.status, 200, 'the daemon still answers Docker');
  assert.deepEqual(activate.body, { Implements: ['NetworkDriver', 'IpamDriver'] });
  assert.ok(
    metricsAfter.dockerMethods.every((m) => m === 'unknown' || /^(Plugin|NetworkDriver|IpamDriver)\.[A-Za-z]+$/.test(m)),
    `Docker method labels are Kuryr's methods or "unknown": ${metricsAfter.dockerMethods.slice(0, 10).join(', ')}...`,
  );
  assert.ok(metricsAfter.series <= metricsBefore.series + 50, `metric samples stay put: ${metricsBefore.series} -> ${metricsAfter.series}`);
  assert.ok(rssAfter <= rssBefore * (1 + MAX_GROWTH), `RSS grew from ${rssBefore} KiB to ${rssAfter} KiB, more than ${MAX_GROWTH * 100} %`);
});
