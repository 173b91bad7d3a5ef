import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { basename, dirname, join } from 'node:path';
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
  /** What Docker uses to reach an https listener, written into the .json's TLSConfig. */
  dockerTls?: DockerTlsFiles;
}

/** Paths on Docker's host: the CA that signed Kuryr's certificate, and Docker's client certificate. */
export interface DockerTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** Docker's `.json` plugin spec (moby pkg/plugins: Plugin with tlsconfig.Options). */
export interface PluginSpec {
  Name: string;
  Addr: string;
  TLSConfig?: { InsecureSkipVerify: boolean; CAFile?: string; CertFile?: string; KeyFile?: string };
}

/** The directories Docker searches for spec files, as `<root>/<name>.json` or `<root>/<name>/<name>.json`. */
const DISCOVERY_ROOTS = ['/etc/docker/plugins', '/usr/lib/docker/plugins'];

/**
 * The plugin (driver) name Docker will know the TCP listener by. Docker names a plugin after its
 * spec file, and finds `<root>/<name>/<name>.json`, so a spec directory is named after its plugin
 * (upstream's `/usr/lib/docker/plugins/kuryr`); written straight into a discovery root, it is `kuryr`.
 */
export function pluginNameForSpecDir(specDir: string): string {
  const dir = specDir.replace(/\/+$/, '');
  return !dir || DISCOVERY_ROOTS.includes(dir) ? 'kuryr' : basename(dir);
}

/** What Docker is told: Addr, and for https how to verify Kuryr and which certificate to present. */
export function pluginSpec(opts: Pick<ListenOptions, 'pluginName' | 'uri' | 'dockerTls'>): PluginSpec {
  const spec: PluginSpec = { Name: opts.pluginName, Addr: opts.uri };
  if (new URL(opts.uri).protocol !== 'https:') return spec;
  const t = opts.dockerTls ?? {};
  // Without a CA Docker cannot verify Kuryr; it would skip verification anyway (moby readPluginJSONInfo), say so.
  spec.TLSConfig = {
    InsecureSkipVerify: !t.caFile,
    ...(t.caFile ? { CAFile: t.caFile } : {}),
    ...(t.certFile ? { CertFile: t.certFile } : {}),
    ...(t.keyFile ? { KeyFile: t.keyFile } : {}),
  };
  return spec;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host.startsWith('::ffff:127.');
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
      if (!isLoopback(host)) this.warnExposed(host, !!https?.ca);
      await app.listen({ host, port: Number(url.port || (secure ? 443 : 80)) });
      this.apps.push(app);
      addresses.push(opts.uri);
      if (opts.specDir) await this.writeSpec(opts);
    }
    return addresses;
  }

  /**
   * Kuryr drives Neutron with its own credentials for whoever calls it. Upstream's operators do put
   * kuryr_uri on a routable address (multi-host setups), so this is a warning, not a refusal.
   */
  private warnExposed(host: string, clientCertificates: boolean): void {
    const risk = clientCertificates
      ? 'only clients with a certificate from ssl_ca_file are served'
      : 'anyone who can reach it can create and delete Neutron ports with Kuryr\'s credentials; use 127.0.0.1, or enable_ssl with ssl_ca_file';
    this.logger.warn({ host }, `kuryr_uri listens on ${host}, not on loopback: ${risk}`);
  }

  /** Writes Docker's discovery file for the TCP listener (a unix socket is found without one). */
  private async writeSpec(opts: ListenOptions): Promise<void> {
    await mkdir(opts.specDir, { recursive: true });
    const specFile = join(opts.specDir, `${opts.pluginName}.spec`);
    const jsonFile = join(opts.specDir, `${opts.pluginName}.json`);
    const spec = pluginSpec(opts);
    if (spec.TLSConfig?.InsecureSkipVerify) {
      this.logger.warn({ specFile: jsonFile }, 'Docker will not verify Kuryr\'s certificate: set [DEFAULT] docker_ca_file to the CA that signed ssl_cert_file');
    }
    if (spec.TLSConfig && opts.tls?.caFile && !(spec.TLSConfig.CertFile && spec.TLSConfig.KeyFile)) {
      this.logger.warn(
        { specFile: jsonFile },
        'Kuryr requires a client certificate (ssl_ca_file) but Docker is given none: set [DEFAULT] docker_client_cert_file and docker_client_key_file',
      );
    }
    await rm(specFile, { force: true });
    await writeFile(jsonFile, JSON.stringify(spec) + '\n', { mode: 0o644 });
  }

  async close(): Promise<void> {
    await Promise.all(this.apps.map((a) => a.close()));
    this.apps.length = 0;
  }
}
