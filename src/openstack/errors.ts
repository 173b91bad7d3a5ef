/**
 * Errors raised by the OpenStack clients. Both carry stable KuryrError codes; Neutron's own status
 * stays on the error (`httpStatus`) for callers that react to it.
 */
import { KuryrError, type KuryrErrorCode } from '../errors.js';

/** No HTTP answer: connection refused/reset, DNS failure, TLS failure or timeout. */
export class TransportError extends KuryrError {
  readonly method: string;
  /** URL without user info or query. */
  readonly url: string;
  readonly timedOut: boolean;
  /** Node/undici error code (ECONNREFUSED, UND_ERR_SOCKET, ...) or 'TIMEOUT'. */
  readonly reason: string;
  constructor(method: string, url: string, reason: string, detail: string, timedOut: boolean) {
    super('KURYR_ERR_NEUTRON', `${method} ${url}: ${detail}`);
    this.name = 'TransportError';
    this.method = method;
    this.url = url;
    this.reason = reason;
    this.timedOut = timedOut;
  }
}

export interface NeutronErrorInfo {
  method: string;
  /** Path relative to the Neutron endpoint, without query (e.g. `/v2.0/ports/ID`). */
  path: string;
  /** HTTP status Neutron answered with; undefined when it did not answer. */
  httpStatus?: number;
  /** `NeutronError.type`, e.g. `IpAddressAlreadyAllocated`. */
  type?: string;
  /** `NeutronError.message`, or a short form of a non-Neutron error body. */
  neutronMessage?: string;
  /** `X-Openstack-Request-Id`. */
  requestId?: string;
  /** For transport errors: what went wrong (timeout, connection refused...). */
  transport?: string;
  timedOut?: boolean;
}

/**
 * Neutron's status -> Kuryr's code. 412 is a revision Kuryr expected having changed meanwhile, a
 * conflict to Docker (it sent no precondition); 401/403 are Kuryr's credentials or role refused.
 */
function neutronErrorCode(httpStatus: number | undefined): KuryrErrorCode {
  if (httpStatus === 404) return 'KURYR_ERR_NOT_FOUND';
  if (httpStatus === 409 || httpStatus === 412) return 'KURYR_ERR_CONFLICT';
  if (httpStatus === 400) return 'KURYR_ERR_INVALID_REQUEST';
  if (httpStatus === 401 || httpStatus === 403) return 'KURYR_ERR_AUTH';
  return 'KURYR_ERR_NEUTRON';
}

/**
 * A Neutron call that failed: non-2xx answer, or no answer at all.
 * Message: `Neutron POST /v2.0/ports: 409 IpAddressAlreadyAllocated: IP address ... (request req-abc)`.
 */
export class NeutronError extends KuryrError {
  readonly httpStatus: number | undefined;
  readonly type: string | undefined;
  readonly neutronMessage: string | undefined;
  readonly requestId: string | undefined;
  readonly method: string;
  readonly path: string;
  readonly timedOut: boolean;
  constructor(info: NeutronErrorInfo, options?: { cause?: unknown }) {
    super(neutronErrorCode(info.httpStatus), formatNeutronMessage(info), { cause: options?.cause });
    this.name = 'NeutronError';
    this.httpStatus = info.httpStatus;
    this.type = info.type;
    this.neutronMessage = info.neutronMessage;
    this.requestId = info.requestId;
    this.method = info.method;
    this.path = info.path;
    this.timedOut = info.timedOut ?? false;
  }
}

function formatNeutronMessage(i: NeutronErrorInfo): string {
  let what: string;
  if (i.httpStatus === undefined) {
    what = i.transport ?? 'no answer';
  } else {
    what = String(i.httpStatus);
    if (i.type) what += ` ${i.type}`;
    if (i.neutronMessage) what += `${i.type ? ':' : ''} ${i.neutronMessage}`;
  }
  const rid = i.requestId ? ` (request ${i.requestId})` : '';
  return `Neutron ${i.method} ${i.path}: ${what}${rid}`;
}

/**
 * Replaces every occurrence of a secret by `***`. Secrets shorter than 4 characters are only
 * replaced as whole words, so a one-letter password does not mangle the whole message.
 */
export function scrubSecrets(text: string, secrets: Iterable<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (!s) continue;
    if (s.length >= 4) {
      out = out.split(s).join('***');
    } else {
      const esc = s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      out = out.replace(new RegExp(`(?<![\\w])${esc}(?![\\w])`, 'g'), '***');
    }
  }
  return out;
}

/** True when `err` is Neutron answering with this status (and error type, when given). */
export function isNeutronError(err: unknown, status: number, type?: string): err is NeutronError {
  return err instanceof NeutronError && err.httpStatus === status && (type === undefined || err.type === type);
}

/** True when Neutron never answered (timeout, connection lost): the request may have been applied. */
export function isUnanswered(err: unknown): err is NeutronError {
  return err instanceof NeutronError && err.httpStatus === undefined;
}
