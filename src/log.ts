import { pino, destination, stdTimeFunctions, type Logger } from 'pino';

export type { Logger };

/** Keys whose values never reach a log line, wherever they appear in a logged object. */
const SECRET_KEYS = ['password', 'token', 'secret', 'application_credential_secret', 'X-Auth-Token', 'x-auth-token', 'X-Subject-Token', 'x-subject-token', 'authorization'];

const redactPaths = SECRET_KEYS.flatMap((k) => {
  const key = `["${k}"]`;
  return [key, `*${key}`, `*.*${key}`, `*.*.*${key}`, `*.*.*.*${key}`];
});

export interface LogOptions {
  debug?: boolean;
  /** Append to this file instead of stderr. */
  file?: string;
  name?: string;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const stream = opts.file ? destination({ dest: opts.file, mkdir: true, sync: false }) : destination(2);
  return pino(
    {
      name: opts.name ?? 'kuryr',
      level: opts.debug ? 'debug' : 'info',
      redact: { paths: redactPaths, censor: '***' },
      base: { pid: process.pid },
      timestamp: stdTimeFunctions.isoTime,
    },
    stream,
  );
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
