import type { HostNetwork } from '../binding/host/types.js';
import { hostEndExists } from '../binding/naming.js';
import type { VifPoolConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Filters, Neutron, Port, Subnet } from '../openstack/neutron-types.js';
import { isNeutronError, isUnanswered } from '../openstack/errors.js';
import { DEVICE_OWNER, PORT_OWNED_TAG, PORT_POOLED_TAG, POOLED_PORT_NAME, poolHostTag } from './naming.js';

/**
 * This host's free pooled ports, as Neutron filters them: the pool's tags AND Kuryr's device owner
 * (every pooled port is created with both). Tags alone are anyone's to set: a port another owner
 * holds (a VM's) is never taken into a pool, handed to a container or deleted by a drain.
 */
function freePooledFilter(hostname: string, networkId?: string): Filters {
  return {
    ...(networkId ? { network_id: networkId } : {}),
    tags: [PORT_OWNED_TAG, PORT_POOLED_TAG, poolHostTag(hostname)].join(','),
    device_owner: DEVICE_OWNER,
    device_id: '',
  };
}

/** What one network's pool holds: free ports, ready to be claimed. */
interface NetworkPool {
  networkId: string;
  subnets: Subnet[];
  free: Port[];
  /** Free ports to keep ready: [vif_pool] ports_pool_min, or the network's own -o kuryr.pool.min. */
  min: number;
  /** Takers waiting for a refill because the pool ran dry: the refill makes at least that many. */
  waiting: number;
  /** A bulk create went unanswered: Neutron may have made the ports anyway, so look before making more. */
  unsure?: boolean;
  /** A refill under way, so concurrent takers do not start another. */
  refilling?: Promise<void>;
  /** Takers to wake when a batch of the refill lands (or the refill ends). */
  wakers: (() => void)[];
}

function emptyPool(networkId: string, subnets: Subnet[], min: number): NetworkPool {
  return { networkId, subnets, free: [], min, waiting: 0, wakers: [] };
}

/**
 * Per (network, host) pools of pre-created Neutron ports, as kuryr-kubernetes had them. A pooled port
 * already holds its addresses and is tagged as pooled and as this host's; it is left unbound because
 * Neutron refuses to change the MAC of a bound port, and Docker dictates the MAC: the single update
 * that claims it (CreateEndpoint) sets the MAC, the owner and the binding at once.
 *
 * In Neutron a pooled port is free while its device_id is empty; claims are conditional on the
 * port's revision (If-Match), so a port never serves two endpoints, even across a crash.
 */
export class PortPools {
  private readonly pools = new Map<string, NetworkPool>();
  /** Security groups a scrubbed port goes back to, per network (what Neutron gave it at creation). */
  private readonly defaultGroups = new Map<string, string[]>();
  /** Ports handed to RequestAddress and not yet claimed by CreateEndpoint. */
  private readonly taken = new Map<string, Port>();
  /** Addresses already released, per claimed port (dual stack). */
  private readonly released = new Map<string, Set<string>>();
  /** Scrubs under way off Docker's critical path; a drain waits for them. */
  private readonly releasing = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly neutron: Neutron,
    private readonly config: VifPoolConfig,
    private readonly hostname: string,
    private readonly logger: Logger,
    /** This host's devices: a pooled port whose host end exists serves a container. */
    private readonly host: Pick<HostNetwork, 'linkExists'>,
    /** Inside a VM, the VM port's tag (vmPortTag), which every port this daemon makes carries. */
    private readonly ownerTag?: () => string,
  ) {}

  /** Rebuilds the free lists from Neutron (at start: Kuryr's pooled ports of this host) and starts the periodic refill. */
  async start(): Promise<void> {
    const ports = await this.freeInNeutron();
    for (const port of ports) {
      const pool = this.pools.get(port.network_id) ?? emptyPool(port.network_id, [], this.config.min);
      pool.free.push(port);
      this.pools.set(port.network_id, pool);
    }
    if (ports.length > 0) this.logger.info({ ports: ports.length, networks: this.pools.size }, 'port pools rebuilt from Neutron');
    this.timer = setInterval(() => void this.refillAll(), this.config.updateFrequency * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Sizes of the free lists, by Neutron network ID (for status and metrics). */
  sizes(): Map<string, number> {
    return new Map([...this.pools].map(([id, p]) => [id, p.free.length]));
  }

  /** Starts pooling a network's ports (CreateNetwork, or the first use after a restart). */
  enable(networkId: string, subnets: Subnet[], min = this.config.min): void {
    const pool = this.pools.get(networkId) ?? emptyPool(networkId, subnets, min);
    pool.subnets = subnets;
    pool.min = min;
    this.pools.set(networkId, pool);
    void this.refill(pool);
  }

  /** True when the network's pool knows its subnets and so can refill itself. */
  isFilling(networkId: string): boolean {
    return (this.pools.get(networkId)?.subnets.length ?? 0) > 0;
  }

  /**
   * Takes a free port with an address on this subnet, from memory. When the pool has run dry but
   * can fill, waits for the fill under way (or starts one): Docker asks for addresses one at a time
   * per network, so a burst served by single creates would queue behind each of them, while one
   * bulk create serves the next ports_pool_batch takers. A taker is served as soon as a batch
   * lands, not when the whole fill for the burst is done (several batches can outlast Docker's
   * deadline on a loaded Neutron). Undefined when the pool cannot serve (no pool, or the fill
   * ended without a port for it): the caller creates a port, as without pools.
   */
  async take(networkId: string, subnetId: string): Promise<Port | undefined> {
    const pool = this.pools.get(networkId);
    if (!pool) return undefined;
    let port = this.takeFree(pool, subnetId);
    if (port || !pool.subnets.some((s) => s.id === subnetId)) return port;
    pool.waiting++;
    try {
      // The refill joined may have been sized before this taker came and end without a port for
      // it: then one more, sized for the takers waiting. A second that ends empty means Neutron fails.
      for (let refills = 0; !port && refills < 2 && this.pools.get(networkId) === pool; refills++) {
        const refill = this.refill(pool);
        while (!port && pool.refilling === refill && this.pools.get(networkId) === pool) {
          await new Promise<void>((wake) => pool.wakers.push(wake));
          if (this.pools.get(networkId) === pool) port = this.takeFree(pool, subnetId);
        }
      }
    } finally {
      pool.waiting--;
    }
    return port;
  }

  /** Wakes the takers waiting on the pool's refill: a batch landed, or the refill ended. */
  private wakeTakers(pool: NetworkPool): void {
    for (const wake of pool.wakers.splice(0)) wake();
  }

  private takeFree(pool: NetworkPool, subnetId: string): Port | undefined {
    const index = pool.free.findIndex((p) => p.fixed_ips.some((f) => f.subnet_id === subnetId));
    const port = index >= 0 ? pool.free.splice(index, 1)[0] : undefined;
    if (!port) return undefined; // a taker that found none waits on a refill itself (take)
    this.taken.set(port.id, port);
    if (pool.free.length < pool.min) void this.refill(pool);
    return port;
  }

  /** CreateEndpoint made the taken port an endpoint's (or failed to). */
  claimed(portId: string): void {
    this.taken.delete(portId);
  }

  /** A port taken but never claimed (CreateEndpoint failed or never came) goes straight back. */
  putBack(port: Port): void {
    if (!this.taken.delete(port.id)) return; // already free, or another endpoint's now
    this.pools.get(port.network_id)?.free.push(port);
  }

  /**
   * Docker releases an endpoint's addresses one call per family; the port goes back to the pool
   * when the last of its addresses is released. True when that moment has come.
   */
  lastAddressReleased(port: Port, ip: string): boolean {
    const released = this.released.get(port.id) ?? new Set<string>();
    released.add(ip);
    if (port.fixed_ips.every((f) => released.has(f.ip_address))) {
      this.released.delete(port.id);
      return true;
    }
    this.released.set(port.id, released);
    return false;
  }

  /**
   * A released pooled port: scrubbed back to how the pool made it (one Neutron call) and returned,
   * or deleted when the pool already holds its maximum.
   */
  async release(port: Port): Promise<void> {
    const pool = this.pools.get(port.network_id);
    if (!pool || (this.config.max > 0 && pool.free.length >= this.config.max)) {
      await this.neutron.deletePort(port.id);
      return;
    }
    const scrubbed = await this.neutron.updatePort(port.id, {
      name: POOLED_PORT_NAME,
      device_id: '',
      'binding:host_id': '',
      dns_name: '',
      allowed_address_pairs: [],
      ...(this.defaultGroups.has(port.network_id) ? { security_groups: this.defaultGroups.get(port.network_id)! } : {}),
    });
    pool.free.push(scrubbed);
  }

  /**
   * release() without Docker waiting for it: `docker rm` does not wait on Neutron. Until the scrub
   * lands the port is not free; should the daemon die first, it still names the dead endpoint as its
   * device and `kuryr gc` returns it.
   */
  releaseInBackground(port: Port): Promise<void> {
    const work = this.release(port).catch((err: unknown) => {
      this.logger.warn({ err: err instanceof Error ? err.message : String(err), portId: port.id }, 'pooled port not returned to its pool; `kuryr gc` reconciles it');
    });
    this.releasing.add(work);
    void work.finally(() => this.releasing.delete(work));
    return work;
  }

  /** DeleteNetwork: the network's free ports go, so Neutron can delete it. */
  async drain(networkId: string): Promise<void> {
    const pool = this.pools.get(networkId);
    this.pools.delete(networkId);
    this.defaultGroups.delete(networkId);
    await Promise.all([pool?.refilling?.catch(() => undefined), ...this.releasing]);
    // This host's free ports only: on a network other hosts share, theirs serve their pools.
    const leftovers = await this.neutron.listPorts(freePooledFilter(this.hostname, networkId));
    await this.neutron.deletePorts(leftovers.map((p) => p.id));
  }

  private async refillAll(): Promise<void> {
    for (const pool of this.pools.values()) await this.refill(pool);
  }

  private refill(pool: NetworkPool): Promise<void> {
    pool.refilling ??= this.fill(pool).finally(() => {
      pool.refilling = undefined;
      this.wakeTakers(pool);
    });
    return pool.refilling;
  }

  /**
   * Tops the pool up to its minimum (and to the takers waiting on it) in bulk creates of
   * ports_pool_batch, never past ports_pool_max.
   */
  private async fill(pool: NetworkPool): Promise<void> {
    if (pool.subnets.length === 0) return;
    try {
      if (pool.unsure) await this.adoptStrays(pool);
      while (this.pools.get(pool.networkId) === pool && pool.free.length < Math.max(pool.min, pool.waiting)) {
        const room = this.config.max > 0 ? this.config.max - pool.free.length : this.config.batch;
        const count = Math.min(this.config.batch, room);
        if (count <= 0) return;
        const body = {
          name: POOLED_PORT_NAME,
          network_id: pool.networkId,
          admin_state_up: true,
          device_owner: DEVICE_OWNER,
          fixed_ips: pool.subnets.map((s) => ({ subnet_id: s.id })),
          tags: [PORT_OWNED_TAG, PORT_POOLED_TAG, poolHostTag(this.hostname), ...(this.ownerTag ? [this.ownerTag()] : [])],
        } as Partial<Port>;
        const created = await this.neutron.createPorts(Array.from({ length: count }, () => body));
        if (this.pools.get(pool.networkId) !== pool) {
          // Drained while we were creating: these ports belong to no pool.
          await this.neutron.deletePorts(created.map((p) => p.id));
          return;
        }
        if (created[0] && !this.defaultGroups.has(pool.networkId)) this.defaultGroups.set(pool.networkId, created[0].security_groups);
        pool.free.push(...created);
        this.wakeTakers(pool);
        this.logger.debug({ networkId: pool.networkId, created: created.length, free: pool.free.length }, 'port pool refilled');
      }
    } catch (err) {
      if (isNeutronError(err, 404)) this.pools.delete(pool.networkId); // the network is gone
      else {
        if (isUnanswered(err)) pool.unsure = true;
        this.logger.warn({ err: err instanceof Error ? err.message : String(err), networkId: pool.networkId }, 'port pool refill failed; retrying later');
      }
    }
  }

  /** Free pooled ports of this host in Neutron that the pool does not know (an unanswered create made them). */
  private async adoptStrays(pool: NetworkPool): Promise<void> {
    const known = new Set([...pool.free.map((p) => p.id), ...this.taken.keys()]);
    const strays = (await this.freeInNeutron(pool.networkId)).filter((p) => !known.has(p.id));
    pool.free.push(...strays);
    pool.unsure = false;
    if (strays.length > 0) this.logger.info({ networkId: pool.networkId, ports: strays.length }, 'pooled ports from an unanswered create adopted');
  }

  /**
   * This host's pooled ports that Neutron shows free. A port whose claim had not reached Neutron
   * (the daemon died, or the claim is still under way) has its host device: it serves a container.
   */
  private async freeInNeutron(networkId?: string): Promise<Port[]> {
    const listed = await this.neutron.listPorts(freePooledFilter(this.hostname, networkId));
    const inUse = await Promise.all(listed.map((p) => hostEndExists(this.host, p.id)));
    return listed.filter((_, i) => !inUse[i]);
  }
}
