import { AsyncLocalStorage } from 'node:async_hooks';
import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import { ERROR_CODES, KuryrError, asKuryrError, notFound } from '../errors.js';
import type { Logger } from '../log.js';
import type { IpamDriver, NetworkDriver } from './api.js';
import { schemas, type SchemaName } from './schemas.js';

/** Docker's plugin manifest: what this plugin implements. */
export const MANIFEST = { Implements: ['NetworkDriver', 'IpamDriver'] } as const;

/** The content type Docker's plugin helpers answer with; Docker decodes any JSON body. */
export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1+json';

export type Subsystem = 'Plugin' | 'NetworkDriver' | 'IpamDriver';

interface Route {
  subsystem: Subsystem;
  schema?: SchemaName;
  call: (body: never) => unknown;
}

/** The whole protocol as data: one row per Docker call. */
function routeTable(net: NetworkDriver, ipam: IpamDriver): Record<string, Route> {
  const n = (call: (b: never) => unknown, schema?: SchemaName): Route => ({ subsystem: 'NetworkDriver', call, schema });
  const i = (call: (b: never) => unknown, schema?: SchemaName): Route => ({ subsystem: 'IpamDriver', call, schema });
  return {
    '/Plugin.Activate': { subsystem: 'Plugin', call: () => MANIFEST },
    '/NetworkDriver.GetCapabilities': n(() => net.getCapabilities()),
    '/NetworkDriver.CreateNetwork': n((b) => net.createNetwork(b), 'CreateNetwork'),
    '/NetworkDriver.DeleteNetwork': n((b) => net.deleteNetwork(b), 'NetworkOnly'),
    '/NetworkDriver.AllocateNetwork': n((b) => net.allocateNetwork(b), 'AllocateNetwork'),
    '/NetworkDriver.FreeNetwork': n((b) => net.freeNetwork(b), 'NetworkOnly'),
    '/NetworkDriver.CreateEndpoint': n((b) => net.createEndpoint(b), 'CreateEndpoint'),
    '/NetworkDriver.EndpointOperInfo': n((b) => net.endpointOperInfo(b), 'Endpoint'),
    '/NetworkDriver.DeleteEndpoint': n((b) => net.deleteEndpoint(b), 'Endpoint'),
    '/NetworkDriver.Join': n((b) => net.join(b), 'Join'),
    '/NetworkDriver.Leave': n((b) => net.leave(b), 'Endpoint'),
    '/NetworkDriver.ProgramExternalConnectivity': n((b) => net.programExternalConnectivity(b), 'ExternalConnectivity'),
    '/NetworkDriver.RevokeExternalConnectivity': n((b) => net.revokeExternalConnectivity(b), 'Endpoint'),
    // Node discovery carries nothing Kuryr needs: Neutron is the only shared state.
    '/NetworkDriver.DiscoverNew': n(() => ({})),
    '/NetworkDriver.DiscoverDelete': n(() => ({})),
    '/IpamDriver.GetCapabilities': i(() => ipam.getCapabilities()),
    '/IpamDriver.GetDefaultAddressSpaces': i(() => ipam.getDefaultAddressSpaces()),
    '/IpamDriver.RequestPool': i((b) => ipam.requestPool(b), 'RequestPool'),
    '/IpamDriver.ReleasePool': i((b) => ipam.releasePool(b), 'ReleasePool'),
    '/IpamDriver.RequestAddress': i((b) => ipam.requestAddress(b), 'RequestAddress'),
    '/IpamDriver.ReleaseAddress': i((b) => ipam.releaseAddress(b), 'ReleaseAddress'),
  };
}

export interface PluginReply {
  status: number;
  body: unknown;
}

/** `timeout`: Docker was answered with an error at the deadline while the work went on. */
export type CallOutcome = 'ok' | 'error' | 'timeout';

/** The `method` a call to a path Kuryr does not implement is observed as: observers see a closed set of methods. */
export const UNKNOWN_METHOD = 'unknown';

/** Observes every call, for metrics; `method` is a route's (`NetworkDriver.Join`) or UNKNOWN_METHOD. */
export type CallObserver = (call: { method: string; status: number; durationMs: number; outcome: CallOutcome; error?: string }) => void;

export interface ProtocolOptions {
  observe?: CallObserver;
  /**
   * Seconds a call may take before Docker is answered with an error (`[DEFAULT] call_timeout`);
   * Docker itself gives up at 30 s with a message that says nothing. 0 or absent: unbounded.
   */
  callTimeoutSeconds?: number;
}

interface PendingWait {
  what: string;
  since: number;
}

/**
 * What one Docker call has caused and is waiting on, carried through its async work by
 * AsyncLocalStorage: its log line lists the Neutron request ids it caused, and a call that misses
 * its deadline can say what it was stuck on.
 */
export class CallContext {
  /** Neutron's `x-openstack-request-id` of every answer this call caused, in order. */
  readonly neutronRequestIds: string[] = [];
  neutronAnswers = 0;
  readonly #pending: PendingWait[] = [];

  constructor(
    readonly callId: number,
    readonly method: string,
  ) {}

  noteNeutronAnswer(requestId: string | undefined): void {
    this.neutronAnswers++;
    if (requestId) this.neutronRequestIds.push(requestId);
  }

  async waitFor<T>(what: string, work: () => Promise<T>): Promise<T> {
    const wait: PendingWait = { what, since: performance.now() };
    this.#pending.push(wait);
    try {
      return await work();
    } finally {
      this.#pending.splice(this.#pending.indexOf(wait), 1);
    }
  }

  /** The innermost dependency still unanswered: the one holding the call up. */
  get blockedOn(): PendingWait | undefined {
    return this.#pending.at(-1);
  }
}

/**
 * One store for the process: a Neutron answer can only be attributed through the async context it
 * arrives in, whichever protocol instance started the call.
 */
const callStorage = new AsyncLocalStorage<CallContext>();

/** The Docker call the current async work belongs to, if any. */
export function currentCall(): CallContext | undefined {
  return callStorage.getStore();
}

/**
 * Wraps a dependency (the Neutron client, the host binder) so each of its asynchronous methods is
 * recorded as something the current Docker call waits for. Methods run on the target itself, so
 * private fields and internal calls are untouched.
 */
export function tracedDependency<T extends object>(target: T, label: string): T {
  return new Proxy(target, {
    get(obj, prop) {
      const value: unknown = Reflect.get(obj, prop, obj);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      const fn = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]) => {
        const call = callStorage.getStore();
        const result = fn.apply(obj, args);
        if (!call || !(result instanceof Promise)) return result;
        return call.waitFor(`${label} ${prop}`, () => result);
      };
    },
  });
}

/** A Docker call that missed its deadline; the work itself may still finish in the background. */
export class CallDeadlineError extends KuryrError {
  constructor(call: CallContext, seconds: number) {
    const blocked = call.blockedOn;
    const answers = `${call.neutronAnswers} Neutron answer${call.neutronAnswers === 1 ? '' : 's'} so far`;
    const reason = blocked
      ? `${blocked.what} has not answered for ${((performance.now() - blocked.since) / 1000).toFixed(1)} s (${answers})`
      : `it was not waiting on Neutron or the host (${answers}); another call on the same object may hold it up`;
    super('KURYR_ERR_TIMEOUT', `${call.method.replace(/^\w+\./, '')} did not finish within ${seconds} s: ${reason}`);
    this.name = 'CallDeadlineError';
  }
}

function describeSchemaErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 3)
    .map((e) => {
      const where = e.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : 'request';
      if (e.keyword === 'required') return `${where === 'request' ? '' : where + '.'}${String(e.params['missingProperty'])} is required`;
      if (e.keyword === 'pattern') return `${where} is malformed`;
      return `${where} ${e.message ?? 'is invalid'}`;
    })
    .join('; ');
}

/**
 * Decodes, validates, dispatches and encodes Docker plugin calls. Every error, whatever its origin,
 * leaves through `encodeError`, in the shape Docker reads.
 */
export class PluginProtocol {
  private readonly routes: Record<string, Route>;
  private readonly validators = new Map<SchemaName, ValidateFunction>();
  private callSeq = 0;
  private readonly observe: CallObserver | undefined;
  private readonly deadlineSeconds: number;

  constructor(
    net: NetworkDriver,
    ipam: IpamDriver,
    private readonly logger: Logger,
    options: ProtocolOptions = {},
  ) {
    this.observe = options.observe;
    this.deadlineSeconds = options.callTimeoutSeconds ?? 0;
    this.routes = routeTable(net, ipam);
    const ajv = new Ajv({ allErrors: false, strict: false });
    for (const [name, schema] of Object.entries(schemas)) this.validators.set(name as SchemaName, ajv.compile(schema));
  }

  get methods(): string[] {
    return Object.keys(this.routes);
  }

  async handle(path: string, rawBody: string): Promise<PluginReply> {
    const call = new CallContext(++this.callSeq, path.replace(/^\//, ''));
    return callStorage.run(call, () => this.handleCall(call, path, rawBody));
  }

  private async handleCall(call: CallContext, path: string, rawBody: string): Promise<PluginReply> {
    const started = performance.now();
    const { callId, method } = call;
    const route = Object.hasOwn(this.routes, path) ? this.routes[path] : undefined;
    let reply: PluginReply;
    let failure: unknown;
    if (!route) {
      failure = notFound(`Kuryr does not implement ${JSON.stringify(method.slice(0, 100))}`);
      reply = encodeError(subsystemOf(path), failure);
    } else {
      try {
        const body = route.schema ? this.decode(route.schema, rawBody) : undefined;
        this.logger.debug({ callId, method, request: body }, 'docker call request');
        const result = await this.withinDeadline(call, started, Promise.resolve(route.call(body as never)));
        reply = { status: 200, body: result ?? {} };
      } catch (err) {
        failure = err;
        reply = encodeError(route.subsystem, err);
      }
    }
    const durationMs = elapsedMs(started);
    const error = typeof (reply.body as { Err?: string }).Err === 'string' ? (reply.body as { Err: string }).Err : undefined;
    const outcome: CallOutcome = failure instanceof CallDeadlineError ? 'timeout' : error ? 'error' : 'ok';
    // The code names the row of the README's error table an operator looks up.
    const failed = failure === undefined ? {} : { error, code: asKuryrError(failure).code };
    const fields = { callId, method, status: reply.status, outcome, durationMs, neutronRequestIds: [...call.neutronRequestIds], ...failed };
    if (failure && !(failure instanceof KuryrError)) this.logger.error({ ...fields, err: failure }, 'docker call failed unexpectedly');
    else if (error) this.logger.warn(fields, 'docker call failed');
    else this.logger.info(fields, 'docker call');
    if (reply.status === 200) this.logger.debug({ callId, method, response: reply.body }, 'docker call response');
    // Any path reaches here: only a known route names its own label, or callers could grow the metrics.
    this.observe?.({ method: route ? method : UNKNOWN_METHOD, status: reply.status, durationMs, outcome, error });
    return reply;
  }

  /**
   * Answers Docker within the deadline whatever the driver does. Work cannot be cancelled halfway
   * (a Neutron request may already have been sent), so late work runs to its end and its outcome
   * is logged: what it created is then removed by Docker's rollback or by reconciliation.
   */
  private async withinDeadline<T>(call: CallContext, started: number, work: Promise<T>): Promise<T> {
    if (this.deadlineSeconds <= 0) return work;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CallDeadlineError(call, this.deadlineSeconds)), this.deadlineSeconds * 1000);
    });
    try {
      return await Promise.race([work, deadline]);
    } catch (err) {
      if (err instanceof CallDeadlineError) this.logLateFinish(call, started, work);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private logLateFinish(call: CallContext, started: number, work: Promise<unknown>): void {
    const fields = () => ({ callId: call.callId, method: call.method, durationMs: elapsedMs(started), neutronRequestIds: [...call.neutronRequestIds] });
    work.then(
      () => this.logger.warn({ ...fields(), outcome: 'ok' }, 'docker call finished after its deadline; Docker had already been told it failed'),
      (err: unknown) =>
        this.logger.warn(
          { ...fields(), outcome: 'error', error: err instanceof Error ? err.message : String(err) },
          'docker call failed after its deadline; Docker had already been told it failed',
        ),
    );
  }

  private decode(schema: SchemaName, rawBody: string): unknown {
    let body: unknown;
    try {
      body = rawBody.trim() === '' ? {} : JSON.parse(rawBody);
    } catch {
      throw new KuryrError('KURYR_ERR_INVALID_REQUEST', 'request body is not valid JSON');
    }
    const validate = this.validators.get(schema);
    if (validate && !validate(body)) {
      throw new KuryrError('KURYR_ERR_INVALID_REQUEST', `invalid request: ${describeSchemaErrors(validate.errors)}`);
    }
    return body;
  }
}

function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

/** Docker's IPAM client also reads `Error`: the path names the subsystem a reply must be shaped for. */
export function subsystemOf(path: string): Subsystem {
  if (path.startsWith('/IpamDriver.')) return 'IpamDriver';
  return path.startsWith('/Plugin.') ? 'Plugin' : 'NetworkDriver';
}

/**
 * The one place errors become wire replies: the status is the code's (ERROR_CODES), an error that
 * is no KuryrError is an internal one. Network driver replies carry `Err`; IPAM replies carry
 * `Error` (what Docker's IPAM client reads on a 200) and `Err` (what it reads on any other status).
 */
export function encodeError(subsystem: Subsystem, err: unknown): PluginReply {
  const { code, message } = asKuryrError(err);
  const body = subsystem === 'IpamDriver' ? { Err: message, Error: message } : { Err: message };
  return { status: ERROR_CODES[code].status, body };
}
