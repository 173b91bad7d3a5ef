#!/usr/bin/env node
/** kuryr-server: the libnetwork daemon, started as upstream's is (`kuryr-server --config-file ...`). */
import { readFileSync } from 'node:fs';
import { formatServerArgsHelp, loadConfig } from '../config/index.js';
import { KuryrError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { buildDaemon, probeNeutron, type Daemon } from '../daemon.js';
import { activatedSocketFd } from '../libnetwork/socket-activation.js';

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
  // Read before anything starts a child: the LISTEN_* variables are for this process only.
  const socketFd = activatedSocketFd(process.env, process.pid, config.socketPath);
  const daemon = buildDaemon(config, logger);

  // Signals are handled from the start: as pid 1 (a managed plugin, a container) nothing else would.
  const stopped = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  // Listen first: Docker's handshakes need no cloud, and a managed plugin that does not answer
  // them within seconds of its start fails `docker plugin enable`. Neutron may start after us
  // (as on boot): wait for it, like upstream's startup check, but longer; other calls wait too.
  const serving = daemon.listen({
    onListening: (listening) => logger.info({ addresses: listening }, 'kuryr-server listening; waiting for Neutron'),
    waitForCloud: () => waitForNeutron(daemon, logger),
    ...(socketFd === undefined ? {} : { activatedSocketFd: socketFd }),
  });
  const signal = await Promise.race([
    stopped,
    serving.then((addresses) => {
      logger.info({ addresses, host: config.hostname, scope: config.capabilityScope }, 'kuryr-server serving');
      return stopped;
    }),
  ]);
  logger.info({ signal }, 'kuryr-server stopping');
  await daemon.close();
  return 0;
}

async function waitForNeutron(daemon: Daemon, logger: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { missingRequired, missingOptional } = await probeNeutron(daemon.clients.neutron);
      if (missingRequired.length > 0) {
        throw new KuryrError('KURYR_ERR_CONFIG', `Neutron lacks extensions Kuryr requires: ${missingRequired.join(', ')}`);
      }
      if (missingOptional.length > 0) logger.warn({ missingOptional }, 'Neutron lacks optional extensions; the features using them are off');
      return;
    } catch (err) {
      if ((err instanceof KuryrError && err.code === 'KURYR_ERR_CONFIG') || attempt >= 10) throw err;
      const delay = Math.min(2 ** attempt, 30);
      logger.warn({ attempt, err: err instanceof Error ? err.message : String(err) }, `Neutron not ready; retrying in ${delay}s`);
      await new Promise((r) => setTimeout(r, delay * 1000));
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kuryr-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
