/**
 * Device-name rules for host plumbing, in one place. Linux allows 15 visible characters
 * (IFNAMSIZ 16 including the NUL); every name here is a 3-character prefix plus 11 characters
 * of a Neutron id, so 14, exactly as kuryr-lib and the Neutron agents name them.
 */
import { KuryrError } from '../errors.js';
import type { HostNetwork } from './host/types.js';

/** Characters of the Neutron id kept after the prefix. */
export const ID_CHARS = 11;
/** Longest interface name the kernel accepts (IFNAMSIZ 16 minus the NUL). */
export const MAX_IFNAME = 15;

const IFNAME_RE = /^[A-Za-z0-9_.-]+$/;

/** True for a name the kernel accepts and that is safe to put on an `ip -batch` line. */
export function isValidIfName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_IFNAME && IFNAME_RE.test(name) && name !== '.' && name !== '..';
}

export function assertIfName(name: string, what = 'interface name'): string {
  if (!isValidIfName(name)) {
    throw new KuryrError('KURYR_ERR_BINDING', `invalid ${what} ${JSON.stringify(name)}: want 1-${MAX_IFNAME} of [A-Za-z0-9_.-]`);
  }
  return name;
}

/** Neutron's IDs are UUIDs: only those name devices (no `-` first, nothing an `ip -batch` line would read). */
const NEUTRON_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function derive(prefix: string, id: string, what: string): string {
  if (!NEUTRON_ID_RE.test(id)) {
    throw new KuryrError('KURYR_ERR_BINDING', `cannot name a device after ${what} ${JSON.stringify(id.slice(0, 64))}: not a Neutron id`);
  }
  return prefix + id.slice(0, ID_CHARS);
}

/** Host end of a port's veth pair: `tap` + 11 chars of the port id. */
export const hostVethName = (portId: string): string => derive('tap', portId, 'port id');
/**
 * Host end of a pooled port's veth while the port's claim is still on its way to Neutron. The Linux
 * bridge agent wires (and filters) devices named `tap…` from what Neutron then says of the port,
 * which until the claim lands is the previous container's MAC: so the device takes its `tap` name
 * only once the claim has landed (Binder.activate).
 */
export const stagedVethName = (portId: string): string => derive('kst', portId, 'port id');
/** Every name a port's host end goes by (a device by either name is in use). */
export const hostEndNames = (portId: string): string[] => [hostVethName(portId), stagedVethName(portId)];
/** True while a host end of the port's veth exists on `host`: a container on this host uses the port. */
export async function hostEndExists(host: Pick<HostNetwork, 'linkExists'>, portId: string): Promise<boolean> {
  const found = await Promise.all(hostEndNames(portId).map((dev) => host.linkExists(dev)));
  return found.includes(true);
}
/** Container end (Docker's SrcName, later renamed by Docker): `t_c` + 11 chars of the port id. */
export const containerIfName = (portId: string): string => derive('t_c', portId, 'port id');
/** The Neutron Linux bridge agent's bridge for a network: `brq` + 11 chars of the network id. */
export const linuxBridgeName = (networkId: string): string => derive('brq', networkId, 'network id');

export interface HybridNames {
  /** Per-port Linux bridge holding the tap (where iptables filtering used to happen). */
  qbr: string;
  /** veth end enslaved to qbr. */
  qvb: string;
  /** veth end plugged into the OVS integration bridge. */
  qvo: string;
}

/** OVS hybrid plug names: `qbr`/`qvb`/`qvo` + 11 chars of the port id. */
export function ovsHybridNames(portId: string): HybridNames {
  return {
    qbr: derive('qbr', portId, 'port id'),
    qvb: derive('qvb', portId, 'port id'),
    qvo: derive('qvo', portId, 'port id'),
  };
}
