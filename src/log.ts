import { chmodSync, statSync } from 'node:fs';
import { pino, destination, stdTimeFunctions, type Logger } from 'pino';

export type { Logger };

/**
 * A key names a credential when, lower-cased and stripped of everything but letters and digits, it
 * contains one of these: `password`, `OS_PASSWORD`, `application_credential_secret`,
 * `applicationCredentialSecret`, `X-Auth-Token`, `Secret_Token`, `authorization`... at any depth,
 * whoever wrote the object (Keystone bodies, Docker's -o options, headers, errors).
 */
const SECRET_KEY_STEMS = ['password', 'passwd', 'passphrase', 'pwd', 'secret', 'token', 'authoriz', 'cookie', 'apikey', 'privatekey'];

const CENSOR = '***';

/** Deeper than any line pino writes (its depthLimit is 5): what lies below is dropped, not walked. */
const MAX_DEPTH = 32;

/** `scheme://user:password@` anywhere in a string; greedy up to the last `@` before the host. */
const URL_USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#"]*@/gi;

function flatKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

function isSecretKey(key: string): boolean {
  const flat = flatKey(key);
  return SECRET_KEY_STEMS.some((stem) => flat.includes(stem));
}

/** Replaces the user-info of every URL in `text` (`http://u:p@host` becomes `http://***@host`). */
export function stripUrlUserInfo(text: string): string {
  return text.replace(URL_USER_INFO, `$1${CENSOR}@`);
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return stripUrlUserInfo(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) && v !== null && v !== '' ? CENSOR : redactValue(v, depth + 1);
  return out;
}

/** Cheap test first: most lines name no credential and hold no URL with user-info. */
function mayHoldSecret(line: string): boolean {
  URL_USER_INFO.lastIndex = 0;
  if (URL_USER_INFO.test(line)) return true;
  const flat = flatKey(line);
  return SECRET_KEY_STEMS.some((stem) => flat.includes(stem));
}

/**
 * The last step before a line is written: every credential field (any case, any depth: the line as
 * pino serialised it, so bindings, errors and their causes too) and every URL's user-info are
 * replaced. Works on the final JSON rather than pino's `redact` paths, which are fixed-depth and
 * case-sensitive.
 */
export function redactLogLine(line: string): string {
  if (!mayHoldSecret(line)) return line;
  const newline = line.endsWith('\n') ? '\n' : '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return stripUrlUserInfo(line);
  }
  return JSON.stringify(redactValue(parsed, 0)) + newline;
}

/** Log files hold request bodies at debug: readable by root only, also when an older, wider file exists. */
const LOG_FILE_MODE = 0o600;

function tightenExisting(file: string): void {
  try {
    if ((statSync(file).mode & 0o777 & ~LOG_FILE_MODE) !== 0) chmodSync(file, LOG_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export interface LogOptions {
  debug?: boolean;
  /** Append to this file instead of stderr. */
  file?: string;
  name?: string;
}

export function createLogger(opts: LogOptions = {}): Logger {
  if (opts.file) tightenExisting(opts.file);
  const stream = opts.file ? destination({ dest: opts.file, mkdir: true, sync: false, mode: LOG_FILE_MODE }) : destination(2);
  return pino(
    {
      name: opts.name ?? 'kuryr',
      level: opts.debug ? 'debug' : 'info',
      hooks: { streamWrite: redactLogLine },
      base: { pid: process.pid },
      timestamp: stdTimeFunctions.isoTime,
    },
    stream,
  );
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
