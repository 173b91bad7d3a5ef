/**
 * DNS by port name: a joined endpoint's Neutron port gets `dns_name` = the container's host name
 * (when one was chosen with --hostname) or its name, so Neutron's `dns_assignment` carries it.
 *
 * Docker holds its own locks while it calls the plugin, so asking Docker who owns an endpoint from
 * inside Join could wait on them and slow `docker run`. The work is queued instead and done in the
 * background once the container is visible in its network: bounded retries, failures only logged.
 */
import type { DockerApi } from '../docker/client.js';
import { DockerApiError } from '../docker/client.js';
import type { EndpointObserver } from '../libnetwork/context.js';
import { PORT_EXISTING_TAG } from '../libnetwork/naming.js';
import type { Logger } from '../log.js';
import { NeutronError } from '../openstack/errors.js';
import type { Neutron, Port } from '../openstack/neutron-types.js';

/** Longest DNS label (RFC 1035). */
const MAX_LABEL = 63;

/**
 * A Docker name as a DNS label: lower case, runs of anything but [a-z0-9-] become one '-',
 * at most 63 characters, no '-' at either end. Undefined when nothing usable is left.
 */
export function dnsLabel(name: string): string | undefined {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+/, '')
    .slice(0, MAX_LABEL)
    .replace(/-+$/, '');
  return label || undefined;
}

/**
 * The name a container answers to: its host name when one was chosen (`--hostname`), else its
 * container name. Docker's default host name is the first 12 characters of the container ID.
 */
export function containerDnsName(container: { id: string; name: string; hostname: string }): string | undefined {
  const name = container.name.replace(/^\//, '');
  const chosen = container.hostname && !container.id.startsWith(container.hostname) ? container.hostname : name;
  return dnsLabel(chosen);
}

interface Job {
  endpointId: string;
  networkId: string;
  portId: string;
  /** The port's dns_name when the endpoint joined: no update when it already matches. */
  currentDnsName: string;
  /** CreateEndpoint's background update of the port: ours must not overtake it (pooled ports are claimed with If-Match). */
  settled: Promise<void>;
  attempt: number;
  dueAt: number;
}

/** Until the container is visible in its network (after `docker run` finishes starting it). */
const DEFAULT_RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 16000] as const;
const DEFAULT_MAX_PENDING = 1024;
/** Containers named at once: enough to keep up with a burst of starts without flooding Neutron. */
const PARALLEL = 4;

export interface PortDnsNamerOptions {
  docker: Pick<DockerApi, 'inspectNetwork' | 'inspectContainer'>;
  neutron: Pick<Neutron, 'updatePort'>;
  logger: Logger;
  /** Wait before each attempt; its length bounds the attempts. */
  retryDelaysMs?: readonly number[];
  /** Endpoints waiting at most; more are dropped with a warning. */
  maxPending?: number;
}

export class PortDnsNamer implements EndpointObserver {
  private readonly docker: PortDnsNamerOptions['docker'];
  private readonly neutron: PortDnsNamerOptions['neutron'];
  private readonly log: Logger;
  private readonly delays: readonly number[];
  private readonly maxPending: number;
  /** By endpoint ID: a re-join replaces the waiting job. */
  private readonly pending = new Map<string, Job>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Endpoints of the running batch; those deleted meanwhile; dns_name updates under way. */
  private readonly inBatch = new Set<string>();
  private readonly deleted = new Set<string>();
  private readonly updating = new Map<string, Promise<unknown>>();
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(opts: PortDnsNamerOptions) {
    this.docker = opts.docker;
    this.neutron = opts.neutron;
    this.log = opts.logger;
    this.delays = opts.retryDelaysMs && opts.retryDelaysMs.length > 0 ? opts.retryDelaysMs : DEFAULT_RETRY_DELAYS_MS;
    this.maxPending = opts.maxPending ?? DEFAULT_MAX_PENDING;
  }

  onEndpointJoined(event: { endpointId: string; networkId: string; port: Port; settled: Promise<void> }): void {
    try {
      const { endpointId, networkId, port, settled } = event;
      if (this.closed) return;
      // An adopted port is the operator's: its DNS name stays theirs, and releasing it would not undo ours.
      if (port.tags.includes(PORT_EXISTING_TAG)) return;
      if (!this.pending.has(endpointId) && this.pending.size >= this.maxPending) {
        this.log.warn({ endpointId, portId: port.id, pending: this.pending.size }, 'too many ports waiting for a DNS name; this one keeps none');
        return;
      }
      this.pending.set(endpointId, { endpointId, networkId, portId: port.id, currentDnsName: port.dns_name ?? '', settled, attempt: 0, dueAt: Date.now() + this.delays[0]! });
      this.schedule();
    } catch (err) {
      // Called inside Join: nothing here may fail the attach.
      this.log.error({ err }, 'could not queue a port DNS name');
    }
  }

  /**
   * A deleted endpoint's port is scrubbed and pooled right after: a name set later would stick to a
   * free port (and bump its revision). Drops the waiting job, or cancels the running one.
   */
  async onEndpointDeleted(endpointId: string): Promise<void> {
    this.pending.delete(endpointId);
    if (!this.inBatch.has(endpointId)) return;
    this.deleted.add(endpointId);
    // Only the Neutron call is waited for: the batch may be asking Docker, which holds its locks now.
    await this.updating.get(endpointId)?.catch(() => undefined);
  }

  /** Resolves once nothing is waiting or running (tests, shutdown). */
  whenIdle(): Promise<void> {
    if (this.pending.size === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
    if (!this.running) this.notifyIdle();
  }

  private schedule(): void {
    if (this.running) return; // the running batch reschedules when it ends
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed || this.pending.size === 0) {
      this.notifyIdle();
      return;
    }
    const next = Math.min(...[...this.pending.values()].map((j) => j.dueAt));
    this.timer = setTimeout(() => this.runDue(), Math.max(0, next - Date.now()));
  }

  private runDue(): void {
    this.timer = undefined;
    const now = Date.now();
    const due = [...this.pending.values()].filter((j) => j.dueAt <= now);
    for (const job of due) this.pending.delete(job.endpointId);
    const batch = this.runBatch(due)
      .catch((err: unknown) => this.log.error({ err }, 'port DNS names: batch failed'))
      .finally(() => {
        for (const job of due) {
          this.inBatch.delete(job.endpointId);
          this.deleted.delete(job.endpointId);
        }
        this.running = undefined;
        this.schedule();
      });
    for (const job of due) this.inBatch.add(job.endpointId);
    this.running = batch;
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** One inspect per network serves every endpoint waiting on it. */
  private async runBatch(jobs: Job[]): Promise<void> {
    const byNetwork = new Map<string, Job[]>();
    for (const job of jobs) byNetwork.set(job.networkId, [...(byNetwork.get(job.networkId) ?? []), job]);
    for (const [networkId, waiting] of byNetwork) {
      let endpoints;
      try {
        endpoints = (await this.docker.inspectNetwork(networkId)).Containers ?? {};
      } catch (err) {
        if (err instanceof DockerApiError && err.httpStatus === 404) continue; // the network is gone, and its ports with it
        for (const job of waiting) this.retry(job, err);
        continue;
      }
      const found: { job: Job; containerId: string; name: string }[] = [];
      for (const job of waiting) {
        const entry = Object.entries(endpoints).find(([, e]) => e.EndpointID === job.endpointId);
        if (entry) found.push({ job, containerId: entry[0], name: entry[1].Name });
        else this.retry(job, undefined);
      }
      for (let i = 0; i < found.length; i += PARALLEL) {
        await Promise.all(found.slice(i, i + PARALLEL).map((f) => this.name(f.job, f.containerId, f.name)));
      }
    }
  }

  private async name(job: Job, containerId: string, containerName: string): Promise<void> {
    const fields = { endpointId: job.endpointId, portId: job.portId, container: containerName };
    try {
      const container = await this.docker.inspectContainer(containerId);
      const dnsName = containerDnsName({ id: container.Id, name: containerName, hostname: container.Config?.Hostname ?? '' });
      if (!dnsName) {
        this.log.info(fields, 'container name has no character valid in a DNS label; port keeps no dns_name');
        return;
      }
      if (dnsName === job.currentDnsName) return;
      await job.settled;
      if (this.deleted.has(job.endpointId)) return;
      const update = this.neutron.updatePort(job.portId, { dns_name: dnsName });
      this.updating.set(job.endpointId, update);
      await update.finally(() => this.updating.delete(job.endpointId));
      this.log.debug({ ...fields, dnsName }, 'port dns_name set');
    } catch (err) {
      if (err instanceof DockerApiError && err.httpStatus === 404) return; // the container went away meanwhile
      if (err instanceof NeutronError && err.httpStatus === 400 && /Unrecognized attribute/i.test(err.message)) {
        // No dns-integration extension: say it once, not once per container.
        this.log.warn({ err: err.message }, 'Neutron has no dns-integration extension: ports get no dns_name ([docker] set_dns_name = False silences this)');
        this.close();
        return;
      }
      if (err instanceof NeutronError && err.httpStatus !== undefined && err.httpStatus < 500) {
        // 404: the port is gone; 400/409: Neutron refuses this name (invalid, taken). Retrying will not help.
        if (err.httpStatus !== 404) this.log.warn({ ...fields, err: err.message }, 'Neutron refused the port dns_name');
        return;
      }
      this.retry(job, err);
    }
  }

  private retry(job: Job, err: unknown): void {
    const attempt = job.attempt + 1;
    if (attempt >= this.delays.length) {
      const why = err instanceof Error ? err.message : 'no container of its network holds the endpoint';
      this.log.info({ endpointId: job.endpointId, portId: job.portId, attempts: attempt, why }, 'gave up setting the port dns_name');
      return;
    }
    if (this.closed || this.pending.has(job.endpointId) || this.deleted.has(job.endpointId)) return; // closed, re-queued by a newer Join, or deleted
    this.pending.set(job.endpointId, { ...job, attempt, dueAt: Date.now() + this.delays[attempt]! });
  }
}
