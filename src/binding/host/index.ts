export * from './types.js';
export { IprouteHostNetwork, type IprouteOptions } from './iproute2.js';
export { FakeHostNetwork } from './fake.js';
