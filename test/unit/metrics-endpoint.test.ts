/**
 * Metrics as a scraper and `kuryr status` see them: Docker calls through the protocol, Neutron
 * requests through a real NeutronClient against fake Keystone/Neutron servers, served over HTTP.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { notFound } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { IpamDriver, NetworkDriver } from '../../src/libnetwork/api.js';
import { PluginProtocol } from '../../src/libnetwork/protocol.js';
import { KeystoneSession } from '../../src/openstack/keystone.js';
import { NeutronClient } from '../../src/openstack/neutron.js';
import { Metrics, MetricsServer, histogramQuantile, metricsUrl, parseExposition, type Sample } from '../../src/metrics/index.js';
import { activityCheck } from '../../src/cli/status.js';
import { networkCatalog, passwordAuth, send, startFakeKeystone, startServer, type FakeKeystone, type FakeServer } from './openstack-fake-servers.js';

const NET = 'a'.repeat(64);
const metrics = new Metrics();
const metricsServer = new MetricsServer(metrics, silentLogger);
let listen = '';
let ks: FakeKeystone;
let fakeNeutron: FakeServer;
let session: KeystoneSession;
let neutron: NeutronClient;

before(async () => {
  const bound = await metricsServer.listen('127.0.0.1:0');
  listen = `127.0.0.1:${bound.port}`;
  ks = await startFakeKeystone();
  fakeNeutron = await startServer((req, res) => {
    const body = req.body as { ports?: unknown[]; port?: unknown } | undefined;
    if (req.method === 'POST' && req.url === '/v2.0/ports' && body?.ports) {
      return send(res, 201, { ports: body.ports.map((_p, i) => ({ id: `bulk-${i}`, tags: [] })) }, { 'x-openstack-request-id': 'req-bulk' });
    }
    if (req.method === 'POST' && req.url === '/v2.0/ports') return send(res, 201, { port: { id: 'one', tags: [] } });
    if (req.method === 'DELETE' && req.url === '/v2.0/ports/gone') return send(res, 404, { NeutronError: { type: 'PortNotFound', message: 'gone' } });
    if (req.method === 'DELETE') return send(res, 204);
    if (req.method === 'GET' && req.url.startsWith('/v2.0/networks')) return send(res, 503, { message: 'down' });
    return send(res, 404, {});
  });
  ks.catalog = networkCatalog(fakeNeutron.url);
  session = new KeystoneSession({ auth: passwordAuth(ks.url), tls: { insecure: false }, timeout: 5, endpointType: 'public', regionName: 'RegionOne' });
  neutron = new NeutronClient({ session, onRequest: metrics.observeNeutronRequest, retryBackoffMs: [] });
});

after(async () => {
  await metricsServer.close();
  await session.close();
  await fakeNeutron.close();
  await ks.close();
});

async function scrape(): Promise<{ status: number; type: string; samples: Sample[]; text: string }> {
  const res = await fetch(metricsUrl(listen));
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', samples: parseExposition(text), text };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

test('Neutron requests are counted by resource, method and status; ports created and deleted are counted per port', async () => {
  await neutron.createPorts([{ network_id: 'n' }, { network_id: 'n' }, { network_id: 'n' }] as never);
  await neutron.createPort({ network_id: 'n' } as never);
  await neutron.deletePort('p1');
  await neutron.deletePort('gone'); // already gone: answered 404, not a deletion
  await neutron.removeTag('ports', 'p2', 'x'); // a DELETE under /ports that deletes no port
  await assert.rejects(neutron.listNetworks());

  const { samples } = await scrape();
  assert.equal(value(samples, 'kuryr_neutron_requests_total', { resource: 'ports', method: 'POST', status: '201' }), 2);
  assert.equal(value(samples, 'kuryr_neutron_requests_total', { resource: 'ports', method: 'DELETE', status: '204' }), 2);
  assert.equal(value(samples, 'kuryr_neutron_requests_total', { resource: 'ports', method: 'DELETE', status: '404' }), 1);
  assert.equal(value(samples, 'kuryr_neutron_requests_total', { resource: 'networks', method: 'GET', status: '503' }), 1);
  assert.equal(value(samples, 'kuryr_neutron_request_duration_seconds_count', { resource: 'ports', method: 'POST' }), 2);
  assert.equal(value(samples, 'kuryr_ports_created_total'), 4);
  assert.equal(value(samples, 'kuryr_ports_deleted_total'), 1);
});

test('Docker calls are counted by method and outcome, with a duration histogram', async () => {
  const net = {
    deleteNetwork: async () => ({}),
    join: async () => {
      throw notFound('endpoint has no port');
    },
    leave: () => new Promise(() => undefined),
  } as unknown as NetworkDriver;
  const protocol = new PluginProtocol(net, {} as IpamDriver, silentLogger, { observe: metrics.observeDockerCall, callTimeoutSeconds: 0.05 });
  await protocol.handle('/NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: NET }));
  await protocol.handle('/NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: NET }));
  await protocol.handle('/NetworkDriver.Join', JSON.stringify({ NetworkID: NET, EndpointID: NET, SandboxKey: '/var/run/docker/netns/x' }));
  await protocol.handle('/NetworkDriver.Leave', JSON.stringify({ NetworkID: NET, EndpointID: NET }));

  const { status, type, samples } = await scrape();
  assert.equal(status, 200);
  assert.match(type, /^text\/plain; version=0\.0\.4/);
  assert.equal(value(samples, 'kuryr_docker_calls_total', { method: 'NetworkDriver.DeleteNetwork', outcome: 'ok' }), 2);
  assert.equal(value(samples, 'kuryr_docker_calls_total', { method: 'NetworkDriver.Join', outcome: 'error' }), 1);
  assert.equal(value(samples, 'kuryr_docker_calls_total', { method: 'NetworkDriver.Leave', outcome: 'timeout' }), 1);
  assert.equal(value(samples, 'kuryr_docker_call_duration_seconds_count', { method: 'NetworkDriver.DeleteNetwork' }), 2);
  assert.equal(value(samples, 'kuryr_docker_call_duration_seconds_bucket', { method: 'NetworkDriver.Leave', le: '0.025' }), 0);
  assert.equal(value(samples, 'kuryr_docker_call_duration_seconds_bucket', { method: 'NetworkDriver.Leave', le: '0.1' }), 1);
});

test('Node process metrics are exported too', async () => {
  const { samples } = await scrape();
  assert.ok(value(samples, 'process_resident_memory_bytes')! > 0);
  assert.ok(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds'));
});

test('other parts register gauges (the port pool size per network), read at scrape time', async () => {
  const poolSizes = new Map([['net-a', 3], ['net-b', 0]]);
  metrics.registerGauge({
    name: 'kuryr_port_pool_size',
    help: 'Ready ports in the pool, per Neutron network.',
    labelNames: ['network'],
    collect: (gauge) => {
      for (const [network, size] of poolSizes) gauge.set({ network }, size);
    },
  });
  poolSizes.set('net-a', 5);
  const { samples } = await scrape();
  assert.equal(value(samples, 'kuryr_port_pool_size', { network: 'net-a' }), 5);
  assert.equal(value(samples, 'kuryr_port_pool_size', { network: 'net-b' }), 0);
  assert.throws(() => metrics.registerGauge({ name: 'pool_size', help: 'x' }), /must start with kuryr_/);
});

test('only GET /metrics is served', async () => {
  const other = await fetch(metricsUrl(listen).replace('/metrics', '/'));
  assert.equal(other.status, 404);
  const post = await fetch(metricsUrl(listen), { method: 'POST' });
  assert.equal(post.status, 404);
});

test('kuryr status reads the metrics into per-method counts, failures and median latency', async () => {
  const check = await activityCheck({ metricsListen: listen });
  assert.equal(check.ok, true);
  assert.match(check.detail, /4 Docker calls, 2 failed \(1 timed out\); 6 Neutron requests, 1 failed \(5xx or no answer\); ports 4 created, 1 deleted/);
  const lines = check.lines ?? [];
  assert.match(lines[0] ?? '', /^Docker call\s+calls\s+failed\s+~p50$/);
  assert.ok(lines.some((l) => /^NetworkDriver\.DeleteNetwork\s+2\s+0\s+\d+ ms$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^NetworkDriver\.Leave\s+1\s+1\s+\d+ ms$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^DELETE ports\s+3\s+1\s+0$/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /^GET networks\s+1\s+0\s+1$/.test(l)), lines.join('\n'));
});

test('kuryr status says when metrics are off, and fails when the endpoint does not answer', async () => {
  assert.deepEqual(await activityCheck({ metricsListen: '' }), { name: 'activity', ok: true, detail: 'no call counts: [DEFAULT] metrics_listen is empty (metrics off)' });
  const closed = new MetricsServer(metrics, silentLogger);
  const { port } = await closed.listen('127.0.0.1:0');
  await closed.close();
  const dead = await activityCheck({ metricsListen: `127.0.0.1:${port}` });
  assert.equal(dead.ok, false);
  assert.equal(dead.detail, `kuryr-server's metrics do not answer at http://127.0.0.1:${port}/metrics: connect ECONNREFUSED 127.0.0.1:${port}`);
});

test('a metrics_listen address that is taken stops the daemon with the option named', async () => {
  const second = new MetricsServer(metrics, silentLogger);
  await assert.rejects(second.listen(listen), /\[DEFAULT\] metrics_listen = 127\.0\.0\.1:\d+: cannot listen: EADDRINUSE/);
});

test('median from histogram buckets, as Prometheus interpolates it', () => {
  const b = (pairs: [number, number][]) => pairs.map(([le, count]) => ({ le, count }));
  assert.equal(histogramQuantile(0.5, b([[0.1, 0], [1, 0], [Infinity, 0]])), undefined);
  assert.equal(histogramQuantile(0.5, b([[0.1, 2], [1, 4], [Infinity, 4]])), 0.1);
  assert.equal(histogramQuantile(0.5, b([[0.1, 0], [1, 4], [Infinity, 4]])), 0.55);
  assert.equal(histogramQuantile(0.5, b([[0.1, 0], [1, 0], [Infinity, 3]])), 1);
});

test('metrics_listen wildcards are scraped on loopback; IPv6 is bracketed', () => {
  assert.equal(metricsUrl('0.0.0.0:9100'), 'http://127.0.0.1:9100/metrics');
  assert.equal(metricsUrl('[::]:9100'), 'http://[::1]:9100/metrics');
  assert.equal(metricsUrl('kuryr.example:9100'), 'http://kuryr.example:9100/metrics');
  assert.throws(() => metricsUrl('9100'), /not host:port/);
});
