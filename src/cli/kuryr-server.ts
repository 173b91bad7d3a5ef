#!/usr/bin/env node
/** kuryr-server: the libnetwork daemon, started as upstream's is (`kuryr-server --config-file ...`). */
import { readFileSync } from 'node:fs';
import { formatServerArgsHelp, loadConfig } from '../config/index.js';
import { KuryrError } from '../errors.js';
import { createLogger } from '../log.js';
import { buildDaemon, probeNeutron } from '../daemon.js';

/** The version in Kuryr's package.json (the built file sits at `<outDir>/src/cli/`, the package root above `<outDir>`). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage: kuryr-server [options]\n\n${formatServerArgsHelp()}\n`);
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const config = loadConfig(argv, process.env, { binaryName: 'kuryr-server' });
  const logger = createLogger({ debug: config.debug, file: config.logFile, name: 'kuryr-server' });
  for (const w of config.warnings ?? []) logger.warn(w);
  const daemon = buildDaemon(config, logger);

  // Neutron may start after us (as on boot): wait for it, like upstream's startup check, but longer.
  for (let attempt = 1; ; attempt++) {
    try {
      const { missingRequired, missingOptional } = await probeNeutron(daemon.clients.neutron);
      if (missingRequired.length > 0) {
        throw new KuryrError('KURYR_ERR_CONFIG', `Neutron lacks extensions Kuryr requires: ${missingRequired.join(', ')}`);
      }
      if (missingOptional.length > 0) logger.warn({ missingOptional }, 'Neutron lacks optional extensions; the features using them are off');
      break;
    } catch (err) {
      if ((err instanceof KuryrError && err.code === 'KURYR_ERR_CONFIG') || attempt >= 10) throw err;
      const delay = Math.min(2 ** attempt, 30);
      logger.warn({ attempt, err: err instanceof Error ? err.message : String(err) }, `Neutron not ready; retrying in ${delay}s`);
      await new Promise((r) => setTimeout(r, delay * 1000));
    }
  }
  const addresses = await daemon.listen();
  logger.info({ addresses, host: config.hostname, scope: config.capabilityScope }, 'kuryr-server serving');

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'kuryr-server stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await daemon.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kuryr-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
