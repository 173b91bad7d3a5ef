/**
 * Binding a Neutron port on this host. `Binder` is what the libnetwork driver calls:
 *  - veth mode (`bind`/`unbind`): a tap/t_c veth pair whose host end is plugged per
 *    `binding:vif_type` by a VifDriver, all in one host transaction (one `ip -batch` process,
 *    plus one ovs-vsctl for OVS), undone on failure;
 *  - nested modes (`bindNested`/`unbindNested`): a macvlan, ipvlan or vlan device on the VM's
 *    interface.
 */
import type { BindingConfig } from '../config/types.js';
import { KuryrError, withContext } from '../errors.js';
import type { Logger } from '../log.js';
import type { Port } from '../openstack/neutron-types.js';
import { op, type HostNetwork, type HostOp } from './host/types.js';
import { containerIfName, hostVethName, stagedVethName } from './naming.js';
import { NESTED_MODES, nestedPlugOps, type NestedMode } from './nested.js';
import { defaultVifDrivers, type VifDriverRegistry } from './registry.js';
import { buildPlugRequest, type PlannedBinding, type VifDriver, type VifPlugRequest } from './vif.js';

export type { NestedMode } from './nested.js';
export type { PlannedBinding, VifDriver, VifDetails, VifPlugRequest } from './vif.js';
export { buildPlugRequest, parseVifDetails } from './vif.js';
export { defaultVifDrivers, stagesUntilClaimed, type VifDriverRegistry } from './registry.js';
export * from './naming.js';

export interface BinderOptions {
  host: HostNetwork;
  config: BindingConfig;
  logger: Logger;
  /** Defaults to bridge, ovs and tap. */
  drivers?: VifDriverRegistry;
}

export interface BindResult {
  hostIfName: string;
  /** Docker's SrcName: the device it moves into the sandbox. */
  containerIfName: string;
}

export interface NestedBindOptions {
  /** The VM's interface; defaults to `[binding] link_iface`. */
  linkIface?: string;
  /** Unset: the kernel's default (the parent's MTU). */
  mtu?: number;
  /** Segmentation id, required in vlan mode. */
  vlanId?: number;
}

export class Binder {
  private readonly host: HostNetwork;
  private readonly drivers: VifDriverRegistry;
  private readonly enabled: ReadonlySet<string>;
  private readonly linkIface: string;
  private readonly log: Logger;
  /** Until the kernel says otherwise, devices are renamed while up (no carrier loss for the container). */
  private liveRename = true;

  constructor(opts: BinderOptions) {
    this.host = opts.host;
    this.drivers = opts.drivers ?? defaultVifDrivers();
    // `[binding] enabled_drivers` holds module paths (kuryr.lib.binding.drivers.veth) or short names
    this.enabled = new Set(opts.config.enabledDrivers.map((d) => d.trim().split('.').pop() ?? d));
    this.linkIface = opts.config.linkIface;
    this.log = opts.logger;
  }

  /**
   * Creates the port's veth pair and plugs the host end per vif type. Idempotent. `planned`: the
   * port's claim has not landed; plug it for the binding the claim gives it, under the staging
   * name, until `activate`.
   */
  async bind(port: Port, network: { id: string; mtu?: number }, endpointId: string, planned?: PlannedBinding): Promise<BindResult> {
    this.requireEnabled('veth');
    const vif = buildPlugRequest(port, network, endpointId, planned);
    const driver = this.driverFor(port, vif);
    const ops: HostOp[] = [
      op.createVethPair({ host: vif.hostIfName, container: vif.containerIfName, mac: vif.mac, mtu: vif.mtu, hostUp: false }),
      ...driver.plug(vif),
    ];
    await this.run(`bind port ${port.id} (vif_type ${vif.vifType})`, ops);
    return { hostIfName: vif.hostIfName, containerIfName: vif.containerIfName };
  }

  /** A staged host end (bind with `planned`) takes its `tap` name, where the agent finds it. Idempotent. */
  async activate(port: Port): Promise<void> {
    const [from, to] = [stagedVethName(port.id), hostVethName(port.id)];
    if (this.liveRename) {
      try {
        await this.run(`activate port ${port.id}`, [op.renameLink(from, to, { live: true })]);
        return;
      } catch (err) {
        if (!/busy/i.test(err instanceof Error ? err.message : String(err))) throw err;
        this.liveRename = false;
        this.log.warn('this kernel renames only devices that are down (Linux < 6.2): a container may lose its first packets when its pooled port is activated');
      }
    }
    await this.run(`activate port ${port.id}`, [op.renameLink(from, to, { live: false })]);
  }

  /** Unplugs per vif type, then deletes the host veth (and so its peer), staged or not. Absent devices are success. */
  async unbind(port: Port, endpointId: string): Promise<void> {
    const vif = buildPlugRequest(port, { id: port.network_id }, endpointId);
    const driver = this.drivers.get(vif.vifType);
    if (!driver) this.log.debug({ portId: port.id, vifType: vif.vifType }, 'no VIF driver for this vif type; only deleting the veth');
    await this.run(`unbind port ${port.id}`, [...(driver?.unplug(vif) ?? []), op.deleteLink(vif.hostIfName), op.deleteLink(stagedVethName(port.id))]);
  }

  /** Creates the container device on the VM's interface. Idempotent. */
  async bindNested(mode: NestedMode, port: Port, opts: NestedBindOptions = {}): Promise<{ containerIfName: string }> {
    this.requireEnabled(mode);
    if (!NESTED_MODES.includes(mode)) throw new KuryrError('KURYR_ERR_BINDING', `unknown nested binding mode ${JSON.stringify(mode)}`);
    const parent = opts.linkIface || this.linkIface;
    if (!parent) throw new KuryrError('KURYR_ERR_CONFIG', `nested binding mode ${mode} needs [binding] link_iface (the VM's interface)`);
    if (mode === 'vlan' && opts.vlanId === undefined) throw new KuryrError('KURYR_ERR_BINDING', `vlan binding of port ${port.id} needs a segmentation id`);
    const vif = buildPlugRequest(port, { id: port.network_id }, '');
    const device = { name: vif.containerIfName, parent, mac: vif.mac, ...(opts.mtu === undefined ? {} : { mtu: opts.mtu }), ...(opts.vlanId === undefined ? {} : { vlanId: opts.vlanId }) };
    await this.run(`bind port ${port.id} (${mode} on ${parent})`, nestedPlugOps(mode, device));
    return { containerIfName: vif.containerIfName };
  }

  /** Deletes the container device; absent = success. */
  async unbindNested(mode: NestedMode, port: Port): Promise<void> {
    await this.run(`unbind port ${port.id} (${mode})`, [op.deleteLink(containerIfName(port.id))]);
  }

  private async run(what: string, ops: HostOp[]): Promise<void> {
    const started = performance.now();
    try {
      const r = await this.host.apply(ops);
      if (this.log.isLevelEnabled('debug')) this.log.debug({ ms: +(performance.now() - started).toFixed(1), processes: r.processes, ipLines: r.ipLines, ovs: r.ovsCommands }, what);
    } catch (err) {
      throw withContext(what, err);
    }
  }

  private requireEnabled(name: string): void {
    if (!this.enabled.has(name)) {
      throw new KuryrError('KURYR_ERR_CONFIG', `binding driver ${name} is not enabled ([binding] enabled_drivers = ${[...this.enabled].join(', ') || '(empty)'})`);
    }
  }

  /** The driver for the port's vif type, or a clear error before anything touches the host. */
  private driverFor(port: Port, vif: VifPlugRequest): VifDriver {
    const vnic = port['binding:vnic_type'];
    if (vnic !== undefined && vnic !== 'normal') {
      throw new KuryrError('KURYR_ERR_BINDING', `port ${port.id} has binding:vnic_type=${vnic}; only normal ports can be plugged with a veth`);
    }
    const driver = this.drivers.get(vif.vifType);
    if (driver) return driver;
    const host = port['binding:host_id'] || '(none)';
    const prefix = `port ${port.id} has binding:vif_type=${vif.vifType}`;
    if (vif.vifType === 'binding_failed') {
      throw new KuryrError('KURYR_ERR_BINDING', `${prefix}: Neutron could not bind it on host ${host}; check the agent on that host`);
    }
    if (vif.vifType === 'unbound') {
      throw new KuryrError('KURYR_ERR_BINDING', `${prefix}: Neutron has not bound it to a host (binding:host_id ${host}); check that binding:host_id names this host and that an agent runs there`);
    }
    throw new KuryrError('KURYR_ERR_BINDING', `${prefix}, which Kuryr cannot plug (supported: ${[...this.drivers.keys()].join(', ')})`);
  }
}
export type { HostNetwork, HostOp, LinkInfo, ApplyResult } from './host/types.js';
