/**
 * What an operator sees of a container's life: one log line per Docker call naming the Neutron
 * requests it caused (found again in Neutron's own log), the metrics endpoint, and `kuryr status`.
 * Runs a daemon of its own with metrics_listen set, on the stack's dockerd.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { docker, eventually, IMAGE, removeQuietly, sh, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { PrivateDaemon } from './private-daemon.js';
import { freePort } from '../unit/tls-fixtures.js';
import { parseExposition, type Sample } from '../../src/metrics/index.js';

const NEUTRON_LOG = '/var/log/kuryr-stack/neutron-server.log';
const KURYR_CLI = fileURLToPath(new URL('../../src/cli/kuryr.js', import.meta.url));
const suffix = uniq();
const NET = `kt-obs-${suffix}`;
const CONTAINER = `kt-obs-c-${suffix}`;
const CIDR = await freeCidr(4);

let daemon: PrivateDaemon;
let metricsPort = 0;

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(res.status, 200);
  return parseExposition(await res.text());
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

/** The one line each Docker call leaves at info (warn when it failed). */
function callLines(): Record<string, unknown>[] {
  return [...daemon.logLines('docker call'), ...daemon.logLines('docker call failed')];
}

describe('observability of a container lifecycle', () => {
  before(async () => {
    metricsPort = await freePort();
    daemon = await PrivateDaemon.start(`kuryr-obs${suffix}`, { DEFAULT: { metrics_listen: `127.0.0.1:${metricsPort}` } });
    await docker('network', 'create', '-d', daemon.driver, '--ipam-driver', daemon.driver, '--subnet', CIDR, NET);
    await docker('run', '-d', '--name', CONTAINER, '--net', NET, IMAGE, 'sleep', '600');
    await docker('rm', '-f', CONTAINER);
    await docker('network', 'rm', NET);
  });
  after(async () => {
    await removeQuietly('container', CONTAINER);
    await removeQuietly('network', NET);
    await daemon?.stop();
  });

  test('each Docker call leaves exactly one log line with its id, duration, outcome and Neutron request ids', async () => {
    const lines = callLines();
    const methods = lines.map((l) => l['method']);
    for (const m of ['IpamDriver.RequestPool', 'NetworkDriver.CreateNetwork', 'NetworkDriver.CreateEndpoint', 'NetworkDriver.Join', 'NetworkDriver.DeleteEndpoint', 'NetworkDriver.DeleteNetwork', 'IpamDriver.ReleasePool']) {
      assert.equal(methods.filter((x) => x === m).length, 1, `one line for ${m}`);
    }
    const ids = lines.map((l) => l['callId']);
    assert.equal(new Set(ids).size, ids.length, 'call ids are unique');
    for (const l of lines) {
      assert.equal(typeof l['durationMs'], 'number');
      assert.equal(l['outcome'], 'ok', JSON.stringify(l));
      assert.ok(Array.isArray(l['neutronRequestIds']));
    }
    const createNetwork = lines.find((l) => l['method'] === 'NetworkDriver.CreateNetwork')!;
    const requestIds = createNetwork['neutronRequestIds'] as string[];
    assert.ok(requestIds.length > 0, 'CreateNetwork caused Neutron requests');
    for (const id of requestIds) assert.match(id, /^req-[0-9a-f-]{36}$/);

    // The ids lead into Neutron's own log: the network Kuryr created for this call is there.
    const neutronLog = await eventually('Neutron to log the requests', async () => {
      const text = await readFile(NEUTRON_LOG, 'utf8');
      return requestIds.every((id) => text.includes(id)) ? text : undefined;
    }, 10_000);
    const posts = neutronLog.split('\n').filter((l) => requestIds.some((id) => l.includes(id)) && l.includes('"POST /v2.0/networks'));
    assert.equal(posts.length, 1, 'one of the request ids is the POST that created the network');
  });

  test('request and response bodies are logged at debug', () => {
    const requests = daemon.logLines('docker call request').filter((l) => l['method'] === 'NetworkDriver.CreateNetwork');
    assert.equal(requests.length, 1);
    const body = requests[0]!['request'] as { IPv4Data?: { Pool?: string }[] };
    assert.equal(body.IPv4Data?.[0]?.Pool, CIDR);
  });

  test('the metrics endpoint counts the calls, Neutron requests and the port created and deleted', async () => {
    const samples = await scrape();
    const lines = callLines();
    for (const m of ['NetworkDriver.CreateNetwork', 'NetworkDriver.CreateEndpoint', 'NetworkDriver.Join', 'NetworkDriver.DeleteEndpoint']) {
      assert.equal(value(samples, 'kuryr_docker_calls_total', { method: m, outcome: 'ok' }), 1, m);
      assert.equal(value(samples, 'kuryr_docker_call_duration_seconds_count', { method: m }), 1, m);
    }
    assert.equal(value(samples, 'kuryr_docker_calls_total'), lines.length, 'one count per logged call');
    assert.ok(value(samples, 'kuryr_neutron_requests_total', { resource: 'networks', method: 'POST', status: '201' }) >= 1);
    assert.ok(value(samples, 'kuryr_ports_created_total') >= 1, 'the container\'s port was counted as created');
    assert.equal(value(samples, 'kuryr_ports_deleted_total'), value(samples, 'kuryr_ports_created_total'), 'and as deleted');
    assert.ok(value(samples, 'process_resident_memory_bytes') > 0);
  });

  test('kuryr status shows per-method calls, failures and latency, and Neutron requests', async () => {
    const out = await sh(process.execPath, [KURYR_CLI, ...['/etc/kuryr/kuryr.conf', daemon.configFile].flatMap((f) => ['--config-file', f]), 'status']).catch(
      (err: { stdout?: string }) => err.stdout ?? '',
    );
    assert.match(out, new RegExp(`^ok +activity +since kuryr-server started \\(http://127\\.0\\.0\\.1:${metricsPort}/metrics\\): \\d+ Docker calls, 0 failed \\(0 timed out\\)`, 'm'));
    assert.match(out, /^ +NetworkDriver\.CreateEndpoint +1 +0 +\d+(\.\d)? m?s$/m);
    assert.match(out, /^ +POST networks +\d+ +0 +0$/m);
  });
});
