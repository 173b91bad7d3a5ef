/**
 * Runs the built `kuryr-cni` the way a container runtime does (libcni execs `<CNI_PATH>/<type>`
 * with CNI_* in the environment and the network config on stdin, then reads stdout and the exit
 * code), against a node daemon double on a temporary unix socket that records what reached it.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built entry point, next to this test in whatever outDir it was built into. */
const ENTRY = fileURLToPath(new URL('../../src/cli/kuryr-cni.js', import.meta.url));

export interface Received {
  method: string;
  url: string;
  body: unknown;
}

export interface Answer {
  status: number;
  body: unknown;
}

/** The node daemon's side of the socket, answering as `answer` says and recording every request. */
export class DaemonDouble {
  readonly received: Received[] = [];
  /** What the daemon answers; by default 200 `{}` (ready, and DEL, CHECK and GC done). */
  answer: (req: Received) => Answer | 'hang' = () => ({ status: 200, body: {} });
  private server?: Server;

  constructor(readonly socketPath: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let data = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (data += c));
      req.on('end', () => {
        const received = { method: req.method ?? '', url: req.url ?? '', body: data ? JSON.parse(data) : undefined };
        this.received.push(received);
        const answer = this.answer(received);
        if (answer === 'hang') return;
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.socketPath, resolve));
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export interface PluginRun {
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * A plugin directory (CNI_PATH) holding `kuryr-cni`, a daemon double and a socket path in a
 * temporary directory; `close` removes them.
 */
export class CniBench {
  readonly dir = mkdtempSync(join(tmpdir(), 'kuryr-cni-'));
  readonly binDir = join(this.dir, 'bin');
  readonly socketPath = join(this.dir, 'cni.sock');
  readonly daemon = new DaemonDouble(this.socketPath);

  constructor() {
    // npm makes a package's bins executable when it installs them; so does this bench.
    chmodSync(ENTRY, 0o755);
    mkdirSync(this.binDir);
    symlinkSync(ENTRY, join(this.binDir, 'kuryr-cni'));
  }

  /** Execs the plugin with exactly `env` (plus a PATH that finds node, as the runtime's own PATH does). */
  run(env: Record<string, string>, stdin: string): Promise<PluginRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(join(this.binDir, 'kuryr-cni'), [], { env: { PATH: `${dirname(process.execPath)}:/usr/sbin:/usr/bin:/sbin:/bin`, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ stdout, stderr, code }));
      child.stdin.end(stdin);
    });
  }

  close(): Promise<void> {
    return this.daemon.stop().finally(() => rmSync(this.dir, { recursive: true, force: true }));
  }
}

