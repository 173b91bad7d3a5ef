import type { PoolOptions } from './options.js';
/**
 * How Docker objects are named and tagged in Neutron. Kept identical to upstream kuryr-libnetwork so
 * that networks made by either implementation are managed by the other.
 */

export const NET_TAG_LOW = 'kuryr.net.uuid.lh:';
export const NET_TAG_HIGH = 'kuryr.net.uuid.uh:';
export const NET_EXISTING_TAG = 'kuryr.net.existing:';
/** Marks ports Kuryr's IPAM created (and so may delete). */
export const PORT_OWNED_TAG = 'compute:kuryr';
/** Marks pre-existing ports Kuryr adopted (released by unbinding, never deleted). */
export const PORT_EXISTING_TAG = 'kuryr.port.existing';
export const SUBNETPOOL_EXISTING_TAG = 'kuryr.subnetpool.existing';
/** Marks subnet pools Kuryr created for a Docker network (and so may delete); never adopted by another. */
export const SUBNETPOOL_OWNED_TAG = 'kuryr.subnetpool.owned';

export const DEVICE_OWNER = 'compute:kuryr';

/**
 * A port Kuryr made (IPAM's, a pool's): Kuryr creates every one with both its tag and its device
 * owner. A VM's or router's port that merely carries the tag is not Kuryr's to delete or claim.
 */
export function madeByKuryr(port: { tags: readonly string[]; device_owner: string }): boolean {
  return port.tags.includes(PORT_OWNED_TAG) && port.device_owner === DEVICE_OWNER;
}
export const NETWORK_NAME_PREFIX = 'kuryr-net-';
export const SUBNET_NAME_PREFIX = 'kuryr-subnet-';
export const UNBOUND_PORT_NAME = 'kuryr-unbound-port';

/**
 * The tags that identify a Docker network or endpoint ID. The ID is split in two because Neutron
 * once limited tags to 60 characters; upstream kept the split and we must match it.
 */
export function idTags(dockerId: string): string[] {
  const tags = [NET_TAG_LOW + dockerId.slice(0, 32)];
  if (dockerId.length > 32) tags.push(NET_TAG_HIGH + dockerId.slice(32, 64));
  return tags;
}

/** Recovers the Docker ID from a resource's tags, or undefined when it carries none. */
export function dockerIdFromTags(tags: readonly string[]): string | undefined {
  const low = tags.find((t) => t.startsWith(NET_TAG_LOW));
  if (!low) return undefined;
  const high = tags.find((t) => t.startsWith(NET_TAG_HIGH));
  return low.slice(NET_TAG_LOW.length) + (high ? high.slice(NET_TAG_HIGH.length) : '');
}

export const existingNetworkTag = (dockerNetworkId: string) => NET_EXISTING_TAG + dockerNetworkId.slice(0, 12);
export const networkName = (dockerNetworkId: string) => NETWORK_NAME_PREFIX + dockerNetworkId.slice(0, 8);
export const subnetName = (cidr: string) => SUBNET_NAME_PREFIX + cidr;
export const subnetPoolName = (prefix: string, cidr: string) => `${prefix}-${cidr}`;
export const endpointPortName = (endpointId: string) => `${endpointId}-port`;
/** Marks ports CreateEndpoint made itself (another IPAM driver gave the address): DeleteEndpoint deletes them. */
export const PORT_ENDPOINT_TAG = 'kuryr.port.endpoint';
/** Marks pre-created ports of a port pool; free while their device_id is empty. */
export const PORT_POOLED_TAG = 'kuryr.port.pooled';
export const POOLED_PORT_NAME = 'kuryr-pooled-port';
/** Pools are per (network, host): the host a pooled port waits to be bound on. */
export const poolHostTag = (hostname: string) => `kuryr.pool.host:${hostname}`;
/**
 * Inside a Nova VM (nested), ports are bound to no host: this tag says which VM's containers a
 * port serves (the VM port's ID), so that VM's Kuryr finds it again.
 */
export const vmPortTag = (vmPortId: string) => `kuryr.vm.port:${vmPortId}`;
/**
 * On a Neutron network (and the Kuryr subnet pool it allocates from): Swarm's manager allocated it
 * for a swarm-scoped Docker network; nodes letting go of it leave it until the manager frees it.
 */
export const SWARM_ALLOCATED_TAG = 'kuryr.swarm.allocated';
/** On a Neutron network: pools on or off for it, as chosen with -o kuryr.pool=true|false. */
export const NETWORK_POOL_TAG = 'kuryr.pool:';
/** On a Neutron network: its pool's minimum, as chosen with -o kuryr.pool.min=N. */
export const NETWORK_POOL_MIN_TAG = 'kuryr.pool.min:';
/** Tags that carry a network's pool settings (a released adopted network drops them). */
export const isNetworkPoolTag = (tag: string) => tag.startsWith(NETWORK_POOL_TAG) || tag.startsWith(NETWORK_POOL_MIN_TAG);

/** The tags that keep a network's own pool settings in Neutron, so they survive a restart. */
export function poolSettingTags(options: PoolOptions): string[] {
  return [
    ...(options.enabled === undefined ? [] : [`${NETWORK_POOL_TAG}${options.enabled ? 'on' : 'off'}`]),
    ...(options.min === undefined ? [] : [`${NETWORK_POOL_MIN_TAG}${options.min}`]),
  ];
}

export function poolSettingsFromTags(tags: string[]): PoolOptions {
  const on = tags.find((t) => t.startsWith(NETWORK_POOL_TAG));
  const min = tags.find((t) => t.startsWith(NETWORK_POOL_MIN_TAG));
  const parsed = min === undefined ? NaN : Number(min.slice(NETWORK_POOL_MIN_TAG.length));
  return {
    ...(on === undefined ? {} : { enabled: on === `${NETWORK_POOL_TAG}on` }),
    ...(Number.isInteger(parsed) && parsed >= 0 ? { min: parsed } : {}),
  };
}

/** Marks a port that serves a CNI attachment (a pod's interface): the CNI daemon's GC judges it, Docker's gc does not. */
export const PORT_CNI_TAG = 'kuryr.cni';
/** The attachment's interface in the pod (CNI_IFNAME); its container is the port's device_id. */
export const cniIfnameTag = (ifname: string) => `kuryr.cni.ifname:${ifname}`;
/** The pod, as the runtime named it in CNI_ARGS. */
export const cniPodTag = (namespace: string, name: string) => `kuryr.cni.pod:${namespace}/${name}`;
export const cniPodUidTag = (uid: string) => `kuryr.cni.pod.uid:${uid}`;
