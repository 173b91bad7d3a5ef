/**
 * One error boundary: whatever refuses a request (a driver, the protocol, fastify, node's HTTP
 * parser), Docker gets the status of the error's code and a body in its plugin shape (`{"Err"}`,
 * IPAM also `Error`), through a real listener.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IpamDriver, NetworkDriver } from '../../src/libnetwork/api.js';
import { PluginProtocol } from '../../src/libnetwork/protocol.js';
import { PluginServer } from '../../src/libnetwork/server.js';
import { silentLogger } from '../../src/log.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);
const POOL = '0a1b2c3d-0000-4000-8000-00000000000a';
/** A driver with a bug: a plain Error, not a KuryrError, escapes it. */
const net = {
  leave: async () => {
    throw new Error('cannot read properties of undefined');
  },
} as unknown as NetworkDriver;
const ipam = {
  releasePool: async () => {
    throw new RangeError('pool index out of range');
  },
} as unknown as IpamDriver;

let dir: string;
let socketPath: string;
const server = new PluginServer(new PluginProtocol(net, ipam, silentLogger), silentLogger);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kuryr-errors-'));
  socketPath = join(dir, 'kuryr.sock');
  await server.listen({ socketPath, uri: '', specDir: '', pluginName: 'kuryr' });
});
after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  contentType: string;
  body: unknown;
}

/** Writes raw bytes to the plugin socket (what a client that is not Docker may send) and reads the one answer. */
function exchange(raw: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    // Kuryr may answer and close before a refused body is all written (413): the answer is what counts.
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString();
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      const contentType = /^content-type: (.*)$/im.exec(head)?.[1] ?? '';
      try {
        resolve({ status, contentType, body: JSON.parse(body) });
      } catch {
        reject(new Error(`not a JSON answer: ${JSON.stringify(text.slice(0, 300))}`));
      }
    });
    socket.end(raw);
  });
}

function call(method: string, path: string, body: string | Buffer, headers: Record<string, string> = { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json' }): Promise<Answer> {
  const head = [`${method} ${path} HTTP/1.1`, 'Host: kuryr', 'Connection: close', `Content-Length: ${Buffer.byteLength(body)}`];
  for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`);
  return exchange(Buffer.concat([Buffer.from(head.join('\r\n') + '\r\n\r\n'), Buffer.from(body)]));
}

/** The answer is a refusal in Docker's plugin shape: `Err` naming the problem (IPAM: `Error` too). */
function assertRefusal(a: Answer, status: number, message: RegExp, ipam = false): void {
  assert.equal(a.status, status, JSON.stringify(a.body));
  assert.match(a.contentType, /^application\/vnd\.docker\.plugins\.v1\+json/);
  const body = a.body as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ipam ? ['Err', 'Error'] : ['Err']);
  assert.match(String(body['Err']), message);
  if (ipam) assert.equal(body['Error'], body['Err']);
}

test('a plain Error escaping a driver is answered 500 "internal error: ..." in the plugin shape', async () => {
  const leave = await call('POST', '/NetworkDriver.Leave', JSON.stringify({ NetworkID: NET, EndpointID: EP }));
  assert.equal(leave.status, 500);
  assert.deepEqual(leave.body, { Err: 'internal error: cannot read properties of undefined' });
  const release = await call('POST', '/IpamDriver.ReleasePool', JSON.stringify({ PoolID: POOL }));
  assert.equal(release.status, 500);
  assert.deepEqual(release.body, { Err: 'internal error: pool index out of range', Error: 'internal error: pool index out of range' });
});

test('a body over 1 MiB is refused 413 in the plugin shape (IPAM with Error), before any driver', async () => {
  const big = JSON.stringify({ PoolID: 'x'.repeat(1024 * 1024 + 10) });
  assertRefusal(await call('POST', '/NetworkDriver.DeleteNetwork', big), 413, /larger than 1048576 bytes/);
  assertRefusal(await call('POST', '/IpamDriver.ReleasePool', big), 413, /larger than 1048576 bytes/, true);
});

test('an empty Content-Type is refused 415 in the plugin shape', async () => {
  assertRefusal(await call('POST', '/NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: NET }), { 'Content-Type': '' }), 415, /Content-Type/);
});

test('malformed JSON is refused 400 in the plugin shape', async () => {
  assertRefusal(await call('POST', '/NetworkDriver.DeleteNetwork', '{"NetworkID": '), 400, /JSON/i);
  assertRefusal(await call('POST', '/IpamDriver.ReleasePool', '{"PoolID"'), 400, /JSON/i, true);
});

test('a method other than POST is refused 405 in the plugin shape, whichever method', async () => {
  for (const method of ['GET', 'PUT', 'PROPFIND', 'SEARCH']) {
    assertRefusal(await call(method, '/NetworkDriver.GetCapabilities', ''), 405, new RegExp(`plugin calls are POST, not ${method}`));
  }
});

test('a call Kuryr does not implement is refused 404 in the plugin shape', async () => {
  assertRefusal(await call('POST', '/NetworkDriver.Explode', '{}'), 404, /does not implement "NetworkDriver\.Explode"/);
});

test('a request node\'s HTTP parser refuses is answered 400 in the plugin shape', async () => {
  assertRefusal(await exchange('NOT HTTP AT ALL\r\n\r\n'), 400, /malformed HTTP request/);
});

test('a client that stalls in its headers is answered 408 in the plugin shape when it is cut', { timeout: 20_000 }, async () => {
  const answer = await new Promise<Answer>((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = Buffer.concat(chunks).toString().split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), contentType: /^content-type: (.*)$/im.exec(head)?.[1] ?? '', body: JSON.parse(body || 'null') });
    });
    socket.write('POST /NetworkDriver.GetCapabilities HTTP/1.1\r\nHost: kuryr\r\nContent-Ty');
  });
  assertRefusal(answer, 408, /did not arrive within 10 s/);
});
