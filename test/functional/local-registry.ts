/**
 * A registry for one test, on 127.0.0.1 (dockerd talks plain HTTP to loopback registries): just
 * the part of the distribution API that `docker plugin push` and a pull by `docker plugin upgrade`
 * use. `docker plugin upgrade` only takes a new version from a registry, and this machine has no
 * registry image; blobs live in a temporary directory removed on close.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface LocalRegistry {
  /** host:port, the prefix of a plugin name pushed here. */
  host: string;
  close(): Promise<void>;
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export async function startLocalRegistry(): Promise<LocalRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'kuryr-registry-'));
  const uploads = new Map<string, { path: string; hash: ReturnType<typeof createHash>; size: number }>();
  const manifests = new Map<string, { body: Buffer; type: string; digest: string }>();
  const blobPath = (digest: string) => join(dir, digest.replace(':', '-'));

  const append = async (req: IncomingMessage, id: string) => {
    const up = uploads.get(id)!;
    const out = createWriteStream(up.path, { flags: 'a' });
    req.on('data', (chunk: Buffer) => {
      up.hash.update(chunk);
      up.size += chunk.length;
    });
    await pipeline(req, out);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    const path = url.pathname;
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (path === '/v2/' || path === '/v2') return res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    let m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path);
    if (m && req.method === 'POST') {
      const id = randomUUID();
      uploads.set(id, { path: join(dir, `upload-${id}`), hash: createHash('sha256'), size: 0 });
      await append(req, id);
      return res.writeHead(202, { location: `/v2/${m[1]}/blobs/uploads/${id}`, 'docker-upload-uuid': id, range: '0-0', 'content-length': '0' }).end();
    }
    m = /^\/v2\/(.+)\/blobs\/uploads\/([0-9a-f-]+)$/.exec(path);
    if (m && uploads.has(m[2]!)) {
      const [, name, id] = m as unknown as [string, string, string];
      await append(req, id);
      const up = uploads.get(id)!;
      if (req.method === 'PATCH') {
        return res.writeHead(202, { location: `/v2/${name}/blobs/uploads/${id}`, 'docker-upload-uuid': id, range: `0-${Math.max(up.size - 1, 0)}`, 'content-length': '0' }).end();
      }
      if (req.method === 'PUT') {
        const digest = url.searchParams.get('digest') ?? '';
        uploads.delete(id);
        if (!DIGEST.test(digest) || `sha256:${up.hash.digest('hex')}` !== digest) return res.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID"}]}');
        renameSync(up.path, blobPath(digest));
        return res.writeHead(201, { location: `/v2/${name}/blobs/${digest}`, 'docker-content-digest': digest, 'content-length': '0' }).end();
      }
    }
    m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path);
    if (m && (req.method === 'GET' || req.method === 'HEAD')) {
      const file = blobPath(m[2]!);
      if (!existsSync(file)) return res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
      res.writeHead(200, { 'content-length': String(statSync(file).size), 'docker-content-digest': m[2]!, 'content-type': 'application/octet-stream' });
      if (req.method === 'HEAD') return res.end();
      return pipeline(createReadStream(file), res);
    }
    m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    if (m) {
      const key = (ref: string) => `${m![1]}@${ref}`;
      if (req.method === 'PUT') {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const body = Buffer.concat(chunks);
        const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
        const entry = { body, type: req.headers['content-type'] ?? 'application/vnd.docker.distribution.manifest.v2+json', digest };
        manifests.set(key(m[2]!), entry);
        manifests.set(key(digest), entry);
        return res.writeHead(201, { location: `/v2/${m[1]}/manifests/${digest}`, 'docker-content-digest': digest, 'content-length': '0' }).end();
      }
      const entry = manifests.get(key(m[2]!));
      if (!entry) return res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
      res.writeHead(200, { 'content-type': entry.type, 'content-length': String(entry.body.length), 'docker-content-digest': entry.digest });
      return res.end(req.method === 'HEAD' ? undefined : entry.body);
    }
    return res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNSUPPORTED"}]}');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    host: `127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
