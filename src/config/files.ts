/**
 * Which config files are read, in which order (oslo.config's rules), and reading them.
 *
 * oslo.config `_parse_config_files`: when no --config-file is given, the first existing default
 * file is read; when no --config-dir is given, the first existing default directory is read; then
 * the --config-file / --config-dir arguments in command-line order. Later values override earlier
 * ones. A --config-file or --config-dir given on the command line must exist.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ServerArgs } from './args.js';
import { IniSyntaxError, parseIni, type IniFile } from './ini.js';
import { configError } from './options.js';

/** oslo.config `find_config_files(project='kuryr')`: the first of these that exists. */
export const DEFAULT_CONFIG_FILES: readonly string[] = ['~/.kuryr/kuryr.conf', '~/kuryr.conf', '/etc/kuryr/kuryr.conf', '/etc/kuryr.conf'];
/** oslo.config `find_config_dirs(project='kuryr')`: the first of these that exists. */
export const DEFAULT_CONFIG_DIRS: readonly string[] = ['~/.kuryr/kuryr.conf.d', '~/kuryr.conf.d', '/etc/kuryr/kuryr.conf.d', '/etc/kuryr.conf.d'];
/** The file messages tell the user to edit when none was read. */
export const MAIN_CONFIG_FILE = '/etc/kuryr/kuryr.conf';

export interface ReadFile {
  ini: IniFile;
  /** File mode bits (for the permission warning). */
  mode: number;
}

export function expandHome(path: string, env: NodeJS.ProcessEnv): string {
  if (path === '~' || path.startsWith('~/')) return join(env.HOME || homedir(), path.slice(1));
  return path;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function confFilesIn(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.name.endsWith('.conf') && (d.isFile() || d.isSymbolicLink()))
    .map((d) => d.name)
    .sort()
    .map((n) => join(dir, n));
}

export function configFileList(
  args: ServerArgs,
  env: NodeJS.ProcessEnv,
  defaults: { files: readonly string[]; dirs: readonly string[] },
): string[] {
  const out: string[] = [];
  if (args.configFiles.length === 0) {
    const first = defaults.files.map((f) => expandHome(f, env)).find((f) => existsSync(f) && !isDir(f));
    if (first) out.push(first);
  }
  if (args.configDirs.length === 0) {
    const first = defaults.dirs.map((d) => expandHome(d, env)).find(isDir);
    if (first) out.push(...confFilesIn(first));
  }
  for (const src of args.configSources) {
    if (src.kind === 'file') {
      if (!existsSync(src.path)) throw configError(`kuryr.conf: --config-file ${src.path} does not exist`);
      if (isDir(src.path)) throw configError(`kuryr.conf: --config-file ${src.path} is a directory (use --config-dir)`);
      out.push(src.path);
    } else {
      if (!isDir(src.path)) throw configError(`kuryr.conf: --config-dir ${src.path} does not exist or is not a directory`);
      out.push(...confFilesIn(src.path));
    }
  }
  return out;
}

export function readConfigFile(path: string): ReadFile {
  let text: string;
  let mode: number;
  try {
    text = readFileSync(path, 'utf8');
    mode = statSync(path).mode;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw configError(`kuryr.conf: cannot read ${path}${code === 'EACCES' ? ': permission denied' : code ? ` (${code})` : ''}`);
  }
  try {
    return { ini: parseIni(text, path), mode };
  } catch (err) {
    if (err instanceof IniSyntaxError) throw configError(`kuryr.conf: ${err.problem} (${err.path}:${err.line})`);
    throw err;
  }
}

const SECRET_KEY = /password|secret|token/i;

/** `[section] key` of the first non-empty secret-looking option in the file, if any. */
export function firstSecretIn(ini: IniFile): string | undefined {
  for (const [section, entries] of ini.sections) {
    for (const [key, entry] of entries) {
      if (SECRET_KEY.test(key) && entry.value !== '') return `[${section}] ${key}`;
    }
  }
  return undefined;
}

export function permissionWarning(kind: string, path: string, mode: number, holds: string): string | undefined {
  if ((mode & 0o077) === 0) return undefined;
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  return `${kind}: ${path} holds credentials (${holds}) but is readable by group/others (mode ${octal}); run chmod 600 ${path}`;
}
