import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';
import { KuryrError } from '../errors.js';
import type { Logger } from '../log.js';
import type { IpamDriver, NetworkDriver } from './api.js';
import { schemas, type SchemaName } from './schemas.js';

/** Docker's plugin manifest: what this plugin implements. */
export const MANIFEST = { Implements: ['NetworkDriver', 'IpamDriver'] } as const;

/** The content type Docker's plugin helpers answer with; Docker decodes any JSON body. */
export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1+json';

type Subsystem = 'Plugin' | 'NetworkDriver' | 'IpamDriver';

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

/** Observes every call, for logs and metrics. */
export type CallObserver = (call: { method: string; status: number; durationMs: number; error?: string }) => void;

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

  constructor(
    net: NetworkDriver,
    ipam: IpamDriver,
    private readonly logger: Logger,
    private readonly observe?: CallObserver,
  ) {
    this.routes = routeTable(net, ipam);
    const ajv = new Ajv({ allErrors: false, strict: false });
    for (const [name, schema] of Object.entries(schemas)) this.validators.set(name as SchemaName, ajv.compile(schema));
  }

  get methods(): string[] {
    return Object.keys(this.routes);
  }

  async handle(path: string, rawBody: string): Promise<PluginReply> {
    const started = performance.now();
    const callId = ++this.callSeq;
    const method = path.replace(/^\//, '');
    const route = Object.hasOwn(this.routes, path) ? this.routes[path] : undefined;
    let reply: PluginReply;
    let failure: unknown;
    if (!route) {
      reply = { status: 404, body: { Err: `Kuryr does not implement ${JSON.stringify(method.slice(0, 100))}` } };
    } else {
      try {
        const body = route.schema ? this.decode(route.schema, rawBody) : undefined;
        this.logger.debug({ callId, method, request: body }, 'docker call');
        const result = await route.call(body as never);
        reply = { status: 200, body: result ?? {} };
      } catch (err) {
        failure = err;
        reply = encodeError(route.subsystem, err);
      }
    }
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    const error = typeof (reply.body as { Err?: string }).Err === 'string' ? (reply.body as { Err: string }).Err : undefined;
    const fields = { callId, method, status: reply.status, durationMs, ...(error ? { error } : {}) };
    if (failure && !(failure instanceof KuryrError)) this.logger.error({ ...fields, err: failure }, 'docker call failed unexpectedly');
    else if (error) this.logger.warn(fields, 'docker call failed');
    else this.logger.info(fields, 'docker call');
    if (reply.status === 200) this.logger.debug({ callId, method, response: reply.body }, 'docker call response');
    this.observe?.({ method, status: reply.status, durationMs, error });
    return reply;
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

/**
 * The one place errors become wire replies. Network driver replies carry `Err`; IPAM replies carry
 * `Error` (what Docker's IPAM client reads on a 200) and `Err` (what it reads on any other status).
 */
export function encodeError(subsystem: Subsystem, err: unknown): PluginReply {
  const known = err instanceof KuryrError;
  const message = known ? err.message : `internal error: ${err instanceof Error ? err.message : String(err)}`;
  const status = known ? err.status : 500;
  const body = subsystem === 'IpamDriver' ? { Err: message, Error: message } : { Err: message };
  return { status, body };
}
