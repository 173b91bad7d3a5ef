/**
 * Upstream's `vlan` port driver: the VM's port is a trunk parent, and each container's port
 * becomes one of its subports with a VLAN id of its own. The ids in use are Neutron's (the trunk's
 * sub_ports), read before every allocation and again after every conflict, never kept in memory:
 * a restarted daemon, or another writer, cannot make Kuryr hand out an id twice, and an id is free
 * again as soon as its subport is removed (upstream leaks them). Ids are chosen at random among the
 * free ones, so two writers rarely meet; Neutron refuses an id in use (409) and the loser reads again.
 */
import { KuryrError } from '../../errors.js';
import { isNeutronError } from '../../openstack/errors.js';
import type { Neutron, Port, TrunkDetails } from '../../openstack/neutron-types.js';
import { SerialBatches, type Waiter } from './serial-batches.js';
import type { VmPort } from './vm-port.js';

export const MIN_VLAN_ID = 1;
export const MAX_VLAN_ID = 4094;
/** Allocations retried after a conflict (another writer took the id first) before giving up. */
const ALLOCATION_ATTEMPTS = 10;
/** Subports one request adds or removes at most. */
const BATCH = 64;

type Pending = Waiter<Port, number | undefined>;

export class VmTrunk {
  /** Neutron changes a trunk one request at a time: so does Kuryr, each request carrying many subports. */
  private readonly adds = new SerialBatches<Port, number | undefined>((b) => this.addBatch(b), BATCH);
  private readonly removes = new SerialBatches<Port, number | undefined>((b) => this.removeBatch(b), BATCH);

  constructor(
    private readonly neutron: Neutron,
    private readonly vm: Pick<VmPort, 'port'>,
  ) {}

  /** The trunk the VM port is the parent of; throws KURYR_ERR_CONFIG when it is none's. */
  static trunkOf(vmPort: Port, linkIface: string): TrunkDetails {
    if (!vmPort.trunk_details) {
      throw new KuryrError('KURYR_ERR_CONFIG', `kuryr.conf: default_port_driver = vlan needs the VM's port ${vmPort.id} (the port of [binding] link_iface = ${linkIface}) to be a trunk parent; create a trunk with it as parent port, or use default_port_driver = nested`);
    }
    return vmPort.trunk_details;
  }

  /** The trunk's subports as Neutron has them now. */
  async subports(): Promise<TrunkDetails['sub_ports']> {
    const port = await this.neutron.getPort(this.vm.port.id);
    return port.trunk_details?.sub_ports ?? [];
  }

  /** Makes `port` a subport with a free VLAN id and returns the id; an existing subport keeps its id. */
  async addSubport(port: Port): Promise<number> {
    return (await this.adds.submit(port))!;
  }

  /** Removes `port` from the trunk, which frees its VLAN id; a port that is no subport is no error. */
  async removeSubport(port: Port): Promise<void> {
    await this.removes.submit(port);
  }

  private async addBatch(batch: Pending[]): Promise<void> {
    const trunkId = VmTrunk.trunkOf(this.vm.port, '').trunk_id;
    for (let attempt = 1; ; attempt++) {
      const subports = await this.subports();
      const todo = batch.filter((p) => {
        const existing = subports.find((s) => s.port_id === p.item.id);
        if (existing) p.resolve(existing.segmentation_id);
        return !existing;
      });
      if (todo.length === 0) return;
      const used = new Set(subports.map((s) => s.segmentation_id));
      const ids: number[] = [];
      for (const p of todo) {
        const id = freeVlanId(used);
        if (id === undefined) throw new KuryrError('KURYR_ERR_CONFLICT', `trunk ${trunkId} has no free VLAN id left (${MIN_VLAN_ID}-${MAX_VLAN_ID} all in use) for port ${p.item.id}`);
        used.add(id);
        ids.push(id);
      }
      try {
        await this.neutron.addTrunkSubports(trunkId, todo.map((p, i) => ({ port_id: p.item.id, segmentation_type: 'vlan', segmentation_id: ids[i]! })));
        todo.forEach((p, i) => p.resolve(ids[i]));
        return;
      } catch (err) {
        // Another writer took an id since we read the trunk: read it again.
        if (!isNeutronError(err, 409) || attempt >= ALLOCATION_ATTEMPTS) throw err;
        batch = todo;
      }
    }
  }

  private async removeBatch(batch: Pending[]): Promise<void> {
    const trunkId = VmTrunk.trunkOf(this.vm.port, '').trunk_id;
    const held = new Set((await this.subports()).map((s) => s.port_id));
    const todo = batch.filter((p) => held.has(p.item.id));
    if (todo.length) {
      try {
        await this.neutron.removeTrunkSubports(trunkId, todo.map((p) => p.item.id));
      } catch (err) {
        if (!isNeutronError(err, 404)) throw err;
      }
    }
    for (const p of batch) p.resolve(undefined);
  }
}

/** A VLAN id not in use, chosen at random; undefined when all are. */
export function freeVlanId(used: ReadonlySet<number>, random = Math.random): number | undefined {
  const free = MAX_VLAN_ID - MIN_VLAN_ID + 1 - [...used].filter((id) => id >= MIN_VLAN_ID && id <= MAX_VLAN_ID).length;
  if (free <= 0) return undefined;
  let skip = Math.floor(random() * free);
  for (let id = MIN_VLAN_ID; id <= MAX_VLAN_ID; id++) {
    if (used.has(id)) continue;
    if (skip-- === 0) return id;
  }
  return undefined;
}
