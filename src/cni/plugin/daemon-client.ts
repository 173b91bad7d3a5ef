/**
 * The plugin's side of the node daemon's socket: `POST /v1/cni` for ADD, DEL, CHECK and GC, and
 * `GET /v1/status` for STATUS. The daemon's CNI errors are passed on with their code; a daemon that
 * cannot be reached is a retryable error (11), or "not available" (50) for STATUS.
 */
import type { CniErrorBody, CniRequest } from '../daemon/api.js';
import { unixJson } from '../../cli/unix-http.js';
import { CNI_CODE, CniError, isObject, type JsonObject } from './spec.js';

/** Under kubelet's 2-minute CRI timeout, so the runtime gets Kuryr's message, not "context deadline exceeded". */
export const REQUEST_TIMEOUT_MS = 110_000;
/** STATUS is a readiness probe: a daemon that cannot answer it in seconds is not ready. */
export const STATUS_TIMEOUT_MS = 5_000;

/** Why the socket gave no answer, in an operator's words. */
function unreachable(socketPath: string, err: unknown, timeoutMs: number): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ECONNREFUSED') return `the Kuryr daemon is not running: nothing listens on ${socketPath} (${code})`;
  if (code === 'ECONNRESET' || code === 'EPIPE') return `the Kuryr daemon closed ${socketPath} before answering (${code}): was it restarted?`;
  if (code === 'EACCES' || code === 'EPERM') return `cannot connect to the Kuryr daemon on ${socketPath} (${code}): the socket is root's`;
  if (code === undefined) return `the Kuryr daemon did not answer on ${socketPath} within ${timeoutMs / 1000} s`;
  return `cannot reach the Kuryr daemon on ${socketPath} (${code})`;
}

async function call(socketPath: string, method: string, path: string, body: unknown, timeoutMs: number, downCode: number) {
  try {
    return await unixJson(socketPath, method, path, body, timeoutMs);
  } catch (err) {
    throw new CniError(downCode, unreachable(socketPath, err, timeoutMs));
  }
}

/** The daemon's error answer as the CNI error it names. */
function daemonError(status: number, body: unknown): CniError {
  const e = isObject(body) ? (body as Partial<CniErrorBody>) : {};
  if (typeof e.code !== 'number' || !Number.isInteger(e.code) || e.code < 1 || typeof e.msg !== 'string') {
    return new CniError(CNI_CODE.INTERNAL, `the Kuryr daemon answered HTTP ${status} without a CNI error`, typeof body === 'string' ? body.slice(0, 500) : undefined);
  }
  return new CniError(e.code, e.msg, typeof e.details === 'string' ? e.details : undefined);
}

/** One CNI request; the daemon's answer body (`{result}` for ADD, `{}` otherwise). */
export async function daemonRequest(socketPath: string, request: CniRequest): Promise<JsonObject> {
  // DEL is an error too when the daemon is down, not a success. The plugin cannot tell whether the
  // pod's port and host device exist; a success would have the runtime forget the pod and leave its
  // Neutron port (and address) taken for good, since libcni 1.1 runtimes never run GC. An error keeps
  // the pod known (kubelet retries a failed StopPodSandbox until it succeeds), and the daemon's DEL
  // succeeds when everything is already gone, so the retry ends cleanly once the daemon is back.
  const { status, body } = await call(socketPath, 'POST', '/v1/cni', request, REQUEST_TIMEOUT_MS, CNI_CODE.TRY_AGAIN_LATER);
  if (status < 200 || status > 299) throw daemonError(status, body);
  if (!isObject(body)) throw new CniError(CNI_CODE.INTERNAL, `the Kuryr daemon answered ${request.command} with no JSON object`);
  return body;
}

/** STATUS: resolves when the daemon is ready to serve ADD; else code 50 or 51. */
export async function daemonStatus(socketPath: string): Promise<void> {
  const { status, body } = await call(socketPath, 'GET', '/v1/status', undefined, STATUS_TIMEOUT_MS, CNI_CODE.NOT_AVAILABLE);
  if (status >= 200 && status <= 299) return;
  const e = daemonError(status, body);
  // STATUS answers only "not available" (50) or "not available, existing pods may suffer" (51).
  throw e.code === 50 || e.code === 51 ? e : new CniError(CNI_CODE.NOT_AVAILABLE, e.message, e.details);
}
