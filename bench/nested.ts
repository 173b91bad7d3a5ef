/**
 * The nested phase: containers inside a Nova VM, Kuryr's nested macvlan mode against Docker's own
 * macvlan driver, in one simulated VM (test/functional/nova-vm.ts: a namespace whose NIC is the tap of
 * a `compute:nova` port in the Linux bridge agent's bridge, with its own dockerd). This build's
 * kuryr-server runs inside it (test/functional/nested-daemon.ts, pools off: each run pays its port create), so the
 * phase measures this build whatever daemon the rest of the benchmark measures. Both networks are
 * macvlan children of the VM's eth0 on the VM's subnet: the Kuryr network is the subnet itself,
 * Docker's macvlan takes addresses above Neutron's allocation pool. The difference between them is
 * Kuryr's work: the container's Neutron port and its pair on the VM port. Samples alternate between
 * the two, in an order that flips every round, as in the other phases.
 *
 * Everything it creates (Neutron network, subnet, security group, the VM and its port, the daemon,
 * Docker networks and containers) is removed before it returns, also on failure or interrupt.
 */
import { performance } from 'node:perf_hooks';
import { DockerCli } from './docker-cli.js';
import { debugLogCounter } from './neutron-requests.js';
import { record, type BenchContext, type Series } from './phases.js';
import { eventually, IMAGE, neutron } from '../test/functional/harness.js';
import { NovaVm } from '../test/functional/nova-vm.js';
import { createVmNetwork, removeVmNetwork, spawnNestedDaemon, stopDaemon, untilServing, type NestedDaemon, type VmNetwork } from '../test/functional/nested-daemon.js';
import { DEVICE_OWNER } from '../src/libnetwork/naming.js';

export const NESTED_MODES = ['nested', 'macvlan'] as const;
export type NestedMode = (typeof NESTED_MODES)[number];
export const NESTED_MODE_LABELS: Record<NestedMode, string> = { nested: 'Kuryr nested macvlan', macvlan: 'Docker macvlan' };

/** Untimed rounds first: the first containers pay one-off costs (the daemon's first Neutron calls, Docker's caches). */
export const NESTED_WARMUP_ROUNDS = 2;
/** The VM's NIC inside its namespace (nova-vm.ts names it eth0): the parent of both networks' children. */
const LINK_IFACE = 'eth0';
/** Bound on the nested daemon's work after `docker rm` returned (the port and its pair going). */
const SETTLE_TIMEOUT_MS = 30_000;

export interface NestedResults {
  run: Record<NestedMode, Series>;
  rm: Record<NestedMode, Series>;
  /** The nested daemon's Neutron requests per Kuryr run -d + rm -f, counted from its debug log. */
  neutronRequestsPerLifecycle: number[];
  /** Of those, the updates of the VM port (its allowed_address_pairs), 412 retries included. */
  pairWritesPerLifecycle: number[];
  /** Setup steps, ms: the VM's port ACTIVE, its dockerd answering with the image loaded, the daemon serving. */
  setupMs: { vmBoot?: number; dockerd?: number; daemon?: number };
  /** The nested daemon's log, kept for a look at what it did. */
  daemonLog?: string;
  /** The whole phase, setup and cleanup included. */
  durationMs: number;
}

/** What the phase created, in creation order; each is undefined until created. */
interface Created {
  net: Partial<VmNetwork>;
  vm?: NovaVm;
  daemon?: NestedDaemon;
  vmDocker?: DockerCli;
}

export async function nestedRuns(ctx: BenchContext): Promise<NestedResults> {
  const startedAt = performance.now();
  const results: NestedResults = {
    run: { nested: { samplesMs: [], failures: [] }, macvlan: { samplesMs: [], failures: [] } },
    rm: { nested: { samplesMs: [], failures: [] }, macvlan: { samplesMs: [], failures: [] } },
    neutronRequestsPerLifecycle: [],
    pairWritesPerLifecycle: [],
    setupMs: {},
    durationMs: 0,
  };
  const created: Created = { net: {} };
  try {
    await measure(ctx, created, results);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    ctx.notes.push(`Nested: stopped early: ${(err as Error).message}`);
  } finally {
    ctx.progress('nested: removing the VM and what the phase created');
    const leftovers = await removeCreated(created);
    if (leftovers.length) ctx.notes.push(`Nested: could not remove: ${leftovers.join('; ')}`);
    results.durationMs = performance.now() - startedAt;
  }
  return results;
}

async function measure(ctx: BenchContext, created: Created, results: NestedResults): Promise<void> {
  const { docker, settings } = ctx;
  const step = async <T>(what: string, action: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    ctx.signal.throwIfAborted();
    ctx.progress(`nested: ${what}`);
    const started = performance.now();
    const value = await action();
    return { value, ms: performance.now() - started };
  };

  // Its own security group (Neutron's default egress rules) keeps the VM's tap filters out of the churn
  // of the project's default group; .200 and up stay outside Neutron's pool for Docker's macvlan.
  const { network, subnet, group, prefix } = await createVmNetwork(docker.runId, { icmp: false }, created.net);
  const cidr = subnet.cidr;

  const booted = await step(`booting a simulated Nova VM on ${cidr}`, () => NovaVm.boot('bench', { network: network.id, securityGroups: [group.id] }));
  const vm = (created.vm = booted.value);
  results.setupMs.vmBoot = booted.ms;
  results.setupMs.dockerd = (await step(`starting the VM's dockerd (${vm.ns})`, () => vm.startDockerd())).ms;
  const cloud = await vm.reachCloud();
  const served = await step('starting the nested kuryr-server', async () => {
    const daemon = (created.daemon = spawnNestedDaemon(vm, cloud, `${docker.runId}-nested`, LINK_IFACE));
    await untilServing(daemon);
    return daemon;
  });
  const daemon = served.value;
  results.setupMs.daemon = served.ms;
  results.daemonLog = daemon.logFile;
  const counter = await debugLogCounter(daemon.logFile);

  const vmDocker = (created.vmDocker = new DockerCli(settings.dockerBinary, docker.runId, ctx.signal, vm.dockerHost));
  const networks: Record<NestedMode, string> = { nested: `${docker.runId}-nested`, macvlan: `${docker.runId}-macvlan` };
  await vmDocker.must('network', 'create', '-d', daemon.driver, '--ipam-driver', daemon.driver, '--subnet', cidr, '--label', docker.label, networks.nested);
  await vmDocker.must(
    'network', 'create', '-d', 'macvlan', '-o', `parent=${LINK_IFACE}`, '--subnet', cidr, '--gateway', `${prefix}.1`, '--ip-range', `${prefix}.224/27`,
    '--label', docker.label, networks.macvlan,
  );

  const vmPortWrite = `/ports/${vm.port.id}`;
  let unsettledNoted = false;
  for (let round = -NESTED_WARMUP_ROUNDS; round < settings.nestedRuns; round++) {
    if (round >= 0 && round % 5 === 0) ctx.progress(`nested: sequential docker run/rm in the VM: round ${round + 1}/${settings.nestedRuns}`);
    for (const mode of round % 2 === 0 ? NESTED_MODES : [...NESTED_MODES].reverse()) {
      ctx.signal.throwIfAborted();
      const name = `${docker.runId}-${mode}-${round < 0 ? `warmup${-round}` : round}`;
      const before = await counter.mark();
      // IMAGE: what the VM's dockerd loaded at start.
      const run = await vmDocker.timed(['run', '-d', '--name', name, '--net', networks[mode], '--label', docker.label, IMAGE, 'sleep', '1d']);
      const rm = await vmDocker.timed(['rm', '-f', name]);
      if (mode === 'nested') {
        // The next sample starts once this one's Kuryr work is done, and that work is counted with it.
        const settled = await eventually('nothing of the container left in Neutron', async () => ((await kuryrLeftIn(vm, network.id)) ? undefined : true), SETTLE_TIMEOUT_MS, 200).catch(() => false);
        if (!settled && !unsettledNoted) {
          unsettledNoted = true;
          ctx.notes.push(`Nested: ${SETTLE_TIMEOUT_MS / 1000} s after docker rm, a Kuryr port or pair was still there (${name}); went on regardless.`);
        }
      }
      if (round < 0) {
        if (!run.ok) ctx.notes.push(`Nested: warm-up docker run on ${NESTED_MODE_LABELS[mode]} failed: ${run.error}`);
        continue;
      }
      record(results.run[mode], run);
      if (run.ok) record(results.rm[mode], rm);
      if (mode === 'nested' && run.ok && rm.ok) {
        const requests = await counter.requestsBetween(before, await counter.mark());
        results.neutronRequestsPerLifecycle.push(requests.length);
        results.pairWritesPerLifecycle.push(requests.filter((r) => r.method === 'PUT' && r.path.endsWith(vmPortWrite)).length);
      }
    }
  }
}

/** True while Kuryr's port of a container or its pair on the VM port is still in Neutron. */
async function kuryrLeftIn(vm: NovaVm, networkId: string): Promise<boolean> {
  const [ports, vmPort] = await Promise.all([neutron.listPorts({ network_id: networkId, device_owner: DEVICE_OWNER }), vm.refresh()]);
  return ports.length > 0 || (vmPort.allowed_address_pairs ?? []).length > 0;
}

/** Removes what the phase created, the reverse of creation; never throws, returns what stayed. */
async function removeCreated(created: Created): Promise<string[]> {
  const leftovers: string[] = [];
  const attempt = async (what: string, action: () => Promise<unknown>) => {
    await action().catch((err: Error) => leftovers.push(`${what}: ${err.message.split('\n')[0]}`));
  };
  const { vm, daemon, vmDocker } = created;
  // While the daemon still runs, so that Kuryr deletes the containers' ports and pairs itself.
  if (vmDocker) leftovers.push(...(await vmDocker.removeEverything()));
  if (daemon) await attempt(`nested daemon ${daemon.driver}`, () => stopDaemon(daemon));
  if (vm) await attempt(`VM ${vm.ns}`, () => vm.destroy());
  leftovers.push(...(await removeVmNetwork(created.net)));
  return leftovers;
}
