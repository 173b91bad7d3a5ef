/**
 * `kuryr-cni`: one CNI call, from the runtime's environment and stdin to what the plugin prints and
 * its exit code. Everything is checked here, so that the node daemon never sees a malformed request;
 * the work itself is the daemon's. Errors become the spec's JSON at this one place.
 */
import { parseCniArgs } from './args.js';
import { daemonRequest, daemonStatus } from './daemon-client.js';
import { readEnv, type CniEnv } from './env.js';
import { askedVersion, daemonSocketOf, readNetConf } from './netconf.js';
import { resultFor } from './result.js';
import { CNI_CODE, CniError, isSupportedVersion, LATEST_VERSION, SUPPORTED_VERSIONS } from './spec.js';

export interface PluginOutcome {
  /** What goes to stdout: a result, VERSION's answer, an error, or nothing. */
  stdout: string;
  exitCode: 0 | 1;
  /** One line for stderr, on errors only. */
  log?: string;
}

const json = (value: unknown) => `${JSON.stringify(value)}\n`;

/** VERSION is answered by the plugin itself, with or without a daemon. */
function versionInfo(stdin: string): string {
  return json({ cniVersion: askedVersion(stdin) ?? LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS });
}

/** The call's output on success: ADD prints its result, the other commands nothing. */
async function serve(env: CniEnv, stdin: string): Promise<string> {
  const conf = readNetConf(stdin, env.command);
  const args = parseCniArgs(env.cniArgs);
  const socket = daemonSocketOf(conf);
  if (env.command === 'STATUS') {
    await daemonStatus(socket);
    return '';
  }
  const command = env.command as 'ADD' | 'DEL' | 'CHECK' | 'GC';
  const answer = await daemonRequest(socket, { command, containerId: env.containerId, netns: env.netns, ifname: env.ifname, args, config: conf });
  // A prevResult (Kuryr chained after another plugin) is not passed on: the pod's interface is Kuryr's result.
  return command === 'ADD' ? json(resultFor(answer['result'], conf.cniVersion)) : '';
}

function failure(err: unknown, stdin: string, env: NodeJS.ProcessEnv): PluginOutcome {
  const e = err instanceof CniError ? err : new CniError(CNI_CODE.INTERNAL, `internal error: ${(err as Error)?.message ?? String(err)}`);
  const asked = askedVersion(stdin);
  const body = { cniVersion: isSupportedVersion(asked) ? asked : LATEST_VERSION, code: e.code, msg: e.message, ...(e.details ? { details: e.details } : {}) };
  const who = [env['CNI_COMMAND']?.slice(0, 16), env['CNI_CONTAINERID']?.slice(0, 12), env['CNI_IFNAME']?.slice(0, 16)].filter(Boolean).join(' ');
  // One line whatever the runtime or the daemon put in the values.
  const log = `kuryr-cni: ${who || 'call'} failed: code ${e.code}: ${e.message}${e.details ? ` (${e.details})` : ''}`.replace(/[\x00-\x1f\x7f]/g, '?');
  return { stdout: json(body), exitCode: 1, log };
}

export async function runPlugin(env: NodeJS.ProcessEnv, stdin: string): Promise<PluginOutcome> {
  try {
    const cniEnv = readEnv(env);
    const stdout = cniEnv.command === 'VERSION' ? versionInfo(stdin) : await serve(cniEnv, stdin);
    return { stdout, exitCode: 0 };
  } catch (err) {
    return failure(err, stdin, env);
  }
}
