/**
 * Faults (issue 3 §7): Neutron down or failing, a revoked Keystone token, a port that never goes
 * ACTIVE, a port Neutron cannot bind. Each case runs against a private Kuryr daemon (its own
 * socket and Docker driver name) so that the shared stack, and everybody else's tests, never see
 * the fault: Neutron faults come from a proxy in front of the real neutron-server, and the one
 * fault that needs the real agent (never ACTIVE) freezes it for a few seconds and always resumes it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { docker, dockerFails, dockerNetworkId, eventually, IMAGE, neutron, removeQuietly, uniq } from './harness.js';
import { freeCidr } from './free-subnets.js';
import { NeutronProxy, type ProxyMode } from './neutron-proxy.js';
import { PrivateDaemon } from './private-daemon.js';
import { idTags } from '../../src/libnetwork/naming.js';
import type { Port } from '../../src/openstack/neutron-types.js';

const suffix = uniq();
/** Docker gives up on a plugin call after 30 s; Kuryr must answer, with an error, before that. */
const DOCKER_PLUGIN_TIMEOUT_MS = 30_000;
/** `[neutron] timeout` of the daemons under test: how long one request to a hung Neutron may take. */
const NEUTRON_TIMEOUT_S = 5;
const VIF_PLUGGING_TIMEOUT_S = 5;

async function createNetwork(driver: string, name: string, cidr?: string): Promise<string> {
  cidr ??= await freeCidr(4);
  await docker('network', 'create', '-d', driver, '--ipam-driver', driver, '--subnet', cidr, name);
  const id = await dockerNetworkId(name);
  const [net] = await neutron.listNetworks({ tags: idTags(id).join(',') });
  assert.ok(net, `Docker network ${name} has its Neutron network`);
  return net.id;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work();
  return { value, ms: Date.now() - started };
}

async function endpointIdOf(container: string, network: string): Promise<string> {
  return docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").EndpointID}}`, container);
}

async function kuryrPortsOn(networkId: string): Promise<Port[]> {
  return neutron.listPorts({ network_id: networkId, device_owner: 'compute:kuryr' });
}

/** IDs of the ports a daemon addressed one by one (`/v2.0/ports/<id>...`), as its proxy saw. */
function portIdsAddressed(proxy: NeutronProxy): string[] {
  const ids = proxy.requests.map((r) => /^\/v2\.0\/ports\/([0-9a-f-]{36})(\/|$)/.exec(r.path)?.[1]).filter((id): id is string => !!id);
  return [...new Set(ids)];
}

const tapOf = (portId: string) => `/sys/class/net/tap${portId.slice(0, 11)}`;

// ---- Keystone, as the operator (admin-openrc) ----------------------------------------------------

function adminCredentials(): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of readFileSync('/etc/kuryr-stack/admin-openrc', 'utf8').split('\n')) {
    const m = /^export (OS_\w+)=(.*)$/.exec(line.trim());
    if (m) vars[m[1]!] = m[2]!.replace(/^(['"])(.*)\1$/, '$2');
  }
  return vars;
}

const admin = adminCredentials();
const keystoneUrl = (admin['OS_AUTH_URL'] ?? 'http://127.0.0.1:5000/v3').replace(/\/+$/, '');

async function adminToken(): Promise<string> {
  const res = await fetch(`${keystoneUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: admin['OS_USERNAME'], domain: { name: admin['OS_USER_DOMAIN_NAME'] }, password: admin['OS_PASSWORD'] } },
        },
        scope: { project: { name: admin['OS_PROJECT_NAME'], domain: { name: admin['OS_PROJECT_DOMAIN_NAME'] } } },
      },
    }),
  });
  const token = res.headers.get('x-subject-token');
  assert.ok(res.status === 201 && token, `admin authentication failed: ${res.status}`);
  return token;
}

/** Keystone's own answer on a token: 200 valid, 404 revoked or expired. */
async function keystoneTokenStatus(subject: string, adminTok: string): Promise<number> {
  const res = await fetch(`${keystoneUrl}/auth/tokens`, { headers: { 'x-auth-token': adminTok, 'x-subject-token': subject } });
  await res.arrayBuffer();
  return res.status;
}

// ---- the tests -----------------------------------------------------------------------------------

describe('Neutron unreachable or failing: bounded errors, recovery without a restart', () => {
  let proxy: NeutronProxy;
  let daemon: PrivateDaemon;
  let pidAtStart = 0;
  const networks: string[] = [];
  const containers: string[] = [];

  before(async () => {
    proxy = await NeutronProxy.start();
    daemon = await PrivateDaemon.start(`kuryr-flt${suffix}`, {
      neutron: { endpoint_override: proxy.url, timeout: String(NEUTRON_TIMEOUT_S) },
    });
    pidAtStart = daemon.pid;
  });
  after(async () => {
    await proxy.setMode('pass');
    proxy.failPostsWith = undefined;
    proxy.checkToken = undefined;
    await removeQuietly('container', ...containers);
    await removeQuietly('network', ...networks);
    await daemon.stop();
    await proxy.close();
  });

  const cases: { mode: ProxyMode; what: string; expect: RegExp }[] = [
    { mode: 'refuse', what: 'refuses connections', expect: /Neutron GET \/v2\.0\/\S+: connection failed/ },
    { mode: 'unavailable', what: 'answers 503', expect: /Neutron GET \/v2\.0\/\S+: 503/ },
    { mode: 'hang', what: 'accepts requests and never answers', expect: /Neutron GET \/v2\.0\/\S+: no answer within 5 s/ },
  ];
  for (const { mode, what, expect } of cases) {
    test(`Neutron ${what}: docker network create fails before Docker's 30 s, with an error naming Neutron`, async () => {
      const name = `kt-flt-${mode}-${suffix}`;
      await proxy.setMode(mode);
      proxy.requests.length = 0;
      const cidr = await freeCidr(4);
      try {
        const { value: err, ms } = await timed(() => dockerFails('network', 'create', '-d', daemon.driver, '--ipam-driver', daemon.driver, '--subnet', cidr, name));
        assert.match(err, expect);
        assert.ok(ms < DOCKER_PLUGIN_TIMEOUT_MS, `failed after ${ms} ms, within Docker's plugin timeout`);
        if (mode === 'hang') assert.ok(ms >= (NEUTRON_TIMEOUT_S - 1) * 1000, `waited the configured [neutron] timeout (${ms} ms)`);
        if (mode === 'unavailable') {
          // A read is idempotent: retried on 503 (bounded), unlike a create (next test).
          const firstPath = proxy.requests[0]!.path;
          assert.ok(proxy.count('GET', firstPath) > 1, `GET ${firstPath} was retried on 503`);
        }
      } finally {
        await proxy.setMode('pass');
      }
      await assert.rejects(docker('network', 'inspect', name), 'no Docker network is left behind');
      assert.ok(daemon.running && daemon.pid === pidAtStart, 'the daemon is still the same process');
    });
  }

  test('Neutron hangs and [neutron] timeout is longer than Docker waits: [DEFAULT] call_timeout answers Docker first', async () => {
    const callTimeoutS = 4;
    const patient = await PrivateDaemon.start(`kuryr-fltc${suffix}`, {
      DEFAULT: { call_timeout: String(callTimeoutS) },
      neutron: { endpoint_override: proxy.url, timeout: '60' },
    });
    const name = `kt-flt-deadline-${suffix}`;
    const cidr = await freeCidr(4);
    await proxy.setMode('hang');
    try {
      const { value: err, ms } = await timed(() => dockerFails('network', 'create', '-d', patient.driver, '--ipam-driver', patient.driver, '--subnet', cidr, name));
      assert.match(err, new RegExp(`did not finish within ${callTimeoutS} s: Neutron`));
      assert.ok(ms < DOCKER_PLUGIN_TIMEOUT_MS, `failed after ${ms} ms, within Docker's plugin timeout`);
    } finally {
      await proxy.setMode('pass');
      await patient.stop();
    }
    await assert.rejects(docker('network', 'inspect', name), 'no Docker network is left behind');
  });

  test('a create (POST) Neutron answers 503 is not retried, and the Docker call fails with that answer', async () => {
    const name = `kt-flt-post-${suffix}`;
    const cidr = await freeCidr(4);
    proxy.failPostsWith = 503;
    proxy.requests.length = 0;
    try {
      const err = await dockerFails('network', 'create', '-d', daemon.driver, '--ipam-driver', daemon.driver, '--subnet', cidr, name);
      assert.match(err, /Neutron POST \/v2\.0\/subnetpools: 503/);
    } finally {
      proxy.failPostsWith = undefined;
    }
    assert.equal(proxy.count('POST'), 1, 'exactly one POST reached "Neutron": a non-idempotent create is never repeated');
    await assert.rejects(docker('network', 'inspect', name), 'no Docker network is left behind');
  });

  test('Neutron back: the same daemon process creates a network and runs containers that ping each other', async () => {
    const name = `kt-flt-back-${suffix}`;
    networks.push(name);
    await createNetwork(daemon.driver, name);
    const [a, b] = [`kt-flt-a-${suffix}`, `kt-flt-b-${suffix}`];
    containers.push(a, b);
    await docker('run', '-d', '--name', a, '--net', name, IMAGE, 'sleep', '600');
    await docker('run', '-d', '--name', b, '--net', name, IMAGE, 'sleep', '600');
    const ipB = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${name}").IPAddress}}`, b);
    await eventually(`${a} reaches ${b}`, async () => ((await docker('exec', a, 'ping', '-c', '1', '-W', '2', ipB)) ? true : undefined), 30_000, 1000);
    assert.ok(daemon.running && daemon.pid === pidAtStart, `still pid ${pidAtStart}: Kuryr was never restarted`);
  });

  test('a revoked Keystone token: the daemon re-authenticates and the Docker call succeeds', async () => {
    // neutron-server's keystonemiddleware caches a validated token (token_cache_time, 300 s) and
    // does not re-check revocation for cached tokens, so the real Neutron would keep accepting a
    // revoked token for minutes. The proxy validates each request's token with Keystone, as an
    // uncached middleware would; the revocation itself is Keystone's, on the daemon's real token.
    const adminTok = await adminToken();
    const daemonToken = [...proxy.requests].reverse().find((r) => r.token)?.token;
    assert.ok(daemonToken, 'the proxy has seen the daemon\'s token');
    assert.equal(await keystoneTokenStatus(daemonToken, adminTok), 200, 'the daemon\'s token is valid before revocation');
    const revoke = await fetch(`${keystoneUrl}/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': adminTok, 'x-subject-token': daemonToken } });
    assert.equal(revoke.status, 204, 'Keystone revoked the token');
    assert.equal(await keystoneTokenStatus(daemonToken, adminTok), 404, 'Keystone now rejects it');

    proxy.checkToken = async (token) => (await keystoneTokenStatus(token, adminTok)) === 200;
    proxy.requests.length = 0;
    const authBefore = daemon.logLines('keystone: authenticating').length;
    const name = `kt-flt-tok-${suffix}`;
    networks.push(name);
    try {
      await createNetwork(daemon.driver, name);
    } finally {
      proxy.checkToken = undefined;
    }
    const first = proxy.requests[0]!;
    assert.ok(first.token === daemonToken && first.status === 401, 'the first request carried the revoked token and got 401');
    const later = proxy.requests.slice(1);
    assert.ok(later.length > 0 && later.every((r) => r.token !== daemonToken && r.status < 400), 'every later request used a new, valid token');
    assert.equal(daemon.logLines('keystone: authenticating').length, authBefore + 1, 'the daemon authenticated exactly once more');
  });
});

describe('ports that never work: the container is refused and nothing is left behind, or it starts and reports the port status', () => {
  const agentPidFile = '/run/kuryr-stack/neutron-agent.pid';
  let fatalProxy: NeutronProxy;
  let fatal: PrivateDaemon;
  let lenientProxy: NeutronProxy;
  let lenient: PrivateDaemon;
  let noAgentProxy: NeutronProxy;
  let noAgent: PrivateDaemon;
  const [fatalNet, lenientNet, noAgentNet] = [`kt-flt-fatal-${suffix}`, `kt-flt-lenient-${suffix}`, `kt-flt-noagent-${suffix}`];
  const containers = [`kt-flt-f-${suffix}`, `kt-flt-l-${suffix}`, `kt-flt-n-${suffix}`];

  before(async () => {
    [fatalProxy, lenientProxy, noAgentProxy] = await Promise.all([NeutronProxy.start(), NeutronProxy.start(), NeutronProxy.start()]);
    [fatal, lenient, noAgent] = await Promise.all([
      PrivateDaemon.start(`kuryr-fltf${suffix}`, {
        neutron: { endpoint_override: fatalProxy.url, vif_plugging_is_fatal: 'True', vif_plugging_timeout: String(VIF_PLUGGING_TIMEOUT_S) },
      }),
      PrivateDaemon.start(`kuryr-fltl${suffix}`, { neutron: { endpoint_override: lenientProxy.url, vif_plugging_is_fatal: 'False' } }),
      // No Neutron agent reports this host, so Neutron cannot bind ports to it.
      PrivateDaemon.start(`kuryr-fltn${suffix}`, { DEFAULT: { hostname: `kuryr-no-agent-${suffix}` }, neutron: { endpoint_override: noAgentProxy.url } }),
    ]);
  });
  after(async () => {
    await removeQuietly('container', ...containers);
    await removeQuietly('network', fatalNet, lenientNet, noAgentNet);
    await Promise.all([fatal?.stop(), lenient?.stop(), noAgent?.stop()]);
    await Promise.all([fatalProxy?.close(), lenientProxy?.close(), noAgentProxy?.close()]);
  });

  test('no agent on the daemon\'s host (binding_failed): docker run fails naming the cause, no port and no veth remain', async () => {
    const netId = await createNetwork(noAgent.driver, noAgentNet);
    noAgentProxy.requests.length = 0;
    const err = await dockerFails('run', '-d', '--name', containers[2]!, '--net', noAgentNet, IMAGE, 'sleep', '600');
    assert.match(err, /binding:vif_type=binding_failed: Neutron could not bind it on host kuryr-no-agent-/);
    await removeQuietly('container', containers[2]!);
    assert.deepEqual(await kuryrPortsOn(netId), [], 'no Kuryr port is left on the network');
    const ports = portIdsAddressed(noAgentProxy);
    assert.ok(ports.length >= 1, 'Kuryr made a port for the container (and removed it again)');
    for (const portId of ports) assert.equal(existsSync(tapOf(portId)), false, `no host veth tap${portId.slice(0, 11)} is left`);
  });

  test('agent frozen: with vif_plugging_is_fatal the container is refused after vif_plugging_timeout and cleaned up; without, it starts with a DOWN port that goes ACTIVE later', async () => {
    const fatalNetId = await createNetwork(fatal.driver, fatalNet);
    const lenientNetId = await createNetwork(lenient.driver, lenientNet);
    fatalProxy.requests.length = 0;
    const agentPid = Number(readFileSync(agentPidFile, 'utf8').trim());
    assert.ok(agentPid > 1, `the stack's Linux bridge agent pid is in ${agentPidFile}`);

    // The shared agent is frozen (SIGSTOP), never stopped or restarted, for about ten seconds: long
    // enough for vif_plugging_timeout (5 s) to expire, far shorter than Neutron's agent_down_time
    // (75 s), so nobody else's port binding is affected; it is always resumed in `finally`.
    let refusal = '';
    let refusedAfterMs = 0;
    let lenientPortId = '';
    let endpointId = '';
    process.kill(agentPid, 'SIGSTOP');
    try {
      const attempt = await timed(() => dockerFails('run', '-d', '--name', containers[0]!, '--net', fatalNet, IMAGE, 'sleep', '600'));
      refusal = attempt.value;
      refusedAfterMs = attempt.ms;
      await docker('run', '-d', '--name', containers[1]!, '--net', lenientNet, IMAGE, 'sleep', '600');
      endpointId = await endpointIdOf(containers[1]!, lenientNet);
      const info = await lenient.call('NetworkDriver.EndpointOperInfo', { NetworkID: await dockerNetworkId(lenientNet), EndpointID: endpointId });
      const value = info.body['Value'] as Record<string, string>;
      lenientPortId = value['neutron_port_id'] ?? '';
      assert.equal(info.status, 200);
      assert.notEqual(value['status'], 'ACTIVE', 'while the agent is frozen the port is not ACTIVE, and Kuryr reports it');
    } finally {
      process.kill(agentPid, 'SIGCONT');
    }

    assert.match(refusal, /still (DOWN|BUILD) after vif_plugging_timeout=5s/);
    assert.ok(refusedAfterMs >= (VIF_PLUGGING_TIMEOUT_S - 1) * 1000 && refusedAfterMs < DOCKER_PLUGIN_TIMEOUT_MS, `refused after ${refusedAfterMs} ms`);
    await removeQuietly('container', containers[0]!);
    assert.deepEqual(await kuryrPortsOn(fatalNetId), [], 'the refused container left no Kuryr port');
    const polled = portIdsAddressed(fatalProxy);
    assert.ok(polled.length >= 1, 'Kuryr polled the port status while waiting');
    for (const portId of polled) assert.equal(existsSync(tapOf(portId)), false, `no host veth tap${portId.slice(0, 11)} is left`);

    // The container that started reports the real status: ACTIVE once the agent has wired it.
    assert.equal((await kuryrPortsOn(lenientNetId)).length, 1);
    await eventually('the lenient container\'s port ACTIVE after the agent resumed', async () => {
      const info = await lenient.call('NetworkDriver.EndpointOperInfo', { NetworkID: await dockerNetworkId(lenientNet), EndpointID: endpointId });
      const value = info.body['Value'] as Record<string, string>;
      return value['status'] === 'ACTIVE' && value['neutron_port_id'] === lenientPortId ? true : undefined;
    }, 60_000, 1000);
  });
});
