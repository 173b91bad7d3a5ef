/**
 * An HTTP proxy put in front of the real, shared neutron-server so a test can make "Neutron" fail
 * for one private Kuryr daemon (pointed at it with `[neutron] endpoint_override`) without touching
 * the service everybody else uses. It records every request it sees (method, path, status, token),
 * which is how tests check what Kuryr retried and which token it presented.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * - `pass`: forward to Neutron.
 * - `refuse`: nothing listens on the port (connection refused), open connections are reset.
 * - `unavailable`: answer 503 at once, as a load balancer with no healthy backend does.
 * - `hang`: accept the request and never answer.
 */
export type ProxyMode = 'pass' | 'refuse' | 'unavailable' | 'hang';

export interface ProxiedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  /** 0 when the proxy gave no answer (hang, or the client went away). */
  status: number;
  token: string | undefined;
}

/** Decides whether a token is (still) valid, as keystonemiddleware does in front of Neutron. */
export type TokenCheck = (token: string) => Promise<boolean>;

export class NeutronProxy {
  mode: ProxyMode = 'pass';
  /** When set, POST requests (creates) are answered with this status while GET/PUT/DELETE pass. */
  failPostsWith: number | undefined;
  /** When set, every request's token is checked first and a rejected one gets Neutron's 401. */
  checkToken: TokenCheck | undefined;
  readonly requests: ProxiedRequest[] = [];

  private server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly upstream: URL;

  private constructor(upstream: string, readonly port: number, server: Server) {
    this.upstream = new URL(upstream);
    this.server = server;
  }

  /** Listens on a free loopback port; `upstream` is Neutron's base URL. */
  static async start(upstream = 'http://127.0.0.1:9696'): Promise<NeutronProxy> {
    const placeholder = createServer();
    await listen(placeholder, 0);
    const port = (placeholder.address() as { port: number }).port;
    const proxy = new NeutronProxy(upstream, port, placeholder);
    proxy.adopt(placeholder);
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Switches mode; `refuse` closes the listener (and open connections), leaving it reopens it. */
  async setMode(mode: ProxyMode): Promise<void> {
    const wasRefusing = this.mode === 'refuse';
    this.mode = mode;
    if (mode === 'refuse' && !wasRefusing) {
      await this.closeListener();
    } else if (mode !== 'refuse' && wasRefusing) {
      this.server = createServer();
      this.adopt(this.server);
      await listen(this.server, this.port);
    } else if (mode === 'pass') {
      // Requests left hanging would never end: drop their connections so the clients see an error.
      this.dropConnections();
    }
  }

  /** Requests recorded so far that match. */
  count(method: string, pathPrefix = ''): number {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix)).length;
  }

  async close(): Promise<void> {
    if (this.mode !== 'refuse') await this.closeListener();
  }

  private adopt(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void this.handle(req, res);
    });
  }

  private async closeListener(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropConnections();
    await closed;
  }

  private dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const tokenHeader = req.headers['x-auth-token'];
    const record: ProxiedRequest = {
      method: req.method ?? 'GET',
      path: (req.url ?? '/').split('?')[0] ?? '/',
      status: 0,
      token: typeof tokenHeader === 'string' ? tokenHeader : undefined,
    };
    this.requests.push(record);
    const answer = (status: number, payload: unknown) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    if (this.mode === 'hang') return; // never answered; dropped by the next setMode('pass') or close()
    if (this.mode === 'unavailable') {
      answer(503, { message: 'Service Unavailable (Kuryr fault test proxy)' });
      return;
    }
    if (this.failPostsWith !== undefined && record.method === 'POST') {
      answer(this.failPostsWith, { message: `POST failed by the Kuryr fault test proxy (${this.failPostsWith})` });
      return;
    }
    if (this.checkToken && !(record.token && (await this.checkToken(record.token)))) {
      // What keystonemiddleware answers for a revoked or expired token.
      answer(401, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
      return;
    }
    this.forward(req, body, res, record);
  }

  private forward(req: IncomingMessage, body: Buffer, res: ServerResponse, record: ProxiedRequest): void {
    const headers = { ...req.headers, host: this.upstream.host };
    const upstreamReq = httpRequest(
      { hostname: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers },
      (upstreamRes) => {
        record.status = upstreamRes.statusCode ?? 0;
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on('error', (err) => {
      record.status = 502;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `proxy: Neutron unreachable: ${err.message}` }));
    });
    upstreamReq.end(body);
  }
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
