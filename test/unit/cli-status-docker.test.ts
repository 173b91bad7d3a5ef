/** `kuryr status`'s Docker check counts the networks of the driver name this configuration serves, not always `kuryr`. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerCheck } from '../../src/cli/status.js';

const dir = mkdtempSync(join(tmpdir(), 'kuryr-status-'));
const socket = join(dir, 'docker.sock');
/** What this fake dockerd holds: two networks of a `kuryr-dev` daemon next to the stack's `kuryr` one. */
const networks = [
  { Id: 'n1', Name: 'stack', Driver: 'kuryr' },
  { Id: 'n2', Name: 'dev-a', Driver: 'kuryr-dev' },
  { Id: 'n3', Name: 'dev-b', Driver: 'kuryr-dev' },
  { Id: 'n4', Name: 'bridge', Driver: 'bridge' },
];
let server: Server;

before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/version') return res.end(JSON.stringify({ Version: '20.10.24', ApiVersion: '1.41', MinAPIVersion: '1.12' }));
    // Docker's driver filter: exact names, any of them.
    const drivers = (JSON.parse(url.searchParams.get('filters') ?? '{}') as { driver?: string[] }).driver;
    res.end(JSON.stringify(networks.filter((n) => !drivers || drivers.includes(n.Driver))));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const docker = { host: `unix://${socket}`, tlsVerify: true, setDnsName: false };

test('kuryr status counts the networks of the plugin name derived from socket_path', async () => {
  const check = await dockerCheck({ docker, socketPath: '/run/docker/plugins/kuryr-dev.sock', pluginSpecDir: '/usr/lib/docker/plugins/kuryr', kuryrUri: '' });
  assert.equal(check.ok, true);
  assert.match(check.detail, /2 network\(s\) of driver kuryr-dev$/);
});

test('kuryr status counts the networks of the plugin name derived from plugin_spec_dir when Docker finds Kuryr by its spec file', async () => {
  const check = await dockerCheck({ docker, socketPath: '', pluginSpecDir: '/usr/lib/docker/plugins/kuryr-dev', kuryrUri: 'http://127.0.0.1:23750' });
  assert.match(check.detail, /spec file in \/usr\/lib\/docker\/plugins\/kuryr-dev .*; 2 network\(s\) of driver kuryr-dev$/);
});

test('kuryr status with the default names counts only kuryr networks', async () => {
  const check = await dockerCheck({ docker, socketPath: '/run/docker/plugins/kuryr.sock', pluginSpecDir: '/usr/lib/docker/plugins/kuryr', kuryrUri: '' });
  assert.match(check.detail, /1 network\(s\) of driver kuryr$/);
});
