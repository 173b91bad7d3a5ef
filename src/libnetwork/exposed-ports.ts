import { invalidRequest, notFound, withContext } from '../errors.js';
import type { SecurityGroupRule } from '../openstack/neutron-types.js';
import { OPT_EXPOSED_PORTS, type Empty, type EndpointRequest, type ExternalConnectivityRequest } from './api.js';
import { isNeutronError } from '../openstack/errors.js';
import type { DriverContext } from './context.js';
import { undo } from './undo.js';
import { idTags } from './naming.js';

const PROTOCOLS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' };

interface ExposedPort {
  Proto: number;
  Port: number;
}

export const exposedGroupName = (portId: string) => `${portId}-exposed_ports`;
/**
 * Marks the exposed-ports groups Kuryr makes. The name is upstream's, and anyone can name a group
 * so: `kuryr gc` deletes only groups with this tag (upstream kuryr-libnetwork's carry none).
 */
export const EXPOSED_GROUP_TAG = 'kuryr.sg.exposed';

/** Consecutive port numbers collapse into one rule: [80,81,82,443] -> [80-82, 443-443]. */
export function collapseRanges(ports: number[]): [number, number][] {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const p of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && p === last[1] + 1) last[1] = p;
    else ranges.push([p, p]);
  }
  return ranges;
}

function parseExposed(value: unknown): ExposedPort[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidRequest(`${OPT_EXPOSED_PORTS} must be a list`);
  return value.map((item: unknown) => {
    const { Proto, Port } = (item ?? {}) as Partial<ExposedPort>;
    if (typeof Proto !== 'number' || !PROTOCOLS[Proto]) throw invalidRequest(`exposed port protocol ${JSON.stringify(Proto)} is not one of tcp, udp, sctp, icmp`);
    if (typeof Port !== 'number' || !Number.isInteger(Port) || Port < 0 || Port > 65535) throw invalidRequest(`exposed port ${JSON.stringify(Port)} is not a port number`);
    return { Proto, Port };
  });
}

/** Exposed ports (`--expose`, image EXPOSE) become one security group per endpoint. */
export class ExposedPorts {
  /**
   * Endpoints programmed by this process, and whether they got a group: revoking those needs no
   * lookup. Only endpoints that have a port get an entry, and the entry goes with the endpoint
   * (revoke, or forget from DeleteEndpoint), so requests cannot grow it.
   */
  private readonly programmed = new Map<string, boolean>();

  constructor(private readonly ctx: DriverContext) {}

  async program(req: ExternalConnectivityRequest): Promise<Empty> {
    if (!this.ctx.config.processExternalConnectivity) return {};
    const exposed = parseExposed(req.Options?.[OPT_EXPOSED_PORTS]);
    const { neutron, state, logger } = this.ctx;
    const port = await state.endpointPort(req.EndpointID, req.NetworkID);
    if (!port) {
      if (exposed.length === 0) return {}; // nothing to program for an endpoint we do not know
      throw notFound(`endpoint ${req.EndpointID.slice(0, 12)} has no Neutron port`);
    }
    this.programmed.set(req.EndpointID, exposed.length > 0);
    if (exposed.length === 0) return {};
    // The endpoint's claim on the port (made in the background) goes first: it is revision-checked.
    await state.settled(port.id);
    await this.removeGroups(port.id, port.security_groups); // a retried call starts clean
    const rules: Partial<SecurityGroupRule>[] = [];
    const byProto = new Map<number, number[]>();
    for (const e of exposed) byProto.set(e.Proto, [...(byProto.get(e.Proto) ?? []), e.Port]);
    const rollback: (() => Promise<unknown>)[] = [];
    try {
      const group = await neutron.createSecurityGroup({
        name: exposedGroupName(port.id),
        description: 'Docker exposed ports created by Kuryr.',
        tags: [EXPOSED_GROUP_TAG, ...idTags(req.EndpointID)],
      });
      rollback.push(() => neutron.deleteSecurityGroup(group.id));
      for (const [proto, numbers] of byProto) {
        const protocol = PROTOCOLS[proto]!;
        const ranges: ([number, number] | null)[] = protocol === 'icmp' ? [null] : collapseRanges(numbers);
        for (const ethertype of ['IPv4', 'IPv6'] as const) {
          for (const range of ranges) {
            rules.push({
              security_group_id: group.id,
              direction: 'ingress',
              ethertype,
              protocol: protocol === 'icmp' && ethertype === 'IPv6' ? 'ipv6-icmp' : protocol,
              port_range_min: range ? range[0] : null,
              port_range_max: range ? range[1] : null,
            });
          }
        }
      }
      await neutron.createSecurityGroupRules(rules);
      const current = await neutron.getPort(port.id);
      const updated = await neutron.updatePort(port.id, { security_groups: [group.id, ...current.security_groups.filter((g) => g !== group.id)] });
      state.updatePort({ ...updated, tags: port.tags });
    } catch (err) {
      await undo(logger, rollback, `exposed ports of endpoint ${req.EndpointID}`);
      throw withContext(`expose ports of endpoint ${req.EndpointID.slice(0, 12)}`, err);
    }
    return {};
  }

  async revoke(req: EndpointRequest): Promise<Empty> {
    if (!this.ctx.config.processExternalConnectivity) return {};
    const hadGroup = this.programmed.get(req.EndpointID);
    this.programmed.delete(req.EndpointID);
    if (hadGroup === false) return {};
    const port = await this.ctx.state.endpointPort(req.EndpointID, req.NetworkID);
    if (!port) return {};
    await this.removeGroups(port.id);
    return {};
  }

  /** DeleteEndpoint: the endpoint is gone, and so is what this process knew of it. */
  forget(endpointId: string): void {
    this.programmed.delete(endpointId);
  }

  private async removeGroups(portId: string, knownGroups?: string[]): Promise<void> {
    const { neutron, state } = this.ctx;
    const groups = await neutron.listSecurityGroups({ name: exposedGroupName(portId) });
    if (groups.length === 0) return;
    const ids = new Set(groups.map((g) => g.id));
    try {
      const current = knownGroups ? { security_groups: knownGroups } : await neutron.getPort(portId);
      if (current.security_groups.some((g) => ids.has(g))) {
        const updated = await neutron.updatePort(portId, { security_groups: current.security_groups.filter((g) => !ids.has(g)) });
        state.updatePort(updated);
      }
    } catch (err) {
      if (!isNeutronError(err, 404)) throw err;
    }
    for (const id of ids) await neutron.deleteSecurityGroup(id);
  }
}
