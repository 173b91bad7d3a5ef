/**
 * Who can reach the daemon, on the real stack: by default only root, on a 0600 unix socket, with no
 * TCP port; a TCP kuryr_uri is announced as what it is, at start and by `kuryr status`; an https
 * kuryr_uri without TLS does not start; slow or silent clients are cut off while others are served;
 * `kuryr status` prints no URL's password and no terminal escape from a Neutron name.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { unixJson } from '../../src/cli/unix-http.js';
import { PORT_POOLED_TAG, poolHostTag } from '../../src/libnetwork/naming.js';
import { eventually, neutron, sh, uniq } from './harness.js';
import { freePrefix } from './free-subnets.js';
import { PrivateDaemon } from './private-daemon.js';
import { freePort } from '../unit/tls-fixtures.js';

const BASE_CONFIG = '/etc/kuryr/kuryr.conf';
const SERVER = new URL('../../src/cli/kuryr-server.js', import.meta.url).pathname;
const KURYR_CLI = new URL('../../src/cli/kuryr.js', import.meta.url).pathname;
const PLUGINS_DIR = '/run/docker/plugins';
const suffix = uniq();

let dir: string;
before(async () => {
  dir = await mkdtemp('/tmp/kt-endpoint-');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** kuryr-server on the stack's kuryr.conf plus `overrides` (kuryr.conf text), its stderr collected. */
async function startServer(name: string, overrides: string): Promise<{ child: ChildProcess; stderr: () => string; stop: () => Promise<void> }> {
  const conf = join(dir, `${name}.conf`);
  await writeFile(conf, overrides, { mode: 0o600 });
  const child = spawn(process.execPath, [SERVER, '--config-file', BASE_CONFIG, '--config-file', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  return { child, stderr: () => stderr, stop };
}

/** TCP sockets process `pid` listens on, as the kernel reports them. */
async function tcpListeners(pid: number): Promise<string[]> {
  return (await sh('ss', ['-Hltnp'])).split('\n').filter((l) => l.includes(`pid=${pid},`));
}

/** `kuryr status` with these config files: its exit code and what it printed. */
async function kuryrStatus(files: string[], ...args: string[]): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, [KURYR_CLI, ...files.flatMap((f) => ['--config-file', f]), 'status', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  return { code, out };
}

test('with the default configuration, kuryr-server serves only its unix socket: mode 0600, no TCP port', async () => {
  const name = `kt-default-${suffix}`;
  const socketPath = join(PLUGINS_DIR, `${name}.sock`);
  const specDir = join(dir, 'spec');
  const logFile = `/var/log/kuryr/${name}.log`;
  const pluginsDirMode = (await stat(PLUGINS_DIR)).mode & 0o777;
  // Only what must not collide with the stack's daemon: its socket, log, metrics port. No kuryr_uri.
  const server = await startServer(name, `[DEFAULT]\nsocket_path = ${socketPath}\nlog_file = ${logFile}\nmetrics_listen =\nplugin_spec_dir = ${specDir}\n`);
  try {
    await eventually('kuryr-server to answer on its socket', async () => {
      if (server.child.exitCode !== null) throw new Error(`kuryr-server exited ${server.child.exitCode}: ${server.stderr()}`);
      return (await unixJson(socketPath, 'POST', '/Plugin.Activate').catch(() => undefined))?.status === 200 ? true : undefined;
    });
    assert.deepEqual(await tcpListeners(server.child.pid!), [], 'kuryr-server listens on no TCP port (upstream listened on 127.0.0.1:23750)');
    assert.equal((await stat(socketPath)).mode & 0o777, 0o600, 'the socket is root\'s only');
    assert.equal((await stat(PLUGINS_DIR)).mode & 0o777, pluginsDirMode, `${PLUGINS_DIR} keeps its mode`);
    assert.deepEqual(await readdir(specDir).catch(() => []), [], 'no discovery file for a TCP address');
    assert.deepEqual((await readdir(PLUGINS_DIR)).filter((f) => f.startsWith('.kuryr-listen-')), [], 'no staging directory is left behind');
  } finally {
    await server.stop();
    await rm(logFile, { force: true });
  }
  await assert.rejects(stat(socketPath), /ENOENT/, 'the socket is removed at stop');
});

test('a TCP kuryr_uri is served with a start-up warning, and kuryr status says the same', async () => {
  const port = await freePort();
  const uri = `http://127.0.0.1:${port}`;
  const daemon = await PrivateDaemon.start(`kt-tcp-${suffix}`, { DEFAULT: { kuryr_uri: uri } });
  try {
    const warning = `kuryr_uri ${uri} is a TCP listener: any local user and any container in the host's network namespace can drive Kuryr, creating and deleting Neutron ports with its credentials`;
    const lines = daemon.logLines(`${warning}; leave kuryr_uri empty to serve only the root-only unix socket, or set enable_ssl with ssl_ca_file to require client certificates`);
    assert.equal(lines.length, 1, `the warning is logged once at start; see ${daemon.logFile}`);
    assert.equal(lines[0]!['level'], 40);
    assert.equal((await tcpListeners(daemon.pid)).length, 1, 'and the TCP listener is there');

    const { out } = await kuryrStatus([BASE_CONFIG, daemon.configFile]);
    assert.match(out, new RegExp(`^ok +endpoint +WARNING: ${warning.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`, 'm'), out);
  } finally {
    await daemon.stop();
  }
});

test('an https kuryr_uri without enable_ssl stops kuryr-server at start, listening on nothing', async () => {
  const port = await freePort();
  const socketPath = join(dir, 'https-plain.sock');
  const server = await startServer('https-plain', `[DEFAULT]\nsocket_path = ${socketPath}\nkuryr_uri = https://127.0.0.1:${port}\nlog_file = ${join(dir, 'https-plain.log')}\nmetrics_listen =\nplugin_spec_dir =\n`);
  try {
    const exit = await Promise.race([once(server.child, 'exit'), new Promise<unknown[]>((r) => setTimeout(r, 30_000, ['still running']))]);
    assert.notEqual(exit[0], 'still running', 'kuryr-server refused to start');
    assert.notEqual(exit[0], 0);
    assert.match(server.stderr(), new RegExp(`kuryr_uri = "https://127\\.0\\.0\\.1:${port}" is https but enable_ssl is False`));
    assert.equal((await sh('ss', ['-Hltn', `sport = :${port}`])), '', 'nothing listens on the port');
    await assert.rejects(stat(socketPath), /ENOENT/, 'nor on the socket');
  } finally {
    await server.stop();
  }
});

describe('slow or silent clients', () => {
  let daemon: PrivateDaemon;
  before(async () => {
    daemon = await PrivateDaemon.start(`kt-slow-${suffix}`);
  });
  after(async () => {
    await daemon.stop();
  });

  /** Connects to the plugin socket, writes `data`, and resolves with the seconds until the server hangs up. */
  async function hangUpAfter(data: string): Promise<number> {
    const started = Date.now();
    const socket = connect(daemon.socketPath);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    socket.write(data);
    const closed = once(socket, 'close');
    const bound = new Promise((r) => setTimeout(r, 60_000, 'open'));
    const outcome = await Promise.race([closed, bound]);
    socket.destroy();
    return outcome === 'open' ? Infinity : (Date.now() - started) / 1000;
  }

  test('a client that stalls in its headers, says nothing, or stalls in its body is cut off, while Docker\'s calls are served', async () => {
    const stalled = [
      hangUpAfter('POST /NetworkDriver.GetCapabilities HTTP/1.1\r\nHost: kuryr\r\nContent-Ty'),
      hangUpAfter(''),
      hangUpAfter('POST /NetworkDriver.DeleteNetwork HTTP/1.1\r\nHost: kuryr\r\nContent-Length: 100\r\n\r\n{"Netw'),
    ];
    const served = await eventually('calls served while the slow clients hold their sockets', async () => {
      const answers = await Promise.all([1, 2, 3].map(() => daemon.call('NetworkDriver.GetCapabilities', undefined, 5_000)));
      return answers.every((a) => a.status === 200) ? answers.length : undefined;
    }, 10_000);
    assert.equal(served, 3);
    const [headers, silent, body] = await Promise.all(stalled);
    // Limits: 10 s for the headers, 30 s for the whole request; checked every second.
    assert.ok(headers! >= 9 && headers! <= 13, `a client stalled in its headers is cut after ${headers} s`);
    assert.ok(silent! >= 9 && silent! <= 13, `a silent client is cut after ${silent} s`);
    assert.ok(body! >= 29 && body! <= 33, `a client stalled in its body is cut after ${body} s`);
    assert.equal((await daemon.call('Plugin.Activate')).status, 200, 'the daemon still serves');
  });
});

describe('kuryr status never prints a URL\'s password or a terminal escape', () => {
  const host = `kt-status-host-${suffix}`;
  const netName = `kt-esc-${suffix}\u001b[2J\u001b]0;owned\u0007`;
  let networkId = '';

  before(async () => {
    // A free pooled port for a host of this test's own: `kuryr status` lists its network by name.
    const network = await neutron.createNetwork({ name: netName });
    networkId = network.id;
    const prefix = await freePrefix();
    await neutron.createSubnet({ network_id: networkId, cidr: `${prefix}.0/24`, ip_version: 4 });
    const port = await neutron.createPort({ network_id: networkId, device_id: '' });
    await neutron.replaceTags('ports', port.id, [PORT_POOLED_TAG, poolHostTag(host)]);
  });
  after(async () => {
    if (!networkId) return;
    for (const p of await neutron.listPorts({ network_id: networkId })) await neutron.deletePort(p.id).catch(() => undefined);
    await neutron.deleteNetwork(networkId);
  });

  test('user:password@ in auth_url and docker_host is not printed; a name with escapes is printed escaped', async () => {
    const conf = join(dir, 'status.conf');
    await writeFile(
      conf,
      `[DEFAULT]\nhostname = ${host}\nsocket_path = ${join(dir, 'none.sock')}\nmetrics_listen =\n` +
        `[neutron]\nauth_url = http://kuryr:AuthUrlPw-${suffix}@127.0.0.1:5000/v3\n` +
        `[docker]\ndocker_host = tcp://operator:DockerHostPw-${suffix}@127.0.0.1:1\n`,
      { mode: 0o600 },
    );
    const text = await kuryrStatus([BASE_CONFIG, conf]);
    const json = await kuryrStatus([BASE_CONFIG, conf], '--json');
    for (const { out } of [text, json]) {
      assert.equal(out.includes(`AuthUrlPw-${suffix}`), false, `the auth_url password is printed:\n${out}`);
      assert.equal(out.includes(`DockerHostPw-${suffix}`), false, `the docker_host password is printed:\n${out}`);
      assert.equal(/[\u0000-\u0008\u000b-\u001f\u007f]/.test(out), false, `a control character is printed:\n${JSON.stringify(out)}`);
    }
    assert.match(text.out, /^FAIL docker +dockerd not reachable at tcp:\/\/\*\*\*@127\.0\.0\.1:1: /m);
    assert.match(text.out, new RegExp(`^ +1 +"kt-esc-${suffix}\\\\u001b\\[2J\\\\u001b\\]0;owned\\\\u0007" \\(${networkId}\\)$`, 'm'), text.out);
  });
});
