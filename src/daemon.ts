/**
 * Builds the Kuryr daemon from a resolved configuration: OpenStack clients, host binding, the two
 * drivers, the protocol and its listeners. Used by `kuryr-server` and by tests; does nothing at import.
 */
import { Binder, containerIfName } from './binding/index.js';
import { IprouteHostNetwork } from './binding/host/index.js';
import type { KuryrConfig } from './config/types.js';
import type { Logger } from './log.js';
import { KuryrIpamDriver } from './libnetwork/ipam-driver.js';
import { KuryrNetworkDriver } from './libnetwork/network-driver.js';
import { PluginProtocol } from './libnetwork/protocol.js';
import { PluginServer } from './libnetwork/server.js';
import { KeyedLock, NeutronState, type PortBinder } from './libnetwork/state.js';
import { createOpenStackClients, type OpenStackClients } from './openstack/index.js';
import type { Neutron } from './openstack/neutron-types.js';

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
  listen(): Promise<string[]>;
  close(): Promise<void>;
}

export function buildDaemon(config: KuryrConfig, logger: Logger): Daemon {
  const clients = createOpenStackClients(config.neutron, logger);
  const binder = new Binder({ host: new IprouteHostNetwork(), config: config.binding, logger: logger.child({ component: 'binding' }) });
  const portBinder: PortBinder = {
    bind: (port, network, endpointId) => binder.bind(port, network, endpointId),
    unbind: (port, endpointId) => binder.unbind(port, endpointId),
    containerIfName: (port) => containerIfName(port.id),
  };
  const ctx = {
    neutron: clients.neutron,
    state: new NeutronState(clients.neutron),
    binder: portBinder,
    config,
    logger: logger.child({ component: 'driver' }),
    locks: new KeyedLock(),
  };
  const protocol = new PluginProtocol(new KuryrNetworkDriver(ctx), new KuryrIpamDriver(ctx), logger.child({ component: 'libnetwork' }));
  const server = new PluginServer(protocol, logger);
  return {
    clients,
    protocol,
    server,
    listen: () => {
      // Like upstream, enable_ssl serves TLS on kuryr_uri's address whatever its scheme says.
      const uri = config.enableSsl ? config.kuryrUri.replace(/^http:/, 'https:') : config.kuryrUri;
      return server.listen({
        socketPath: config.socketPath,
        uri,
        tls: config.enableSsl ? { certFile: config.sslCertFile, keyFile: config.sslKeyFile, caFile: config.sslCaFile } : undefined,
        specDir: config.pluginSpecDir,
        pluginName: 'kuryr',
      });
    },
    close: () => server.close(),
  };
}
