import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerApiError, DockerClient, lowerApiVersion } from '../../src/docker/client.js';
import { KuryrError } from '../../src/errors.js';

/** A fake dockerd on a unix socket: records requests, answers per path. */
const dir = mkdtempSync(join(tmpdir(), 'kuryr-docker-'));
const socket = join(dir, 'docker.sock');
const seen: string[] = [];
let serverApi = '1.43';
let server: Server;

function answer(req: IncomingMessage): { status: number; body: unknown } | 'hang' {
  const url = new URL(req.url ?? '/', 'http://docker');
  if (url.pathname === '/version') return { status: 200, body: { Version: '24.0.7', ApiVersion: serverApi, MinAPIVersion: '1.12' } };
  if (url.pathname.endsWith('/networks')) return { status: 200, body: [{ Id: 'n1', Name: 'one', Driver: 'kuryr', Scope: 'local', IPAM: { Driver: 'kuryr', Config: [] } }] };
  if (url.pathname.endsWith('/networks/n1')) {
    return { status: 200, body: { Id: 'n1', Name: 'one', Driver: 'kuryr', Containers: { c1: { Name: 'web', EndpointID: 'e1', MacAddress: '', IPv4Address: '10.0.0.2/24', IPv6Address: '' } } } };
  }
  if (url.pathname.endsWith('/containers/slow/json')) return 'hang';
  if (url.pathname.endsWith('/containers/json')) return { status: 200, body: [] };
  // As dockerd 20.10 lists a managed plugin (trimmed to what Kuryr reads, plus a field it ignores).
  if (url.pathname.endsWith('/plugins')) {
    const Interface = { Socket: 'kuryr-libnetwork.sock', Types: ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0'] };
    return { status: 200, body: [{ Id: 'ab'.repeat(32), Name: 'kuryr/libnetwork2:latest', Enabled: true, PluginReference: 'kuryr/libnetwork2:latest', Config: { Interface } }] };
  }
  return { status: 404, body: { message: `No such object: ${url.pathname.split('/').at(-2)}` } };
}

before(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    const a = answer(req);
    if (a === 'hang') return; // never answers
    res.writeHead(a.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(a.body));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const config = { host: `unix://${socket}`, tlsVerify: true, setDnsName: true };

test('the API version is negotiated once with GET /version, capped at 1.41, and used on every path', async () => {
  seen.length = 0;
  const docker = new DockerClient(config);
  await docker.listNetworks({ driver: ['kuryr'] });
  await docker.inspectNetwork('n1');
  assert.equal(seen.filter((u) => u === '/version').length, 1);
  assert.deepEqual(seen.slice(1), [`/v1.41/networks?filters=${encodeURIComponent(JSON.stringify({ driver: ['kuryr'] }))}`, '/v1.41/networks/n1']);
});

test('an older dockerd is spoken to in its own version; a pinned version skips negotiation', async () => {
  serverApi = '1.40';
  seen.length = 0;
  await new DockerClient(config).inspectNetwork('n1');
  assert.deepEqual(seen, ['/version', '/v1.40/networks/n1']);
  seen.length = 0;
  await new DockerClient(config, { apiVersion: '1.41' }).listContainers({ all: true, filters: { network: ['n1'], name: [] } });
  assert.deepEqual(seen, [`/v1.41/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ network: ['n1'] }))}`]);
  serverApi = '1.43';
  assert.equal(lowerApiVersion('1.9', '1.41'), '1.9');
  assert.equal(lowerApiVersion('1.43', '1.41'), '1.41');
});

test("a network's endpoints come back keyed by container, with the container name", async () => {
  const net = await new DockerClient(config).inspectNetwork('n1');
  assert.deepEqual(Object.entries(net.Containers ?? {}).map(([id, e]) => [id, e.Name, e.EndpointID]), [['c1', 'web', 'e1']]);
});

test('managed plugins are listed with their ID, tagged name and interface', async () => {
  seen.length = 0;
  const [plugin] = await new DockerClient(config, { apiVersion: '1.41' }).listPlugins();
  assert.deepEqual(seen, ['/v1.41/plugins']);
  assert.equal(plugin?.Id, 'ab'.repeat(32));
  assert.equal(plugin?.Name, 'kuryr/libnetwork2:latest');
  assert.deepEqual(plugin?.Config.Interface.Types, ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0']);
});

test("a missing object is KURYR_ERR_NOT_FOUND with Docker's message and status", async () => {
  await assert.rejects(new DockerClient(config).inspectContainer('gone'), (e: unknown) => {
    assert.ok(e instanceof DockerApiError && e instanceof KuryrError);
    assert.equal(e.code, 'KURYR_ERR_NOT_FOUND');
    assert.equal(e.httpStatus, 404);
    assert.match(e.message, /^Docker GET \/v1\.41\/containers\/gone\/json: 404 No such object: gone$/);
    return true;
  });
});

test('a dockerd that does not answer fails the call after the timeout, saying so', async () => {
  const started = Date.now();
  await assert.rejects(new DockerClient(config, { timeoutMs: 200, apiVersion: '1.41' }).inspectContainer('slow'), (e: unknown) => {
    assert.ok(e instanceof DockerApiError && e.timedOut);
    assert.match(e.message, /no answer from unix:\/\/.*docker\.sock within 200 ms/);
    return true;
  });
  assert.ok(Date.now() - started < 2000);
});

test('no dockerd on the socket is a clear error, and the next call negotiates again', async () => {
  const docker = new DockerClient({ ...config, host: `unix://${join(dir, 'absent.sock')}` });
  await assert.rejects(docker.listNetworks(), /Docker GET \/version: cannot reach dockerd at unix:\/\/.*absent\.sock: .*ENOENT/);
  await assert.rejects(docker.listNetworks(), /GET \/version/);
});

test('a TLS file that cannot be read is a configuration error naming the option', () => {
  assert.throws(
    () => new DockerClient({ host: 'tcp://127.0.0.1:2376', tlsCaFile: join(dir, 'missing-ca.pem'), tlsVerify: true, setDnsName: true }),
    (e: unknown) => e instanceof KuryrError && e.code === 'KURYR_ERR_CONFIG' && /\[docker\] tls_ca_file = .*missing-ca\.pem cannot be read/.test(e.message),
  );
});
