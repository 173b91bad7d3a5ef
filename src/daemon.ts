/**
 * Builds the Kuryr daemon from a resolved configuration: OpenStack clients, host binding, the two
 * drivers, the protocol and its listeners. Used by `kuryr-server` and by tests; does nothing at import.
 */
import { Binder, containerIfName, hostEndExists } from './binding/index.js';
import { IprouteHostNetwork } from './binding/host/index.js';
import type { KuryrConfig } from './config/types.js';
import { DockerClient } from './docker/client.js';
import { PortDnsNamer } from './dns/port-dns-names.js';
import { scheduleGc } from './gc/index.js';
import { KuryrError } from './errors.js';
import type { Logger } from './log.js';
import { KuryrIpamDriver } from './libnetwork/ipam-driver.js';
import { KuryrNetworkDriver } from './libnetwork/network-driver.js';
import { PluginProtocol, currentCall, tracedDependency } from './libnetwork/protocol.js';
import { pluginNameForSpecDir } from './libnetwork/plugin-spec.js';
import { PluginServer } from './libnetwork/server.js';
import { Metrics, MetricsServer } from './metrics/index.js';
import { PortPools } from './libnetwork/port-pool.js';
import { KeyedLock, NeutronState, type PortBinder } from './libnetwork/state.js';
import { VmPort, VmTrunk, nestedBinderFor } from './libnetwork/nested/index.js';
import { insideVm } from './libnetwork/context.js';
import { vmPortTag } from './libnetwork/naming.js';
import type { NestedMode } from './binding/nested.js';
import { createOpenStackClients, type OpenStackClients } from './openstack/index.js';
import { CniServer } from './cni/daemon/server.js';
import { CniService } from './cni/daemon/service.js';
import type { Neutron } from './openstack/neutron-types.js';

/** How long a stopping daemon waits for its background Neutron work. */
const SHUTDOWN_DRAIN_MS = 10_000;
/** Extensions Kuryr cannot work without, and those that only enable features. */
export const REQUIRED_EXTENSIONS = ['subnet_allocation', 'standard-attr-tag', 'binding'] as const;
export const OPTIONAL_EXTENSIONS = ['trunk', 'floating-ip-port-forwarding', 'dns-integration', 'dns-domain-ports', 'tag-ports-during-bulk-creation', 'security-group'] as const;

/** Checks Neutron has what Kuryr relies on; returns the missing optional extensions. */
export async function probeNeutron(neutron: Neutron): Promise<{ missingRequired: string[]; missingOptional: string[] }> {
  const aliases = new Set((await neutron.listExtensions()).map((e) => e.alias));
  return {
    missingRequired: REQUIRED_EXTENSIONS.filter((a) => !aliases.has(a)),
    missingOptional: OPTIONAL_EXTENSIONS.filter((a) => !aliases.has(a)),
  };
}

export interface Daemon {
  clients: OpenStackClients;
  protocol: PluginProtocol;
  server: PluginServer;
  pools: PortPools;
  /** Always collected (other parts register gauges); served only when metrics_listen is set. */
  metrics: Metrics;
  /**
   * Opens the listeners, then starts: `waitForCloud` (e.g. Neutron's extension probe), the VM
   * port, the pools, gc. Docker's handshakes are answered from the moment the listeners are open
   * (a managed plugin must answer them within seconds); other calls wait for the start. Resolves
   * once started, with the addresses served.
   */
  listen(opts?: { waitForCloud?: () => Promise<void>; onListening?: (addresses: string[]) => void; activatedSocketFd?: number }): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * The port drivers this daemon plugs containers with: `veth` on a host with a Neutron agent, and
 * inside a Nova VM `nested` (macvlan or ipvlan children of link_iface) and `vlan` (trunk
 * subports). Upstream's `sriov` is parsed from kuryr.conf but not served yet: refusing it at start
 * is honest, where plugging something else would leave the container without a working port.
 */
const SERVED_PORT_DRIVERS: readonly string[] = ['veth', 'nested', 'vlan'];

export function refuseUnservedPortDriver(config: Pick<KuryrConfig, 'defaultPortDriver' | 'vifPool' | 'neutron'>): void {
  const driver = config.defaultPortDriver ?? 'veth';
  if (!SERVED_PORT_DRIVERS.includes(driver)) {
    throw new KuryrError(
      'KURYR_ERR_CONFIG',
      `kuryr.conf: [DEFAULT] default_port_driver = ${driver} is not served by this Kuryr (it serves ${SERVED_PORT_DRIVERS.join(', ')}); SR-IOV is not supported yet`,
    );
  }
  if (driver === 'vlan' && config.vifPool.enabled) {
    throw new KuryrError('KURYR_ERR_CONFIG', 'kuryr.conf: [vif_pool] enabled = True is not served with default_port_driver = vlan (trunk subports) yet; turn one of them off');
  }
  if (driver === 'nested' && config.neutron.vifPluggingIsFatal) {
    // No agent binds a container's port inside a VM: it never becomes ACTIVE, the VM's port carries it.
    throw new KuryrError('KURYR_ERR_CONFIG', 'kuryr.conf: [neutron] vif_plugging_is_fatal = True cannot be met with default_port_driver = nested: no Neutron agent binds a container port inside a VM, so it never becomes ACTIVE');
  }
}

export function buildDaemon(config: KuryrConfig, logger: Logger): Daemon {
  refuseUnservedPortDriver(config);
  const metrics = new Metrics();
  const clients = createOpenStackClients(config.neutron, logger, {
    onRequest: (info) => {
      metrics.observeNeutronRequest(info);
      currentCall()?.noteNeutronAnswer(info.requestId);
    },
  });
  // What a Docker call waits on, so one that misses call_timeout can say which.
  const tracedNeutron = tracedDependency(clients.neutron, 'Neutron');
  const host = new IprouteHostNetwork();
  // Docker's own API: read in the background only (port DNS names, gc), never inside a plugin call.
  const docker = new DockerClient(config.docker);
  const dnsNames = config.docker.setDnsName ? new PortDnsNamer({ docker, neutron: clients.neutron, logger: logger.child({ component: 'dns' }) }) : undefined;
  // Inside a Nova VM (nested): the VM's own port, located at start from link_iface's MAC.
  const vmPort = insideVm(config)
    ? new VmPort(clients.neutron, config.binding.linkIface, async () => (await host.getLink(config.binding.linkIface))?.mac)
    : undefined;
  // Inside a VM every port this daemon makes (pooled ones too) carries the VM port's ID: gc finds them by it.
  const ownerTag = vmPort ? () => vmPortTag(vmPort.port.id) : undefined;
  const ctx = {
    vmPort,
    endpointObserver: dnsNames,
    neutron: tracedNeutron,
    state: new NeutronState(tracedNeutron, { hostname: config.hostname, projectId: () => clients.session.projectId(), ownerTag }),
    binder: tracedDependency(portBinder(host, config, logger, vmPort, clients.neutron), 'host binding'),
    config,
    logger: logger.child({ component: 'driver' }),
    locks: new KeyedLock(),
    // A taker waits on the pool when it runs dry: a call that misses its deadline then names the pool.
    pools: tracedDependency(new PortPools(clients.neutron, config.vifPool, config.hostname, logger.child({ component: 'pools' }), host, ownerTag), 'port pool'),
  };
  // Docker's capability handshakes are answered as soon as the listeners are open; the rest waits for the start.
  let started: Promise<void> = new Promise(() => undefined);
  let isStarted = false;
  const afterStart = () => started;
  const net = heldUntilStarted(new KuryrNetworkDriver(ctx), afterStart, ['getCapabilities']);
  const ipam = heldUntilStarted(new KuryrIpamDriver(ctx), afterStart, ['getCapabilities', 'getDefaultAddressSpaces']);
  const protocol = new PluginProtocol(net, ipam, logger.child({ component: 'libnetwork' }), {
    observe: metrics.observeDockerCall,
    callTimeoutSeconds: config.callTimeout,
  });
  registerGauges(metrics, ctx.pools, ctx.state);
  const server = new PluginServer(protocol, logger);
  const metricsServer = new MetricsServer(metrics, logger.child({ component: 'metrics' }));
  // Pods through kuryr-cni: the same context (pools, binder, Neutron) as Docker's containers.
  const cni = config.cniDaemon.enabled
    ? new CniServer({ service: new CniService(ctx), logger: logger.child({ component: 'cni' }), started: afterStart, isStarted: () => isStarted })
    : undefined;
  let stopGc: (() => void) | undefined;
  return {
    clients,
    protocol,
    server,
    metrics,
    pools: ctx.pools,
    listen: async (opts = {}) => {
      const start = async () => {
        await opts.waitForCloud?.();
        if (vmPort) {
          const port = await vmPort.locate();
          if (config.defaultPortDriver === 'vlan') VmTrunk.trunkOf(port, config.binding.linkIface);
          logger.info({ vmPortId: port.id, networkId: port.network_id, linkIface: config.binding.linkIface, mode: config.binding.defaultDriver }, 'containers in this VM use its Neutron port');
        }
        await ctx.pools.start();
      };
      const addresses = await listenAll(config, server, metricsServer, opts.activatedSocketFd);
      if (cni) addresses.push(await cni.listen(config.cniDaemon.socketPath));
      opts.onListening?.(addresses);
      started = start();
      await started;
      isStarted = true;
      if (config.gcOnStart || config.gcInterval > 0) {
        stopGc = scheduleGc({ config, neutron: clients.neutron, docker }, logger.child({ component: 'gc' }), { onStart: config.gcOnStart, intervalSeconds: config.gcInterval });
      }
      return addresses;
    },
    close: async () => {
      stopGc?.();
      dnsNames?.close();
      ctx.pools.stop();
      await Promise.all([server.close(), metricsServer.close(), cni?.close()]);
      // Claims and scrubs still under way would otherwise be left for `kuryr gc`: give them a moment.
      const bound = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_DRAIN_MS).unref());
      await Promise.race([ctx.state.drainPending(), bound]);
    },
  };
}

/**
 * A driver whose calls, but for the handshakes named, wait until the daemon has started. A managed
 * plugin must answer Docker's capability calls within seconds of its start, whether or not
 * Keystone and Neutron answer yet; a call needing them waits meanwhile (within call_timeout, and
 * one that misses it names the start-up as what held it), and fails with the start's error.
 */
function heldUntilStarted<T extends object>(driver: T, started: () => Promise<void>, handshakes: readonly string[]): T {
  return new Proxy(driver, {
    get(obj, prop) {
      const value: unknown = Reflect.get(obj, prop, obj);
      if (typeof value !== 'function' || typeof prop !== 'string' || handshakes.includes(prop)) return value;
      const fn = value as (...args: unknown[]) => unknown;
      return async (...args: unknown[]) => {
        const call = currentCall();
        await (call ? call.waitFor('Kuryr start-up (Keystone and Neutron)', started) : started());
        return fn.apply(obj, args);
      };
    },
  });
}

/** The drivers' view of host binding: the binder's verbs and the names it gives devices. */
function portBinder(host: IprouteHostNetwork, config: KuryrConfig, logger: Logger, vmPort: VmPort | undefined, neutron: Neutron): PortBinder {
  const binder = new Binder({ host, config: config.binding, logger: logger.child({ component: 'binding' }) });
  if (vmPort) return nestedBinderFor(nestedMode(config), { binder, vm: vmPort, neutron });
  return {
    bind: (port, network, endpointId, opts) => binder.bind(port, network, endpointId, opts),
    activate: (port) => binder.activate(port),
    unbind: (port, endpointId) => binder.unbind(port, endpointId),
    containerIfName: (port) => containerIfName(port.id),
    hostEndExists: (port) => hostEndExists(host, port.id),
  };
}

/** Gauges read at scrape time from the pools and the background Neutron work. */
function registerGauges(metrics: Metrics, pools: PortPools, state: NeutronState): void {
  metrics.registerGauge<'network'>({
    name: 'kuryr_port_pool_free_ports',
    help: 'Free pooled ports ready for containers, by Neutron network.',
    labelNames: ['network'],
    collect: (gauge) => {
      gauge.reset();
      for (const [network, free] of pools.sizes()) gauge.set({ network }, free);
    },
  });
  metrics.registerGauge({
    name: 'kuryr_background_tasks',
    help: 'Neutron work finishing after Docker was answered (claims, scrubs of released pooled ports).',
    collect: (gauge) => gauge.set(state.pendingCount()),
  });
}

/** The plugin's listeners (unix socket, kuryr_uri) and the metrics listener; returns what they serve. */
async function listenAll(config: KuryrConfig, server: PluginServer, metricsServer: MetricsServer, activatedFd?: number): Promise<string[]> {
  // Config has refused a kuryr_uri whose scheme disagrees with enable_ssl: https is TLS, http is not.
  const addresses = await server.listen({
    socketPath: config.socketPath,
    uri: config.kuryrUri,
    tls: config.enableSsl
      ? { certFile: config.sslCertFile, keyFile: config.sslKeyFile, caFile: config.sslCaFile, allowedClientNames: config.sslAllowedClientNames }
      : undefined,
    specDir: config.pluginSpecDir,
    pluginName: pluginNameForSpecDir(config.pluginSpecDir),
    dockerTls: config.dockerPluginTls,
    ...(activatedFd === undefined ? {} : { activatedFd }),
  });
  if (config.metricsListen) {
    const bound = await metricsServer.listen(config.metricsListen);
    addresses.push(`metrics http://${bound.host.includes(':') ? `[${bound.host}]` : bound.host}:${bound.port}/metrics`);
  }
  return addresses;
}

/** The device mode inside a VM: `vlan` for the vlan port driver; macvlan or ipvlan for nested. */
function nestedMode(config: KuryrConfig): NestedMode {
  const driver = config.binding.defaultDriver;
  if (config.defaultPortDriver === 'vlan') return 'vlan';
  if (driver === 'macvlan' || driver === 'ipvlan') return driver;
  throw new KuryrError('KURYR_ERR_CONFIG', `kuryr.conf: [binding] default_driver = ${driver} does not go with default_port_driver = nested (use macvlan or ipvlan)`);
}
