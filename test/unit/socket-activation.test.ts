/**
 * systemd socket activation (packaging/systemd/kuryr-libnetwork.socket): kuryr-server serves the
 * socket systemd passes it (LISTEN_PID, LISTEN_FDS) instead of binding its own, and leaves it in
 * place when it stops. Run for real with systemd-socket-activate (from the systemd package), which
 * passes a socket as systemd does, without a running systemd; no cloud needed (Docker's handshake
 * is answered before Neutron is reached).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findOpt } from '../../src/config/options.js';
import { unixJson } from '../../src/cli/unix-http.js';
import { activatedSocketFd } from '../../src/libnetwork/socket-activation.js';
import { KuryrError } from '../../src/errors.js';
import { parseUnit, UNIT_DIR } from './systemd-unit-file.js';
import { readFileSync } from 'node:fs';

const SERVER = fileURLToPath(new URL('../../src/cli/kuryr-server.js', import.meta.url));
const ACTIVATE = ['/usr/bin/systemd-socket-activate', '/bin/systemd-socket-activate'].find((p) => existsSync(p));
const dir = mkdtempSync(join(tmpdir(), 'kuryr-activation-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('socket activation', () => {
  it('takes fd 3 only when LISTEN_PID is this process and LISTEN_FDS is 1, and clears the variables for its children', () => {
    const sock = join(dir, 'fake.sock');
    const envFor = (pid: string, fds: string) => ({ LISTEN_PID: pid, LISTEN_FDS: fds, LISTEN_FDNAMES: 'kuryr-libnetwork.socket', OTHER: 'kept' });
    const env = envFor('41', '1');
    assert.equal(activatedSocketFd(env, 42, sock), undefined, "another process's sockets");
    assert.deepEqual(env, { OTHER: 'kept' });
    assert.equal(activatedSocketFd({}, 42, sock), undefined, 'no socket passed');
    assert.throws(() => activatedSocketFd(envFor('42', '2'), 42, sock), (e: unknown) => e instanceof KuryrError && /passed 2 sockets; Kuryr takes exactly one/.test(e.message));
    assert.throws(() => activatedSocketFd(envFor('42', '1'), 42, sock), (e: unknown) => e instanceof KuryrError && /socket_path = ".*fake\.sock" is not one: set ListenStream=/.test(e.message));
  });

  it('the .socket unit listens where kuryr-server serves by default, root only', () => {
    const socket = parseUnit(readFileSync(join(UNIT_DIR, 'kuryr-libnetwork.socket'), 'utf8')).get('Socket');
    assert.deepEqual(socket?.get('ListenStream'), [findOpt('DEFAULT', 'socket_path')!.default!]);
    assert.deepEqual(socket?.get('SocketMode'), ['0600']);
  });

  it('kuryr-server serves the socket systemd-socket-activate passes it, started by the first call, and leaves it in place at stop', { skip: ACTIVATE ? false : 'systemd-socket-activate is not installed (scripts/test.sh installs the systemd package)' }, async () => {
    const socketPath = join(dir, 'kuryr.sock');
    const conf = join(dir, 'kuryr.conf');
    // A Keystone nobody answers: the daemon keeps retrying Neutron while serving Docker's handshake.
    writeFileSync(conf, `[DEFAULT]\nsocket_path = ${socketPath}\n\n[neutron]\nauth_url = http://127.0.0.1:9/v3\nusername = kuryr\npassword = unused\nproject_name = service\nuser_domain_name = Default\nproject_domain_name = Default\n`, { mode: 0o600 });
    const child = spawn(ACTIVATE!, ['-l', socketPath, '--', process.execPath, SERVER, '--config-file', conf], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = once(child, 'exit');
    try {
      while (!existsSync(socketPath)) await new Promise((r) => setTimeout(r, 50));
      const inode = statSync(socketPath).ino;
      // The first connection makes systemd-socket-activate exec kuryr-server (same pid), which answers it.
      const answer = (await unixJson(socketPath, 'POST', '/NetworkDriver.GetCapabilities', {}, 30_000)) as { status: number; body: Record<string, unknown> };
      assert.equal(answer.status, 200, stderr);
      assert.equal(answer.body['Scope'], 'local');
      assert.match(stderr, /Execing/);
      assert.equal(statSync(socketPath).ino, inode, "the socket systemd made, not one kuryr-server bound and renamed over it");
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0, stderr);
      assert.ok(statSync(socketPath).isSocket(), "systemd's socket stays for the next start");
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
