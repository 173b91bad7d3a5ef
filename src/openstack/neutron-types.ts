/** Neutron v2.0 resources, with Neutron's own field names. Only what Kuryr reads or writes. */

export interface FixedIp {
  subnet_id: string;
  ip_address: string;
}

export interface Network {
  id: string;
  name: string;
  project_id?: string;
  tenant_id?: string;
  shared: boolean;
  admin_state_up: boolean;
  status?: string;
  mtu?: number;
  subnets?: string[];
  tags: string[];
  'router:external'?: boolean;
}

export interface HostRoute {
  destination: string;
  nexthop: string;
}

export interface Subnet {
  id: string;
  name: string;
  network_id: string;
  ip_version: 4 | 6;
  cidr: string;
  gateway_ip: string | null;
  enable_dhcp: boolean;
  subnetpool_id: string | null;
  host_routes: HostRoute[];
  /** Name servers DHCP hands out; CNI's result passes them to the pod. */
  dns_nameservers?: string[];
  tags: string[];
  project_id?: string;
}

export interface SubnetPool {
  id: string;
  name: string;
  prefixes: string[];
  default_prefixlen: number | string;
  ip_version: 4 | 6;
  shared: boolean;
  is_default?: boolean;
  tags: string[];
  project_id?: string;
}

export interface AllowedAddressPair {
  ip_address: string;
  mac_address?: string;
}

export interface TrunkDetails {
  trunk_id: string;
  sub_ports: { port_id: string; segmentation_type: string; segmentation_id: number; mac_address?: string }[];
}

export interface Port {
  id: string;
  name: string;
  network_id: string;
  mac_address: string;
  fixed_ips: FixedIp[];
  device_id: string;
  device_owner: string;
  admin_state_up: boolean;
  status: string; // ACTIVE | DOWN | BUILD | ERROR
  project_id?: string;
  tenant_id?: string;
  security_groups: string[];
  allowed_address_pairs?: AllowedAddressPair[];
  tags: string[];
  'binding:host_id'?: string;
  'binding:vif_type'?: string;
  'binding:vif_details'?: Record<string, unknown>;
  'binding:vnic_type'?: string;
  'binding:profile'?: Record<string, unknown>;
  dns_name?: string;
  trunk_details?: TrunkDetails;
  revision_number?: number;
}

export interface SecurityGroup {
  id: string;
  name: string;
  description?: string;
  tags: string[];
}

export interface SecurityGroupRule {
  id: string;
  security_group_id: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
}

export interface FloatingIp {
  id: string;
  floating_ip_address: string;
  floating_network_id: string;
  port_id: string | null;
  router_id: string | null;
  tags: string[];
}

export interface PortForwarding {
  id: string;
  protocol: 'tcp' | 'udp';
  internal_ip_address: string;
  internal_port: number;
  internal_port_id: string;
  external_port: number;
  description?: string;
}

export interface Extension {
  alias: string;
  name: string;
}

/** Query filters: repeated keys (fixed_ips) are given as arrays. */
export type Filters = Record<string, string | number | boolean | string[] | undefined>;

export type Creatable<T> = Partial<Omit<T, 'id' | 'status'>>;

/** Tag-able collections, as named in `/v2.0/{collection}/{id}/tags`. */
export type TaggedCollection = 'networks' | 'subnets' | 'subnetpools' | 'ports' | 'security-groups' | 'trunks' | 'floatingips';

/**
 * The typed Neutron client. `openstack/neutron.ts` implements it over HTTP with Keystone auth;
 * unit tests of error paths may implement it with a fake.
 * Every method throws a NeutronError (see openstack/errors.ts) on a non-2xx answer or no answer
 * (404 -> KURYR_ERR_NOT_FOUND, 409/412 -> KURYR_ERR_CONFLICT, 400 -> KURYR_ERR_INVALID_REQUEST,
 * 401/403 -> KURYR_ERR_AUTH, others -> KURYR_ERR_NEUTRON); Keystone failures surface as KuryrError
 * KURYR_ERR_AUTH/NEUTRON.
 * `list*` follow pagination and return every item.
 * `delete*` are idempotent: a 404 (already gone) counts as success.
 */
export interface Neutron {
  listExtensions(): Promise<Extension[]>;

  listNetworks(filters?: Filters): Promise<Network[]>;
  getNetwork(id: string): Promise<Network>;
  createNetwork(body: Creatable<Network>): Promise<Network>;
  /** 404 counts as success. */
  deleteNetwork(id: string): Promise<void>;

  listSubnets(filters?: Filters): Promise<Subnet[]>;
  getSubnet(id: string): Promise<Subnet>;
  createSubnet(body: Creatable<Subnet> & { prefixlen?: number }): Promise<Subnet>;
  /** 404 counts as success. */
  deleteSubnet(id: string): Promise<void>;

  listSubnetPools(filters?: Filters): Promise<SubnetPool[]>;
  getSubnetPool(id: string): Promise<SubnetPool>;
  createSubnetPool(body: Creatable<SubnetPool>): Promise<SubnetPool>;
  /** 404 counts as success. */
  deleteSubnetPool(id: string): Promise<void>;

  listPorts(filters?: Filters): Promise<Port[]>;
  getPort(id: string): Promise<Port>;
  createPort(body: Creatable<Port>): Promise<Port>;
  /** Bulk create: one request, all or nothing. */
  createPorts(bodies: Creatable<Port>[]): Promise<Port[]>;
  /** `ifRevision` sends `If-Match: revision_number=<n>`; a mismatch is a 412 (KURYR_ERR_CONFLICT). */
  updatePort(id: string, body: Partial<Port>, opts?: { ifRevision?: number }): Promise<Port>;
  /** 404 counts as success. */
  deletePort(id: string): Promise<void>;
  /**
   * Neutron has no bulk delete: several DELETEs at once (a few in flight, not all), so draining a
   * large pool fits in Docker's call. All are tried; the first failure is thrown after.
   */
  deletePorts(ids: string[]): Promise<void>;

  /** PUT /{collection}/{id}/tags: replaces all tags in one call. */
  replaceTags(collection: TaggedCollection, id: string, tags: string[]): Promise<string[]>;
  addTag(collection: TaggedCollection, id: string, tag: string): Promise<void>;
  /** A tag that is already gone counts as removed (404 is success). */
  removeTag(collection: TaggedCollection, id: string, tag: string): Promise<void>;

  listSecurityGroups(filters?: Filters): Promise<SecurityGroup[]>;
  createSecurityGroup(body: { name: string; description?: string; tags?: string[] }): Promise<SecurityGroup>;
  /** 404 counts as success. */
  deleteSecurityGroup(id: string): Promise<void>;
  createSecurityGroupRules(rules: Creatable<SecurityGroupRule>[]): Promise<SecurityGroupRule[]>;

  addTrunkSubports(trunkId: string, subports: { port_id: string; segmentation_type: string; segmentation_id: number }[]): Promise<void>;
  removeTrunkSubports(trunkId: string, portIds: string[]): Promise<void>;

  listFloatingIps(filters?: Filters): Promise<FloatingIp[]>;
  listPortForwardings(floatingIpId: string, filters?: Filters): Promise<PortForwarding[]>;
  createPortForwarding(floatingIpId: string, body: Creatable<PortForwarding>): Promise<PortForwarding>;
  /** A forwarding that is already gone counts as deleted. */
  deletePortForwarding(floatingIpId: string, id: string): Promise<void>;

  /** Count of HTTP requests sent so far (for metrics and the benchmark). */
  readonly requestCount: number;
}
