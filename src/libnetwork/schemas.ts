/** JSON schemas of the requests Docker sends. Lenient where upstream was needlessly rigid (SandboxKey). */

const dockerId = { type: 'string', pattern: '^([0-9a-f]{64}|[0-9a-z]{25})$' } as const;
// A Neutron UUID as Neutron writes it (it reaches id and tag filters), optionally followed by
// ":<cidr>" for a block of a default pool (pool-id.ts).
const poolId = { type: 'string', maxLength: 128, pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(:[0-9a-fA-F:.]+/[0-9]{1,3})?$' } as const;
// Shapes only; the CIDR and address values are parsed and range-checked by cidr.ts with clear messages.
const cidrOrEmpty = { type: 'string', maxLength: 64, pattern: '^$|^[0-9a-fA-F:.]+/[0-9]{1,3}$' } as const;
const ipOrEmpty = { type: 'string', maxLength: 64, pattern: '^$|^[0-9a-fA-F:.]+$' } as const;
const mac = { type: 'string', pattern: '^$|^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' } as const;
const optionsMap = { type: ['object', 'null'] } as const;
const stringMap = { type: ['object', 'null'], additionalProperties: { type: 'string' } } as const;

const ipamDatum = {
  type: 'object',
  required: ['AddressSpace', 'Pool'],
  properties: {
    AddressSpace: { type: 'string' },
    Pool: cidrOrEmpty,
    Gateway: cidrOrEmpty,
    AuxAddresses: { type: ['object', 'null'], additionalProperties: ipOrEmpty },
  },
} as const;

const ipamData = { type: ['array', 'null'], items: ipamDatum, maxItems: 16 } as const;

const endpointRequest = {
  type: 'object',
  required: ['NetworkID', 'EndpointID'],
  properties: { NetworkID: dockerId, EndpointID: dockerId },
} as const;

export const schemas = {
  CreateNetwork: {
    type: 'object',
    required: ['NetworkID', 'IPv4Data', 'IPv6Data'],
    properties: { NetworkID: dockerId, Options: optionsMap, IPv4Data: ipamData, IPv6Data: ipamData },
  },
  NetworkOnly: { type: 'object', required: ['NetworkID'], properties: { NetworkID: dockerId } },
  AllocateNetwork: {
    type: 'object',
    required: ['NetworkID'],
    properties: { NetworkID: dockerId, Options: stringMap, IPv4Data: ipamData, IPv6Data: ipamData },
  },
  CreateEndpoint: {
    type: 'object',
    required: ['NetworkID', 'EndpointID'],
    properties: {
      NetworkID: dockerId,
      EndpointID: dockerId,
      Options: optionsMap,
      Interface: {
        type: ['object', 'null'],
        properties: { Address: cidrOrEmpty, AddressIPv6: cidrOrEmpty, MacAddress: mac },
      },
    },
  },
  Endpoint: endpointRequest,
  Join: {
    type: 'object',
    required: ['NetworkID', 'EndpointID', 'SandboxKey'],
    properties: {
      NetworkID: dockerId,
      EndpointID: dockerId,
      SandboxKey: { type: 'string', pattern: '^/[^\\0]*$', maxLength: 4096 },
      Options: optionsMap,
    },
  },
  ExternalConnectivity: {
    type: 'object',
    required: ['NetworkID', 'EndpointID'],
    properties: { NetworkID: dockerId, EndpointID: dockerId, Options: optionsMap },
  },
  RequestPool: {
    type: 'object',
    required: ['AddressSpace', 'Pool', 'SubPool', 'V6'],
    properties: {
      AddressSpace: { type: 'string', maxLength: 256 },
      Pool: cidrOrEmpty,
      SubPool: cidrOrEmpty,
      Options: stringMap,
      V6: { type: 'boolean' },
    },
  },
  ReleasePool: { type: 'object', required: ['PoolID'], properties: { PoolID: poolId } },
  RequestAddress: {
    type: 'object',
    required: ['PoolID', 'Address'],
    properties: { PoolID: poolId, Address: ipOrEmpty, Options: stringMap },
  },
  ReleaseAddress: {
    type: 'object',
    required: ['PoolID', 'Address'],
    properties: { PoolID: poolId, Address: ipOrEmpty },
  },
} as const;

export type SchemaName = keyof typeof schemas;
