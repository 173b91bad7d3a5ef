/**
 * Fake Keystone and Neutron on real node:http servers (127.0.0.1, port 0), shared by the unit
 * tests. A fixture module: it holds no tests (openstack-fake-servers.test.ts checks the fakes).
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { AuthConfig } from '../../src/config/types.js';

export const PASSWORD = 'Pa55-w0rd-S3CRET-aa11';
export const APP_SECRET = 'app-cred-S3CRET-bb22';
export const STATIC_TOKEN = 'gAAAAAstaticTOKEN-cc33';

export interface Recorded {
  method: string;
  /** Path + query as received. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: unknown;
  /** Client port: the same value means the same (kept-alive) connection. */
  remotePort: number | undefined;
}

export type Handler = (req: Recorded, res: http.ServerResponse) => void | Promise<void>;

export interface FakeServer {
  url: string;
  port: number;
  requests: Recorded[];
  close(): Promise<void>;
}

async function readBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function startServer(handler: Handler): Promise<FakeServer> {
  const requests: Recorded[] = [];
  const server = http.createServer(async (req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const rec: Recorded = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      path: u.pathname,
      query: u.searchParams,
      headers: req.headers,
      body: await readBody(req),
      remotePort: req.socket.remotePort,
    };
    requests.push(rec);
    try {
      await handler(rec, res);
    } catch (err) {
      if (!res.headersSent) send(res, 500, { error: String(err) });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function send(res: http.ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function neutronError(res: http.ServerResponse, status: number, type: string, message: string, requestId = 'req-abc'): void {
  send(res, status, { NeutronError: { type, message, detail: '' } }, { 'x-openstack-request-id': requestId });
}

export interface CatalogSpec {
  type: string;
  endpoints: { interface: string; url: string; region_id?: string; region?: string }[];
}

export interface FakeKeystone extends FakeServer {
  /** Bodies of POST /v3/auth/tokens, in order. */
  authBodies: Record<string, any>[];
  readonly authCount: number;
  issued: string[];
  /** Tokens Neutron accepts. */
  valid: Set<string>;
  lifetimeS: number;
  catalog: CatalogSpec[];
  /** When set, the next auth answers this instead. */
  failWith?: { status: number; body: unknown };
}

/** Keystone v3: accepts PASSWORD / APP_SECRET / STATIC_TOKEN; token lifetime and catalog settable. */
export async function startFakeKeystone(opts: { catalog?: CatalogSpec[]; lifetimeS?: number; prefix?: string } = {}): Promise<FakeKeystone> {
  const prefix = opts.prefix ?? '/v3';
  const ks: Partial<FakeKeystone> = {
    authBodies: [],
    issued: [],
    valid: new Set(),
    lifetimeS: opts.lifetimeS ?? 3600,
    catalog: opts.catalog ?? [],
  };
  const srv = await startServer((req, res) => {
    if (req.method !== 'POST' || req.path !== `${prefix}/auth/tokens`) return send(res, 404, { error: { code: 404, title: 'Not Found', message: req.path } });
    const body = req.body as Record<string, any>;
    ks.authBodies!.push(body);
    if (ks.failWith) {
      const f = ks.failWith;
      ks.failWith = undefined;
      return send(res, f.status, f.body, { 'x-openstack-request-id': 'req-ks-1' });
    }
    const id = body?.auth?.identity;
    const ok =
      id?.password?.user?.password === PASSWORD ||
      id?.application_credential?.secret === APP_SECRET ||
      (id?.token?.id === STATIC_TOKEN || ks.valid!.has(id?.token?.id));
    if (!ok) {
      return send(res, 401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } }, {
        'x-openstack-request-id': 'req-ks-401',
      });
    }
    const token = `tok-${ks.issued!.length + 1}-${randomBytes(12).toString('hex')}`;
    ks.issued!.push(token);
    ks.valid!.add(token);
    const expires = new Date(Date.now() + ks.lifetimeS! * 1000).toISOString();
    send(res, 201, { token: { methods: id?.methods ?? [], expires_at: expires, issued_at: new Date().toISOString(), catalog: ks.catalog } }, {
      'x-subject-token': token,
    });
  });
  Object.assign(ks, srv);
  Object.defineProperty(ks, 'authCount', { get: () => ks.authBodies!.length });
  return ks as FakeKeystone;
}

export function networkCatalog(url: string, region = 'RegionOne'): CatalogSpec[] {
  return [
    { type: 'identity', endpoints: [{ interface: 'public', url: 'http://127.0.0.1:1/identity', region_id: region }] },
    {
      type: 'network',
      endpoints: [
        { interface: 'public', url, region_id: region, region },
        { interface: 'internal', url, region_id: region, region },
      ],
    },
  ];
}

export function passwordAuth(authUrl: string, extra: Partial<AuthConfig> = {}): AuthConfig {
  return {
    authType: 'password',
    authUrl,
    username: 'kuryr',
    userDomainName: 'Default',
    password: PASSWORD,
    projectName: 'service',
    projectDomainName: 'Default',
    ...extra,
  };
}

/** A pino logger at debug level whose output is kept in `text()`. No redaction: the code must not log secrets at all. */
export function captureLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), text: () => chunks.join('') };
}
