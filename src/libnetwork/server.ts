import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fastify, type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import { PLUGIN_CONTENT_TYPE, type PluginProtocol } from './protocol.js';

export interface ListenOptions {
  /** Unix socket Docker discovers under /run/docker/plugins ("" = none). */
  socketPath: string;
  /** http(s)://host:port ("" = none). */
  uri: string;
  tls?: { certFile: string; keyFile: string; caFile?: string };
  /** Where to write the .spec/.json discovery file for the TCP listener ("" = don't). */
  specDir: string;
  pluginName: string;
}

/** One fastify instance per listener; all share the protocol handler. */
async function buildListener(protocol: PluginProtocol, https?: { cert: Buffer; key: Buffer; ca?: Buffer }) {
  const app = fastify({
    // Every call is logged once by the protocol layer, with its outcome and duration.
    logger: false,
    bodyLimit: 1024 * 1024,
    ...(https
      ? { https: { cert: https.cert, key: https.key, ...(https.ca ? { ca: https.ca, requestCert: true, rejectUnauthorized: true } : {}) } }
      : {}),
  }) as unknown as FastifyInstance;
  // Docker sends application/vnd.docker.plugins.v1.x+json, sometimes with no body: take any body as text.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.all('/*', async (req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const raw = typeof req.body === 'string' ? req.body : '';
    const result = req.method === 'POST' ? await protocol.handle(path, raw) : { status: 405, body: { Err: 'plugin calls are POST' } };
    return reply.code(result.status).header('content-type', PLUGIN_CONTENT_TYPE).send(JSON.stringify(result.body));
  });
  return app;
}

export class PluginServer {
  private readonly apps: FastifyInstance[] = [];
  constructor(
    private readonly protocol: PluginProtocol,
    private readonly logger: Logger,
  ) {}

  async listen(opts: ListenOptions): Promise<string[]> {
    const addresses: string[] = [];
    if (opts.socketPath) {
      await mkdir(dirname(opts.socketPath), { recursive: true });
      await rm(opts.socketPath, { force: true });
      const app = await buildListener(this.protocol);
      await app.listen({ path: opts.socketPath });
      // Docker runs as root; nobody else may drive Neutron through us.
      await chmod(opts.socketPath, 0o600);
      this.apps.push(app);
      addresses.push(`unix://${opts.socketPath}`);
    }
    if (opts.uri) {
      const url = new URL(opts.uri);
      const secure = url.protocol === 'https:';
      const https = secure && opts.tls
        ? {
            cert: await readFile(opts.tls.certFile),
            key: await readFile(opts.tls.keyFile),
            ...(opts.tls.caFile ? { ca: await readFile(opts.tls.caFile) } : {}),
          }
        : undefined;
      const app = await buildListener(this.protocol, https);
      const host = url.hostname.replace(/^\[|\]$/g, '');
      await app.listen({ host, port: Number(url.port || (secure ? 443 : 80)) });
      this.apps.push(app);
      addresses.push(opts.uri);
      if (opts.specDir) await this.writeSpec(opts);
    }
    return addresses;
  }

  /** Writes Docker's discovery file for the TCP listener (a unix socket is found without one). */
  private async writeSpec(opts: ListenOptions): Promise<void> {
    await mkdir(opts.specDir, { recursive: true });
    const specFile = join(opts.specDir, `${opts.pluginName}.spec`);
    const jsonFile = join(opts.specDir, `${opts.pluginName}.json`);
    const spec = { Name: opts.pluginName, Addr: opts.uri };
    await rm(specFile, { force: true });
    await writeFile(jsonFile, JSON.stringify(spec) + '\n', { mode: 0o644 });
  }

  async close(): Promise<void> {
    await Promise.all(this.apps.map((a) => a.close()));
    this.apps.length = 0;
  }
}
