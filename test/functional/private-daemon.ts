/**
 * A Kuryr daemon of the tests' own, beside the stack's: this build's kuryr-server with the stack's
 * kuryr.conf plus a file of overrides (its own socket, hence its own Docker driver name, and whatever
 * the test needs: a Neutron behind a proxy, vif_plugging_is_fatal, global scope...). Tests that need
 * a daemon configured differently from the shared one use this instead of restarting anything shared.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { unixJson } from '../../src/cli/unix-http.js';
import { terminate } from './harness.js';

const SERVER = new URL('../../src/cli/kuryr-server.js', import.meta.url).pathname;
const BASE_CONFIG = '/etc/kuryr/kuryr.conf';

/** kuryr.conf sections and options, e.g. `{ DEFAULT: { capability_scope: 'global' } }`. */
export type ConfigOverrides = Record<string, Record<string, string>>;

export interface PluginAnswer {
  status: number;
  body: Record<string, unknown>;
}

export class PrivateDaemon {
  private constructor(
    readonly name: string,
    readonly socketPath: string,
    readonly logFile: string,
    readonly configFile: string,
    private readonly child: ChildProcess,
    private readonly restartWith: () => Promise<PrivateDaemon>,
  ) {}

  /**
   * Starts `kuryr-server` with a socket `<socketDir>/<name>.sock` (Docker's driver name is `name`)
   * and resolves once it answers Plugin.Activate and has started serving. `instance` tells apart the files (log, config) of
   * daemons serving the same driver name to different dockerds.
   */
  static async start(name: string, overrides: ConfigOverrides = {}, where: { socketDir?: string; instance?: string; wrapper?: string[] } = {}): Promise<PrivateDaemon> {
    const socketPath = `${where.socketDir ?? '/run/docker/plugins'}/${name}.sock`;
    const fileName = where.instance ? `${name}-${where.instance}` : name;
    const logFile = `/var/log/kuryr/${fileName}.log`;
    const configFile = `/tmp/${fileName}.conf`;
    const sections: ConfigOverrides = {
      ...overrides,
      // No TCP listener and no discovery file: Docker finds this daemon by its socket only.
      DEFAULT: { socket_path: socketPath, kuryr_uri: '', plugin_spec_dir: '', log_file: logFile, debug: 'True', metrics_listen: '', ...overrides['DEFAULT'] },
    };
    writeFileSync(configFile, renderIni(sections), { mode: 0o600 });
    mkdirSync(dirname(logFile), { recursive: true });
    const out = openSync(`${logFile}.out`, 'a');
    // `wrapper`: a command that execs the daemon in its place (same pid), e.g. setpriv dropping capabilities.
    const [file, ...args] = [...(where.wrapper ?? []), process.execPath, SERVER, '--config-file', BASE_CONFIG, '--config-file', configFile];
    const child = spawn(file!, args, {
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    const daemon = new PrivateDaemon(name, socketPath, logFile, configFile, child, () => PrivateDaemon.start(name, overrides, where));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!daemon.running) throw new Error(`kuryr-server ${name} exited at startup (code ${child.exitCode}); see ${logFile}.out`);
      // The socket answers Docker's handshakes before the start-up (Neutron probe, pools) is done;
      // a test's first call must not race it, so "started" is the daemon's own "serving" line.
      const answer = await daemon.call('Plugin.Activate').catch(() => undefined);
      if (answer?.status === 200 && daemon.logLines('kuryr-server serving').some((l) => l['pid'] === child.pid)) return daemon;
      if (Date.now() > deadline) {
        await daemon.stop();
        throw new Error(`kuryr-server ${name} did not answer on ${socketPath} and start serving within 30 s; see ${logFile}.out`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The Docker driver name: Docker names a plugin after its socket file. */
  get driver(): string {
    return basename(this.socketPath, '.sock');
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True while the process started by `start` has not exited. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** One plugin call on the socket, as Docker makes it. */
  async call(method: string, body?: unknown, timeoutMs = 60_000): Promise<PluginAnswer> {
    return (await unixJson(this.socketPath, 'POST', `/${method}`, body, timeoutMs)) as PluginAnswer;
  }

  /** Log lines (JSON) whose message is `msg`. */
  logLines(msg: string): Record<string, unknown>[] {
    let text = '';
    try {
      text = readFileSync(this.logFile, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => l.includes(msg))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      })
      .filter((l) => l['msg'] === msg);
  }

  /** Stops this process and starts another with the same configuration (an operator's restart). */
  async restart(): Promise<PrivateDaemon> {
    await this.stop();
    return this.restartWith();
  }

  async stop(): Promise<void> {
    if (this.running) await terminate(this.child);
    rmSync(this.configFile, { force: true });
  }
}

function renderIni(sections: ConfigOverrides): string {
  return Object.entries(sections)
    .map(([section, options]) => `[${section}]\n${Object.entries(options).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`)
    .join('\n');
}
