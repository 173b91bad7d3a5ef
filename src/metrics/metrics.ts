/**
 * Prometheus metrics of one daemon: Docker calls, Neutron requests, the ports they create and
 * delete, and Node's process metrics, on a registry of their own (several daemons can live in one
 * test process). Served by `MetricsServer` on `[DEFAULT] metrics_listen`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallObserver } from '../libnetwork/protocol.js';
import { NEUTRON_RESOURCES, type NeutronRequestInfo } from '../openstack/neutron.js';

type DockerCall = Parameters<CallObserver>[0];

/** Docker gives a plugin call 30 s; the top buckets show calls that came close. */
const DOCKER_CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 25, 30];
const NEUTRON_REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const METRIC = {
  dockerCalls: 'kuryr_docker_calls_total',
  dockerCallDuration: 'kuryr_docker_call_duration_seconds',
  neutronRequests: 'kuryr_neutron_requests_total',
  neutronRequestDuration: 'kuryr_neutron_request_duration_seconds',
  portsCreated: 'kuryr_ports_created_total',
  portsDeleted: 'kuryr_ports_deleted_total',
} as const;

/**
 * Every label value comes from a closed set, so no input (a caller's path, an odd answer from
 * Neutron or a proxy in front of it) can add series: the registry's size is fixed by this code.
 * Docker methods are closed by the protocol (an unknown path counts as `unknown`).
 */
const OTHER = 'other';
const NEUTRON_METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']);
/** The statuses Neutron (or a proxy) answers with in practice; 0 is "no answer". */
const NEUTRON_STATUSES: ReadonlySet<number> = new Set([0, 200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 412, 413, 414, 415, 429, 500, 501, 502, 503, 504]);

function closedLabel(value: string, known: ReadonlySet<string>): string {
  return known.has(value) ? value : OTHER;
}

/** A status outside NEUTRON_STATUSES keeps only its class (`4xx`), which `kuryr status` still reads. */
function statusLabel(status: number): string {
  if (NEUTRON_STATUSES.has(status)) return String(status);
  return status >= 100 && status <= 599 ? `${Math.floor(status / 100)}xx` : OTHER;
}

export interface GaugeDefinition<L extends string> {
  /** Full metric name, `kuryr_` prefixed (e.g. `kuryr_port_pool_free_ports`). */
  name: string;
  help: string;
  labelNames?: readonly L[];
  /** Called at each scrape to set current values (e.g. from a pool's size). */
  collect?: (gauge: Gauge<L>) => void | Promise<void>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly #dockerCalls: Counter<'method' | 'outcome'>;
  readonly #dockerCallDuration: Histogram<'method'>;
  readonly #neutronRequests: Counter<'resource' | 'method' | 'status'>;
  readonly #neutronRequestDuration: Histogram<'resource' | 'method'>;
  readonly #portsCreated: Counter;
  readonly #portsDeleted: Counter;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#dockerCalls = new Counter({
      name: METRIC.dockerCalls,
      help: 'Docker plugin calls answered, by method and outcome (ok, error, timeout).',
      labelNames: ['method', 'outcome'],
      registers,
    });
    this.#dockerCallDuration = new Histogram({
      name: METRIC.dockerCallDuration,
      help: 'Time to answer a Docker plugin call.',
      labelNames: ['method'],
      buckets: DOCKER_CALL_BUCKETS,
      registers,
    });
    this.#neutronRequests = new Counter({
      name: METRIC.neutronRequests,
      help: 'HTTP requests to Neutron, by resource, method and status (0: no answer).',
      labelNames: ['resource', 'method', 'status'],
      registers,
    });
    this.#neutronRequestDuration = new Histogram({
      name: METRIC.neutronRequestDuration,
      help: 'Time Neutron took to answer one HTTP request.',
      labelNames: ['resource', 'method'],
      buckets: NEUTRON_REQUEST_BUCKETS,
      registers,
    });
    this.#portsCreated = new Counter({ name: METRIC.portsCreated, help: 'Neutron ports created (each port of a bulk create counts).', registers });
    this.#portsDeleted = new Counter({ name: METRIC.portsDeleted, help: 'Neutron ports deleted (an already-gone port does not count).', registers });
  }

  /** A `CallObserver` for the protocol layer. */
  readonly observeDockerCall = (call: DockerCall): void => {
    this.#dockerCalls.inc({ method: call.method, outcome: call.outcome });
    this.#dockerCallDuration.observe({ method: call.method }, call.durationMs / 1000);
  };

  /** For NeutronClient's `onRequest`. */
  readonly observeNeutronRequest = (info: NeutronRequestInfo): void => {
    const resource = closedLabel(info.resource, NEUTRON_RESOURCES);
    const method = closedLabel(info.method, NEUTRON_METHODS);
    this.#neutronRequests.inc({ resource, method, status: statusLabel(info.status) });
    this.#neutronRequestDuration.observe({ resource, method }, info.durationMs / 1000);
    const succeeded = info.status >= 200 && info.status < 300;
    if (!succeeded || resource !== 'ports' || info.objects === undefined) return;
    if (info.method === 'POST') this.#portsCreated.inc(info.objects);
    else if (info.method === 'DELETE') this.#portsDeleted.inc(info.objects);
  };

  /** Adds a gauge to this daemon's registry (the port pool's `kuryr_port_pool_free_ports{network}`). */
  registerGauge<L extends string = never>(def: GaugeDefinition<L>): Gauge<L> {
    if (!def.name.startsWith('kuryr_')) throw new TypeError(`metric ${def.name} must start with kuryr_`);
    const collect = def.collect;
    return new Gauge<L>({
      name: def.name,
      help: def.help,
      labelNames: def.labelNames ?? [],
      registers: [this.registry],
      ...(collect ? { collect(this: Gauge<L>) { return collect(this); } } : {}),
    });
  }

  /** The Prometheus text exposition of everything registered. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
