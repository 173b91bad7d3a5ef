/**
 * The server's command-line options, named as oslo.config and oslo.log name them so that existing
 * unit files and scripts (`kuryr-server --config-file /etc/kuryr/kuryr.conf`) keep working.
 */
import { configError } from './options.js';

export interface ConfigSourceArg {
  kind: 'file' | 'dir';
  path: string;
}

export interface ServerArgs {
  /** --config-file and --config-dir in command-line order (oslo reads them in that order). */
  configSources: ConfigSourceArg[];
  configFiles: string[];
  configDirs: string[];
  osCloud?: string;
  /** --debug / -d (true) or --nodebug (false); unset when neither was given. */
  debug?: boolean;
  logFile?: string;
  logDir?: string;
  help: boolean;
  version: boolean;
  /** Arguments not recognized (only when `allowUnknown`; otherwise they are an error). */
  unknown: string[];
}

export interface ServerArgHelp {
  flags: string;
  description: string;
}

/** For --help output (commander's `.option(flags, description)` takes these as they are). */
export const SERVER_ARGS_HELP: readonly ServerArgHelp[] = [
  {
    flags: '--config-file <path>',
    description:
      'Config file to read; repeatable, later files override earlier ones. Default: the first of ~/.kuryr/kuryr.conf, ~/kuryr.conf, /etc/kuryr/kuryr.conf, /etc/kuryr.conf that exists.',
  },
  {
    flags: '--config-dir <dir>',
    description:
      'Read every *.conf in <dir>, sorted, at this point of the command line (so they override the --config-file options before it). Default: /etc/kuryr/kuryr.conf.d (and the ~ variants) if it exists.',
  },
  { flags: '--os-cloud <name>', description: 'Cloud in clouds.yaml to authenticate with (else $OS_CLOUD); [neutron] auth_url in kuryr.conf takes precedence.' },
  { flags: '-d, --debug', description: 'Log at debug level (overrides [DEFAULT] debug).' },
  { flags: '--nodebug', description: 'Do not log at debug level (overrides [DEFAULT] debug).' },
  { flags: '--log-file <path>', description: 'Log to this file instead of stderr (overrides [DEFAULT] log_file; relative to --log-dir).' },
  { flags: '--log-dir <dir>', description: 'Directory for the log file (overrides [DEFAULT] log_dir).' },
  { flags: '-h, --help', description: 'Show this help.' },
  { flags: '--version', description: 'Show the version.' },
];

export function formatServerArgsHelp(): string {
  const width = Math.max(...SERVER_ARGS_HELP.map((h) => h.flags.length)) + 2;
  return SERVER_ARGS_HELP.map((h) => `  ${h.flags.padEnd(width)}${h.description}`).join('\n');
}

const VALUE_OPTS: Record<string, 'configFile' | 'configDir' | 'osCloud' | 'logFile' | 'logDir'> = {
  '--config-file': 'configFile',
  '--config-dir': 'configDir',
  '--os-cloud': 'osCloud',
  '--log-file': 'logFile',
  '--logfile': 'logFile',
  '--log-dir': 'logDir',
  '--logdir': 'logDir',
};

/**
 * Parses the server's arguments (without `node` and the script: pass `process.argv.slice(2)`).
 * Accepts `--opt value` and `--opt=value`. Unknown arguments are a KURYR_ERR_CONFIG error unless
 * `allowUnknown`, when they are returned in `unknown`.
 */
export function parseServerArgs(argv: readonly string[], opts: { allowUnknown?: boolean } = {}): ServerArgs {
  const out: ServerArgs = { configSources: [], configFiles: [], configDirs: [], help: false, version: false, unknown: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const target = VALUE_OPTS[flag];
    if (target) {
      let value: string | undefined;
      if (eq > 0) value = arg.slice(eq + 1);
      else {
        value = argv[i + 1];
        if (value === undefined || (value.startsWith('-') && value !== '-')) {
          throw configError(`command line: ${flag} needs a value`);
        }
        i++;
      }
      if (value === '') throw configError(`command line: ${flag} needs a non-empty value`);
      switch (target) {
        case 'configFile':
          out.configFiles.push(value);
          out.configSources.push({ kind: 'file', path: value });
          break;
        case 'configDir':
          out.configDirs.push(value);
          out.configSources.push({ kind: 'dir', path: value });
          break;
        default:
          out[target] = value;
      }
      continue;
    }
    if (arg === '--debug' || arg === '-d') out.debug = true;
    else if (arg === '--nodebug') out.debug = false;
    else if (arg === '--help' || arg === '-h') out.help = true;
    else if (arg === '--version') out.version = true;
    else if (opts.allowUnknown) out.unknown.push(arg);
    else {
      // Only the flag name: a value glued with "=" could be a secret.
      const known = [...Object.keys(VALUE_OPTS), '--debug', '-d', '--nodebug', '--help', '-h', '--version'];
      throw configError(`command line: unknown argument "${flag}" (known: ${known.join(', ')})`);
    }
  }
  return out;
}
