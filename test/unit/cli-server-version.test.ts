/** `kuryr-server --version`, as an operator runs it: the built CLI prints the package version and exits. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../src/cli/kuryr-server.js', import.meta.url));
const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

test('kuryr-server --version prints the package version and exits 0 at once, without reading a config or starting the daemon', async () => {
  // No config file, no Keystone, no Neutron: a daemon start would fail or wait, never exit 0 this fast.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' };
  // A daemon that started would still be running after 5 s: killed, it reports no exit code.
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [cli, '--version', '--config-file', '/nonexistent/kuryr.conf'], { env, timeout: 5000 }, (err, out, errOut) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout: out, stderr: errOut });
    });
  });
  assert.equal(code, 0, `exit code (stderr: ${stderr})`);
  assert.equal(stdout, `${version}\n`);
  assert.equal(stderr, '');
});
