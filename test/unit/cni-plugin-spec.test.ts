/**
 * `kuryr-cni` as a runtime sees it: the built executable run with the exact environment and stdin
 * podman 4.3 and containerd 1.6 send (shared/reference/k8s-runtimes.md), plus the calls of spec 1.1
 * that neither runtime makes (CHECK, STATUS, GC, 1.1.0 results). What is checked is what a runtime
 * and an operator see: stdout, the exit code, the stderr line, and what reached the node daemon.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CniBench, type Received } from './cni-plugin-harness.js';

const bench = new CniBench();
const SOCK = bench.socketPath;

const PODMAN_ID = '5d1f3a0c9e8b7a6f5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e';
const PODMAN_NETNS = '/run/netns/netns-0b6c8a34-6d0e-4f6b-9d0a-2a1d5e7c9f31';
const CTRD_ID = '9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b';
const CTRD_NETNS = '/var/run/netns/cni-7f3e2d1c-0b9a-4c8d-8e7f-6a5b4c3d2e1f';
const POD_UID = '0c9a6d3e-2f44-4a47-9b3e-59d0f3c1b2a1';

/** libcni's VERSION probe, as podman runs it when it loads networks. */
const PODMAN_VERSION_ENV = { CNI_COMMAND: 'VERSION', CNI_CONTAINERID: '', CNI_IFNAME: 'dummy', CNI_NETNS: 'dummy', CNI_PATH: 'dummy', CNI_ARGS: '' };

function podmanEnv(command: string): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: PODMAN_ID,
    CNI_IFNAME: 'eth0',
    CNI_NETNS: PODMAN_NETNS,
    CNI_PATH: '/etc/kuryr/cni/bin:/usr/lib/cni',
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web_1;MAC=02:42:de:ad:be:ef;IP=10.90.0.50',
  };
}

/** podman's stdin: the plugin's conf re-serialized with sorted keys, runtimeConfig for declared capabilities only. */
function podmanConf(cniVersion = '1.0.0', extra: Record<string, unknown> = {}) {
  return {
    capabilities: { aliases: true, portMappings: true },
    cniVersion,
    daemonSocket: SOCK,
    name: 'kuryr-pods',
    'neutron.net.name': 'pods',
    runtimeConfig: { aliases: { 'kuryr-pods': ['5d1f3a0c9e8b'] }, portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }] },
    type: 'kuryr-cni',
    ...extra,
  };
}

function containerdEnv(command: string, args = `K8S_POD_UID=${POD_UID};IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=${CTRD_ID}`) {
  return { CNI_COMMAND: command, CNI_CONTAINERID: CTRD_ID, CNI_IFNAME: 'eth0', CNI_NETNS: CTRD_NETNS, CNI_PATH: '/opt/kuryr/cnibin', CNI_ARGS: args };
}

/** containerd's stdin: go-cni's port mappings have no JSON tags, so their keys are Capitalized, HostIP "" when unset. */
function containerdConf(cniVersion = '0.4.0') {
  return {
    cniVersion,
    name: 'kuryr-pods',
    type: 'kuryr-cni',
    daemonSocket: SOCK,
    'neutron.net.name': 'pods',
    capabilities: { portMappings: true },
    runtimeConfig: {
      'io.kubernetes.cri.pod-annotations': { 'kuryr.test/ann': 'yes' },
      portMappings: [
        { HostPort: 18090, ContainerPort: 80, Protocol: 'tcp', HostIP: '127.0.0.1' },
        { HostPort: 18091, ContainerPort: 53, Protocol: 'UDP', HostIP: '' },
      ],
    },
  };
}

/** What the node daemon answers ADD with (CNI 1.0.0 shape, interface MTU from the Neutron network). */
const DAEMON_RESULT = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', mac: 'fa:16:3e:5a:7b:9c', sandbox: PODMAN_NETNS, mtu: 1450 }],
  ips: [
    { address: '10.90.0.50/24', gateway: '10.90.0.1', interface: 0 },
    { address: 'fd00:90::32/64', gateway: 'fd00:90::1', interface: 0 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.90.0.1' }, { dst: '::/0', gw: 'fd00:90::1' }],
  dns: { nameservers: ['10.90.0.2'] },
};

const addAnswers = (result: unknown = DAEMON_RESULT) => (req: Received) => (req.url === '/v1/cni' && (req.body as { command: string }).command === 'ADD' ? { status: 200, body: { result } } : { status: 200, body: {} });

const run = (env: Record<string, string>, conf: unknown) => bench.run(env, typeof conf === 'string' ? conf : JSON.stringify(conf));

/** The error expected; a RegExp msg where the text is V8's (JSON.parse), which changes between Node versions. */
interface Refusal {
  cniVersion: string;
  code: number;
  msg: string | RegExp;
  details?: string;
}

/** The spec's error on stdout, exit 1, one stderr line, and nothing sent to the daemon. */
async function assertRefused(env: Record<string, string>, conf: unknown, expected: Refusal) {
  const r = await run(env, conf);
  const printed = JSON.parse(r.stdout);
  if (expected.msg instanceof RegExp) {
    assert.match(printed.msg, expected.msg);
    assert.deepEqual({ ...printed, msg: expected.msg }, expected);
  } else assert.deepEqual(printed, expected);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^kuryr-cni: .*failed: code ${expected.code}: `));
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.deepEqual(bench.daemon.received, [], 'the daemon received nothing');
}

before(() => bench.daemon.start());
after(() => bench.close());
beforeEach(() => {
  bench.daemon.received.length = 0;
  bench.daemon.answer = () => ({ status: 200, body: {} });
});

describe('VERSION', () => {
  it('answers podman\'s probe itself, with the version asked and the four it speaks', async () => {
    const r = await run(PODMAN_VERSION_ENV, '{"cniVersion":"1.0.0"}');
    assert.equal(r.stdout, '{"cniVersion":"1.0.0","supportedVersions":["0.3.1","0.4.0","1.0.0","1.1.0"]}\n');
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.deepEqual(bench.daemon.received, []);
  });

  it('answers with 1.1.0 when stdin names no version', async () => {
    const r = await run({ CNI_COMMAND: 'VERSION' }, '');
    assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '1.1.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    assert.equal(r.code, 0);
  });
});

describe('podman 4.3 (cniVersion 1.0.0)', () => {
  it('ADD forwards the pod, its --ip/--mac and camelCase port mappings, and prints the result with the MAC', async () => {
    bench.daemon.answer = addAnswers();
    const r = await run(podmanEnv('ADD'), podmanConf());
    assert.equal(r.code, 0, r.stdout);
    assert.equal(r.stderr, '');
    assert.deepEqual(JSON.parse(r.stdout), {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', mac: 'fa:16:3e:5a:7b:9c', sandbox: PODMAN_NETNS }],
      ips: DAEMON_RESULT.ips,
      routes: DAEMON_RESULT.routes,
      dns: { nameservers: ['10.90.0.2'] },
    });
    assert.deepEqual(bench.daemon.received, [
      {
        method: 'POST',
        url: '/v1/cni',
        body: { command: 'ADD', containerId: PODMAN_ID, netns: PODMAN_NETNS, ifname: 'eth0', args: { K8S_POD_NAME: 'web_1', MAC: '02:42:de:ad:be:ef', IP: '10.90.0.50' }, config: podmanConf() },
      },
    ]);
  });

  it('DEL passes the cached ADD result (prevResult) on and prints nothing', async () => {
    const conf = podmanConf('1.0.0', { prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: 'fa:16:3e:5a:7b:9c' }] } });
    const r = await run(podmanEnv('DEL'), conf);
    assert.deepEqual(r, { stdout: '', stderr: '', code: 0 });
    assert.deepEqual(bench.daemon.received.map((q) => q.body), [{ command: 'DEL', containerId: PODMAN_ID, netns: PODMAN_NETNS, ifname: 'eth0', args: { K8S_POD_NAME: 'web_1', MAC: '02:42:de:ad:be:ef', IP: '10.90.0.50' }, config: conf }]);
  });
});

describe('containerd 1.6 CRI', () => {
  const normalised = {
    ...containerdConf(),
    runtimeConfig: {
      'io.kubernetes.cri.pod-annotations': { 'kuryr.test/ann': 'yes' },
      portMappings: [
        { hostPort: 18090, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' },
        { hostPort: 18091, containerPort: 53, protocol: 'udp' },
      ],
    },
  };
  const podArgs = { K8S_POD_UID: POD_UID, K8S_POD_NAMESPACE: 'shop', K8S_POD_NAME: 'web-1', K8S_POD_INFRA_CONTAINER_ID: CTRD_ID };

  it('ADD reads the kubelet-style CNI_ARGS in any order and passes the Capitalized port mappings on in camelCase', async () => {
    bench.daemon.answer = addAnswers();
    const other = `K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=${CTRD_ID};IgnoreUnknown=1;K8S_POD_UID=${POD_UID};K8S_POD_NAMESPACE=shop`;
    for (const env of [containerdEnv('ADD'), containerdEnv('ADD', other)]) {
      const r = await run(env, containerdConf());
      assert.equal(r.code, 0, r.stdout);
      assert.equal(JSON.parse(r.stdout).cniVersion, '0.4.0');
    }
    const expected = { command: 'ADD', containerId: CTRD_ID, netns: CTRD_NETNS, ifname: 'eth0', args: podArgs, config: normalised };
    assert.deepEqual(bench.daemon.received.map((q) => q.body), [expected, expected]);
  });

  it('DEL twice (StopPodSandbox, then RemovePodSandbox) succeeds twice', async () => {
    for (let i = 0; i < 2; i++) assert.deepEqual(await run(containerdEnv('DEL'), containerdConf()), { stdout: '', stderr: '', code: 0 });
    assert.deepEqual(bench.daemon.received.map((q) => (q.body as { command: string }).command), ['DEL', 'DEL']);
  });

  it('DEL without CNI_NETNS (the namespace already gone) is forwarded with an empty netns', async () => {
    const { CNI_NETNS: _gone, ...env } = containerdEnv('DEL');
    assert.equal((await run(env, containerdConf())).code, 0);
    assert.equal((bench.daemon.received[0]?.body as { netns: string }).netns, '');
  });

  it('CHECK (0.4.0) is forwarded and prints nothing when the daemon finds all in place', async () => {
    assert.deepEqual(await run(containerdEnv('CHECK'), containerdConf()), { stdout: '', stderr: '', code: 0 });
    assert.deepEqual(bench.daemon.received.map((q) => (q.body as { command: string }).command), ['CHECK']);
  });
});

describe('ADD results in the version asked', () => {
  const v4ips = [
    { version: '4', address: '10.90.0.50/24', gateway: '10.90.0.1', interface: 0 },
    { version: '6', address: 'fd00:90::32/64', gateway: 'fd00:90::1', interface: 0 },
  ];
  const iface = { name: 'eth0', mac: 'fa:16:3e:5a:7b:9c', sandbox: PODMAN_NETNS };
  const expected: Record<string, unknown> = {
    '0.3.1': { cniVersion: '0.3.1', interfaces: [iface], ips: v4ips, routes: DAEMON_RESULT.routes, dns: DAEMON_RESULT.dns },
    '0.4.0': { cniVersion: '0.4.0', interfaces: [iface], ips: v4ips, routes: DAEMON_RESULT.routes, dns: DAEMON_RESULT.dns },
    '1.0.0': { cniVersion: '1.0.0', interfaces: [iface], ips: DAEMON_RESULT.ips, routes: DAEMON_RESULT.routes, dns: DAEMON_RESULT.dns },
    '1.1.0': { cniVersion: '1.1.0', interfaces: [{ ...iface, mtu: 1450 }], ips: DAEMON_RESULT.ips, routes: DAEMON_RESULT.routes, dns: DAEMON_RESULT.dns },
  };
  for (const [version, result] of Object.entries(expected)) {
    it(`${version}`, async () => {
      bench.daemon.answer = addAnswers();
      const r = await run(podmanEnv('ADD'), podmanConf(version));
      assert.equal(r.code, 0, r.stdout);
      assert.deepEqual(JSON.parse(r.stdout), result);
    });
  }

  it('a daemon result without the interface MAC is an error, not a result podman would refuse', async () => {
    bench.daemon.answer = addAnswers({ ...DAEMON_RESULT, interfaces: [{ name: 'eth0', sandbox: PODMAN_NETNS }] });
    const r = await run(podmanEnv('ADD'), podmanConf());
    assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '1.0.0', code: 999, msg: 'the Kuryr daemon answered ADD with an unusable result: interfaces[0] (eth0) has no MAC address (undefined)' });
    assert.equal(r.code, 1);
  });

  it('the daemon\'s CNI error is printed with its code, message and details', async () => {
    bench.daemon.answer = () => ({ status: 500, body: { code: 11, msg: 'Neutron answered 503 to port create', details: 'KURYR_ERR_NEUTRON' } });
    const r = await run(containerdEnv('ADD'), containerdConf());
    assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '0.4.0', code: 11, msg: 'Neutron answered 503 to port create', details: 'KURYR_ERR_NEUTRON' });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `kuryr-cni: ADD ${CTRD_ID.slice(0, 12)} eth0 failed: code 11: Neutron answered 503 to port create (KURYR_ERR_NEUTRON)\n`);
  });

  it('the stderr line stays one line whatever the message holds', async () => {
    bench.daemon.answer = () => ({ status: 400, body: { code: 7, msg: 'no Neutron network "pods\nx"' } });
    const r = await run(containerdEnv('ADD'), containerdConf());
    assert.equal(JSON.parse(r.stdout).msg, 'no Neutron network "pods\nx"');
    assert.equal(r.stderr, `kuryr-cni: ADD ${CTRD_ID.slice(0, 12)} eth0 failed: code 7: no Neutron network "pods?x"\n`);
  });

  it('a daemon answer that is no CNI error is an internal error', async () => {
    bench.daemon.answer = () => ({ status: 502, body: 'Bad Gateway' });
    const r = await run(containerdEnv('DEL'), containerdConf());
    assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '0.4.0', code: 999, msg: 'the Kuryr daemon answered HTTP 502 without a CNI error', details: 'Bad Gateway' });
  });
});

describe('STATUS (1.1.0)', () => {
  const conf = podmanConf('1.1.0');

  it('succeeds silently when the daemon is ready', async () => {
    assert.deepEqual(await run({ CNI_COMMAND: 'STATUS' }, conf), { stdout: '', stderr: '', code: 0 });
    assert.deepEqual(bench.daemon.received, [{ method: 'GET', url: '/v1/status', body: undefined }]);
  });

  it('passes on the daemon\'s 50 or 51 when it is not ready', async () => {
    for (const code of [50, 51]) {
      bench.daemon.answer = () => ({ status: 503, body: { code, msg: 'the Kuryr daemon has not reached Neutron yet' } });
      const r = await run({ CNI_COMMAND: 'STATUS' }, conf);
      assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '1.1.0', code, msg: 'the Kuryr daemon has not reached Neutron yet' });
      assert.equal(r.code, 1);
    }
  });

  it('says 50 when the daemon does not answer in time', async () => {
    bench.daemon.answer = () => 'hang';
    const r = await run({ CNI_COMMAND: 'STATUS' }, conf);
    assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '1.1.0', code: 50, msg: `the Kuryr daemon did not answer on ${SOCK} within 5 s` });
  });
});

describe('the daemon down', () => {
  const down = `${bench.dir}/absent.sock`;
  const msg = `the Kuryr daemon is not running: nothing listens on ${down} (ENOENT)`;
  it('ADD, CHECK and DEL fail with 11 (try again later), naming the socket', async () => {
    // DEL too: the plugin cannot know whether the pod's port exists, and the runtime retries a failed DEL.
    for (const command of ['ADD', 'CHECK', 'DEL']) {
      const r = await run(containerdEnv(command), { ...containerdConf(), daemonSocket: down });
      assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '0.4.0', code: 11, msg });
      assert.equal(r.code, 1);
    }
  });

  it('STATUS says 50 (not available)', async () => {
    const r = await run({ CNI_COMMAND: 'STATUS' }, podmanConf('1.1.0', { daemonSocket: down }));
    assert.deepEqual(JSON.parse(r.stdout), { cniVersion: '1.1.0', code: 50, msg });
  });
});

describe('GC (1.1.0)', () => {
  const gcEnv = { CNI_COMMAND: 'GC', CNI_PATH: '/opt/cni/bin' };
  const inUse = [{ containerID: PODMAN_ID, ifname: 'eth0' }];
  const base = { cniVersion: '1.1.0', name: 'kuryr-pods', type: 'kuryr-cni', daemonSocket: SOCK };

  for (const key of ['cni.dev/valid-attachments', 'cni.dev/attachments']) {
    it(`passes ${key} on as cni.dev/valid-attachments`, async () => {
      assert.deepEqual(await run(gcEnv, { ...base, [key]: inUse }), { stdout: '', stderr: '', code: 0 });
      assert.deepEqual(bench.daemon.received.map((q) => q.body), [{ command: 'GC', containerId: '', netns: '', ifname: '', args: {}, config: { ...base, 'cni.dev/valid-attachments': inUse } }]);
    });
  }

  it('merges the two lists libcni sends, keeping what either keeps', async () => {
    const other = { containerID: CTRD_ID, ifname: 'net1' };
    await run(gcEnv, { ...base, 'cni.dev/valid-attachments': inUse, 'cni.dev/attachments': [...inUse, other] });
    assert.deepEqual((bench.daemon.received[0]?.body as { config: unknown }).config, { ...base, 'cni.dev/valid-attachments': [...inUse, other] });
  });

  it('refuses a GC that lists nothing in use rather than removing every pod\'s port', () =>
    assertRefused(gcEnv, base, { cniVersion: '1.1.0', code: 7, msg: 'GC needs the attachments still in use in cni.dev/valid-attachments or cni.dev/attachments' }));

  it('refuses a bad attachment', () =>
    assertRefused(gcEnv, { ...base, 'cni.dev/attachments': [{ containerID: '../x', ifname: 'eth0' }] }, { cniVersion: '1.1.0', code: 7, msg: 'cni.dev/attachments[0].containerID "../x" is not a container id' }));

  it('refuses GC from a config older than 1.1.0', () =>
    assertRefused(gcEnv, { ...base, cniVersion: '1.0.0', 'cni.dev/valid-attachments': inUse }, { cniVersion: '1.0.0', code: 1, msg: 'config version 1.0.0 does not allow GC (it came in 1.1.0)' }));

  it('needs CNI_PATH', () =>
    assertRefused({ CNI_COMMAND: 'GC' }, { ...base, 'cni.dev/valid-attachments': inUse }, { cniVersion: '1.1.0', code: 4, msg: 'required env variables [CNI_PATH] missing for GC' }));
});

describe('malformed input gets the spec\'s error and reaches nothing', () => {
  const add = podmanEnv('ADD');
  const withArgs = (args: string) => ({ ...add, CNI_ARGS: args });
  const cases: [string, Record<string, string>, unknown, Refusal][] = [
    ['stdin not JSON', add, '{"cniVersion": "1.0.0",', { cniVersion: '1.1.0', code: 6, msg: /^error decoding the network configuration on stdin: \S.*JSON/ }],
    ['stdin a JSON list', add, '[]', { cniVersion: '1.1.0', code: 6, msg: 'error decoding the network configuration on stdin: not a JSON object' }],
    ['empty stdin', add, '', { cniVersion: '1.1.0', code: 6, msg: 'error decoding the network configuration on stdin: Unexpected end of JSON input' }],
    ['no cniVersion', add, { name: 'n', type: 'kuryr-cni' }, { cniVersion: '1.1.0', code: 7, msg: 'network configuration has no cniVersion' }],
    ['a version before 0.3.1', add, { ...podmanConf('0.2.0') }, { cniVersion: '1.1.0', code: 1, msg: 'incompatible CNI versions', details: 'config is "0.2.0", plugin supports [0.3.1 0.4.0 1.0.0 1.1.0]' }],
    ['a future version', add, { ...podmanConf('2.0.0') }, { cniVersion: '1.1.0', code: 1, msg: 'incompatible CNI versions', details: 'config is "2.0.0", plugin supports [0.3.1 0.4.0 1.0.0 1.1.0]' }],
    ['no name', add, { cniVersion: '1.0.0', type: 'kuryr-cni' }, { cniVersion: '1.0.0', code: 7, msg: 'network configuration has no name' }],
    ['a bad name', add, { ...podmanConf(), name: '-pods' }, { cniVersion: '1.0.0', code: 7, msg: 'network name "-pods" is not 1-253 of [A-Za-z0-9_.-], alphanumeric first' }],
    ['no type', add, { cniVersion: '1.0.0', name: 'n' }, { cniVersion: '1.0.0', code: 7, msg: 'network configuration has no type' }],
    ['CHECK under 0.3.1', podmanEnv('CHECK'), podmanConf('0.3.1'), { cniVersion: '0.3.1', code: 1, msg: 'config version 0.3.1 does not allow CHECK (it came in 0.4.0)' }],
    ['STATUS under 1.0.0', { CNI_COMMAND: 'STATUS' }, podmanConf('1.0.0'), { cniVersion: '1.0.0', code: 1, msg: 'config version 1.0.0 does not allow STATUS (it came in 1.1.0)' }],
    ['no CNI_COMMAND', {}, podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'required env variable CNI_COMMAND missing' }],
    ['an unknown CNI_COMMAND', { ...add, CNI_COMMAND: 'UPDATE' }, podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'unknown CNI_COMMAND "UPDATE" (want one of ADD, DEL, CHECK, STATUS, GC, VERSION)' }],
    ['ADD without CNI_NETNS and CNI_IFNAME', { CNI_COMMAND: 'ADD', CNI_CONTAINERID: PODMAN_ID }, podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'required env variables [CNI_NETNS,CNI_IFNAME] missing for ADD' }],
    ['DEL without CNI_CONTAINERID', { ...podmanEnv('DEL'), CNI_CONTAINERID: '' }, podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'required env variables [CNI_CONTAINERID] missing for DEL' }],
    [
      'a bad container id, interface name and netns at once',
      { ...add, CNI_CONTAINERID: '-x', CNI_IFNAME: 'eth0/1', CNI_NETNS: 'netns-1' },
      podmanConf(),
      { cniVersion: '1.0.0', code: 4, msg: 'CNI_CONTAINERID "-x" is not a container id (1-128 of [A-Za-z0-9_.-], alphanumeric first); CNI_NETNS "netns-1" is not an absolute path; CNI_IFNAME "eth0/1" is not an interface name (1-15 of [A-Za-z0-9_.-], not . or ..)' },
    ],
    ['an interface name over 15 characters', { ...add, CNI_IFNAME: 'eth0123456789abc' }, podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'CNI_IFNAME "eth0123456789abc" is not an interface name (1-15 of [A-Za-z0-9_.-], not . or ..)' }],
    ['an unknown CNI_ARGS key without IgnoreUnknown', withArgs('K8S_POD_NAME=web;FOO=bar'), podmanConf(), { cniVersion: '1.0.0', code: 2, msg: 'unknown CNI_ARGS key "FOO" with value "bar" (IgnoreUnknown=1 would have it ignored)' }],
    ['a CNI_ARGS pair without =', withArgs('IgnoreUnknown=1;K8S_POD_NAME'), podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'invalid CNI_ARGS: "K8S_POD_NAME" is not KEY=VALUE' }],
    ['a bad IgnoreUnknown', withArgs('IgnoreUnknown=yes'), podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'invalid CNI_ARGS: IgnoreUnknown must be 1, true, 0 or false' }],
    ['a bad pod namespace', withArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=Shop_1'), podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'invalid CNI_ARGS: K8S_POD_NAMESPACE="Shop_1" is not a Kubernetes namespace (DNS-1123 label)' }],
    ['a pod name with a space', withArgs('K8S_POD_NAME=web 1'), podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'invalid CNI_ARGS: K8S_POD_NAME="web 1" is not a pod or container name (1-253 of [A-Za-z0-9_.-], alphanumeric first)' }],
    ['a bad pod UID', withArgs('K8S_POD_UID=uid-123'), podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'invalid CNI_ARGS: K8S_POD_UID="uid-123" is not a pod UID (a UUID)' }],
    ['a bad IP', withArgs('IP=10.90.0.300'), podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'invalid CNI_ARGS: IP="10.90.0.300" is not an IPv4 or IPv6 address' }],
    ['a multicast MAC', withArgs('MAC=01:00:5e:00:00:01'), podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'invalid CNI_ARGS: MAC="01:00:5e:00:00:01" is not a unicast MAC address (xx:xx:xx:xx:xx:xx)' }],
    ['a bad infra container id', withArgs('K8S_POD_INFRA_CONTAINER_ID=$(id)'), podmanConf(), { cniVersion: '1.0.0', code: 4, msg: 'invalid CNI_ARGS: K8S_POD_INFRA_CONTAINER_ID="$(id)" is not a container id' }],
    [
      'a host port out of range',
      add,
      { ...podmanConf(), runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80, protocol: 'tcp' }] } },
      { cniVersion: '1.0.0', code: 7, msg: 'runtimeConfig.portMappings[0].hostPort 70000 is not a port (1-65535)' },
    ],
    [
      'a port mapping in both spellings',
      add,
      { ...podmanConf(), runtimeConfig: { portMappings: [{ hostPort: 8080, HostPort: 8081, containerPort: 80 }] } },
      { cniVersion: '1.0.0', code: 7, msg: 'runtimeConfig.portMappings[0] gives hostPort and HostPort' },
    ],
    [
      'an unknown port mapping field',
      add,
      { ...podmanConf(), runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, hostRange: 2 }] } },
      { cniVersion: '1.0.0', code: 2, msg: 'unsupported field runtimeConfig.portMappings[0].hostRange=2' },
    ],
    [
      'a bad protocol',
      add,
      { ...podmanConf(), runtimeConfig: { portMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: 'icmp', HostIP: '' }] } },
      { cniVersion: '1.0.0', code: 7, msg: 'runtimeConfig.portMappings[0].protocol "icmp" is not tcp, udp or sctp' },
    ],
    ['a relative daemonSocket', add, { ...podmanConf(), daemonSocket: 'cni.sock' }, { cniVersion: '1.0.0', code: 7, msg: 'daemonSocket "cni.sock" is not an absolute path of at most 107 bytes' }],
  ];
  for (const [what, env, conf, expected] of cases) it(what, () => assertRefused(env, conf, expected));
});
