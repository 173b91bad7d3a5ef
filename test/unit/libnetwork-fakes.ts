/** The scripted fake Neutron the driver unit tests share (the only place a fake Neutron is allowed). */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { canonicalIp, cidrWithin, parseCidr, type Cidr } from '../../src/libnetwork/cidr.js';
import { NeutronError } from '../../src/openstack/errors.js';
import type { Creatable, Filters, FixedIp, Network, Neutron, Port, Subnet, SubnetPool, TaggedCollection } from '../../src/openstack/neutron-types.js';

/** A Neutron whose methods are scripted per test; every call is recorded. Unscripted calls fail the test. */
export function fakeNeutron(script: Partial<Record<keyof Neutron, (...args: never[]) => unknown>>): { neutron: Neutron; calls: string[] } {
  const calls: string[] = [];
  const neutron = new Proxy({} as Neutron, {
    get: (_t, name: string) => {
      if (name === 'requestCount') return calls.length;
      return async (...args: unknown[]) => {
        calls.push(`${name} ${JSON.stringify(args)}`);
        const impl = (script as Record<string, (...a: unknown[]) => unknown>)[name];
        if (!impl) throw new Error(`unexpected Neutron call ${name}`);
        return impl(...args);
      };
    },
  });
  return { neutron, calls };
}

/**
 * A Neutron that keeps its objects in memory and answers as the real one does where the drivers
 * depend on it: addresses allocated from the subnet (409 IpAddressAlreadyAllocated / MacAddressInUse),
 * a port bound to a host gets the Linux bridge agent's vif_type, deleting a network with a port
 * other than Neutron's own is a 409, and deleting it takes its subnets along. For tests that assert
 * what exists in Neutron after driver calls, not which calls made it so.
 */
export interface MemoryNeutron {
  neutron: Neutron;
  networks: Map<string, Network>;
  subnets: Map<string, Subnet>;
  subnetPools: Map<string, SubnetPool>;
  ports: Map<string, Port>;
}

type Stored = { id: string; tags: string[] };

function neutronError(status: number, type: string, message: string, method: string, path: string): NeutronError {
  return new NeutronError({ method, path, httpStatus: status, type, neutronMessage: message });
}

/** Neutron's list filters: equality per field, `tags` (all of, comma-separated), `fixed_ips` (`key=value` each), arrays any of. */
function matches(object: Record<string, unknown>, filters: Filters = {}): boolean {
  return Object.entries(filters).every(([key, want]) => {
    if (want === undefined) return true;
    if (key === 'tags') return String(want).split(',').every((t) => (object['tags'] as string[]).includes(t));
    if (key === 'fixed_ips') {
      const wanted = (Array.isArray(want) ? want : [String(want)]).map((kv) => kv.split('=') as [string, string]);
      return (object['fixed_ips'] as FixedIp[]).some((f) => wanted.every(([k, v]) => String((f as unknown as Record<string, unknown>)[k]) === v));
    }
    const have = String(object[key] ?? '');
    return Array.isArray(want) ? want.includes(have) : have === String(want);
  });
}

/** The subnet's host addresses in order (the first few thousand are plenty for a test). */
function* hostAddresses(cidr: Cidr): Generator<string> {
  const base = ipaddr.parse(cidr.network).toByteArray();
  const size = cidr.version === 4 ? 2 ** (32 - cidr.prefixLength) - 1 : 65536;
  for (let i = 1; i < size; i++) {
    const bytes = [...base];
    bytes[bytes.length - 1]! += i & 255;
    bytes[bytes.length - 2]! += i >> 8;
    yield ipaddr.fromByteArray(bytes).toString();
  }
}

export function memoryNeutron(opts: { agentVifType?: string } = {}): MemoryNeutron {
  const networks = new Map<string, Network>();
  const subnets = new Map<string, Subnet>();
  const subnetPools = new Map<string, SubnetPool>();
  const ports = new Map<string, Port>();
  let requests = 0;
  let macs = 0;
  const collections: Record<TaggedCollection, Map<string, Stored>> = {
    networks, subnets, subnetpools: subnetPools, ports, 'security-groups': new Map(), trunks: new Map(), floatingips: new Map(),
  } as unknown as Record<TaggedCollection, Map<string, Stored>>;
  const list = <T>(map: Map<string, T>, filters?: Filters): T[] => [...map.values()].filter((o) => matches(o as Record<string, unknown>, filters)).map((o) => structuredClone(o));
  const get = <T>(map: Map<string, T>, id: string, what: string): T => {
    const o = map.get(id);
    if (!o) throw neutronError(404, `${what}NotFound`, `${what} ${id} could not be found.`, 'GET', `/v2.0/${what.toLowerCase()}s/${id}`);
    return structuredClone(o);
  };
  const used = (subnetId: string) => new Set([...ports.values()].flatMap((p) => p.fixed_ips.filter((f) => f.subnet_id === subnetId).map((f) => f.ip_address)));

  function allocate(requested: Partial<FixedIp>[], portId: string): FixedIp[] {
    return requested.map((r) => {
      const subnet = r.subnet_id ? subnets.get(r.subnet_id) : undefined;
      if (!subnet) throw neutronError(400, 'InvalidInput', `no subnet ${r.subnet_id}`, 'POST', '/v2.0/ports');
      const taken = [...ports.values()].filter((p) => p.id !== portId).flatMap((p) => p.fixed_ips.filter((f) => f.subnet_id === subnet.id).map((f) => f.ip_address));
      if (r.ip_address) {
        const ip = canonicalIp(r.ip_address);
        if (taken.includes(ip) || ip === subnet.gateway_ip) throw neutronError(409, 'IpAddressAlreadyAllocated', `IP address ${ip} already allocated in subnet ${subnet.id}`, 'POST', '/v2.0/ports');
        return { subnet_id: subnet.id, ip_address: ip };
      }
      for (const ip of hostAddresses(parseCidr(subnet.cidr))) {
        if (ip !== subnet.gateway_ip && !taken.includes(ip)) return { subnet_id: subnet.id, ip_address: ip };
      }
      throw neutronError(409, 'IpAddressGenerationFailure', `no more addresses on subnet ${subnet.id}`, 'POST', '/v2.0/ports');
    });
  }

  /** The Linux bridge agent's answer to a port bound to its host. */
  function bindingOf(host: string | undefined): Partial<Port> {
    return host ? { 'binding:vif_type': opts.agentVifType ?? 'bridge', 'binding:vif_details': { port_filter: true } } : { 'binding:vif_type': 'unbound', 'binding:vif_details': {} };
  }

  function createPort(body: Creatable<Port>): Port {
    const id = randomUUID();
    const mac = body.mac_address ?? `fa:16:3e:00:${((++macs >> 8) & 255).toString(16).padStart(2, '0')}:${(macs & 255).toString(16).padStart(2, '0')}`;
    if ([...ports.values()].some((p) => p.network_id === body.network_id && p.mac_address === mac)) {
      throw neutronError(409, 'MacAddressInUse', `Unable to complete operation for network ${body.network_id}. The mac address ${mac} is in use.`, 'POST', '/v2.0/ports');
    }
    const network = networks.get(body.network_id ?? '');
    if (!network) throw neutronError(404, 'NetworkNotFound', `Network ${body.network_id} could not be found.`, 'POST', '/v2.0/ports');
    const requested = body.fixed_ips ?? [...subnets.values()].filter((s) => s.network_id === network.id).map((s) => ({ subnet_id: s.id }));
    const port: Port = {
      name: '', device_id: '', device_owner: '', admin_state_up: true, security_groups: [], tags: [], project_id: network.project_id, ...structuredClone(body),
      id, network_id: network.id, mac_address: mac, status: 'DOWN', revision_number: 1,
      fixed_ips: allocate(requested, id),
      ...bindingOf(body['binding:host_id']),
    } as Port;
    ports.set(id, port);
    return structuredClone(port);
  }

  const neutron: Neutron = {
    get requestCount() {
      return requests;
    },
    listExtensions: async () => [],
    listNetworks: async (f) => list(networks, f),
    getNetwork: async (id) => get(networks, id, 'Network'),
    createNetwork: async (body) => {
      const net: Network = { name: '', shared: false, admin_state_up: true, tags: [], project_id: 'kuryr-project', mtu: 1450, ...structuredClone(body), id: randomUUID(), status: 'ACTIVE' } as Network;
      networks.set(net.id, net);
      return structuredClone(net);
    },
    deleteNetwork: async (id) => {
      if ([...ports.values()].some((p) => p.network_id === id && !p.device_owner.startsWith('network:'))) {
        throw neutronError(409, 'NetworkInUse', `Unable to complete operation on network ${id}. There are one or more ports still in use on the network.`, 'DELETE', `/v2.0/networks/${id}`);
      }
      for (const [pid, p] of ports) if (p.network_id === id) ports.delete(pid);
      for (const [sid, s] of subnets) if (s.network_id === id) subnets.delete(sid);
      networks.delete(id);
    },
    listSubnets: async (f) => list(subnets, f),
    getSubnet: async (id) => get(subnets, id, 'Subnet'),
    createSubnet: async (body) => {
      const pool = body.subnetpool_id ? subnetPools.get(body.subnetpool_id) : undefined;
      const cidrText = body.cidr ?? pool?.prefixes[0];
      if (!cidrText) throw neutronError(400, 'BadRequest', 'a subnet needs a cidr or a subnet pool', 'POST', '/v2.0/subnets');
      const cidr = parseCidr(cidrText);
      if (pool && !pool.prefixes.some((p) => cidrWithin(cidr, parseCidr(p)))) throw neutronError(400, 'BadRequest', `${cidr.text} is not in pool ${pool.id}`, 'POST', '/v2.0/subnets');
      if (![...subnets.values()].every((s) => s.network_id !== body.network_id || !cidrWithin(cidr, parseCidr(s.cidr)))) {
        throw neutronError(400, 'BadRequest', `${cidr.text} overlaps a subnet of network ${body.network_id}`, 'POST', '/v2.0/subnets');
      }
      const gateway = body.gateway_ip === undefined ? hostAddresses(cidr).next().value ?? null : body.gateway_ip;
      const subnet: Subnet = {
        name: '', enable_dhcp: true, host_routes: [], tags: [], subnetpool_id: null, ...structuredClone(body),
        id: randomUUID(), cidr: cidr.text, ip_version: cidr.version, gateway_ip: gateway, network_id: body.network_id ?? '',
      } as Subnet;
      subnets.set(subnet.id, subnet);
      return structuredClone(subnet);
    },
    deleteSubnet: async (id) => {
      if (used(id).size > 0) throw neutronError(409, 'SubnetInUse', `Unable to complete operation on subnet ${id}: One or more ports have an IP allocation from this subnet.`, 'DELETE', `/v2.0/subnets/${id}`);
      subnets.delete(id);
    },
    listSubnetPools: async (f) => list(subnetPools, f),
    getSubnetPool: async (id) => get(subnetPools, id, 'SubnetPool'),
    createSubnetPool: async (body) => {
      const pool: SubnetPool = { name: '', shared: false, tags: [], default_prefixlen: 24, ...structuredClone(body), id: randomUUID(), ip_version: parseCidr(body.prefixes?.[0] ?? '').version } as SubnetPool;
      subnetPools.set(pool.id, pool);
      return structuredClone(pool);
    },
    deleteSubnetPool: async (id) => {
      if ([...subnets.values()].some((s) => s.subnetpool_id === id)) throw neutronError(409, 'SubnetPoolInUse', `Subnet pool ${id} is in use`, 'DELETE', `/v2.0/subnetpools/${id}`);
      subnetPools.delete(id);
    },
    listPorts: async (f) => list(ports, f),
    getPort: async (id) => get(ports, id, 'Port'),
    createPort: async (body) => createPort(body),
    createPorts: async (bodies) => {
      const created: Port[] = [];
      try {
        for (const body of bodies) created.push(createPort(body));
      } catch (err) {
        for (const p of created) ports.delete(p.id); // all or nothing, as Neutron's bulk create
        throw err;
      }
      return created;
    },
    updatePort: async (id, body, updateOpts) => {
      const port = ports.get(id);
      if (!port) throw neutronError(404, 'PortNotFound', `Port ${id} could not be found.`, 'PUT', `/v2.0/ports/${id}`);
      if (updateOpts?.ifRevision !== undefined && updateOpts.ifRevision !== port.revision_number) {
        throw neutronError(412, 'PreconditionFailed', `revision_number ${port.revision_number} != ${updateOpts.ifRevision}`, 'PUT', `/v2.0/ports/${id}`);
      }
      const next: Port = { ...port, ...structuredClone(body), id, revision_number: (port.revision_number ?? 0) + 1 };
      if (body.fixed_ips) next.fixed_ips = allocate(body.fixed_ips, id);
      if ('binding:host_id' in body) Object.assign(next, bindingOf(body['binding:host_id']));
      ports.set(id, next);
      return structuredClone(next);
    },
    deletePort: async (id) => void ports.delete(id),
    deletePorts: async (ids) => ids.forEach((id) => ports.delete(id)),
    replaceTags: async (collection, id, tags) => {
      const o = collections[collection].get(id);
      if (!o) throw neutronError(404, 'NotFound', `${collection} ${id} could not be found.`, 'PUT', `/v2.0/${collection}/${id}/tags`);
      o.tags = [...tags];
      return [...tags];
    },
    addTag: async (collection, id, tag) => {
      const o = collections[collection].get(id);
      if (!o) throw neutronError(404, 'NotFound', `${collection} ${id} could not be found.`, 'PUT', `/v2.0/${collection}/${id}/tags/${tag}`);
      if (!o.tags.includes(tag)) o.tags.push(tag);
    },
    removeTag: async (collection, id, tag) => {
      const o = collections[collection].get(id);
      if (o) o.tags = o.tags.filter((t) => t !== tag);
    },
    listSecurityGroups: async () => [],
    createSecurityGroup: async () => assert.fail('the happy path makes no security group'),
    deleteSecurityGroup: async () => undefined,
    createSecurityGroupRules: async () => assert.fail('the happy path makes no security group rule'),
    // A trunk lives on its parent port's trunk_details, as Neutron shows it.
    addTrunkSubports: async (trunkId, subports) => {
      const parent = [...ports.values()].find((p) => p.trunk_details?.trunk_id === trunkId);
      if (!parent) throw neutronError(404, 'TrunkNotFound', `Trunk ${trunkId} could not be found.`, 'PUT', `/v2.0/trunks/${trunkId}/add_subports`);
      const held = parent.trunk_details!.sub_ports;
      for (const s of subports) {
        if (held.some((h) => h.segmentation_id === s.segmentation_id) || [...ports.values()].some((p) => p.trunk_details?.sub_ports.some((h) => h.port_id === s.port_id))) {
          throw neutronError(409, 'DuplicateSubPort', `segmentation type vlan and id ${s.segmentation_id} already in use on trunk ${trunkId}.`, 'PUT', `/v2.0/trunks/${trunkId}/add_subports`);
        }
      }
      parent.trunk_details = { trunk_id: trunkId, sub_ports: [...held, ...subports] };
    },
    removeTrunkSubports: async (trunkId, portIds) => {
      const parent = [...ports.values()].find((p) => p.trunk_details?.trunk_id === trunkId);
      if (!parent) throw neutronError(404, 'TrunkNotFound', `Trunk ${trunkId} could not be found.`, 'PUT', `/v2.0/trunks/${trunkId}/remove_subports`);
      parent.trunk_details = { trunk_id: trunkId, sub_ports: parent.trunk_details!.sub_ports.filter((s) => !portIds.includes(s.port_id)) };
    },
    listFloatingIps: async () => [],
    listPortForwardings: async () => [],
    createPortForwarding: async () => assert.fail('the happy path publishes no port'),
    deletePortForwarding: async () => undefined,
  };
  // Every method counts as one request, as the HTTP client counts them.
  const counted = new Proxy(neutron, {
    get: (target, name, receiver) => {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        requests++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { neutron: counted, networks, subnets, subnetPools, ports };
}
