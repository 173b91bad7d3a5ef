/** What the benchmark reads about the daemon under test: its memory and its port pools. */
import { readFileSync } from 'node:fs';
import { PORT_POOLED_TAG, idTags } from '../src/libnetwork/naming.js';
import type { Neutron } from '../src/openstack/neutron-types.js';

export interface Memory {
  pid: number;
  /** VmRSS: resident now. */
  rssKb: number;
  /** VmHWM: the most it was resident since it started. */
  peakRssKb: number;
}

/** The daemon's pid from its pid file, when that process is alive. */
export function daemonPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    readFileSync(`/proc/${pid}/status`); // gone: throws
    return pid;
  } catch {
    return undefined;
  }
}

export function daemonMemory(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { pid, rssKb: kb('VmRSS'), peakRssKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

export interface PoolWait {
  warm: boolean;
  freePorts: number;
  waitedMs: number;
}

/** Free pooled ports of a Docker network's pool, as Neutron lists them (tags set by the daemon). */
export class PoolProbe {
  constructor(
    readonly neutron: Neutron,
    /** `[vif_pool] ports_pool_min`: a pool holding this many free ports is warm. */
    readonly warmAt: number,
  ) {}

  async neutronNetworkId(dockerNetworkId: string): Promise<string | undefined> {
    const [network] = await this.neutron.listNetworks({ tags: idTags(dockerNetworkId).join(',') });
    return network?.id;
  }

  async freePorts(neutronNetworkId: string): Promise<number> {
    return (await this.neutron.listPorts({ network_id: neutronNetworkId, tags: PORT_POOLED_TAG, device_id: '' })).length;
  }

  /**
   * Polls until the pool is warm or the bound passes; a benchmark of a cold pool would measure its
   * refill. A pool still without a single port after `emptyTimeoutMs` is taken for no pool at all.
   */
  async waitWarm(neutronNetworkId: string, timeoutMs: number, emptyTimeoutMs: number, signal: AbortSignal): Promise<PoolWait> {
    const start = Date.now();
    for (;;) {
      signal.throwIfAborted();
      const freePorts = await this.freePorts(neutronNetworkId);
      const waitedMs = Date.now() - start;
      if (freePorts >= this.warmAt) return { warm: true, freePorts, waitedMs };
      if (waitedMs > timeoutMs || (freePorts === 0 && waitedMs > emptyTimeoutMs)) return { warm: false, freePorts, waitedMs };
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
