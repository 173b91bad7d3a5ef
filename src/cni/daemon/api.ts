import { KuryrError } from '../../errors.js';

/**
 * What `kuryr-cni` sends the node daemon (POST /v1/cni on its unix socket) and what it gets back:
 * the CNI request with CNI_ARGS already parsed, and a result in CNI 1.0.0 shape, which the plugin
 * converts to the version the runtime asked for.
 */

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC';

/** One attachment a runtime still uses (GC's `cni.dev/valid-attachments`). */
export interface CniAttachment {
  containerID: string;
  ifname: string;
}

/** The plugin's network configuration, as the runtime gave it (keys Kuryr reads; others pass through). */
export interface CniNetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** The Neutron network pods of this CNI network get ports on, by name or ID (as `-o neutron.net.*`). */
  'neutron.net.name'?: string;
  'neutron.net.uuid'?: string;
  /** Its subnet, when it has several. */
  'neutron.subnet.name'?: string;
  'neutron.subnet.uuid'?: string;
  /** Port pool on or off for this network ([vif_pool] enabled when absent). */
  'kuryr.pool'?: boolean;
  'cni.dev/valid-attachments'?: CniAttachment[];
  [key: string]: unknown;
}

export interface CniRequest {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS: K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID, K8S_POD_INFRA_CONTAINER_ID, IP, MAC. */
  args: Record<string, string>;
  config: CniNetConf;
}

export interface CniResult {
  cniVersion: '1.0.0';
  interfaces: { name: string; mac: string; sandbox?: string; mtu?: number }[];
  ips: { address: string; gateway?: string; interface: number }[];
  routes: { dst: string; gw?: string }[];
  dns: { nameservers?: string[] };
}

/**
 * A request whose CNI environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME) is missing or
 * invalid: CNI's code 4, the message naming the variables.
 */
export class CniEnvError extends KuryrError {
  constructor(message: string) {
    super('KURYR_ERR_INVALID_REQUEST', message);
  }
}

/** The daemon's error answer; `code` is the CNI error code the plugin prints. */
export interface CniErrorBody {
  code: number;
  msg: string;
  details?: string;
}
