#!/usr/bin/env node
/** kuryr: the operator's command line. */
import { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { configSample } from '../config/sample.js';
import { silentLogger } from '../log.js';
import { statusChecks } from './status.js';
import { DEFAULT_GC_GRACE_SECONDS, gcCommand, type GcCommandOptions } from './gc.js';

function configArgs(opts: { configFile?: string[]; configDir?: string[]; osCloud?: string }): string[] {
  return [
    ...(opts.configFile ?? []).flatMap((f) => ['--config-file', f]),
    ...(opts.configDir ?? []).flatMap((d) => ['--config-dir', d]),
    ...(opts.osCloud ? ['--os-cloud', opts.osCloud] : []),
  ];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

const program = new Command('kuryr').description('Kuryr: Docker networking on OpenStack Neutron');
program
  .option('--config-file <path>', 'kuryr.conf to read (repeatable)', collect)
  .option('--config-dir <dir>', 'directory of *.conf files (repeatable)', collect)
  .option('--os-cloud <name>', 'cloud from clouds.yaml');

program
  .command('status')
  .description('check Keystone, Neutron and its extensions, the plugin endpoint and Docker')
  .option('--json', 'print the checks as JSON')
  .action(async (cmdOpts: { json?: boolean }) => {
    const config = loadConfig(configArgs(program.opts()), process.env, { allowUnknownArgs: true });
    const checks = await statusChecks(config, silentLogger);
    if (cmdOpts.json) process.stdout.write(JSON.stringify(checks, null, 2) + '\n');
    else {
      for (const c of checks) {
        process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(18)} ${c.detail}\n`);
        for (const line of c.lines ?? []) process.stdout.write(`       ${line}\n`);
      }
    }
    process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
  });

program
  .command('gc')
  .description('remove Kuryr objects in Neutron and host devices no Docker network or endpoint owns any more')
  .option('--dry-run', 'list what would be removed, change nothing')
  .option('--networks', "also remove orphan networks no port ties to this host (only when this dockerd is Kuryr's only one)")
  .option('--grace-period <seconds>', `judge objects that may be mid-creation only once unchanged this long (default ${DEFAULT_GC_GRACE_SECONDS})`)
  .action(async (cmdOpts: GcCommandOptions) => {
    const config = loadConfig(configArgs(program.opts()), process.env, { allowUnknownArgs: true });
    process.exitCode = await gcCommand(config, cmdOpts, (line) => process.stdout.write(`${line}\n`));
  });

const configCommand = program.command('config').description('kuryr.conf helpers');
configCommand
  .command('sample')
  .description('print an annotated kuryr.conf with every option, its default and its help')
  .action(() => {
    process.stdout.write(configSample());
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`kuryr: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
