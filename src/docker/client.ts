/**
 * A small typed client of the Docker Engine API: what Kuryr reads from dockerd (networks and their
 * endpoints, containers) to name ports and to find its own leftovers. Over a unix socket or TCP,
 * TLS when certificate files are configured, with a deadline on every request.
 *
 * Never call it from inside a plugin call on the attach path: dockerd holds its own locks while it
 * calls the plugin, and a request back into dockerd can wait on them.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { DockerApiConfig } from '../config/types.js';
import { KuryrError, type KuryrErrorCode } from '../errors.js';

/** The newest API version whose answers the types below describe (Docker 20.10). */
export const MAX_API_VERSION = '1.41';
/** Docker's own floor for old clients (Docker 25+ refuses less than 1.24). */
const MIN_API_VERSION = '1.24';
const DEFAULT_TIMEOUT_MS = 10_000;

export interface DockerVersion {
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
}

/** One endpoint of a network, keyed by container ID (`ep-<endpoint>` for endpoints without one). */
export interface DockerNetworkEndpoint {
  /** Container name, without Docker's leading '/'. */
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

export interface DockerIpamConfig {
  Subnet?: string;
  IPRange?: string;
  Gateway?: string;
  /** `--aux-address name=ip`: addresses IPAM reserves with no endpoint. */
  AuxiliaryAddresses?: Record<string, string>;
}

export interface DockerNetwork {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  IPAM: { Driver: string; Options?: Record<string, string> | null; Config: DockerIpamConfig[] | null };
  Options?: Record<string, string> | null;
  /** Filled by inspect only (a network list leaves it empty). */
  Containers?: Record<string, DockerNetworkEndpoint> | null;
}

export interface DockerEndpointSettings {
  NetworkID: string;
  EndpointID: string;
  IPAddress: string;
  MacAddress: string;
}

export interface DockerContainerSummary {
  Id: string;
  /** With Docker's leading '/'. */
  Names: string[];
  State: string;
  NetworkSettings?: { Networks: Record<string, DockerEndpointSettings> | null };
}

export interface DockerContainer {
  Id: string;
  /** With Docker's leading '/'. */
  Name: string;
  Config: { Hostname: string; Domainname: string };
  State: { Status: string; Running: boolean; Pid: number };
  NetworkSettings: { Networks: Record<string, DockerEndpointSettings> | null };
}

/** An installed managed (v2) plugin, as `GET /plugins` lists it (only what Kuryr reads). */
export interface DockerPlugin {
  /** 64 hex digits; also the name of the cgroup its processes run in. */
  Id: string;
  /** With its tag (`kuryr/libnetwork2:latest`): the driver name of the networks it serves. */
  Name: string;
  Enabled: boolean;
  /** `Types`: e.g. `docker.networkdriver/1.0`; `Socket`: its file name in the plugin's /run/docker/plugins. */
  Config: { Interface: { Types: string[]; Socket: string } };
}

/** What Kuryr reads from Docker; the client below implements it, tests fake it. */
export interface DockerApi {
  version(): Promise<DockerVersion>;
  /** `driver`: only networks of these drivers. */
  listNetworks(filters?: { driver?: string[] }): Promise<DockerNetwork[]>;
  inspectNetwork(id: string): Promise<DockerNetwork>;
  /** `all`: stopped containers too; `filters` as Docker names them (`network`, `name`, `id`...). */
  listContainers(opts?: { all?: boolean; filters?: Record<string, string[]> }): Promise<DockerContainerSummary[]>;
  inspectContainer(id: string): Promise<DockerContainer>;
  /** Managed plugins, enabled or not (API 1.25+). */
  listPlugins(): Promise<DockerPlugin[]>;
}

/** Docker answered with an error status, or did not answer in time. */
export class DockerApiError extends KuryrError {
  /** Undefined when dockerd did not answer. */
  readonly httpStatus: number | undefined;
  readonly timedOut: boolean;
  constructor(message: string, httpStatus: number | undefined, opts: { timedOut?: boolean; cause?: unknown } = {}) {
    super(codeFor(httpStatus), message, { cause: opts.cause });
    this.name = 'DockerApiError';
    this.httpStatus = httpStatus;
    this.timedOut = opts.timedOut ?? false;
  }
}

function codeFor(status: number | undefined): KuryrErrorCode {
  if (status === 404) return 'KURYR_ERR_NOT_FOUND';
  if (status === 409) return 'KURYR_ERR_CONFLICT';
  if (status === 400) return 'KURYR_ERR_INVALID_REQUEST';
  return 'KURYR_ERR_INTERNAL';
}

/** Lower of two `major.minor` versions. */
export function lowerApiVersion(a: string, b: string): string {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am < bm || (am === bm && an <= bn) ? a : b;
}

interface Endpoint {
  describe: string;
  base: Pick<RequestOptions, 'socketPath' | 'host' | 'port'>;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
}

/** Resolves `docker_host` and the TLS files once; a missing file is a configuration error now, not per request. */
function endpointOf(config: DockerApiConfig): Endpoint {
  if (config.host.startsWith('unix://')) {
    const socketPath = config.host.slice('unix://'.length);
    return { describe: config.host, base: { socketPath } };
  }
  const url = new URL(config.host.replace(/^tcp:/, 'http:'));
  const base = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) };
  // Like the docker CLI: TLS as soon as certificates are given; tls_verify decides if the server's is checked.
  if (!config.tlsCaFile && !config.tlsCertFile && !config.tlsKeyFile) return { describe: config.host, base };
  const read = (option: string, path: string | undefined) => {
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new KuryrError('KURYR_ERR_CONFIG', `[docker] ${option} = ${path} cannot be read: ${(err as Error).message}`, { cause: err });
    }
  };
  return {
    describe: `${config.host} (TLS)`,
    base,
    tls: {
      ca: read('tls_ca_file', config.tlsCaFile),
      cert: read('tls_cert_file', config.tlsCertFile),
      key: read('tls_key_file', config.tlsKeyFile),
      rejectUnauthorized: config.tlsVerify,
    },
  };
}

export interface DockerClientOptions {
  /** Per request, milliseconds (default 10 s). */
  timeoutMs?: number;
  /** Skip negotiation and use this API version (e.g. '1.41'). */
  apiVersion?: string;
}

export class DockerClient implements DockerApi {
  private readonly endpoint: Endpoint;
  private readonly timeoutMs: number;
  private apiVersion: Promise<string> | undefined;

  constructor(config: DockerApiConfig, opts: DockerClientOptions = {}) {
    this.endpoint = endpointOf(config);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (opts.apiVersion) this.apiVersion = Promise.resolve(opts.apiVersion);
  }

  version(): Promise<DockerVersion> {
    return this.call<DockerVersion>('GET', '/version');
  }

  async listNetworks(filters: { driver?: string[] } = {}): Promise<DockerNetwork[]> {
    return this.call<DockerNetwork[]>('GET', await this.versioned('/networks', { filters: filterParam(filters) }));
  }

  async inspectNetwork(id: string): Promise<DockerNetwork> {
    return this.call<DockerNetwork>('GET', await this.versioned(`/networks/${encodeURIComponent(id)}`, {}));
  }

  async listContainers(opts: { all?: boolean; filters?: Record<string, string[]> } = {}): Promise<DockerContainerSummary[]> {
    const query = { all: opts.all ? '1' : undefined, filters: filterParam(opts.filters ?? {}) };
    return this.call<DockerContainerSummary[]>('GET', await this.versioned('/containers/json', query));
  }

  async inspectContainer(id: string): Promise<DockerContainer> {
    return this.call<DockerContainer>('GET', await this.versioned(`/containers/${encodeURIComponent(id)}/json`, {}));
  }

  async listPlugins(): Promise<DockerPlugin[]> {
    return this.call<DockerPlugin[]>('GET', await this.versioned('/plugins', {}));
  }

  /** `/v<api>/path?query`, negotiating the version with dockerd on first use. */
  private async versioned(path: string, query: Record<string, string | undefined>): Promise<string> {
    this.apiVersion ??= this.negotiate();
    let version: string;
    try {
      version = await this.apiVersion;
    } catch (err) {
      this.apiVersion = undefined; // dockerd may be back next time
      throw err;
    }
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
    const qs = params.toString();
    return `/v${version}${path}${qs ? `?${qs}` : ''}`;
  }

  private async negotiate(): Promise<string> {
    const { ApiVersion } = await this.version();
    if (!/^\d+\.\d+$/.test(ApiVersion ?? '')) throw new DockerApiError(`dockerd at ${this.endpoint.describe} reports no usable API version (${String(ApiVersion)})`, 200);
    if (lowerApiVersion(ApiVersion, MIN_API_VERSION) !== MIN_API_VERSION) {
      throw new DockerApiError(`dockerd at ${this.endpoint.describe} speaks API ${ApiVersion}; Kuryr needs at least ${MIN_API_VERSION}`, 200);
    }
    return lowerApiVersion(ApiVersion, MAX_API_VERSION);
  }

  private call<T>(method: string, path: string): Promise<T> {
    const what = `Docker ${method} ${path.split('?')[0]}`;
    const { base, tls } = this.endpoint;
    const send = tls ? httpsRequest : httpRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send({ ...base, ...(tls ?? {}), method, path, headers: { accept: 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new DockerApiError(`${what}: ${err.message}`, undefined, { cause: err })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            reject(new DockerApiError(`${what}: ${status} ${dockerMessage(text)}`, status));
            return;
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch (err) {
            reject(new DockerApiError(`${what}: answer is not JSON: ${text.slice(0, 120)}`, status, { cause: err }));
          }
        });
      });
      req.setTimeout(this.timeoutMs, () => {
        req.destroy(new DockerApiError(`${what}: no answer from ${this.endpoint.describe} within ${this.timeoutMs} ms`, undefined, { timedOut: true }));
      });
      req.on('error', (err) => {
        reject(err instanceof DockerApiError ? err : new DockerApiError(`${what}: cannot reach dockerd at ${this.endpoint.describe}: ${err.message}`, undefined, { cause: err }));
      });
      req.end();
    });
  }
}

/** Docker's `filters` query parameter: a JSON map of lists; empty lists are left out. */
function filterParam(filters: Record<string, string[] | undefined>): string | undefined {
  const kept = Object.entries(filters).filter((e): e is [string, string[]] => !!e[1] && e[1].length > 0);
  return kept.length > 0 ? JSON.stringify(Object.fromEntries(kept)) : undefined;
}

function dockerMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    /* not JSON: use the text */
  }
  return body.trim().slice(0, 200) || '(empty answer)';
}
