/**
 * packaging/systemd's units (kuryr-libnetwork.service and its optional .socket) as systemd reads
 * them. This machine runs no systemd, so they are checked offline: `systemd-analyze verify` and
 * `security --offline` against a staged root holding the system's own units, the units as shipped,
 * and the executables they name (kuryr-server at the path the README's install command gives,
 * staged as this build's real bin). The capabilities are exercised in
 * functional/systemd-capabilities.test.ts, socket activation in socket-activation.test.ts; what only
 * a running systemd shows (the mount sandbox applied, systemd itself activating the socket) is not.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { findOpt } from '../../src/config/options.js';
import { serviceSection, UNIT_DIR } from './systemd-unit-file.js';

const UNIT_NAME = 'kuryr-libnetwork.service';
/** Every unit shipped: the service and its (optional) socket. */
const UNITS = readdirSync(UNIT_DIR).sort();
const SERVER_BIN = fileURLToPath(new URL('../../src/cli/kuryr-server.js', import.meta.url));
const SYSTEM_UNITS = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(join(d, 'multi-user.target')));
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
/** Measured 4.9 ("OK") for the shipped unit; systemd calls up to 5.9 MEDIUM, 7.0+ UNSAFE. */
const MAX_EXPOSURE = 5.0;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(file: string, args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const service = serviceSection(UNIT_NAME);
const one = (key: string) => {
  const v = service.get(key);
  assert.equal(v?.length, 1, `[Service] ${key} is set once`);
  return v![0]!;
};

/** Absolute executables of ExecStart*, without systemd's prefixes (+ - @ ! :). */
function executables(): string[] {
  return [...service.entries()].filter(([k]) => k.startsWith('Exec')).flatMap(([, vs]) => vs.map((v) => v.replace(/^[-+@!:]+/, '').split(/\s+/)[0]!));
}

describe('the systemd unit kuryr-libnetwork.service', () => {
  it('starts the installed kuryr-server on /etc/kuryr/kuryr.conf and restarts it when it fails', () => {
    assert.equal(one('ExecStart'), '/usr/local/bin/kuryr-server --config-file /etc/kuryr/kuryr.conf');
    assert.equal(one('Restart'), 'on-failure');
    assert.equal(service.get('User'), undefined, 'root (kuryr.conf is root 0600), limited by capabilities instead');
  });

  it('holds only CAP_NET_ADMIN, cannot gain privileges, and writes only the plugin socket directory and its log directory', () => {
    assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_ADMIN');
    assert.equal(one('AmbientCapabilities'), 'CAP_NET_ADMIN');
    assert.equal(one('NoNewPrivileges'), 'yes');
    assert.equal(one('ProtectSystem'), 'strict');
    const socketDir = posix.dirname(findOpt('DEFAULT', 'socket_path')!.default!);
    assert.deepEqual(one('ReadWritePaths').split(/\s+/), [socketDir], "the directory of the daemon's default socket_path");
    assert.equal(one('LogsDirectory'), 'kuryr', '/var/log/kuryr, writable under ProtectSystem=strict');
    assert.equal(one('UMask'), '0077');
  });

  describe('offline, as systemd would load it', { skip: !ANALYZE || !SYSTEM_UNITS ? 'systemd-analyze or the system units are not installed (scripts/test.sh installs the systemd package)' : false }, () => {
    let root = '';
    const serverAt = () => join(root, 'usr/local/bin/kuryr-server');
    before(async () => {
      root = mkdtempSync(join(tmpdir(), 'kuryr-systemd-'));
      cpSync(SYSTEM_UNITS!, join(root, 'lib/systemd/system'), { recursive: true });
      mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
      for (const unit of UNITS) copyFileSync(join(UNIT_DIR, unit), join(root, 'etc/systemd/system', unit));
      for (const exe of executables()) {
        mkdirSync(join(root, dirname(exe)), { recursive: true });
        if (exe === '/usr/local/bin/kuryr-server') {
          // This build's bin, as `npm install -g --prefix /usr/local` links it.
          writeFileSync(join(root, exe), `#!/bin/sh\nexec ${process.execPath} ${SERVER_BIN} "$@"\n`);
          chmodSync(join(root, exe), 0o755);
        } else {
          copyFileSync(exe, join(root, exe));
        }
      }
      const version = await run(serverAt(), ['--version']);
      assert.equal(version.code, 0, `the staged kuryr-server runs: ${version.stderr}`);
    });
    after(() => rmSync(root, { recursive: true, force: true }));

    it('ships the service and its socket unit', () => {
      assert.deepEqual(UNITS, ['kuryr-libnetwork.service', 'kuryr-libnetwork.socket']);
    });

    it('passes systemd-analyze verify with no warning, both units (unknown keys and bad values are only warnings there)', async () => {
      const r = await run(ANALYZE!, ['verify', `--root=${root}`, ...UNITS]);
      assert.equal(r.stderr, '');
      assert.equal(r.code, 0);
    });

    it('fails verify when the kuryr-server it names is not installed', async () => {
      const staged = readFileSync(serverAt());
      rmSync(serverAt());
      try {
        const r = await run(ANALYZE!, ['verify', `--root=${root}`, UNIT_NAME]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /\/usr\/local\/bin\/kuryr-server is not executable/);
      } finally {
        writeFileSync(serverAt(), staged, { mode: 0o755 });
      }
    });

    it(`has an exposure level of at most ${MAX_EXPOSURE} in systemd-analyze security`, async () => {
      const r = await run(ANALYZE!, ['security', '--offline=true', `--root=${root}`, '--no-pager', UNIT_NAME]);
      const level = /Overall exposure level for [^:]+: ([\d.]+)/.exec(r.stdout);
      assert.ok(level, `no exposure level in: ${r.stdout}${r.stderr}`);
      assert.ok(Number(level[1]) <= MAX_EXPOSURE, `exposure ${level[1]}`);
    });
  });
});
