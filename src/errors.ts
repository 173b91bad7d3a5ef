/**
 * Typed errors with stable codes. They are mapped to wire shapes at exactly one boundary
 * (libnetwork/protocol.ts for Docker; later the CNI adapter).
 */
export type KuryrErrorCode =
  | 'KURYR_ERR_INVALID_REQUEST' // the caller sent something malformed (400)
  | 'KURYR_ERR_NOT_FOUND' // a Docker or Neutron object the call needs does not exist (404)
  | 'KURYR_ERR_CONFLICT' // the request contradicts existing state (409)
  | 'KURYR_ERR_FORBIDDEN' // the caller may not drive this daemon (403)
  | 'KURYR_ERR_NEUTRON' // Neutron or Keystone answered with an error or did not answer (502 / its status)
  | 'KURYR_ERR_AUTH' // Keystone refused our credentials
  | 'KURYR_ERR_BINDING' // host plumbing failed or the vif type is not supported (500)
  | 'KURYR_ERR_CONFIG' // a wrong or missing configuration option
  | 'KURYR_ERR_INTERNAL';

const STATUS: Record<KuryrErrorCode, number> = {
  KURYR_ERR_INVALID_REQUEST: 400,
  KURYR_ERR_NOT_FOUND: 404,
  KURYR_ERR_CONFLICT: 409,
  KURYR_ERR_FORBIDDEN: 403,
  KURYR_ERR_NEUTRON: 502,
  KURYR_ERR_AUTH: 502,
  KURYR_ERR_BINDING: 500,
  KURYR_ERR_CONFIG: 500,
  KURYR_ERR_INTERNAL: 500,
};

export class KuryrError extends Error {
  readonly code: KuryrErrorCode;
  /** HTTP status to answer Docker with. */
  readonly status: number;
  constructor(code: KuryrErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KuryrError';
    this.code = code;
    this.status = options?.status ?? STATUS[code];
  }
}

export const invalidRequest = (msg: string) => new KuryrError('KURYR_ERR_INVALID_REQUEST', msg);
export const notFound = (msg: string) => new KuryrError('KURYR_ERR_NOT_FOUND', msg);
export const conflict = (msg: string) => new KuryrError('KURYR_ERR_CONFLICT', msg);

/** Wraps any error with what Kuryr was doing, keeping the code of a KuryrError. */
export function withContext(context: string, err: unknown): KuryrError {
  if (err instanceof KuryrError) {
    return new KuryrError(err.code, `${context}: ${err.message}`, { cause: err, status: err.status });
  }
  const msg = err instanceof Error ? err.message : String(err);
  return new KuryrError('KURYR_ERR_INTERNAL', `${context}: ${msg}`, { cause: err });
}
