/**
 * The bound on one Docker call (`call_timeout`): Docker gets a clear error before its own 30 s
 * give-up, the late work is logged when it ends, and each call's log line names the Neutron
 * requests it caused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import type { CreateEndpointRequest, IpamDriver, NetworkDriver } from '../../src/libnetwork/api.js';
import { KuryrError } from '../../src/errors.js';
import { CallContext, CallDeadlineError, PluginProtocol, currentCall, tracedDependency, type CallObserver } from '../../src/libnetwork/protocol.js';
import { captureLogger } from './openstack-fake-servers.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);
const CREATE_ENDPOINT = JSON.stringify({ NetworkID: NET, EndpointID: EP, Options: {}, Interface: { Address: '10.0.0.5/24' } });

/** A stand-in for the Neutron client: `createPort` answers when the test says so. */
class SlowNeutron {
  #release: (() => void) | undefined;
  readonly answered = new Promise<void>((resolve) => (this.#release = resolve));
  async listPorts(): Promise<string[]> {
    currentCall()?.noteNeutronAnswer('req-list-1');
    return [];
  }
  async createPort(): Promise<{ id: string }> {
    await this.answered;
    currentCall()?.noteNeutronAnswer('req-create-2');
    return { id: 'port-1' };
  }
  answer(): void {
    this.#release?.();
  }
}

function driversOver(neutron: SlowNeutron, extra: Partial<NetworkDriver> = {}): { net: NetworkDriver; ipam: IpamDriver } {
  const net = {
    getCapabilities: () => ({ Scope: 'local', ConnectivityScope: 'local' }),
    async createEndpoint(_req: CreateEndpointRequest) {
      await neutron.listPorts();
      await neutron.createPort();
      return { Interface: {} };
    },
    async deleteNetwork() {
      await neutron.listPorts();
      return {};
    },
    ...extra,
  } as unknown as NetworkDriver;
  return { net, ipam: {} as IpamDriver };
}

function logLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const waitFor = async (what: string, check: () => boolean, ms = 2_000, refresh?: () => Promise<unknown>) => {
  const until = Date.now() + ms;
  while ((await refresh?.(), !check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('a call stuck on Neutron fails at the deadline with an error naming what it waits for', { timeout: 10_000 }, async () => {
  const neutron = new SlowNeutron();
  const traced = tracedDependency(neutron, 'Neutron');
  const { net, ipam } = driversOver(traced);
  const { logger, text } = captureLogger();
  const observed: Parameters<CallObserver>[0][] = [];
  const protocol = new PluginProtocol(net, ipam, logger, { callTimeoutSeconds: 0.3, observe: (c) => observed.push(c) });

  const started = performance.now();
  const reply = await protocol.handle('/NetworkDriver.CreateEndpoint', CREATE_ENDPOINT);
  const tookMs = performance.now() - started;

  assert.ok(tookMs >= 290 && tookMs < 1_500, `answered after ${tookMs} ms`);
  assert.equal(reply.status, 504);
  const err = String((reply.body as { Err?: string }).Err);
  assert.match(err, /^CreateEndpoint did not finish within 0\.3 s: Neutron createPort has not answered for 0\.[23] s \(1 Neutron answer so far\)$/);
  assert.deepEqual(
    observed.map((o) => [o.method, o.outcome, o.status]),
    [['NetworkDriver.CreateEndpoint', 'timeout', 504]],
  );
  const line = logLines(text()).find((l) => l['msg'] === 'docker call failed');
  assert.equal(line?.['outcome'], 'timeout');
  assert.equal(line?.['code'], 'KURYR_ERR_TIMEOUT', 'the log line names the error code, the row of the README\'s table');
  assert.deepEqual(line?.['neutronRequestIds'], ['req-list-1']);

  // The work goes on after Docker was answered; when it ends, the log says so, with what it caused.
  neutron.answer();
  await waitFor('the late-finish log line', () => text().includes('finished after its deadline'));
  const late = logLines(text()).find((l) => String(l['msg']).includes('finished after its deadline'));
  assert.equal(late?.['level'], 40);
  assert.equal(late?.['outcome'], 'ok');
  assert.deepEqual(late?.['neutronRequestIds'], ['req-list-1', 'req-create-2']);
});

test('a call stuck elsewhere says it was not waiting on Neutron or the host', { timeout: 10_000 }, async () => {
  const never = new Promise<never>(() => undefined);
  const { net, ipam } = driversOver(new SlowNeutron(), { deleteNetwork: () => never } as Partial<NetworkDriver>);
  const protocol = new PluginProtocol(net, ipam, captureLogger().logger, { callTimeoutSeconds: 0.1 });
  const reply = await protocol.handle('/NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: NET }));
  assert.equal(reply.status, 504);
  assert.match(String((reply.body as { Err?: string }).Err), /^DeleteNetwork did not finish within 0\.1 s: it was not waiting on Neutron or the host \(0 Neutron answers so far\)/);
});

test('late work that fails is logged once, and is not an unhandled rejection', { timeout: 10_000 }, async () => {
  let fail: ((e: Error) => void) | undefined;
  const pending = new Promise<never>((_, reject) => (fail = reject));
  const { net, ipam } = driversOver(new SlowNeutron(), { deleteNetwork: () => pending } as Partial<NetworkDriver>);
  const { logger, text } = captureLogger();
  const protocol = new PluginProtocol(net, ipam, logger, { callTimeoutSeconds: 0.05 });
  const unhandled: unknown[] = [];
  const onUnhandled = (r: unknown) => unhandled.push(r);
  process.on('unhandledRejection', onUnhandled);
  try {
    assert.equal((await protocol.handle('/NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: NET }))).status, 504);
    fail?.(new Error('Neutron said 409'));
    await waitFor('the late-failure log line', () => text().includes('failed after its deadline'));
    await new Promise((r) => setTimeout(r, 20));
    const late = logLines(text()).filter((l) => String(l['msg']).includes('after its deadline'));
    assert.equal(late.length, 1);
    assert.equal(late[0]?.['error'], 'Neutron said 409');
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

test('calls within the deadline answer normally and log one info line with their Neutron request ids', async () => {
  const { net, ipam } = driversOver(new SlowNeutron());
  const { logger, text } = captureLogger();
  const protocol = new PluginProtocol(net, ipam, logger, { callTimeoutSeconds: 25 });
  const started = performance.now();
  const reply = await protocol.handle('/NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: NET }));
  assert.ok(performance.now() - started < 1_000, 'the 25 s timer does not delay the answer');
  assert.deepEqual(reply, { status: 200, body: {} });
  const lines = logLines(text()).filter((l) => l['method'] === 'NetworkDriver.DeleteNetwork' && l['level'] === 30);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.['msg'], 'docker call');
  assert.equal(lines[0]?.['outcome'], 'ok');
  assert.equal(typeof lines[0]?.['callId'], 'number');
  assert.equal(typeof lines[0]?.['durationMs'], 'number');
  assert.deepEqual(lines[0]?.['neutronRequestIds'], ['req-list-1']);
});

test('concurrent calls keep their Neutron request ids apart', async () => {
  const net = {
    async deleteNetwork(req: { NetworkID: string }) {
      await new Promise((r) => setTimeout(r, req.NetworkID.startsWith('c') ? 30 : 5));
      currentCall()?.noteNeutronAnswer(`req-${req.NetworkID.slice(0, 1)}`);
      return {};
    },
  } as unknown as NetworkDriver;
  const { logger, text } = captureLogger();
  const protocol = new PluginProtocol(net, {} as IpamDriver, logger, { callTimeoutSeconds: 5 });
  await Promise.all(['c', 'd'].map((x) => protocol.handle('/NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: x.repeat(64) }))));
  const ids = logLines(text())
    .filter((l) => l['msg'] === 'docker call')
    .map((l) => l['neutronRequestIds']);
  assert.deepEqual(ids.sort(), [['req-c'], ['req-d']].sort());
});

test('the deadline error is a typed KURYR_ERR_TIMEOUT naming what the call waits on', async () => {
  const call = new CallContext(1, 'NetworkDriver.Join');
  let release: (() => void) | undefined;
  const binding = call.waitFor('host binding bind', () => new Promise<void>((r) => (release = r)));
  const err = new CallDeadlineError(call, 25);
  assert.ok(err instanceof KuryrError);
  assert.equal(err.code, 'KURYR_ERR_TIMEOUT');
  assert.match(err.message, /^Join did not finish within 25 s: host binding bind has not answered for 0\.0 s \(0 Neutron answers so far\)$/);
  release?.();
  await binding;
  assert.equal(call.blockedOn, undefined);
});

test('at debug, a call\'s request body is logged with secret-named fields redacted', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kuryr-log-'));
  try {
    const file = join(dir, 'kuryr.log');
    const logger = createLogger({ debug: true, file });
    const net = { createNetwork: async () => ({}) } as unknown as NetworkDriver;
    const protocol = new PluginProtocol(net, {} as IpamDriver, logger, { callTimeoutSeconds: 5 });
    const generic = { 'neutron.net.name': 'visible-name', password: 'S3cret-in-an-option', token: 'gAAAAAtokenInAnOption' };
    const body = { NetworkID: NET, Options: { 'com.docker.network.generic': generic }, IPv4Data: [], IPv6Data: [] };
    assert.equal((await protocol.handle('/NetworkDriver.CreateNetwork', JSON.stringify(body))).status, 200);
    // The file destination is asynchronous: wait for the call's lines to land.
    let text = '';
    await waitFor('the log file', () => text.includes('"msg":"docker call"'), 5_000, async () => (text = await readFile(file, 'utf8').catch(() => '')));
    const request = logLines(text).find((l) => l['msg'] === 'docker call request');
    assert.deepEqual((request?.['request'] as typeof body).Options['com.docker.network.generic'], { 'neutron.net.name': 'visible-name', password: '***', token: '***' });
    assert.equal(text.includes('S3cret-in-an-option') || text.includes('gAAAAAtokenInAnOption'), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
