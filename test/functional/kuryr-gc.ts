/** `kuryr gc` run as an operator runs it: the CLI of the tests' own build, with the daemon's config files. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CONFIG_FILES } from './harness.js';

const run = promisify(execFile);
const KURYR_CLI = new URL('../../src/cli/kuryr.js', import.meta.url).pathname;

/** Its output lines; exit status 1 (some object could not be collected) is an answer too. */
export async function kuryrGc(...args: string[]): Promise<{ code: number; lines: string[] }> {
  const argv = [KURYR_CLI, ...CONFIG_FILES.flatMap((f) => ['--config-file', f]), 'gc', ...args];
  try {
    const { stdout } = await run(process.execPath, argv, { timeout: 180_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, lines: stdout.trim().split('\n') };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number' || e.code !== 1 || !e.stdout) throw new Error(`kuryr gc failed: ${e.stderr ?? String(err)}`);
    return { code: 1, lines: e.stdout.trim().split('\n') }; // some object could not be collected: the lines say which
  }
}
