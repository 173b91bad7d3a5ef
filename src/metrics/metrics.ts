/**
 * Prometheus metrics of one daemon: Docker calls, Neutron requests, the ports they create and
 * delete, and Node's process metrics, on a registry of their own (several daemons can live in one
 * test process). Served by `MetricsServer` on `[DEFAULT] metrics_listen`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallObserver } from '../libnetwork/protocol.js';
import type { NeutronRequestInfo } from '../openstack/neutron.js';

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
    this.#neutronRequests.inc({ resource: info.resource, method: info.method, status: String(info.status) });
    this.#neutronRequestDuration.observe({ resource: info.resource, method: info.method }, info.durationMs / 1000);
    const succeeded = info.status >= 200 && info.status < 300;
    if (!succeeded || info.resource !== 'ports' || info.objects === undefined) return;
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
