/** `kuryr gc`: removes what no Docker network or endpoint owns any more, one line per object. */
import type { KuryrConfig } from '../config/types.js';
import { DockerClient } from '../docker/client.js';
import { DEFAULT_GC_GRACE_SECONDS, formatGcOutcome, runGc, summarizeGc } from '../gc/index.js';
import { silentLogger } from '../log.js';
import { createOpenStackClients } from '../openstack/index.js';

export interface GcCommandOptions {
  dryRun?: boolean;
  networks?: boolean;
  gracePeriod?: string;
}

export { DEFAULT_GC_GRACE_SECONDS };

/** Runs gc and prints what it did; the exit status is 1 when an object could not be collected. */
export async function gcCommand(config: KuryrConfig, opts: GcCommandOptions, write: (line: string) => void): Promise<number> {
  const grace = opts.gracePeriod === undefined ? DEFAULT_GC_GRACE_SECONDS : Number(opts.gracePeriod);
  if (!Number.isInteger(grace) || grace < 0) throw new Error(`--grace-period ${opts.gracePeriod}: want whole seconds, 0 or more`);
  const { neutron } = createOpenStackClients(config.neutron, silentLogger);
  const outcomes = await runGc(
    { config, neutron, docker: new DockerClient(config.docker) },
    { dryRun: opts.dryRun ?? false, gracePeriodSeconds: grace, unattributedNetworks: opts.networks ?? false },
  );
  for (const o of outcomes) write(formatGcOutcome(o));
  write(`kuryr gc${opts.dryRun ? ' (dry run)' : ''} on ${config.hostname}: ${summarizeGc(outcomes)}`);
  return outcomes.some((o) => o.result === 'failed') ? 1 : 0;
}
