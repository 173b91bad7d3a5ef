/**
 * The one place that talks HTTP for the OpenStack clients: a keep-alive undici Agent built from the
 * TLS options, a single-exchange `sendRequest` with an overall deadline, and URL/query helpers.
 * No retry and no auth here (see keystone.ts and neutron.ts).
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { KuryrError } from '../errors.js';
import type { TlsClientConfig } from '../config/types.js';
import type { Filters } from './neutron-types.js';
import { TransportError } from './errors.js';

export const DEFAULT_TIMEOUT_S = 30;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

export interface HttpResponse {
  status: number;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Parsed JSON body, or undefined when empty or not JSON. */
  body: unknown;
  /** Raw body text (for error messages when the body is not JSON). */
  text: string;
}

export interface SendOptions {
  method: HttpMethod;
  url: string;
  headers?: Record<string, string>;
  /** Serialised as JSON. */
  body?: unknown;
  timeoutMs: number;
}

/** Seconds from config (0/undefined = default) to milliseconds. */
export function timeoutMs(seconds: number | undefined): number {
  return (seconds && seconds > 0 ? seconds : DEFAULT_TIMEOUT_S) * 1000;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new KuryrError('KURYR_ERR_CONFIG', `cannot read ${what} ${path}: ${code}`);
  }
}

/** One Agent per session: keep-alive pooled connections, TLS options from config. */
export function createAgent(tls: TlsClientConfig, connectTimeoutMs: number): Agent {
  const connect: Record<string, unknown> = { timeout: connectTimeoutMs, rejectUnauthorized: !tls.insecure };
  if (tls.cafile) connect.ca = readPem(tls.cafile, 'CA file');
  if (tls.certfile) connect.cert = readPem(tls.certfile, 'client certificate');
  if (tls.keyfile) connect.key = readPem(tls.keyfile, 'client key');
  return new Agent({ keepAliveTimeout: 4_000, keepAliveMaxTimeout: 60_000, connect });
}

/** The URL without user info, query or fragment: safe for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '<invalid URL>';
  }
}

export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + (path.startsWith('/') ? path : `/${path}`);
}

/** List filters whose value Neutron expects comma-joined rather than as repeated keys. */
const COMMA_KEYS = new Set(['tags', 'tags-any', 'not-tags', 'not-tags-any']);

/** Filters -> query string (without `?`): arrays become repeated keys, tag filters comma-joined. */
export function encodeQuery(filters: Filters | undefined): string {
  if (!filters) return '';
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      if (COMMA_KEYS.has(key)) {
        if (value.length > 0) q.append(key, value.join(','));
      } else {
        for (const v of value) q.append(key, v);
      }
    } else {
      q.append(key, String(value));
    }
  }
  return q.toString();
}

function flattenHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function parseBody(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * One HTTP exchange with an overall deadline (connect + headers + body). Resolves for every HTTP
 * status; throws TransportError when there is no complete answer. The error never includes request
 * headers or bodies.
 */
export async function sendRequest(agent: Agent, opts: SendOptions): Promise<HttpResponse> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  let payload: string | undefined;
  if (opts.body !== undefined) {
    payload = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  try {
    const res = await request(opts.url, {
      dispatcher: agent,
      method: opts.method,
      headers,
      body: payload,
      signal: AbortSignal.timeout(opts.timeoutMs),
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: flattenHeaders(res.headers), body: parseBody(text), text };
  } catch (err) {
    throw toTransportError(err, opts);
  }
}

function toTransportError(err: unknown, opts: SendOptions): TransportError {
  const url = redactUrl(opts.url);
  const e = err as { name?: string; code?: string | number; message?: string; cause?: { code?: string } };
  const code = typeof e?.code === 'string' ? e.code : (e?.cause?.code ?? '');
  const timedOut =
    e?.name === 'TimeoutError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'ETIMEDOUT';
  if (timedOut) {
    const s = opts.timeoutMs / 1000;
    return new TransportError(opts.method, url, 'TIMEOUT', `no answer within ${s} s (timeout)`, true);
  }
  // Keep only the code and a short detail: undici/Node messages name host and port, never headers.
  const detail = code ? `connection failed (${code})` : `connection failed (${e?.message ?? String(err)})`;
  return new TransportError(opts.method, url, code || 'ERROR', detail, false);
}
