/** Wiring of the OpenStack clients from the resolved configuration. */
import type { NeutronConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { KeystoneSession } from './keystone.js';
import { NeutronClient, type NeutronRequestInfo } from './neutron.js';

export { KeystoneSession, normaliseAuthUrl, buildAuthBody, MIN_TOKEN_LIFE_MS } from './keystone.js';
export type { KeystoneSessionOptions, CatalogEntry, CatalogEndpoint, EndpointInterface } from './keystone.js';
export { NeutronClient, neutronBase } from './neutron.js';
export type { NeutronClientOptions, NeutronRequestInfo } from './neutron.js';
export { NeutronError, TransportError, scrubSecrets } from './errors.js';
export { encodeQuery } from './http.js';

export interface OpenStackClients {
  session: KeystoneSession;
  neutron: NeutronClient;
}

export function createOpenStackClients(
  cfg: NeutronConfig,
  logger: Logger,
  opts: { onRequest?: (info: NeutronRequestInfo) => void } = {},
): OpenStackClients {
  const session = new KeystoneSession({
    auth: cfg.auth,
    tls: cfg.tls,
    timeout: cfg.timeout,
    regionName: cfg.regionName,
    endpointType: cfg.endpointType,
    endpointOverride: cfg.endpointOverride,
    logger,
  });
  const neutron = new NeutronClient({ session, logger, onRequest: opts.onRequest, maxConcurrentRequests: cfg.maxConcurrentRequests });
  return { session, neutron };
}
