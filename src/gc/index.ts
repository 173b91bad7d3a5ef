/**
 * Garbage collection of Kuryr's leftovers (crashes, failed rollbacks): snapshot, plan, execute.
 * Used by `kuryr gc` and, with `gc_on_start` / `gc_interval`, by the daemon.
 */
import { IprouteHostNetwork } from '../binding/host/index.js';
import type { KuryrConfig } from '../config/types.js';
import type { DockerApi } from '../docker/client.js';
import { createLogger, type Logger } from '../log.js';
import type { Neutron, Port } from '../openstack/neutron-types.js';
import { bindingHost, insideVm } from '../libnetwork/context.js';
import { vmPortTag } from '../libnetwork/naming.js';
import { containerPairs } from '../libnetwork/nested/port-binder.js';
import { VmPort } from '../libnetwork/nested/vm-port.js';
import { VmTrunk } from '../libnetwork/nested/vm-trunk.js';
import { servedDriverNamesWithPluginName } from './driver-names.js';
import { executeGcPlan, formatGcOutcome, summarizeGc, type GcOutcome } from './execute.js';
import { planGc, type HostDevice } from './reconcile.js';
import { listKuryrDevices, takeSnapshot } from './snapshot.js';

export { formatGcOutcome, summarizeGc, type GcOutcome } from './execute.js';
export { servedDriverNames } from './driver-names.js';

/** Long enough for a `docker run` or `docker network create` to finish what it started in Neutron. */
export const DEFAULT_GC_GRACE_SECONDS = 120;

export interface GcRunOptions {
  dryRun: boolean;
  /** Seconds an object that may be mid-creation must be unchanged before it is judged. */
  gracePeriodSeconds: number;
  /** Also delete orphan networks no port ties to this host. */
  unattributedNetworks: boolean;
}

export interface GcDeps {
  config: Pick<KuryrConfig, 'hostname' | 'subnetpoolNamePrefix' | 'neutron' | 'socketPath' | 'pluginSpecDir' | 'kuryrUri' | 'defaultPortDriver' | 'binding'>;
  neutron: Neutron;
  docker: DockerApi;
  /** Defaults: `ip -json link show type veth`, and deleting through iproute2. */
  listDevices?: () => Promise<HostDevice[]>;
  deleteDevice?: (name: string) => Promise<void>;
  /** What gc could not learn (the daemon: its log). Default: stderr, for `kuryr gc`. */
  logger?: Logger;
  /** Default: /proc/self/cgroup (which managed plugin this process runs in, if any). */
  readOwnCgroups?: () => Promise<string>;
}

export async function runGc(deps: GcDeps, opts: GcRunOptions): Promise<GcOutcome[]> {
  const { config } = deps;
  const nested = await nestedScope(deps);
  const logger = deps.logger ?? createLogger({ name: 'kuryr-gc' });
  const driverNames = await servedDriverNamesWithPluginName({ config, docker: deps.docker, logger, readOwnCgroups: deps.readOwnCgroups });
  const snapshot = await takeSnapshot({
    neutron: deps.neutron,
    docker: deps.docker,
    listDevices: deps.listDevices ?? (() => listKuryrDevices('ip', nested ? ['veth', 'macvlan', 'ipvlan'] : ['veth'])),
    hostname: nested?.owner ?? config.hostname,
    subnetpoolNamePrefix: config.subnetpoolNamePrefix,
  });
  const plan = planGc(snapshot.neutron, snapshot.docker, snapshot.host, {
    hostname: nested?.owner ?? config.hostname,
    bindingHost: bindingHost(config),
    now: Date.now(),
    gracePeriodMs: opts.gracePeriodSeconds * 1000,
    unattributedNetworks: opts.unattributedNetworks,
    subnetpoolNamePrefix: config.subnetpoolNamePrefix,
    defaultPoolNames: [config.neutron.defaultSubnetpoolV4, config.neutron.defaultSubnetpoolV6],
    driverNames,
  });
  const host = deps.deleteDevice ? undefined : new IprouteHostNetwork();
  const deleteDevice = deps.deleteDevice ?? ((name: string) => host!.deleteLink(name));
  return executeGcPlan(plan, { neutron: deps.neutron, deleteDevice, releaseFromVm: nested?.releaseFromVm }, { dryRun: opts.dryRun });
}

/**
 * Inside a Nova VM: this VM's ports are those tagged with its port's ID, and a port goes only after
 * its address pairs have left the VM's port (nested), or it has left the VM's trunk (vlan).
 */
async function nestedScope(deps: GcDeps): Promise<{ owner: string; releaseFromVm(port: Port): Promise<void> } | undefined> {
  const { config } = deps;
  if (!insideVm(config)) return undefined;
  const { linkIface, defaultDriver } = config.binding;
  const vm = new VmPort(deps.neutron, linkIface, async () => (await new IprouteHostNetwork().getLink(linkIface))?.mac);
  const owner = vmPortTag((await vm.locate()).id);
  if (config.defaultPortDriver === 'vlan') {
    // A trunk subport's VLAN id is freed with the subport.
    const trunk = new VmTrunk(deps.neutron, vm);
    return { owner, releaseFromVm: async (port) => (port.tags.includes(owner) ? trunk.removeSubport(port) : undefined) };
  }
  const mode = defaultDriver === 'ipvlan' ? 'ipvlan' : 'macvlan';
  return {
    owner,
    releaseFromVm: async (port) => {
      if (port.tags.includes(owner)) await vm.removePairs(containerPairs(mode, vm.port, port));
    },
  };
}

/**
 * The daemon's collection: once at start (`gc_on_start`) and every `gc_interval` seconds, never two
 * at once, each object logged. Runs in the background; returns the function that stops it.
 */
export function scheduleGc(deps: GcDeps, logger: Logger, when: { onStart: boolean; intervalSeconds: number }): () => void {
  let running = false;
  const once = async (trigger: 'start' | 'interval') => {
    if (running) return;
    running = true;
    try {
      const outcomes = await runGc({ logger, ...deps }, { dryRun: false, gracePeriodSeconds: DEFAULT_GC_GRACE_SECONDS, unattributedNetworks: false });
      for (const o of outcomes) {
        if (o.result === 'failed') logger.warn({ kind: o.action.kind, error: o.error }, `gc: ${formatGcOutcome(o)}`);
        else if (o.result === 'kept') logger.debug({ kind: o.action.kind }, `gc: ${formatGcOutcome(o)}`);
        else logger.info({ kind: o.action.kind }, `gc: ${formatGcOutcome(o)}`);
      }
      logger.info({ trigger }, `gc: ${summarizeGc(outcomes)}`);
    } catch (err) {
      logger.warn({ trigger, err: err instanceof Error ? err.message : String(err) }, 'gc could not run; next time, maybe');
    } finally {
      running = false;
    }
  };
  const timer = when.intervalSeconds > 0 ? setInterval(() => void once('interval'), when.intervalSeconds * 1000) : undefined;
  timer?.unref();
  if (when.onStart) void once('start');
  return () => clearInterval(timer);
}
