import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fastify, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { KuryrError, asKuryrError } from '../errors.js';
import { stripUrlUserInfo, type Logger } from '../log.js';
import { foreignSpecs, foreignSpecWarning, pluginSpec, readDiscoveryFile, specText, type DockerTlsFiles, type ServedName } from './plugin-spec.js';
import { PLUGIN_CONTENT_TYPE, encodeError, subsystemOf, type PluginProtocol, type PluginReply } from './protocol.js';

export interface ListenOptions {
  /** Unix socket Docker discovers under /run/docker/plugins ("" = none). */
  socketPath: string;
  /** http(s)://host:port ("" = none). */
  uri: string;
  /** With caFile, clients must present a certificate it signed; allowedClientNames narrows them to these subject CNs. */
  tls?: { certFile: string; keyFile: string; caFile?: string; allowedClientNames?: readonly string[] };
  /** Where to write the .spec/.json discovery file for the TCP listener ("" = don't). */
  specDir: string;
  pluginName: string;
  /** What Docker uses to reach an https listener, written into the .json's TLSConfig. */
  dockerTls?: DockerTlsFiles;
  /** Docker's spec file directories (default /etc/docker/plugins, /usr/lib/docker/plugins). */
  discoveryRoots?: readonly string[];
  /** A listening socket at socketPath inherited from systemd (socket activation): served instead of binding one. */
  activatedFd?: number;
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host.startsWith('::ffff:127.');
}

/** Who can drive the daemon through a TCP kuryr_uri: logged at start, and said by `kuryr status`. */
export interface TcpExposure {
  level: 'warn' | 'error';
  message: string;
}

/**
 * Kuryr drives Neutron with its own credentials for whoever calls it; the unix socket is root's
 * only. A TCP listener stays possible (upstream's configs use http://127.0.0.1:23750, multi-host
 * setups a routable address), so this is a warning, louder off loopback without client certificates.
 */
export function tcpExposure(uri: string, tls?: { caFile?: string; allowedClientNames?: readonly string[] }): TcpExposure {
  const url = new URL(uri);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const shown = stripUrlUserInfo(uri);
  const names = tls?.allowedClientNames ?? [];
  if (url.protocol === 'https:' && tls?.caFile) {
    const who = names.length > 0 ? `a certificate signed by ssl_ca_file whose subject CN is one of ssl_allowed_client_names (${names.join(', ')})` : 'any certificate signed by ssl_ca_file (ssl_allowed_client_names narrows this to named clients)';
    return { level: 'warn', message: `kuryr_uri ${shown} is a TCP listener: clients presenting ${who} can create and delete Neutron ports with Kuryr's credentials` };
  }
  const remedy = 'leave kuryr_uri empty to serve only the root-only unix socket, or set enable_ssl with ssl_ca_file to require client certificates';
  if (isLoopback(host)) {
    return {
      level: 'warn',
      message: `kuryr_uri ${shown} is a TCP listener: any local user and any container in the host's network namespace can drive Kuryr, creating and deleting Neutron ports with its credentials; ${remedy}`,
    };
  }
  return {
    level: 'error',
    message: `kuryr_uri ${shown} listens on ${host}, not on loopback, without client certificates: anyone on the network who can reach it, any local user and any host-network container can create and delete Neutron ports with Kuryr's credentials; ${remedy}`,
  };
}

/**
 * Time limits of every listener, so that a slow or silent client cannot pin sockets. Docker sends a
 * call's request line, headers and (small) body at once; the answer may take up to call_timeout
 * (25 s by default), and Docker keeps the connection for its next call.
 * - headers: 10 s from the connection (or the previous answer) to the end of the headers; a silent
 *   client is cut then too. On https the TLS handshake gets the same 10 s (node's default is 120 s).
 * - request: 30 s to receive the whole request. It counts only while the request arrives, never
 *   while Kuryr works on its answer, so no call_timeout is cut by it.
 * - keep-alive: an idle connection is closed after 30 s; Docker's plugin client dials again (and
 *   retries a call whose connection failed), so this costs one connect.
 * No socket inactivity timeout: a call is silent on the wire while Kuryr waits for Neutron, for as
 * long as call_timeout allows (unbounded when it is 0); the limits above already bound every
 * moment a client, rather than Kuryr, is the one to speak.
 */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 30_000;
/** How often node checks the two limits above (its default, 30 s, would let a stalled client stay 40 s). */
const CONNECTIONS_CHECK_INTERVAL_MS = 1_000;
/**
 * Connections per listener. Docker opens one per call in flight; a few hundred calls at once would
 * all wait on Neutron anyway (max_concurrent_requests). The bound keeps a flood on the TCP listener
 * from taking every file descriptor the unix socket and Neutron's connections need.
 */
const MAX_CONNECTIONS = 256;
/** Docker's requests are a few kilobytes; anything bigger is not Docker. */
const BODY_LIMIT = 1024 * 1024;

function sendReply(reply: FastifyReply, result: PluginReply): FastifyReply {
  return reply.code(result.status).header('content-type', PLUGIN_CONTENT_TYPE).send(JSON.stringify(result.body));
}

/** The subject CN a client certificate names: the handshake has already checked that ssl_ca_file signed it. */
function clientName(req: FastifyRequest): string | undefined {
  const cn: unknown = (req.raw.socket as TLSSocket).getPeerCertificate().subject?.CN;
  return typeof cn === 'string' ? cn : undefined;
}

/** Refuses, before the body is read and before any driver, clients whose certificate is not on the allow-list. */
function requireClientNames(app: FastifyInstance, allowed: readonly string[], logger: Logger): void {
  app.addHook('onRequest', async (req, reply) => {
    const name = clientName(req);
    if (name !== undefined && allowed.includes(name)) return;
    const path = pathOf(req);
    const shown = name === undefined ? 'no single subject CN' : `subject CN ${JSON.stringify(name.slice(0, 200))}`;
    logger.warn({ clientName: name?.slice(0, 200), method: path.replace(/^\//, '').slice(0, 100) }, 'plugin call refused: client certificate name not in ssl_allowed_client_names');
    const refusal = new KuryrError('KURYR_ERR_FORBIDDEN', `Kuryr refuses this client: its certificate has ${shown}, which is not in [DEFAULT] ssl_allowed_client_names`);
    return sendReply(reply, encodeError(subsystemOf(path), refusal));
  });
}

interface ListenerTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  allowedClientNames: readonly string[];
}

/** One fastify instance per listener; all share the protocol handler. */
async function buildListener(protocol: PluginProtocol, logger: Logger, tls?: ListenerTls) {
  const limits = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS };
  const app = fastify({
    // Every call is logged once by the protocol layer, with its outcome and duration.
    logger: false,
    bodyLimit: BODY_LIMIT,
    clientErrorHandler: answerClientError,
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    ...(tls
      ? { https: { ...limits, handshakeTimeout: HEADERS_TIMEOUT_MS, cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) } }
      : { http: limits }),
  }) as unknown as FastifyInstance;
  app.server.maxConnections = MAX_CONNECTIONS;
  if (tls?.ca && tls.allowedClientNames.length > 0) requireClientNames(app, tls.allowedClientNames, logger);
  // Docker sends application/vnd.docker.plugins.v1.x+json, sometimes with no body: take any body as text.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  const call = async (req: FastifyRequest, reply: FastifyReply) => {
    const path = pathOf(req);
    const raw = typeof req.body === 'string' ? req.body : '';
    const result =
      req.method === 'POST'
        ? await protocol.handle(path, raw)
        : encodeError(subsystemOf(path), new KuryrError('KURYR_ERR_METHOD_NOT_ALLOWED', `plugin calls are POST, not ${req.method.slice(0, 20)}`));
    return sendReply(reply, result);
  };
  app.all('/*', call);
  // Methods `all` does not route (PROPFIND, SEARCH...) land here: the same POST-only answer.
  app.setNotFoundHandler(call);
  // fastify's own refusals (body too large, bad Content-Type) leave in Docker's shape too.
  app.setErrorHandler((err: FastifyError, req, reply) => sendReply(reply, encodeError(subsystemOf(pathOf(req)), fromFastifyError(err))));
  return app;
}

function pathOf(req: FastifyRequest): string {
  return req.url.split('?')[0] ?? '';
}

/** A refusal fastify raised before the protocol saw the request, as a KuryrError. */
function fromFastifyError(err: FastifyError): KuryrError {
  if (err.statusCode === 413) return new KuryrError('KURYR_ERR_TOO_LARGE', `Kuryr refuses a request body larger than ${BODY_LIMIT} bytes`);
  if (err.statusCode === 415) return new KuryrError('KURYR_ERR_UNSUPPORTED_MEDIA_TYPE', `Kuryr refuses this request: ${err.message} (Content-Type)`);
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new KuryrError('KURYR_ERR_INVALID_REQUEST', `Kuryr refuses this request: ${err.message}`);
  return asKuryrError(err);
}

/**
 * Answers what node's HTTP parser refuses before fastify sees a request (malformed HTTP, a client
 * too slow for the limits above), in Docker's shape, then closes the connection.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const refusal =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new KuryrError('KURYR_ERR_REQUEST_TIMEOUT', `Kuryr closes a connection whose request did not arrive within ${HEADERS_TIMEOUT_MS / 1000} s (headers) or ${REQUEST_TIMEOUT_MS / 1000} s (whole request)`)
      : new KuryrError('KURYR_ERR_INVALID_REQUEST', `Kuryr refuses a malformed HTTP request (${err.code ?? err.message})`);
  const { status, body } = encodeError('NetworkDriver', refusal);
  const text = JSON.stringify(body);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: ${PLUGIN_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  }
  socket.destroy(err);
}

/**
 * Listens on `socketPath` with mode 0600 from its first moment: the socket is bound inside a fresh
 * 0700 directory beside its final path, tightened there, and renamed into place (replacing a
 * stale socket atomically). Returns the socket's inode, so that close removes only its own socket.
 */
export async function listenOnSocket(app: FastifyInstance, socketPath: string): Promise<number> {
  // Created like any directory (0755 under the usual umask); an existing one, such as Docker's
  // 0700 /run/docker/plugins, keeps its mode.
  await mkdir(dirname(socketPath), { recursive: true });
  const staging = await mkdtemp(join(dirname(socketPath), '.kuryr-listen-'));
  try {
    const bound = join(staging, 'kuryr.sock');
    await app.listen({ path: bound });
    await chmod(bound, 0o600);
    await rename(bound, socketPath);
    return (await stat(socketPath)).ino;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function listenOnFd(app: FastifyInstance, fd: number): Promise<void> {
  await app.ready();
  await new Promise<void>((resolve, reject) => {
    app.server.once('error', reject);
    app.server.listen({ fd }, () => {
      app.server.off('error', reject);
      resolve();
    });
  });
}

export class PluginServer {
  private readonly apps: FastifyInstance[] = [];
  /** Our socket and its inode: node unlinks the path it bound (the staging one), not the renamed socket. */
  private socket: { path: string; ino: number } | undefined;
  constructor(
    private readonly protocol: PluginProtocol,
    private readonly logger: Logger,
  ) {}

  async listen(opts: ListenOptions): Promise<string[]> {
    const addresses: string[] = [];
    if (opts.socketPath) {
      const app = await buildListener(this.protocol, this.logger);
      this.apps.push(app);
      if (opts.activatedFd === undefined) {
        this.socket = { path: opts.socketPath, ino: await listenOnSocket(app, opts.socketPath) };
      } else {
        // systemd's socket (its mode is SocketMode=): served, and left in place at close.
        await listenOnFd(app, opts.activatedFd);
      }
      addresses.push(`unix://${opts.socketPath}`);
    }
    if (opts.uri) {
      const url = new URL(opts.uri);
      const secure = url.protocol === 'https:';
      const tls = secure && opts.tls
        ? {
            cert: await readFile(opts.tls.certFile),
            key: await readFile(opts.tls.keyFile),
            ...(opts.tls.caFile ? { ca: await readFile(opts.tls.caFile) } : {}),
            allowedClientNames: opts.tls.allowedClientNames ?? [],
          }
        : undefined;
      const app = await buildListener(this.protocol, this.logger, tls);
      const exposure = tcpExposure(opts.uri, secure ? opts.tls : undefined);
      this.logger[exposure.level]({ kuryrUri: stripUrlUserInfo(opts.uri) }, exposure.message);
      await app.listen({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || (secure ? 443 : 80)) });
      this.apps.push(app);
      addresses.push(opts.uri);
    }
    const served = servedNames(opts);
    const ownSpec = served.find((s) => s.ownSpec)?.ownSpec;
    if (ownSpec) await this.writeSpec(opts, ownSpec);
    await this.checkDiscovery(served, opts.discoveryRoots);
    return addresses;
  }

  /**
   * Writes Docker's discovery file for the TCP listener (a unix socket is found without one), unless
   * a file Kuryr did not write is already there: that one is left, and reported by checkDiscovery.
   */
  private async writeSpec(opts: ListenOptions, jsonFile: string): Promise<void> {
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
    const existing = await readDiscoveryFile(jsonFile, opts.pluginName);
    if (existing && !existing.kuryrs) return;
    await mkdir(dirname(jsonFile), { recursive: true });
    await writeFile(jsonFile, specText(spec), { mode: 0o644 });
  }

  /** Warns about spec files Kuryr did not write that Docker would use for a name Kuryr serves. */
  private async checkDiscovery(served: readonly ServedName[], roots: readonly string[] | undefined): Promise<void> {
    for (const s of served) {
      for (const found of await foreignSpecs(s, roots)) this.logger.warn({ specFile: found.file, driver: s.name }, foreignSpecWarning(s, found));
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.apps.map((a) => a.close()));
    this.apps.length = 0;
    if (this.socket) await removeIfSame(this.socket.path, this.socket.ino);
    this.socket = undefined;
  }
}

/** The driver names Docker finds this server by: its socket's, and its TCP listener's spec file's. */
function servedNames(opts: ListenOptions): ServedName[] {
  const socketName = opts.socketPath ? basename(opts.socketPath, '.sock') : undefined;
  const ownSpec = opts.uri && opts.specDir ? join(opts.specDir, `${opts.pluginName}.json`) : undefined;
  const out: ServedName[] = [];
  if (socketName !== undefined) {
    const sameName = socketName === opts.pluginName && ownSpec !== undefined;
    out.push({
      name: socketName,
      addrs: [`unix://${opts.socketPath}`, ...(sameName ? [opts.uri] : [])],
      socket: opts.socketPath,
      ...(sameName ? { ownSpec } : {}),
    });
  }
  if (ownSpec !== undefined && socketName !== opts.pluginName) out.push({ name: opts.pluginName, addrs: [opts.uri], ownSpec });
  return out;
}

/** Removes our socket, not one a later daemon has since put at the same path. */
export async function removeIfSame(path: string, ino: number): Promise<void> {
  const now = await stat(path).catch(() => undefined);
  if (now?.ino === ino) await rm(path, { force: true });
}
