/**
 * Docker's remote network driver and IPAM driver protocols, with Docker's wire names
 * (moby libnetwork drivers/remote/api and ipams/remote/api). Drivers see only these types.
 */

export type Options = Record<string, unknown>;

export interface IpamData {
  AddressSpace: string;
  Pool: string;
  Gateway?: string;
  AuxAddresses?: Record<string, string> | null;
}

export interface CreateNetworkRequest {
  NetworkID: string;
  Options: Options | null;
  IPv4Data: IpamData[] | null;
  IPv6Data: IpamData[] | null;
}

export interface NetworkRequest {
  NetworkID: string;
}

export interface AllocateNetworkRequest {
  NetworkID: string;
  Options?: Record<string, string> | null;
  IPv4Data?: IpamData[] | null;
  IPv6Data?: IpamData[] | null;
}

export interface EndpointInterface {
  Address?: string;
  AddressIPv6?: string;
  MacAddress?: string;
}

export interface CreateEndpointRequest {
  NetworkID: string;
  EndpointID: string;
  Options: Options | null;
  Interface: EndpointInterface | null;
}

export interface CreateEndpointResponse {
  Interface: EndpointInterface;
}

export interface EndpointRequest {
  NetworkID: string;
  EndpointID: string;
}

export interface JoinRequest extends EndpointRequest {
  SandboxKey: string;
  Options?: Options | null;
}

export interface StaticRoute {
  Destination: string;
  RouteType: 0 | 1;
  NextHop?: string;
}

export interface JoinResponse {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway?: string;
  GatewayIPv6?: string;
  StaticRoutes: StaticRoute[];
  DisableGatewayService: boolean;
}

export interface ExternalConnectivityRequest extends EndpointRequest {
  Options?: Options | null;
}

export interface EndpointOperInfoResponse {
  Value: Record<string, unknown>;
}

export interface CapabilitiesResponse {
  Scope: 'local' | 'global';
  ConnectivityScope: 'local' | 'global';
}

export interface RequestPoolRequest {
  AddressSpace: string;
  Pool: string;
  SubPool: string;
  Options: Record<string, string> | null;
  V6: boolean;
}

export interface RequestPoolResponse {
  PoolID: string;
  Pool: string;
  Data?: Record<string, string>;
}

export interface ReleasePoolRequest {
  PoolID: string;
}

export interface RequestAddressRequest {
  PoolID: string;
  Address: string;
  Options: Record<string, string> | null;
}

export interface RequestAddressResponse {
  Address: string;
  Data?: Record<string, string>;
}

export interface ReleaseAddressRequest {
  PoolID: string;
  Address: string;
}

export interface IpamCapabilitiesResponse {
  RequiresMACAddress: boolean;
  RequiresRequestReplay: boolean;
}

export interface AddressSpacesResponse {
  LocalDefaultAddressSpace: string;
  GlobalDefaultAddressSpace: string;
}

export type Empty = Record<string, never>;

export interface NetworkDriver {
  getCapabilities(): CapabilitiesResponse;
  createNetwork(req: CreateNetworkRequest): Promise<Empty>;
  deleteNetwork(req: NetworkRequest): Promise<Empty>;
  allocateNetwork(req: AllocateNetworkRequest): Promise<{ Options: Record<string, string> }>;
  freeNetwork(req: NetworkRequest): Promise<Empty>;
  createEndpoint(req: CreateEndpointRequest): Promise<CreateEndpointResponse>;
  endpointOperInfo(req: EndpointRequest): Promise<EndpointOperInfoResponse>;
  deleteEndpoint(req: EndpointRequest): Promise<Empty>;
  join(req: JoinRequest): Promise<JoinResponse>;
  leave(req: EndpointRequest): Promise<Empty>;
  programExternalConnectivity(req: ExternalConnectivityRequest): Promise<Empty>;
  revokeExternalConnectivity(req: EndpointRequest): Promise<Empty>;
}

export interface IpamDriver {
  getCapabilities(): IpamCapabilitiesResponse;
  getDefaultAddressSpaces(): AddressSpacesResponse;
  requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse>;
  releasePool(req: ReleasePoolRequest): Promise<Empty>;
  requestAddress(req: RequestAddressRequest): Promise<RequestAddressResponse>;
  releaseAddress(req: ReleaseAddressRequest): Promise<Empty>;
}

/** Docker's well-known option keys. */
export const OPT_GENERIC = 'com.docker.network.generic';
export const OPT_ENABLE_IPV6 = 'com.docker.network.enable_ipv6';
export const OPT_MAC = 'com.docker.network.endpoint.macaddress';
export const OPT_EXPOSED_PORTS = 'com.docker.network.endpoint.exposedports';
export const OPT_PORT_MAP = 'com.docker.network.portmap';
export const OPT_REQUEST_ADDRESS_TYPE = 'RequestAddressType';
export const GATEWAY_ADDRESS_TYPE = 'com.docker.network.gateway';
