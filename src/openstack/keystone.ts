/**
 * Keystone v3 session: authenticates (password, token, application credential), caches the token
 * and catalog, renews the token before it expires, and sends authenticated requests with one
 * re-authentication on 401. Secrets live in private (#) fields and are scrubbed from every message.
 */
import type { Agent } from 'undici';
import { KuryrError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { AuthConfig, TlsClientConfig } from '../config/types.js';
import { createAgent, joinUrl, redactUrl, sendRequest, timeoutMs, type HttpMethod, type HttpResponse } from './http.js';
import { TransportError, scrubSecrets } from './errors.js';

/** keystoneauth's MIN_TOKEN_LIFE_SECONDS: renew when less than this remains. */
export const MIN_TOKEN_LIFE_MS = 120_000;

export type EndpointInterface = 'public' | 'internal' | 'admin';

export interface KeystoneSessionOptions {
  auth: AuthConfig;
  tls: TlsClientConfig;
  /** Per-request timeout in seconds; 0/undefined = 30. */
  timeout?: number;
  /** Default region for catalog lookups. */
  regionName?: string;
  /** Default interface for catalog lookups. */
  endpointType: EndpointInterface;
  /** Used instead of the catalog for the `network` service (keystoneauth's endpoint_override). */
  endpointOverride?: string;
  logger?: Logger;
}

export interface CatalogEndpoint {
  interface: string;
  url: string;
  region_id?: string | null;
  region?: string | null;
  id?: string;
}

export interface CatalogEntry {
  type: string;
  name?: string;
  id?: string;
  endpoints: CatalogEndpoint[];
}

export interface RequestOptions {
  query?: string | URLSearchParams;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Called once per HTTP exchange (including the retry after a 401). */
export interface Attempt {
  status: number;
  durationMs: number;
  requestId?: string;
  error?: TransportError;
}

export interface UrlRequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  observe?: (a: Attempt) => void;
}

interface TokenState {
  id: string;
  /** Epoch ms; Infinity when Keystone gave no expiry. */
  expiresAt: number;
  catalog: CatalogEntry[];
  /** The project the token is scoped to (Kuryr's own project). */
  projectId?: string;
}

/** Service type whose endpoint `endpointOverride` replaces. */
const OVERRIDE_SERVICE = 'network';

/**
 * `.../v3` with or without a trailing slash or `/v3`; a `/v2.0` suffix is replaced. User info
 * (`user:pass@`) is dropped: Keystone does not use it and it must not reach logs.
 */
export function normaliseAuthUrl(authUrl: string): string {
  let u = authUrl.trim();
  try {
    const parsed = new URL(u);
    if (parsed.username || parsed.password) {
      parsed.username = '';
      parsed.password = '';
      u = parsed.toString();
    }
  } catch {
    /* not a URL: the request will fail with a clear error */
  }
  u = u.replace(/\/+$/, '');
  if (u.endsWith('/v2.0')) u = u.slice(0, -'/v2.0'.length);
  if (!u.endsWith('/v3')) u += '/v3';
  return u;
}

function domainRef(id?: string, name?: string): { id: string } | { name: string } | undefined {
  if (id) return { id };
  if (name) return { name };
  return undefined;
}

function configError(msg: string): KuryrError {
  return new KuryrError('KURYR_ERR_CONFIG', `Keystone auth: ${msg}`);
}

/** The body of `POST /v3/auth/tokens` for the configured method and scope. Contains secrets. */
export function buildAuthBody(a: AuthConfig): { auth: Record<string, unknown> } {
  let identity: Record<string, unknown>;
  let scoped = true;
  switch (a.authType) {
    case 'password':
    case 'v3password': {
      if (!a.password) throw configError('password auth needs a password');
      let user: Record<string, unknown>;
      if (a.userId) {
        user = { id: a.userId };
      } else if (a.username) {
        const domain = domainRef(a.userDomainId, a.userDomainName);
        if (!domain) throw configError('username needs user_domain_name or user_domain_id');
        user = { name: a.username, domain };
      } else {
        throw configError('password auth needs username or user_id');
      }
      identity = { methods: ['password'], password: { user: { ...user, password: a.password } } };
      break;
    }
    case 'token':
    case 'v3token':
      if (!a.token) throw configError('token auth needs a token');
      identity = { methods: ['token'], token: { id: a.token } };
      break;
    case 'applicationcredential':
    case 'v3applicationcredential': {
      if (!a.applicationCredentialSecret) throw configError('application credential auth needs application_credential_secret');
      let cred: Record<string, unknown>;
      if (a.applicationCredentialId) {
        cred = { id: a.applicationCredentialId };
      } else if (a.applicationCredentialName) {
        let user: Record<string, unknown>;
        if (a.userId) user = { id: a.userId };
        else if (a.username) {
          const domain = domainRef(a.userDomainId, a.userDomainName);
          if (!domain) throw configError('username needs user_domain_name or user_domain_id');
          user = { name: a.username, domain };
        } else throw configError('application_credential_name needs username or user_id');
        cred = { name: a.applicationCredentialName, user };
      } else {
        throw configError('application credential auth needs application_credential_id or application_credential_name');
      }
      identity = { methods: ['application_credential'], application_credential: { ...cred, secret: a.applicationCredentialSecret } };
      scoped = false; // an application credential carries its own scope
      break;
    }
    default:
      throw configError(`unsupported auth_type ${String((a as { authType: unknown }).authType)}`);
  }
  const auth: Record<string, unknown> = { identity };
  const scope = scoped ? buildScope(a) : undefined;
  if (scope) auth.scope = scope;
  return { auth };
}

function buildScope(a: AuthConfig): Record<string, unknown> | undefined {
  if (a.projectId) return { project: { id: a.projectId } };
  if (a.projectName) {
    const domain = domainRef(a.projectDomainId, a.projectDomainName);
    if (!domain) throw configError('project_name needs project_domain_name or project_domain_id');
    return { project: { name: a.projectName, domain } };
  }
  const domain = domainRef(a.domainId, a.domainName);
  if (domain) return { domain };
  if (a.systemScope) return { system: { [a.systemScope]: true } };
  return undefined; // unscoped
}

function describeScope(a: AuthConfig): string {
  if (a.authType.includes('applicationcredential')) return 'application credential';
  if (a.projectId || a.projectName) return 'project';
  if (a.domainId || a.domainName) return 'domain';
  if (a.systemScope) return 'system';
  return 'unscoped';
}

function authMethod(a: AuthConfig): string {
  if (a.authType.includes('token')) return 'token';
  if (a.authType.includes('applicationcredential')) return 'application_credential';
  return 'password';
}

/** Keystone's `{"error": {"code", "title", "message"}}`, or a short form of the body. */
function keystoneErrorText(res: HttpResponse): string {
  const err = (res.body as { error?: { title?: string; message?: string } } | undefined)?.error;
  if (err && (err.message || err.title)) return [err.title, err.message].filter(Boolean).join(': ');
  return res.text.trim().slice(0, 300);
}

function parseExpiry(s: unknown): number {
  if (typeof s !== 'string') return Number.POSITIVE_INFINITY;
  const t = Date.parse(s);
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
}

export class KeystoneSession {
  readonly authUrl: string;
  readonly regionName: string | undefined;
  readonly endpointType: EndpointInterface;
  readonly endpointOverride: string | undefined;
  readonly timeoutMs: number;
  /** Number of POST /auth/tokens sent (for tests and metrics). */
  authCount = 0;

  readonly #auth: AuthConfig;
  readonly #agent: Agent;
  readonly #log: Logger;
  #token: TokenState | undefined;
  #inflight: Promise<TokenState> | undefined;
  /** Tokens issued to this session (the last few), scrubbed from messages too. */
  #issued: string[] = [];

  constructor(opts: KeystoneSessionOptions) {
    this.#auth = { ...opts.auth };
    buildAuthBody(this.#auth); // validate the auth options once, now
    this.authUrl = normaliseAuthUrl(opts.auth.authUrl);
    this.regionName = opts.regionName || undefined;
    this.endpointType = opts.endpointType;
    this.endpointOverride = opts.endpointOverride || undefined;
    this.timeoutMs = timeoutMs(opts.timeout);
    this.#log = (opts.logger ?? silentLogger).child({ component: 'keystone' });
    this.#agent = createAgent(opts.tls, this.timeoutMs);
  }

  /** Replaces our password, secrets and tokens in `text` by `***`. */
  scrub(text: string): string {
    return scrubSecrets(text, [this.#auth.password, this.#auth.token, this.#auth.applicationCredentialSecret, ...this.#issued]);
  }

  /** A valid token: cached, renewed when less than 120 s remain; concurrent callers share one request. */
  async getToken(): Promise<string> {
    return (await this.#state()).id;
  }

  /** The project Kuryr's token is scoped to (authenticates if needed); undefined for an unscoped token. */
  async projectId(): Promise<string | undefined> {
    return (await this.#state()).projectId;
  }

  /** Drops the cached token (only if it is still `ifToken`, when given). */
  invalidate(ifToken?: string): void {
    if (ifToken === undefined || this.#token?.id === ifToken) this.#token = undefined;
  }

  /** The catalog of the current token (authenticates if needed). */
  async catalog(): Promise<CatalogEntry[]> {
    return (await this.#state()).catalog;
  }

  /**
   * The endpoint URL for a service from the catalog: `interface` must match, and `region_id` (or
   * `region`) when a region is given. Defaults: the session's endpointType and regionName.
   */
  async endpointFor(serviceType: string, iface?: string, region?: string): Promise<string> {
    if (serviceType === OVERRIDE_SERVICE && this.endpointOverride) return this.endpointOverride;
    const want = (iface ?? this.endpointType).replace(/URL$/, '');
    const reg = region ?? this.regionName;
    const catalog = await this.catalog();
    const services = catalog.filter((s) => s.type === serviceType);
    for (const s of services) {
      for (const e of s.endpoints ?? []) {
        if (e.interface !== want) continue;
        if (reg && e.region_id !== reg && e.region !== reg) continue;
        return e.url;
      }
    }
    const where = `interface "${want}"${reg ? ` in region "${reg}"` : ''}`;
    let hint: string;
    if (catalog.length === 0) hint = 'the catalog is empty (is the token scoped to a project?)';
    else if (services.length === 0) hint = `no service of that type; types: ${[...new Set(catalog.map((s) => s.type))].join(', ')}`;
    else {
      const avail = services.flatMap((s) => (s.endpoints ?? []).map((e) => `${e.interface}/${e.region_id ?? e.region ?? '-'}`));
      hint = `available: ${avail.join(', ') || 'none'}`;
    }
    throw new KuryrError('KURYR_ERR_CONFIG', `no "${serviceType}" endpoint with ${where} in the Keystone catalog (${hint})`);
  }

  /** An authenticated request to `path` under the catalog endpoint of `serviceType`. */
  async request(serviceType: string, method: HttpMethod, path: string, opts: RequestOptions = {}): Promise<HttpResponse> {
    const base = await this.endpointFor(serviceType);
    const q = opts.query === undefined ? '' : String(opts.query);
    const url = joinUrl(base, path) + (q ? `?${q}` : '');
    return this.requestUrl(method, url, opts);
  }

  /**
   * An authenticated request to an absolute URL. On 401 the token is dropped and the request is
   * sent once more with a fresh one; a second 401 is returned to the caller. Throws TransportError
   * (scrubbed) when there is no answer, KuryrError when Keystone fails.
   */
  async requestUrl(method: HttpMethod, url: string, opts: UrlRequestOptions = {}): Promise<HttpResponse> {
    let token = await this.getToken();
    let res = await this.#send(method, url, token, opts);
    if (res.status === 401) {
      this.#log.debug({ method, url: redactUrl(url) }, 'keystone: 401 from service, re-authenticating once');
      this.invalidate(token);
      token = await this.getToken();
      res = await this.#send(method, url, token, opts);
    }
    return res;
  }

  async #send(method: HttpMethod, url: string, token: string, opts: UrlRequestOptions): Promise<HttpResponse> {
    const started = performance.now();
    try {
      const res = await sendRequest(this.#agent, {
        method,
        url,
        body: opts.body,
        headers: { ...opts.headers, 'x-auth-token': token },
        timeoutMs: this.timeoutMs,
      });
      opts.observe?.({ status: res.status, durationMs: performance.now() - started, requestId: requestIdOf(res) });
      return res;
    } catch (err) {
      const te = err instanceof TransportError ? this.#scrubTransport(err) : err;
      if (te instanceof TransportError) opts.observe?.({ status: 0, durationMs: performance.now() - started, error: te });
      throw te;
    }
  }

  #scrubTransport(err: TransportError): TransportError {
    const msg = err.message.slice(`${err.method} ${err.url}: `.length);
    return new TransportError(err.method, err.url, err.reason, this.scrub(msg), err.timedOut);
  }

  async #state(): Promise<TokenState> {
    const t = this.#token;
    if (t && t.expiresAt - Date.now() > MIN_TOKEN_LIFE_MS) return t;
    if (!this.#inflight) {
      this.#inflight = this.#authenticate().finally(() => {
        this.#inflight = undefined;
      });
    }
    return this.#inflight;
  }

  async #authenticate(): Promise<TokenState> {
    const url = `${this.authUrl}/auth/tokens`;
    const method = authMethod(this.#auth);
    const scope = describeScope(this.#auth);
    this.#log.debug({ authUrl: this.authUrl, method, scope }, 'keystone: authenticating');
    this.authCount++;
    let res: HttpResponse;
    const started = performance.now();
    try {
      res = await sendRequest(this.#agent, { method: 'POST', url, body: buildAuthBody(this.#auth), timeoutMs: this.timeoutMs });
    } catch (err) {
      const detail = err instanceof TransportError ? this.scrub(err.message) : 'unexpected error';
      this.#log.warn({ authUrl: redactUrl(this.authUrl) }, `keystone: unreachable: ${detail}`);
      throw new KuryrError('KURYR_ERR_NEUTRON', `Keystone unreachable: ${detail}`);
    }
    const rid = requestIdOf(res);
    const ridText = rid ? ` (request ${rid})` : '';
    if (res.status !== 201 && res.status !== 200) {
      const text = this.scrub(keystoneErrorText(res));
      const where = `POST ${redactUrl(url)}`;
      this.#log.warn({ status: res.status, requestId: rid, method, scope }, `keystone: authentication failed: ${text}`);
      if (res.status >= 400 && res.status < 500) {
        const msg =
          res.status === 401
            ? `Keystone refused the ${method} credentials (${where}: 401 ${text})${ridText}`
            : `Keystone rejected the authentication request (${where}: ${res.status} ${text})${ridText}`;
        throw new KuryrError('KURYR_ERR_AUTH', msg);
      }
      throw new KuryrError('KURYR_ERR_NEUTRON', `Keystone error (${where}: ${res.status} ${text})${ridText}`);
    }
    const id = res.headers['x-subject-token'];
    if (!id) {
      throw new KuryrError('KURYR_ERR_NEUTRON', `Keystone answered ${res.status} without X-Subject-Token (POST ${redactUrl(url)})${ridText}`);
    }
    this.#issued = [id, ...this.#issued.slice(0, 3)];
    const tok = (res.body as { token?: { expires_at?: unknown; catalog?: unknown; project?: { id?: unknown } } } | undefined)?.token;
    const state: TokenState = {
      id,
      expiresAt: parseExpiry(tok?.expires_at),
      catalog: Array.isArray(tok?.catalog) ? (tok.catalog as CatalogEntry[]) : [],
      ...(typeof tok?.project?.id === 'string' ? { projectId: tok.project.id } : {}),
    };
    this.#token = state;
    this.#log.debug(
      {
        expiresAt: Number.isFinite(state.expiresAt) ? new Date(state.expiresAt).toISOString() : null,
        services: state.catalog.length,
        durationMs: Math.round(performance.now() - started),
        requestId: rid,
      },
      'keystone: token issued',
    );
    return state;
  }

  /** Closes the pooled connections. */
  async close(): Promise<void> {
    await this.#agent.close();
  }
}

export function requestIdOf(res: HttpResponse): string | undefined {
  return res.headers['x-openstack-request-id'] ?? res.headers['x-compute-request-id'];
}
