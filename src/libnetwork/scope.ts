/**
 * What a request may make Kuryr touch. Kuryr's credentials are usually admin, so Neutron itself
 * would show (and let Kuryr change) every project's objects: the boundaries are drawn here.
 */
import { conflict, notFound } from '../errors.js';
import type { Port, Subnet, SubnetPool } from '../openstack/neutron-types.js';
import type { DriverContext } from './context.js';
import type { FamilyOptions } from './options.js';
import { SUBNETPOOL_OWNED_TAG } from './naming.js';

/** What project boundaries look at: a Neutron object's project and whether every project may use it. */
interface ProjectScoped {
  project_id?: string;
  tenant_id?: string;
  shared?: boolean;
}

async function isOwnProject(ctx: DriverContext, object: ProjectScoped): Promise<boolean> {
  const own = await ctx.state.identity.projectId();
  return own !== undefined && (object.project_id ?? object.tenant_id) === own;
}

/**
 * The objects a request may name with neutron.net.*, neutron.subnet.* or neutron.pool.*: Kuryr's
 * project's and shared ones; any project's only with [neutron] allow_other_projects.
 */
export async function visibleObjects<T extends ProjectScoped>(ctx: DriverContext, objects: T[]): Promise<T[]> {
  if (ctx.config.neutron.allowOtherProjects) return objects;
  const visible: T[] = [];
  for (const o of objects) if (o.shared === true || (await isOwnProject(ctx, o))) visible.push(o);
  return visible;
}

/** Subnets are Kuryr's project's, or on a network every project may use (a shared one). */
export async function visibleSubnets(ctx: DriverContext, subnets: Subnet[]): Promise<Subnet[]> {
  if (ctx.config.neutron.allowOtherProjects) return subnets;
  const visible: Subnet[] = [];
  for (const s of subnets) {
    if ((await isOwnProject(ctx, s)) || (await ctx.state.neutronNetwork(s.network_id))?.shared === true) visible.push(s);
  }
  return visible;
}

/** How "not found" reads where project boundaries may have hidden the object. */
export function scopeHint(ctx: DriverContext): string {
  return ctx.config.neutron.allowOtherProjects ? '' : " in Kuryr's project or shared ([neutron] allow_other_projects widens this)";
}

/** Names a port in an error: another project's port IDs, owners and devices are not the caller's to learn. */
export async function describePort(ctx: DriverContext, port: Port): Promise<string> {
  if (!(await isOwnProject(ctx, port))) return 'a Neutron port of another project';
  return `Neutron port ${port.id} (device_owner "${port.device_owner}", device_id "${port.device_id}")`;
}

/**
 * The subnet pool a request names with neutron.pool[.v6].uuid|name. A pool Kuryr made for a Docker
 * network is that network's alone: naming it would let a second network release and recycle the
 * first one's ports. `reservedFor` lists the pools RequestPool handed to the network being created.
 */
export async function namedPool(ctx: DriverContext, family: FamilyOptions, reservedFor: readonly string[] = []): Promise<SubnetPool> {
  const filter = family.poolUuid ? { id: family.poolUuid } : { name: family.poolName };
  const found = await visibleObjects(ctx, await ctx.neutron.listSubnetPools(filter));
  const what = family.poolUuid ? `id ${family.poolUuid}` : `name "${family.poolName}"`;
  if (found.length !== 1) {
    throw found.length === 0 ? notFound(`no Neutron subnet pool with ${what}${scopeHint(ctx)}`) : conflict(`several Neutron subnet pools with ${what}; use neutron.pool.uuid`);
  }
  const pool = found[0]!;
  if (pool.tags.includes(SUBNETPOOL_OWNED_TAG) && !reservedFor.includes(pool.id)) {
    throw conflict(`subnet pool with ${what} was made by Kuryr for another Docker network; name an operator's pool, or leave neutron.pool.* out and Kuryr makes one`);
  }
  return pool;
}

/**
 * True while a container uses the port: it serves an endpoint (device_id) and is bound to another
 * host (whose containers this daemon cannot see) or its host end exists here. Decided without asking
 * Docker, which holds its locks while it calls the plugin.
 */
export async function endpointLive(ctx: DriverContext, port: Port): Promise<boolean> {
  if (port.device_id === '') return false;
  return !ctx.state.isThisHosts(port) || (await ctx.binder.hostEndExists(port));
}
