/**
 * The Docker CLI, timed wall-clock as an operator feels it. The CLI's own process start is paid
 * equally by Kuryr and bridge runs, so ratios stay fair. Everything the benchmark creates carries
 * the label `kuryr.bench.run=<run id>`, so cleanup finds it even when a command was interrupted
 * half-way (a killed `docker run` may still leave its container behind).
 */
import { execFile, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export const RUN_LABEL = 'kuryr.bench.run';

export interface Timed {
  ok: boolean;
  ms: number;
  stdout: string;
  /** The CLI's complaint when ok is false. */
  error?: string;
}

export class DockerCli {
  constructor(
    readonly binary: string,
    readonly runId: string,
    /** Aborting kills the command in flight (SIGINT during a run). */
    readonly signal: AbortSignal,
    /** The dockerd to talk to (`-H`), e.g. a simulated VM's; by default the CLI's own. */
    readonly host?: string,
  ) {}

  /** The CLI's argv for a docker command. */
  private argv(args: string[]): string[] {
    return this.host ? ['-H', this.host, ...args] : args;
  }

  get label(): string {
    return `${RUN_LABEL}=${this.runId}`;
  }

  /**
   * Runs one docker command; never throws, the caller decides what a failure means. `signal` null:
   * not abortable (undefined would mean the default, the run's signal).
   */
  timed(args: string[], timeoutMs = 120_000, signal: AbortSignal | null = this.signal): Promise<Timed> {
    return new Promise((resolve) => {
      const start = performance.now();
      execFile(this.binary, this.argv(args), { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, signal: signal ?? undefined }, (err, stdout, stderr) => {
        const ms = performance.now() - start;
        if (err) resolve({ ok: false, ms, stdout: stdout.trim(), error: (stderr.trim() || err.message).split('\n')[0] });
        else resolve({ ok: true, ms, stdout: stdout.trim() });
      });
    });
  }

  /** A command whose failure ends the benchmark (setup steps). */
  async must(...args: string[]): Promise<string> {
    this.signal.throwIfAborted();
    const result = await this.timed(args);
    if (!result.ok) throw new Error(`docker ${args.join(' ')}: ${result.error}`);
    return result.stdout;
  }

  /** The IPv4 address a container has on its (single) network. */
  async address(container: string): Promise<string> {
    return this.must('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', container);
  }

  /**
   * Starts a container attached and times until a line of its output matches `ready`: the
   * container's own report that it got somewhere, without `docker exec` round trips in between.
   */
  timedUntilOutput(runArgs: string[], ready: RegExp, timeoutMs: number): Promise<Timed> {
    return new Promise((resolve) => {
      const start = performance.now();
      const child = spawn(this.binary, this.argv(['run', ...runArgs]), { stdio: ['ignore', 'pipe', 'pipe'], signal: this.signal });
      let stdout = '';
      let stderr = '';
      let settled = false;
      const finish = (result: Timed) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // The container is removed by the caller; the attached CLI exits with it.
        resolve(result);
      };
      const timer = setTimeout(
        () => finish({ ok: false, ms: performance.now() - start, stdout, error: `no match for ${ready} within ${timeoutMs} ms` }),
        timeoutMs,
      );
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        if (ready.test(stdout)) finish({ ok: true, ms: performance.now() - start, stdout });
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('error', (err) => finish({ ok: false, ms: performance.now() - start, stdout, error: err.message }));
      child.on('exit', (code) =>
        finish({ ok: false, ms: performance.now() - start, stdout, error: stderr.trim().split('\n')[0] || `container exited (${code}) before ${ready}` }),
      );
    });
  }

  /**
   * Removes every container and network of this run. Not abortable: it is what runs after an
   * interrupt. Returns what could not be removed.
   */
  async removeEverything(): Promise<string[]> {
    const leftovers: string[] = [];
    const containers = await this.timed(['ps', '-aq', '--filter', `label=${this.label}`], 60_000, null);
    const containerIds = containers.stdout.split('\n').filter(Boolean);
    if (containerIds.length > 0) {
      const removed = await this.timed(['rm', '-f', ...containerIds], 180_000, null);
      if (!removed.ok) leftovers.push(`containers: ${removed.error}`);
    }
    const networks = await this.timed(['network', 'ls', '-q', '--filter', `label=${this.label}`], 60_000, null);
    for (const id of networks.stdout.split('\n').filter(Boolean)) {
      const removed = await this.timed(['network', 'rm', id], 120_000, null);
      if (!removed.ok) leftovers.push(`network ${id}: ${removed.error}`);
    }
    return leftovers;
  }
}
