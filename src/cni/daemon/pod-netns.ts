/**
 * A pod's network namespace, as CNI names it (CNI_NETNS): the container end of a port's veth pair
 * is moved there under CNI_IFNAME and given the port's addresses and routes. All through `ip -n`
 * (a child process entering the namespace), never by moving the daemon's own threads.
 */
import { access } from 'node:fs/promises';
import { KuryrError } from '../../errors.js';
import { CniEnvError } from './api.js';
import { run } from '../../binding/host/exec.js';
import { assertIfName } from '../../binding/naming.js';

/** Where runtimes bind pod namespaces (podman: /run/netns/netns-<uuid>, containerd: /var/run/netns/cni-<uuid>). */
const NETNS_DIRS = ['/run/netns/', '/var/run/netns/'];
const NETNS_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** The `ip netns` name of a namespace path CNI gave; other paths are refused (Kuryr runs as root). */
export function netnsName(path: string): string {
  const dir = NETNS_DIRS.find((d) => path.startsWith(d));
  const name = dir ? path.slice(dir.length) : '';
  if (!NETNS_NAME_RE.test(name)) {
    throw new CniEnvError(`CNI_NETNS ${JSON.stringify(path.slice(0, 200))} is not a namespace bound under /run/netns or /var/run/netns`);
  }
  return name;
}

/** An address on the pod's interface: `10.0.0.5/24`. */
export interface PodAddress {
  cidr: string;
  version: 4 | 6;
}

export interface PodRoute {
  dst: string;
  gw?: string;
}

export interface PodInterface {
  ifname: string;
  mac: string;
  addresses: string[];
  up: boolean;
}

export class PodNamespace {
  readonly name: string;

  constructor(readonly path: string, private readonly ip = 'ip') {
    this.name = netnsName(path);
  }

  /** Refuses a namespace that is not there before anything is made for it. */
  async mustExist(): Promise<void> {
    await access(this.path).catch(() => {
      throw new CniEnvError(`CNI_NETNS ${this.path} does not exist`);
    });
  }

  /** The device `hostDevice` (the container end, in the host's namespace) becomes `ifname` in the pod, configured and up. */
  async plug(hostDevice: string, ifname: string, opts: { mtu?: number; addresses: PodAddress[]; routes: PodRoute[] }): Promise<void> {
    assertIfName(hostDevice, 'container device');
    assertIfName(ifname, 'CNI_IFNAME');
    await this.ipCmd([], ['link', 'set', 'dev', hostDevice, 'netns', this.name, 'name', ifname], `move ${hostDevice} into ${this.name} as ${ifname}`);
    const lines = [
      ...(opts.mtu ? [`link set dev ${ifname} mtu ${opts.mtu}`] : []),
      ...opts.addresses.map((a) => `addr add ${a.cidr} dev ${ifname}${a.version === 6 ? ' nodad' : ''}`),
      `link set dev ${ifname} up`,
      ...opts.routes.map((r) => `route replace ${r.dst} ${r.gw ? `via ${r.gw} ` : ''}dev ${ifname}`),
    ];
    await this.ipCmd(['-n', this.name, '-batch', '-'], [], `configure ${ifname} in ${this.name}`, lines.join('\n') + '\n');
  }

  /** The interface as the pod sees it, or undefined when it is not there (or the namespace is gone). */
  async inspect(ifname: string): Promise<PodInterface | undefined> {
    assertIfName(ifname, 'CNI_IFNAME');
    const r = await run(this.ip, ['-n', this.name, '-json', 'addr', 'show', 'dev', ifname]);
    if (r.code !== 0) return undefined;
    const [link] = JSON.parse(r.stdout || '[]') as { address?: string; operstate?: string; flags?: string[]; addr_info?: { local: string; prefixlen: number; scope?: string }[] }[];
    if (!link) return undefined;
    return {
      ifname,
      mac: (link.address ?? '').toLowerCase(),
      addresses: (link.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`),
      up: (link.flags ?? []).includes('UP'),
    };
  }

  /** Removes the interface from the pod; absent (or the namespace gone) is success. */
  async unplug(ifname: string): Promise<void> {
    assertIfName(ifname, 'CNI_IFNAME');
    const r = await run(this.ip, ['-n', this.name, 'link', 'del', 'dev', ifname]);
    if (r.code !== 0 && !/Cannot find device|does not exist|Cannot open network namespace|No such file/i.test(r.stderr)) {
      throw new KuryrError('KURYR_ERR_BINDING', `delete ${ifname} in ${this.name}: ${r.stderr.trim()}`);
    }
  }

  private async ipCmd(global: string[], args: string[], what: string, input?: string): Promise<void> {
    const r = await run(this.ip, [...global, ...args], input === undefined ? {} : { input });
    if (r.code !== 0) throw new KuryrError('KURYR_ERR_BINDING', `${what}: ${r.stderr.trim() || `ip exited with ${r.code}`}`);
  }
}
