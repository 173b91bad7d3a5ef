/**
 * Typed errors with stable codes. They are mapped to wire shapes at exactly one boundary
 * (libnetwork/protocol.ts `encodeError` for Docker): a throw site names what went wrong, never an
 * HTTP status.
 */

interface ErrorCodeInfo {
  /** The HTTP status Docker is answered with. */
  status: number;
  meaning: string;
  /** What an operator does about it. */
  action: string;
}

/**
 * Every code Kuryr answers Docker with. The single source of the README's "Error codes" table
 * (a unit test keeps the two equal) and of the status each code is answered with.
 */
export const ERROR_CODES = {
  KURYR_ERR_INVALID_REQUEST: {
    status: 400,
    meaning: "Docker's request or a user's option (`-o`, `--ip`, `-p`) is malformed or unsupported, or Neutron answered 400 to it",
    action: 'Fix the docker command or the option the message names; a malformed request from Docker itself is a Kuryr bug to report',
  },
  KURYR_ERR_FORBIDDEN: {
    status: 403,
    meaning: 'The configuration does not allow this: a TLS client whose certificate is not in `ssl_allowed_client_names`, or `neutron.net.shared=true` without `allow_shared_networks`',
    action: 'Add the client\'s subject CN to `[DEFAULT] ssl_allowed_client_names`, or set `[neutron] allow_shared_networks = True` if shared networks are wanted',
  },
  KURYR_ERR_NOT_FOUND: {
    status: 404,
    meaning: 'A Docker or Neutron object the call names does not exist, or the plugin call is not one Kuryr implements',
    action: 'Check the object the message names (`openstack network show`, `port show`, `subnet pool show`, `floating ip show`); recreate it or remove the Docker network that refers to it',
  },
  KURYR_ERR_METHOD_NOT_ALLOWED: {
    status: 405,
    meaning: 'An HTTP method other than POST on the plugin socket or `kuryr_uri`',
    action: 'Nothing for Docker; a script or probe talking to Kuryr must POST',
  },
  KURYR_ERR_REQUEST_TIMEOUT: {
    status: 408,
    meaning: 'A client did not send its whole request in time (headers within 10 s, the request within 30 s)',
    action: 'Nothing if it was a probe; if it was Docker, look at the host\'s load',
  },
  KURYR_ERR_CONFLICT: {
    status: 409,
    meaning: 'The request contradicts existing state: an address or MAC already in use, a port that belongs to someone else, a quota reached, or a Neutron object changed by someone else meanwhile (Neutron 409 or 412)',
    action: 'Choose another address, or free or remove the object the message names; retry a call that lost a concurrent change',
  },
  KURYR_ERR_TOO_LARGE: {
    status: 413,
    meaning: 'The request body is larger than 1 MiB',
    action: 'Nothing for Docker (its requests are small); look for the client that is not Docker',
  },
  KURYR_ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    meaning: 'The request has an empty or malformed `Content-Type` header',
    action: 'Nothing for Docker; a script talking to Kuryr sends `Content-Type: application/json`',
  },
  KURYR_ERR_INTERNAL: {
    status: 500,
    meaning: 'An unexpected error in Kuryr (an uncaught exception is answered as `internal error: ...`)',
    action: 'Report a bug with the daemon\'s log line for the call (`docker call failed unexpectedly`, with its stack)',
  },
  KURYR_ERR_BINDING: {
    status: 500,
    meaning: 'Host plumbing failed (veth, namespace, bridge, Open vSwitch), or Neutron bound the port with a vif type Kuryr cannot plug or did not bind it',
    action: 'Check the Neutron agent on this host (`openstack network agent list --host HOST`), the `[binding]` options, and the `ip` or `ovs-vsctl` error in the message',
  },
  KURYR_ERR_CONFIG: {
    status: 500,
    meaning: 'A kuryr.conf option is wrong or missing for what the call needs (for example `-p` without `[port_forwarding] floating_ip`)',
    action: 'Set the option the message names and restart kuryr-server',
  },
  KURYR_ERR_NEUTRON: {
    status: 502,
    meaning: 'Neutron or Keystone failed: a 5xx or an unexpected 4xx answer, no answer, or a timeout',
    action: "Check Neutron's and Keystone's health and logs (the message carries Neutron's request id) and `[neutron] timeout`",
  },
  KURYR_ERR_AUTH: {
    status: 502,
    meaning: "Keystone refused Kuryr's credentials, or Neutron refused them (401, or 403 when Kuryr's role lacks a permission)",
    action: "Fix the `[neutron]` auth options, or give Kuryr's user the role the refused call needs",
  },
  KURYR_ERR_OVERLOADED: {
    status: 503,
    meaning: 'Too many Neutron requests already wait for a slot (`[neutron] max_concurrent_requests`); this one was not sent',
    action: 'Retry; raise `[neutron] max_concurrent_requests` if Neutron can take more, or run fewer Docker operations at once',
  },
  KURYR_ERR_TIMEOUT: {
    status: 504,
    meaning: 'A call did not finish within `[DEFAULT] call_timeout`; the message names what it was waiting on, and the work goes on in the background',
    action: 'Look at what the message names (Neutron, host binding); raise `call_timeout` if Neutron is merely slow',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type KuryrErrorCode = keyof typeof ERROR_CODES;

export class KuryrError extends Error {
  readonly code: KuryrErrorCode;
  constructor(code: KuryrErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KuryrError';
    this.code = code;
  }
}

export const invalidRequest = (msg: string) => new KuryrError('KURYR_ERR_INVALID_REQUEST', msg);
export const notFound = (msg: string) => new KuryrError('KURYR_ERR_NOT_FOUND', msg);
export const conflict = (msg: string) => new KuryrError('KURYR_ERR_CONFLICT', msg);

/** Wraps any error with what Kuryr was doing, keeping the code of a KuryrError. */
export function withContext(context: string, err: unknown): KuryrError {
  if (err instanceof KuryrError) return new KuryrError(err.code, `${context}: ${err.message}`, { cause: err });
  const msg = err instanceof Error ? err.message : String(err);
  return new KuryrError('KURYR_ERR_INTERNAL', `${context}: ${msg}`, { cause: err });
}

/** Any error as a KuryrError: an unexpected one is KURYR_ERR_INTERNAL, its message saying so. */
export function asKuryrError(err: unknown): KuryrError {
  if (err instanceof KuryrError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new KuryrError('KURYR_ERR_INTERNAL', `internal error: ${msg}`, { cause: err });
}
