/**
 * The Nova VM's own Neutron port, seen from Kuryr running inside the VM (upstream's nested port
 * drivers). Every container on the VM changes its allowed_address_pairs: the changes that arrive
 * together are written as one read-modify-write, guarded by the port's revision (If-Match) and
 * retried on 412 (another writer), so parallel attaches lose no pair, and pairs Kuryr did not add
 * are never touched.
 */
import { KuryrError } from '../../errors.js';
import { isNeutronError } from '../../openstack/errors.js';
import type { AllowedAddressPair, Neutron, Port } from '../../openstack/neutron-types.js';
import { SerialBatches, type Waiter } from './serial-batches.js';

/** Conditional updates of the VM port before giving up while other writers keep winning. */
const PAIR_UPDATE_ATTEMPTS = 60;

export class VmPort {
  private located?: Port;
  /** Every container's change goes through one writer: few requests, and no lost race in a burst. */
  private readonly changes = new SerialBatches<PairChange, Port>((batch) => this.write(batch));

  constructor(
    private readonly neutron: Neutron,
    /** `[binding] link_iface`, for messages. */
    private readonly linkIface: string,
    /** The MAC of link_iface, read from the host. */
    private readonly linkMac: () => Promise<string | undefined>,
  ) {}

  /** Finds the VM's port by the MAC of link_iface. Throws KURYR_ERR_CONFIG when no single port has it. */
  async locate(): Promise<Port> {
    const mac = await this.linkMac();
    if (!mac) throw new KuryrError('KURYR_ERR_CONFIG', `kuryr.conf: [binding] link_iface = ${this.linkIface}: no such interface on this host (the VM's interface that carries its Neutron port)`);
    const ports = await this.neutron.listPorts({ mac_address: mac });
    if (ports.length !== 1) {
      throw new KuryrError(
        'KURYR_ERR_CONFIG',
        ports.length === 0
          ? `kuryr.conf: [binding] link_iface = ${this.linkIface} has MAC ${mac}, which is not the MAC of any Neutron port Kuryr's credentials can see: is this a Nova VM, and is link_iface its port's interface?`
          : `kuryr.conf: [binding] link_iface = ${this.linkIface} has MAC ${mac}, which ${ports.length} Neutron ports have (${ports.map((p) => p.id).join(', ')}); Kuryr cannot tell which is the VM's`,
      );
    }
    this.located = ports[0]!;
    return this.located;
  }

  /** The VM's port as last located (its id, network and MAC do not change). */
  get port(): Port {
    if (!this.located) throw new Error('VmPort.locate() has not run');
    return this.located;
  }

  /** The pairs the VM port holds now. */
  async heldPairs(): Promise<AllowedAddressPair[]> {
    return (await this.neutron.getPort(this.port.id)).allowed_address_pairs ?? [];
  }

  /** Adds the pairs the VM port does not hold yet. */
  addPairs(pairs: AllowedAddressPair[]): Promise<Port> {
    return this.changes.submit({ add: true, pairs });
  }

  /** Removes exactly these pairs; absent ones are no error. */
  removePairs(pairs: AllowedAddressPair[]): Promise<Port> {
    return this.changes.submit({ add: false, pairs });
  }

  /** One guarded read-modify-write for every change of the batch, retried while other writers win. */
  private async write(batch: Waiter<PairChange, Port>[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.neutron.getPort(this.port.id);
      const held = current.allowed_address_pairs ?? [];
      const wanted = batch.reduce((pairs, { item }) => applyChange(pairs, item), held);
      let updated = current;
      try {
        if (!samePairs(wanted, held)) {
          updated = await this.neutron.updatePort(current.id, { allowed_address_pairs: wanted }, current.revision_number === undefined ? undefined : { ifRevision: current.revision_number });
        }
        for (const w of batch) w.resolve(updated);
        return;
      } catch (err) {
        if (!isNeutronError(err, 412) || attempt >= PAIR_UPDATE_ATTEMPTS) {
          const what = batch.map(({ item }) => `${item.add ? 'add' : 'remove'} ${describePairs(item.pairs)}`).join('; ');
          throw new KuryrError('KURYR_ERR_NEUTRON', `VM port ${current.id}: ${what}: ${(err as Error).message}`, { cause: err });
        }
        // Another writer's change landed first: read again and reapply ours.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(1000, 25 * attempt)));
      }
    }
  }
}

interface PairChange {
  add: boolean;
  pairs: AllowedAddressPair[];
}

function applyChange(held: AllowedAddressPair[], change: PairChange): AllowedAddressPair[] {
  if (change.add) return [...held, ...change.pairs.filter((p) => !held.some((h) => samePair(h, p)))];
  return held.filter((h) => !change.pairs.some((p) => samePair(h, p)));
}

function samePairs(a: AllowedAddressPair[], b: AllowedAddressPair[]): boolean {
  return a.length === b.length && a.every((p, i) => samePair(p, b[i]!));
}

export function samePair(a: AllowedAddressPair, b: AllowedAddressPair): boolean {
  return a.ip_address === b.ip_address && (a.mac_address ?? '').toLowerCase() === (b.mac_address ?? '').toLowerCase();
}

function describePairs(pairs: AllowedAddressPair[]): string {
  return pairs.map((p) => `${p.ip_address}/${p.mac_address ?? '-'}`).join(', ');
}
