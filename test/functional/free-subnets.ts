/**
 * Random test subnets that collide with nothing: one place picks them, checking Neutron (every
 * subnet Kuryr's credentials can see, shared ones included) and the host's routes, and never hands
 * the same block out twice in one process. A collision with a leftover or a concurrent test's
 * subnet would otherwise make a test fail (or pass) for a reason that is not its own.
 */
import { parseCidr, cidrWithin, type Cidr } from '../../src/libnetwork/cidr.js';
import { neutron, sh } from './harness.js';

const handedOut = new Set<string>();

function overlaps(a: Cidr, b: Cidr): boolean {
  return cidrWithin(a, b) || cidrWithin(b, a);
}

async function takenBlocks(version: 4 | 6): Promise<Cidr[]> {
  const subnets = await neutron.listSubnets({ ip_version: version });
  const routes = (await sh('ip', [`-${version}`, '-o', 'route', 'show', 'table', 'all']).catch(() => ''))
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((dst) => dst.includes('/'));
  const texts = [...subnets.map((s) => s.cidr), ...routes, ...handedOut];
  return texts.flatMap((text) => {
    try {
      const cidr = parseCidr(text);
      return cidr.version === version ? [cidr] : [];
    } catch {
      return [];
    }
  });
}

function randomCandidate(version: 4 | 6): string {
  const byte = (n: number) => Math.floor(Math.random() * n);
  if (version === 4) return `10.${100 + byte(150)}.${byte(250)}.0/24`;
  const hex = () => byte(0x10000).toString(16);
  return `fd${byte(256).toString(16).padStart(2, '0')}:${hex()}:${hex()}:${hex()}::/64`;
}

/** A random IPv4 /24 in 10.100.0.0–10.249.255.0 (or IPv6 /64 in fd00::/8) that nothing uses. */
export async function freeCidr(version: 4 | 6 = 4): Promise<string> {
  const taken = await takenBlocks(version);
  for (let attempt = 0; attempt < 100; attempt++) {
    const candidate = parseCidr(randomCandidate(version));
    if (taken.some((t) => overlaps(t, candidate))) continue;
    handedOut.add(candidate.text);
    return candidate.text;
  }
  throw new Error(`no free IPv${version} test subnet found in 100 tries`);
}

/** The first three octets ("10.x.y") of a free IPv4 /24, for tests that spell addresses within it. */
export async function freePrefix(): Promise<string> {
  return (await freeCidr(4)).replace(/\.0\/24$/, '');
}
