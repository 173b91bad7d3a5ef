/**
 * The node daemon's CNI endpoint: `kuryr-cni` (run by the container runtime as root) POSTs each CNI
 * request to a root-only unix socket. Requests are validated here, served by CniService, and
 * Kuryr's typed errors are mapped to CNI error codes once, on the way out.
 */
import { fastify, type FastifyError, type FastifyInstance } from 'fastify';
import { asKuryrError, KuryrError, type KuryrErrorCode } from '../../errors.js';
import type { Logger } from '../../log.js';
import { listenOnSocket, removeIfSame } from '../../libnetwork/server.js';
import { CniEnvError, type CniAttachment, type CniErrorBody, type CniRequest } from './api.js';
import type { CniService } from './service.js';

/** GC's list of valid attachments is the largest body: 1 MiB holds some ten thousand. */
const BODY_LIMIT = 1024 * 1024;
/** Runtimes call CNI once per pod interface; more connections than this at once are not a runtime. */
const MAX_CONNECTIONS = 256;

const ID = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' };
const IFNAME = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,15}$', not: { enum: ['.', '..'] } };
const NAME = { type: 'string', maxLength: 253 };
const REQUEST_SCHEMA = {
  type: 'object',
  required: ['command', 'containerId', 'netns', 'ifname', 'args', 'config'],
  additionalProperties: false,
  properties: {
    command: { enum: ['ADD', 'DEL', 'CHECK', 'GC'] },
    containerId: { anyOf: [ID, { const: '' }] },
    netns: { type: 'string', maxLength: 4096 },
    ifname: { anyOf: [IFNAME, { const: '' }] },
    args: { type: 'object', maxProperties: 32, additionalProperties: { type: 'string', maxLength: 1024 } },
    config: {
      type: 'object',
      required: ['cniVersion', 'name', 'type'],
      properties: {
        cniVersion: { type: 'string', maxLength: 16 },
        name: NAME,
        type: NAME,
        'neutron.net.name': NAME,
        'neutron.net.uuid': NAME,
        'neutron.subnet.name': NAME,
        'neutron.subnet.uuid': NAME,
        'kuryr.pool': { type: 'boolean' },
        'cni.dev/valid-attachments': {
          type: 'array',
          maxItems: 10_000,
          items: { type: 'object', required: ['containerID', 'ifname'], properties: { containerID: { type: 'string', maxLength: 256 }, ifname: { type: 'string', maxLength: 16 } } },
        },
      },
    },
  },
} as const;

/** The CNI code of each Kuryr error: what a runtime does differs (11: retry later; 7: fix the config). */
const CNI_CODES: Partial<Record<KuryrErrorCode, number>> = {
  KURYR_ERR_INVALID_REQUEST: 7,
  KURYR_ERR_NOT_FOUND: 7,
  KURYR_ERR_TOO_LARGE: 7,
  KURYR_ERR_NEUTRON: 11,
  KURYR_ERR_AUTH: 11,
  KURYR_ERR_OVERLOADED: 11,
  KURYR_ERR_TIMEOUT: 11,
  KURYR_ERR_CONFLICT: 11,
};

/** The CNI variable each request field comes from. */
const ENV_OF = { command: 'CNI_COMMAND', containerId: 'CNI_CONTAINERID', netns: 'CNI_NETNS', ifname: 'CNI_IFNAME' } as const;

/** What fastify refused before the service saw the request: a field from CNI's environment is code 4, the rest of the config 7. */
function refusalOf(err: FastifyError & { validation?: { instancePath?: string }[] }): KuryrError {
  if (err.statusCode === 413) return new KuryrError('KURYR_ERR_TOO_LARGE', `request body larger than ${BODY_LIMIT} bytes`);
  const field = err.validation?.[0]?.instancePath?.split('/')[1] as keyof typeof ENV_OF | undefined;
  if (field && field in ENV_OF) return new CniEnvError(`invalid ${ENV_OF[field]}: ${err.message}`);
  return new KuryrError('KURYR_ERR_INVALID_REQUEST', `malformed CNI request: ${err.message}`);
}

export function cniError(err: unknown): { status: number; body: CniErrorBody } {
  const e = asKuryrError(err);
  const code = err instanceof CniEnvError ? 4 : (CNI_CODES[e.code] ?? 999);
  return { status: e.code === 'KURYR_ERR_INVALID_REQUEST' || e.code === 'KURYR_ERR_TOO_LARGE' ? 400 : 500, body: { code, msg: e.message, details: e.code } };
}

export interface CniServerOptions {
  service: CniService;
  logger: Logger;
  /** Resolves once the daemon has started (Neutron answered); CNI requests wait for it. */
  started: () => Promise<void>;
  /** Whether the daemon has started, for STATUS. */
  isStarted: () => boolean;
}

export class CniServer {
  private app?: FastifyInstance;
  private socket?: { path: string; ino: number };

  constructor(private readonly opts: CniServerOptions) {}

  async listen(socketPath: string): Promise<string> {
    const app = this.build();
    this.app = app;
    this.socket = { path: socketPath, ino: await listenOnSocket(app, socketPath) };
    return `cni unix://${socketPath}`;
  }

  async close(): Promise<void> {
    await this.app?.close();
    if (this.socket) await removeIfSame(this.socket.path, this.socket.ino);
    this.app = undefined;
    this.socket = undefined;
  }

  private build(): FastifyInstance {
    const { service, logger, started, isStarted } = this.opts;
    const app = fastify({ logger: false, bodyLimit: BODY_LIMIT }) as unknown as FastifyInstance;
    app.server.maxConnections = MAX_CONNECTIONS;
    app.get('/v1/status', async (_req, reply) => {
      if (isStarted()) return reply.code(200).send({});
      return reply.code(503).send({ code: 50, msg: 'the Kuryr daemon has not reached Neutron yet' } satisfies CniErrorBody);
    });
    app.post<{ Body: CniRequest }>('/v1/cni', { schema: { body: REQUEST_SCHEMA } }, async (req, reply) => {
      const body = req.body;
      const began = performance.now();
      const what = { command: body.command, containerId: body.containerId.slice(0, 12), ifname: body.ifname, network: body.config.name };
      try {
        await started();
        const answer = await this.serve(service, body);
        logger.info({ ...what, ms: Math.round(performance.now() - began) }, 'cni call');
        return reply.code(200).send(answer);
      } catch (err) {
        const { status, body: error } = cniError(err);
        logger.warn({ ...what, ms: Math.round(performance.now() - began), err: error.msg }, 'cni call failed');
        return reply.code(status).send(error);
      }
    });
    app.setErrorHandler((err: FastifyError, _req, reply) => {
      const { status, body } = cniError(refusalOf(err));
      return reply.code(status).send(body);
    });
    return app;
  }

  private async serve(service: CniService, req: CniRequest): Promise<object> {
    const needs = (fields: (keyof typeof ENV_OF)[]) => {
      const missing = fields.filter((f) => !req[f]).map((f) => ENV_OF[f]);
      if (missing.length > 0) throw new CniEnvError(`${req.command} needs ${missing.join(', ')}`);
    };
    switch (req.command) {
      case 'ADD':
        needs(['containerId', 'netns', 'ifname']);
        return { result: await service.add(req) };
      case 'DEL':
        needs(['containerId', 'ifname']);
        await service.del(req);
        return {};
      case 'CHECK':
        needs(['containerId', 'netns', 'ifname']);
        await service.check(req);
        return {};
      case 'GC':
        return await service.gc((req.config['cni.dev/valid-attachments'] ?? []) as CniAttachment[]);
    }
  }
}
