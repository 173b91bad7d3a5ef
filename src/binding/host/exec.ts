/** Runs a host tool without a shell: argv array, optional stdin, bounded time. */
import { spawn } from 'node:child_process';
import { KuryrError } from '../../errors.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(file: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    // our own timer: spawn's `timeout` option is never cleared when the spawn itself fails
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' ? `${file} is not installed (or not on PATH)` : `cannot run ${file}: ${e.message}`;
      reject(new KuryrError('KURYR_ERR_BINDING', why, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({
        code: code ?? 128,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: signal ? `${stderr}${file} killed by ${signal}` : stderr,
      });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => { /* the exit status reports it */ });
      child.stdin.end(opts.input);
    }
  });
}
