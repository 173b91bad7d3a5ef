import { KuryrError, invalidRequest, notFound, withContext } from '../errors.js';
import type { FloatingIp } from '../openstack/neutron-types.js';
import { OPT_PORT_MAP, type Empty, type EndpointRequest, type ExternalConnectivityRequest } from './api.js';
import type { DriverContext } from './context.js';
import { undo } from './undo.js';

const PROTOCOLS: Record<number, 'tcp' | 'udp'> = { 6: 'tcp', 17: 'udp' };

/** One `-p HOST:CONTAINER[/proto]` as Docker sends it in com.docker.network.portmap. */
export interface PublishedPort {
  protocol: 'tcp' | 'udp';
  containerPort: number;
  hostPort: number;
}

/** What Docker sends as HostIP for `-p HOST:CONTAINER` without an address. */
const ANY_ADDRESS: ReadonlySet<string> = new Set(['', '0.0.0.0', '::']);

const isPort = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535;

export function parsePortMap(value: unknown): PublishedPort[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidRequest(`${OPT_PORT_MAP} must be a list`);
  return value.map((item: unknown) => {
    const b = (item ?? {}) as { Proto?: unknown; Port?: unknown; HostIP?: unknown; HostPort?: unknown; HostPortEnd?: unknown };
    const protocol = PROTOCOLS[b.Proto as number];
    if (!protocol) throw invalidRequest(`published port protocol ${JSON.stringify(b.Proto)} is not tcp or udp (Neutron port forwarding knows no other)`);
    if (!isPort(b.Port) || b.Port === 0) throw invalidRequest(`published container port ${JSON.stringify(b.Port)} is not a port number`);
    const hostPort = b.HostPort === undefined || b.HostPort === 0 ? b.Port : b.HostPort;
    if (!isPort(hostPort)) throw invalidRequest(`published host port ${JSON.stringify(b.HostPort)} is not a port number`);
    if (isPort(b.HostPortEnd) && b.HostPortEnd !== 0 && b.HostPortEnd !== hostPort) {
      throw invalidRequest(`host port ranges (${hostPort}-${b.HostPortEnd}) are not supported: publish single ports`);
    }
    if (typeof b.HostIP === 'string' && !ANY_ADDRESS.has(b.HostIP)) {
      // Forwarding from the floating IP would publish on an address the user did not ask for.
      throw invalidRequest(`published ports bound to a host address (-p ${b.HostIP}:${hostPort}:${b.Port}) are not supported: Kuryr forwards from the floating IP [port_forwarding] floating_ip; publish without a host address`);
    }
    return { protocol, containerPort: b.Port, hostPort };
  });
}

function externalConnectivityOff(published: readonly PublishedPort[]): KuryrError {
  const ports = published.map((p) => `${p.hostPort}:${p.containerPort}/${p.protocol}`).join(', ');
  return new KuryrError(
    'KURYR_ERR_CONFIG',
    `published ports (-p ${ports}) on a Kuryr network need [DEFAULT] process_external_connectivity = True in kuryr.conf (it is False, so nothing would forward them); set it, or publish nothing (containers are reachable on their Neutron address)`,
  );
}

/**
 * Published ports (`-p HOST:CONTAINER`) become Neutron port forwardings on the floating IP named by
 * `[port_forwarding] floating_ip`: the floating IP's HOST port reaches the container's port.
 * Without that option, or with `[DEFAULT] process_external_connectivity = False`, `-p` on a Kuryr
 * network is refused, never silently ignored.
 */
export class PublishedPorts {
  private floatingIp?: FloatingIp;
  /**
   * Endpoints programmed by this process, and whether they got forwardings. Only endpoints that have
   * a port get an entry, and it goes with the endpoint (revoke, or forget from DeleteEndpoint).
   */
  private readonly programmed = new Map<string, boolean>();

  constructor(private readonly ctx: DriverContext) {}

  async program(req: ExternalConnectivityRequest): Promise<Empty> {
    const published = parsePortMap(req.Options?.[OPT_PORT_MAP]);
    if (!this.ctx.config.processExternalConnectivity) {
      // Docker would report the container published while nothing forwards to it: refuse instead.
      if (published.length > 0) throw externalConnectivityOff(published);
      return {};
    }
    const { neutron, state, logger } = this.ctx;
    const port = await state.endpointPort(req.EndpointID, req.NetworkID);
    if (!port) {
      if (published.length === 0) return {}; // nothing to program for an endpoint we do not know
      throw notFound(`endpoint ${req.EndpointID.slice(0, 12)} has no Neutron port`);
    }
    this.programmed.set(req.EndpointID, published.length > 0);
    if (published.length === 0) return {};
    const fip = await this.resolveFloatingIp();
    const ip = port.fixed_ips.find((f) => !f.ip_address.includes(':'))?.ip_address;
    if (!ip) throw invalidRequest('published ports need an IPv4 address: floating IPs are IPv4');
    await this.removeForwardings(fip.id, port.id); // a retried call starts clean
    const rollback: (() => Promise<unknown>)[] = [];
    try {
      for (const p of published) {
        const made = await neutron.createPortForwarding(fip.id, {
          protocol: p.protocol,
          internal_ip_address: ip,
          internal_port: p.containerPort,
          internal_port_id: port.id,
          external_port: p.hostPort,
          description: `kuryr endpoint ${req.EndpointID}`,
        });
        rollback.push(() => neutron.deletePortForwarding(fip.id, made.id));
      }
    } catch (err) {
      await undo(logger, rollback, `published ports of endpoint ${req.EndpointID}`);
      throw withContext(`publish ports of endpoint ${req.EndpointID.slice(0, 12)} on floating IP ${fip.floating_ip_address}`, err);
    }
    return {};
  }

  async revoke(req: EndpointRequest): Promise<Empty> {
    const had = this.programmed.get(req.EndpointID);
    this.programmed.delete(req.EndpointID);
    if (had === false || !this.ctx.config.portForwarding.floatingIp) return {};
    const port = await this.ctx.state.endpointPort(req.EndpointID, req.NetworkID);
    if (!port) return {};
    await this.removeForwardings((await this.resolveFloatingIp()).id, port.id);
    return {};
  }

  /** DeleteEndpoint: the endpoint is gone, and so is what this process knew of it. */
  forget(endpointId: string): void {
    this.programmed.delete(endpointId);
  }

  private async removeForwardings(fipId: string, portId: string): Promise<void> {
    for (const pf of await this.ctx.neutron.listPortForwardings(fipId, { internal_port_id: portId })) {
      await this.ctx.neutron.deletePortForwarding(fipId, pf.id);
    }
  }

  private async resolveFloatingIp(): Promise<FloatingIp> {
    if (this.floatingIp) return this.floatingIp;
    const wanted = this.ctx.config.portForwarding.floatingIp;
    if (!wanted) {
      throw new KuryrError(
        'KURYR_ERR_CONFIG',
        'published ports (-p) on a Kuryr network need a floating IP to forward from: set [port_forwarding] floating_ip in kuryr.conf, or publish nothing (containers are reachable on their Neutron address)',
      );
    }
    const byAddress = /^[0-9.]+$/.test(wanted);
    const [fip] = await this.ctx.neutron.listFloatingIps(byAddress ? { floating_ip_address: wanted } : { id: wanted });
    if (!fip) throw notFound(`[port_forwarding] floating_ip ${wanted} is not a floating IP in Neutron`);
    this.floatingIp = fip;
    return fip;
  }
}
