/** `kuryr gc` run as an operator runs it: the CLI of the tests' own build, with the daemon's config files. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CONFIG_FILES } from './harness.js';

const run = promisify(execFile);
const KURYR_CLI = new URL('../../src/cli/kuryr.js', import.meta.url).pathname;

export interface GcWhere {
  /** The config files (by default the stack daemon's). */
  configFiles?: readonly string[];
  /** Wraps the command to run it elsewhere, e.g. inside a simulated VM (`vm.command`). */
  inside?: (cmd: string[]) => string[];
}

/** Its output lines; exit status 1 (some object could not be collected) is an answer too. */
export function kuryrGc(...args: string[]): Promise<{ code: number; lines: string[] }> {
  return kuryrGcIn({}, ...args);
}

export async function kuryrGcIn(where: GcWhere, ...args: string[]): Promise<{ code: number; lines: string[] }> {
  const files = (where.configFiles ?? CONFIG_FILES).flatMap((f) => ['--config-file', f]);
  const command = [process.execPath, KURYR_CLI, ...files, 'gc', ...args];
  const [cmd, ...argv] = where.inside ? where.inside(command) : command;
  try {
    const { stdout } = await run(cmd!, argv, { timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, lines: stdout.trim().split('\n') };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number' || e.code !== 1 || !e.stdout) throw new Error(`kuryr gc failed: ${e.stderr ?? String(err)}`);
    return { code: 1, lines: e.stdout.trim().split('\n') }; // some object could not be collected: the lines say which
  }
}
