/**
 * Neutron v2.0 over HTTP, authenticated by a KeystoneSession. Implements the `Neutron` contract:
 * typed resources, pagination, bulk creates, tags, trunks, idempotent deletes, and NeutronError with
 * Neutron's type/message/request id on failure. Idempotent methods are retried on transport errors
 * and 502/503/504 (bounded); POST never is; timeouts are not retried so a call is bounded by the
 * configured timeout.
 */
import { KuryrError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type {
  Creatable,
  Extension,
  FloatingIp,
  PortForwarding,
  Filters,
  Network,
  Neutron,
  Port,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
  SubnetPool,
  TaggedCollection,
} from './neutron-types.js';
import { encodeQuery, type HttpMethod, type HttpResponse } from './http.js';
import { NeutronError, TransportError } from './errors.js';
import { requestIdOf, type Attempt, type KeystoneSession } from './keystone.js';


/** DELETEs in flight at once in deletePorts: quick for a drain, gentle on a small Neutron. */
const PARALLEL_DELETES = 6;

/** The collections this client's paths start with (`/v2.0/<collection>`): the metrics' `resource` label values. */
export const NEUTRON_RESOURCES: ReadonlySet<string> = new Set([
  'extensions',
  'networks',
  'subnets',
  'subnetpools',
  'ports',
  'security-groups',
  'security-group-rules',
  'trunks',
  'floatingips',
]);

export interface NeutronRequestInfo {
  method: string;
  /** First path segment after /v2.0 (`ports`, `networks`, `trunks`...), one of NEUTRON_RESOURCES. */
  resource: string;
  /** HTTP status; 0 when there was no answer. */
  status: number;
  durationMs: number;
  requestId?: string;
  /**
   * Objects the request creates or deletes: for a POST on a collection, the number in the body
   * (a bulk create counts each); for a DELETE of one object, 1. Absent for other requests.
   */
  objects?: number;
}

export interface NeutronClientOptions {
  session: KeystoneSession;
  logger?: Logger;
  /** Called after every HTTP exchange with Neutron (metrics). Exceptions from it are ignored. */
  onRequest?: (info: NeutronRequestInfo) => void;
  /** Delays before each retry of an idempotent request; its length is the retry count. Default [200, 500]. */
  retryBackoffMs?: number[];
  /** Requests in flight at once (`[neutron] max_concurrent_requests`); the rest wait their turn. Default 16. */
  maxConcurrentRequests?: number;
}

const DEFAULT_MAX_CONCURRENT = 16;
/**
 * Requests that may wait for a slot, per slot. Each waiter is a Docker call or background task
 * under way; past this many (a flood of calls, each asking Neutron), a request is refused at once
 * rather than queued: at the back of such a queue it would not be answered within Docker's 30 s.
 */
const WAITING_PER_SLOT = 64;

/**
 * At most `size` requests in flight; the rest wait in arrival order, and no more than `maxWaiting`
 * of them. A request holds its slot from its first attempt to its last (retries included).
 */
class RequestSlots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(
    readonly size: number,
    readonly maxWaiting: number,
  ) {
    this.#free = size;
  }

  /** Resolves once a slot is the caller's; false (at once) when `maxWaiting` requests already wait. */
  async take(): Promise<boolean> {
    if (this.#free > 0) {
      this.#free--;
      return true;
    }
    if (this.#waiting.length >= this.maxWaiting) return false;
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return true;
  }

  /** Hands the slot to the longest waiter, or frees it. */
  give(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}

const RETRY_STATUSES = new Set([502, 503, 504]);
const MAX_PAGES = 10_000;

interface CallOptions {
  query?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** False for a PUT that is not idempotent (trunk subport actions). */
  retry?: boolean;
}

/** Endpoint from the catalog -> base without trailing slash or `/v2.0` (paths carry `/v2.0`). */
export function neutronBase(endpoint: string): string {
  return endpoint.replace(/\/+$/, '').replace(/\/v2\.0$/, '');
}

function pathOnly(p: string): string {
  const i = p.indexOf('?');
  return i < 0 ? p : p.slice(0, i);
}

/**
 * Neutron's WSGI layer decodes `%2F` before routing, so `/tags/a%2Fb` never matches and answers 404
 * (which removeTag would take for "already gone"). Such tags only work through replaceTags.
 */
function checkTagForUrl(tag: string): void {
  if (tag.includes('/')) {
    throw new KuryrError('KURYR_ERR_INVALID_REQUEST', `tag ${JSON.stringify(tag)} contains "/", which Neutron's per-tag URL cannot carry; use replaceTags`);
  }
}

/** See NeutronRequestInfo.objects. Paths are `/v2.0/<collection>[/<id>[/...]]`. */
function objectsAffected(method: string, path: string, body: unknown): number | undefined {
  const depth = pathOnly(path).split('/').length - 2;
  if (method === 'POST' && depth === 1) {
    const list = typeof body === 'object' && body !== null ? Object.values(body)[0] : undefined;
    return Array.isArray(list) ? list.length : 1;
  }
  if (method === 'DELETE' && depth === 2) return 1;
  return undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class NeutronClient implements Neutron {
  readonly #session: KeystoneSession;
  readonly #log: Logger;
  readonly #onRequest: ((info: NeutronRequestInfo) => void) | undefined;
  readonly #backoff: number[];
  readonly #slots: RequestSlots;
  #requests = 0;
  #warnedDroppedTags = false;

  constructor(opts: NeutronClientOptions) {
    this.#session = opts.session;
    this.#log = (opts.logger ?? silentLogger).child({ component: 'neutron' });
    this.#onRequest = opts.onRequest;
    this.#backoff = opts.retryBackoffMs ?? [200, 500];
    const slots = opts.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT;
    this.#slots = new RequestSlots(slots, slots * WAITING_PER_SLOT);
  }

  get requestCount(): number {
    return this.#requests;
  }

  // ---- mechanics ---------------------------------------------------------------------------

  /**
   * Sends one logical request in a slot of its own. The slot is held through retries and their
   * backoff: a retry keeps its place, and while Neutron answers 502/503/504 Kuryr does not add
   * requests. Each attempt keeps its own timeout, counted from when it is sent.
   */
  async #send(method: HttpMethod, path: string, opts: CallOptions = {}): Promise<HttpResponse> {
    if (!(await this.#slots.take())) {
      throw new KuryrError(
        'KURYR_ERR_OVERLOADED',
        `Neutron ${method} ${pathOnly(path)}: not sent: ${this.#slots.maxWaiting} requests already wait for one of the ${this.#slots.size} ` +
          'Neutron requests in flight ([neutron] max_concurrent_requests)',
      );
    }
    try {
      return await this.#attempts(method, path, opts);
    } finally {
      this.#slots.give();
    }
  }

  /** One logical request: retried for idempotent methods on no answer and 502/503/504; returns any HTTP answer. */
  async #attempts(method: HttpMethod, path: string, opts: CallOptions): Promise<HttpResponse> {
    const idempotent = opts.retry !== false && (method === 'GET' || method === 'PUT' || method === 'DELETE' || method === 'HEAD');
    const resource = pathOnly(path).split('/')[2] ?? '';
    const objects = objectsAffected(method, path, opts.body);
    const observe = (a: Attempt) => this.#observe(method, path, resource, a, objects);
    for (let attempt = 0; ; attempt++) {
      const canRetry = idempotent && attempt < this.#backoff.length;
      let res: HttpResponse;
      try {
        const base = neutronBase(await this.#session.endpointFor('network'));
        const url = base + path + (opts.query ? `?${opts.query}` : '');
        res = await this.#session.requestUrl(method, url, { body: opts.body, headers: opts.headers, observe });
      } catch (err) {
        if (!(err instanceof TransportError)) throw err; // Keystone/config errors pass through
        if (canRetry && !err.timedOut) {
          this.#log.debug({ method, path: pathOnly(path), attempt: attempt + 1, reason: err.reason }, 'neutron: retrying after transport error');
          await sleep(this.#backoff[attempt] ?? 0);
          continue;
        }
        const detail = err.message.slice(`${err.method} ${err.url}: `.length);
        throw new NeutronError(
          { method, path: pathOnly(path), transport: `${detail} at ${err.url}`, timedOut: err.timedOut },
          { cause: err },
        );
      }
      if (canRetry && RETRY_STATUSES.has(res.status)) {
        this.#log.debug({ method, path: pathOnly(path), attempt: attempt + 1, status: res.status }, 'neutron: retrying');
        await sleep(this.#backoff[attempt] ?? 0);
        continue;
      }
      return res;
    }
  }

  #observe(method: string, path: string, resource: string, a: Attempt, objects: number | undefined): void {
    this.#requests++;
    const durationMs = Math.round(a.durationMs * 10) / 10;
    this.#log.debug(
      { method, path: pathOnly(path), status: a.status, durationMs, requestId: a.requestId },
      a.error ? `neutron: ${a.error.message}` : 'neutron: request',
    );
    if (this.#onRequest) {
      try {
        this.#onRequest({ method, resource, status: a.status, durationMs: a.durationMs, requestId: a.requestId, ...(objects === undefined ? {} : { objects }) });
      } catch {
        /* a metrics hook must not break a call */
      }
    }
  }

  #error(method: string, path: string, res: HttpResponse): NeutronError {
    const b = res.body as
      | { NeutronError?: { type?: string; message?: string } | string; error?: { title?: string; message?: string } }
      | undefined;
    let type: string | undefined;
    let message: string | undefined;
    if (typeof b?.NeutronError === 'string') {
      message = b.NeutronError;
    } else if (b?.NeutronError) {
      type = b.NeutronError.type;
      message = b.NeutronError.message;
    } else if (b?.error) {
      type = b.error.title;
      message = b.error.message;
    } else if (typeof b === 'object' && b !== null && typeof (b as { message?: unknown }).message === 'string') {
      message = (b as { message: string }).message;
    } else if (res.text) {
      message = res.text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300) || undefined;
    }
    return new NeutronError({
      method,
      path: pathOnly(path),
      httpStatus: res.status,
      type: type ? this.#session.scrub(type) : undefined,
      neutronMessage: message ? this.#session.scrub(message) : undefined,
      requestId: requestIdOf(res),
    });
  }

  /** A request that must answer 2xx; returns the parsed body. */
  async #call(method: HttpMethod, path: string, opts: CallOptions = {}): Promise<unknown> {
    if (opts.body !== undefined) this.#log.debug({ method, path: pathOnly(path), body: opts.body }, 'neutron: request body');
    const res = await this.#send(method, path, opts);
    if (res.status < 200 || res.status >= 300) throw this.#error(method, path, res);
    return res.body;
  }

  /** DELETE for which 404 means already done (idempotent deletes). */
  async #delete(path: string): Promise<void> {
    const res = await this.#send('DELETE', path);
    if (res.status === 404) {
      this.#log.debug({ path }, 'neutron: already gone (404), counted as deleted');
      return;
    }
    if (res.status < 200 || res.status >= 300) throw this.#error('DELETE', path, res);
  }

  async #list<T>(collection: string, key: string, filters?: Filters): Promise<T[]> {
    const path = `/v2.0/${collection}`;
    let query = encodeQuery(filters);
    const items: T[] = [];
    const seen = new Set<string>();
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = (await this.#call('GET', path + (query ? `?${query}` : ''))) as Record<string, unknown> | undefined;
      const got = body?.[key];
      if (Array.isArray(got)) items.push(...(got as T[]));
      const links = body?.[`${key}_links`];
      const next = Array.isArray(links) ? (links as { rel?: string; href?: string }[]).find((l) => l.rel === 'next') : undefined;
      if (!next?.href || !Array.isArray(got) || got.length === 0) break;
      // Keep our own base URL (Neutron may advertise another host); take only the query.
      let nextQuery: string;
      try {
        nextQuery = new URL(next.href, 'http://neutron.invalid').searchParams.toString();
      } catch {
        break;
      }
      if (seen.has(nextQuery)) break;
      seen.add(nextQuery);
      query = nextQuery;
    }
    return items;
  }

  async #get<T>(collection: string, key: string, id: string): Promise<T> {
    const body = (await this.#call('GET', `/v2.0/${collection}/${encodeURIComponent(id)}`)) as Record<string, unknown>;
    return body[key] as T;
  }

  async #create<T>(collection: string, key: string, resource: unknown): Promise<T> {
    const body = (await this.#call('POST', `/v2.0/${collection}`, { body: { [key]: resource } })) as Record<string, unknown>;
    return body[key] as T;
  }

  /**
   * Creates a resource with tags. Neutron takes `tags` in the create body only for ports (with the
   * tag-ports-during-bulk-creation extension); for everything else, and for ports where the tags were
   * dropped, the tags are set right after, and a resource that cannot be tagged is deleted again, so
   * Kuryr never leaves an object it cannot find by its tags.
   */
  async #createTagged<T extends { id: string; tags?: string[] }>(collection: TaggedCollection, key: string, resource: { tags?: string[] }, tagsInBody: boolean): Promise<T> {
    const tags = resource.tags ?? [];
    const { tags: _omit, ...untagged } = resource;
    const created = await this.#create<T>(collection, key, tagsInBody ? resource : untagged);
    return this.#ensureTags(collection, created, tags);
  }

  async #ensureTags<T extends { id: string; tags?: string[] }>(collection: TaggedCollection, created: T, tags: string[]): Promise<T> {
    if (tags.length === 0 || tags.every((t) => created.tags?.includes(t))) return created;
    try {
      const applied = await this.replaceTags(collection, created.id, [...new Set([...(created.tags ?? []), ...tags])]);
      return { ...created, tags: applied };
    } catch (err) {
      await this.#delete(`/v2.0/${collection}/${encodeURIComponent(created.id)}`).catch(() => undefined);
      throw err;
    }
  }

  async #bulkCreate<T>(collection: string, key: string, resources: unknown[]): Promise<T[]> {
    if (resources.length === 0) return [];
    const body = (await this.#call('POST', `/v2.0/${collection}`, { body: { [key]: resources } })) as Record<string, unknown>;
    return (body[key] ?? []) as T[];
  }

  async #update<T>(collection: string, key: string, id: string, resource: unknown, headers?: Record<string, string>): Promise<T> {
    const body = (await this.#call('PUT', `/v2.0/${collection}/${encodeURIComponent(id)}`, { body: { [key]: resource }, headers })) as Record<
      string,
      unknown
    >;
    return body[key] as T;
  }

  // ---- Neutron ---------------------------------------------------------------------------------

  async listExtensions(): Promise<Extension[]> {
    const body = (await this.#call('GET', '/v2.0/extensions')) as { extensions?: Extension[] } | undefined;
    return body?.extensions ?? [];
  }

  listNetworks(filters?: Filters): Promise<Network[]> {
    return this.#list('networks', 'networks', filters);
  }
  getNetwork(id: string): Promise<Network> {
    return this.#get('networks', 'network', id);
  }
  createNetwork(body: Creatable<Network>): Promise<Network> {
    return this.#createTagged('networks', 'network', body, false);
  }
  deleteNetwork(id: string): Promise<void> {
    return this.#delete(`/v2.0/networks/${encodeURIComponent(id)}`);
  }

  listSubnets(filters?: Filters): Promise<Subnet[]> {
    return this.#list('subnets', 'subnets', filters);
  }
  getSubnet(id: string): Promise<Subnet> {
    return this.#get('subnets', 'subnet', id);
  }
  createSubnet(body: Creatable<Subnet> & { prefixlen?: number }): Promise<Subnet> {
    return this.#createTagged('subnets', 'subnet', body, false);
  }
  deleteSubnet(id: string): Promise<void> {
    return this.#delete(`/v2.0/subnets/${encodeURIComponent(id)}`);
  }

  listSubnetPools(filters?: Filters): Promise<SubnetPool[]> {
    return this.#list('subnetpools', 'subnetpools', filters);
  }
  getSubnetPool(id: string): Promise<SubnetPool> {
    return this.#get('subnetpools', 'subnetpool', id);
  }
  createSubnetPool(body: Creatable<SubnetPool>): Promise<SubnetPool> {
    return this.#createTagged('subnetpools', 'subnetpool', body, false);
  }
  deleteSubnetPool(id: string): Promise<void> {
    return this.#delete(`/v2.0/subnetpools/${encodeURIComponent(id)}`);
  }

  listPorts(filters?: Filters): Promise<Port[]> {
    return this.#list('ports', 'ports', filters);
  }
  getPort(id: string): Promise<Port> {
    return this.#get('ports', 'port', id);
  }
  async createPort(body: Creatable<Port>): Promise<Port> {
    const port = await this.#create<Port>('ports', 'port', body);
    this.#checkTagsKept([body], [port]);
    return this.#ensureTags('ports', port, body.tags ?? []);
  }
  async createPorts(bodies: Creatable<Port>[]): Promise<Port[]> {
    const ports = await this.#bulkCreate<Port>('ports', 'ports', bodies);
    this.#checkTagsKept(bodies, ports);
    return Promise.all(ports.map((p, i) => this.#ensureTags('ports', p, bodies[i]?.tags ?? [])));
  }

  /**
   * Neutron without the `tag-ports-during-bulk-creation` extension (ML2 extension driver
   * `tag_ports_during_bulk_creation`) accepts `tags` in a port create body and silently drops them.
   * Warn once (the tags are then set by #ensureTags, one request more per port).
   */
  #checkTagsKept(bodies: Creatable<Port>[], ports: Port[]): void {
    if (this.#warnedDroppedTags) return;
    const dropped = bodies.some((b, i) => (b.tags?.length ?? 0) > 0 && (ports[i]?.tags?.length ?? 0) === 0);
    if (dropped) {
      this.#warnedDroppedTags = true;
      this.#log.warn('neutron: tags in the port create body were ignored (extension tag-ports-during-bulk-creation not enabled)');
    }
  }
  updatePort(id: string, body: Partial<Port>, opts?: { ifRevision?: number }): Promise<Port> {
    const headers = opts?.ifRevision !== undefined ? { 'if-match': `revision_number=${opts.ifRevision}` } : undefined;
    return this.#update('ports', 'port', id, body, headers);
  }
  deletePort(id: string): Promise<void> {
    return this.#delete(`/v2.0/ports/${encodeURIComponent(id)}`);
  }
  async deletePorts(ids: string[]): Promise<void> {
    const queue = [...ids];
    const failures: unknown[] = [];
    const worker = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) await this.deletePort(id).catch((err: unknown) => failures.push(err));
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_DELETES, queue.length) }, worker));
    if (failures.length > 0) throw failures[0];
  }

  async replaceTags(collection: TaggedCollection, id: string, tags: string[]): Promise<string[]> {
    const body = (await this.#call('PUT', `/v2.0/${collection}/${encodeURIComponent(id)}/tags`, { body: { tags } })) as
      | { tags?: string[] }
      | undefined;
    return body?.tags ?? tags;
  }
  async addTag(collection: TaggedCollection, id: string, tag: string): Promise<void> {
    checkTagForUrl(tag);
    await this.#call('PUT', `/v2.0/${collection}/${encodeURIComponent(id)}/tags/${encodeURIComponent(tag)}`);
  }
  async removeTag(collection: TaggedCollection, id: string, tag: string): Promise<void> {
    checkTagForUrl(tag);
    return this.#delete(`/v2.0/${collection}/${encodeURIComponent(id)}/tags/${encodeURIComponent(tag)}`);
  }

  listSecurityGroups(filters?: Filters): Promise<SecurityGroup[]> {
    return this.#list('security-groups', 'security_groups', filters);
  }
  createSecurityGroup(body: { name: string; description?: string; tags?: string[] }): Promise<SecurityGroup> {
    return this.#createTagged('security-groups', 'security_group', body, false);
  }
  deleteSecurityGroup(id: string): Promise<void> {
    return this.#delete(`/v2.0/security-groups/${encodeURIComponent(id)}`);
  }
  createSecurityGroupRules(rules: Creatable<SecurityGroupRule>[]): Promise<SecurityGroupRule[]> {
    return this.#bulkCreate('security-group-rules', 'security_group_rules', rules);
  }

  async addTrunkSubports(
    trunkId: string,
    subports: { port_id: string; segmentation_type: string; segmentation_id: number }[],
  ): Promise<void> {
    await this.#call('PUT', `/v2.0/trunks/${encodeURIComponent(trunkId)}/add_subports`, {
      body: { sub_ports: subports },
      retry: false, // a retried add after a lost answer would fail with 409
    });
  }
  listFloatingIps(filters?: Filters): Promise<FloatingIp[]> {
    return this.#list('floatingips', 'floatingips', filters);
  }
  listPortForwardings(floatingIpId: string, filters?: Filters): Promise<PortForwarding[]> {
    return this.#list(`floatingips/${encodeURIComponent(floatingIpId)}/port_forwardings`, 'port_forwardings', filters);
  }
  createPortForwarding(floatingIpId: string, body: Creatable<PortForwarding>): Promise<PortForwarding> {
    return this.#create(`floatingips/${encodeURIComponent(floatingIpId)}/port_forwardings`, 'port_forwarding', body);
  }
  deletePortForwarding(floatingIpId: string, id: string): Promise<void> {
    return this.#delete(`/v2.0/floatingips/${encodeURIComponent(floatingIpId)}/port_forwardings/${encodeURIComponent(id)}`);
  }

  async removeTrunkSubports(trunkId: string, portIds: string[]): Promise<void> {
    await this.#call('PUT', `/v2.0/trunks/${encodeURIComponent(trunkId)}/remove_subports`, {
      body: { sub_ports: portIds.map((port_id) => ({ port_id })) },
      retry: false,
    });
  }
}
