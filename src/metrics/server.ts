/**
 * The metrics endpoint: its own small HTTP listener on `[DEFAULT] metrics_listen`, apart from the
 * plugin listeners, so a scraper never needs (or gets) the plugin's address or client certificate.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KuryrError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `host:port` or `[v6]:port` (the shape config/load.ts checked) -> its parts. */
export function parseListenAddress(value: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new KuryrError('KURYR_ERR_CONFIG', `metrics_listen = "${value}" is not host:port`);
  return { host: m[1] ?? m[2]!, port };
}

/** The URL a local client (kuryr status) scrapes for a `metrics_listen` value. */
export function metricsUrl(listen: string): string {
  const { host, port } = parseListenAddress(listen);
  // A wildcard bind is reached on loopback.
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}/metrics`;
}

export class MetricsServer {
  #server: Server | undefined;

  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** Starts listening; resolves to the address actually bound (port 0 picks one). */
  async listen(listen: string): Promise<ListenAddress> {
    const { host, port } = parseListenAddress(listen);
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at GET /metrics\n');
        return;
      }
      this.metrics.text().then(
        (text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (err: unknown) => {
          this.logger.error({ err }, 'metrics: collecting failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('collecting metrics failed\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new KuryrError('KURYR_ERR_CONFIG', `[DEFAULT] metrics_listen = ${listen}: cannot listen: ${err.code ?? err.message}`, { cause: err })),
      );
      server.listen(port, host, () => resolve());
    });
    this.#server = server;
    const bound = server.address() as AddressInfo;
    return { host: bound.address, port: bound.port };
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
