/**
 * The CNI environment a runtime runs the plugin with, checked per command as the spec lists the
 * required variables. Every problem is named in one code-4 error, so one run tells the operator all.
 * Variables a command does not use are ignored (podman sends `CNI_NETNS=dummy` with VERSION).
 */
import { isValidIfName, MAX_IFNAME } from '../../binding/naming.js';
import { CNI_CODE, COMMANDS, CniError, quote, type CniCommandName } from './spec.js';

/** The spec's rule (alphanumeric first, then alphanumerics, `_`, `.`, `-`), bounded as the node daemon bounds it. */
export const CONTAINER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** Longest path Linux accepts (PATH_MAX). */
const MAX_PATH = 4096;

type EnvVar = 'CNI_CONTAINERID' | 'CNI_NETNS' | 'CNI_IFNAME' | 'CNI_PATH';

/** Required variables besides CNI_COMMAND (spec "Parameters"; CNI_NETNS is optional for DEL). */
const REQUIRED: Record<CniCommandName, EnvVar[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME'],
  GC: ['CNI_PATH'],
  STATUS: [],
  VERSION: [],
};

/** The variables each command reads (and so checks when given). */
const READ: Record<CniCommandName, EnvVar[]> = { ...REQUIRED, DEL: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'] };

export interface CniEnv {
  command: CniCommandName;
  /** '' for GC, STATUS and VERSION, and for DEL's absent CNI_NETNS. */
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS as given for ADD, DEL and CHECK ('' otherwise: the other commands are about no one container). */
  cniArgs: string;
}

const PROBLEM: Record<EnvVar, (value: string) => string | undefined> = {
  CNI_CONTAINERID: (v) => (CONTAINER_ID_RE.test(v) ? undefined : `CNI_CONTAINERID ${quote(v)} is not a container id (1-128 of [A-Za-z0-9_.-], alphanumeric first)`),
  CNI_IFNAME: (v) => (isValidIfName(v) ? undefined : `CNI_IFNAME ${quote(v)} is not an interface name (1-${MAX_IFNAME} of [A-Za-z0-9_.-], not . or ..)`),
  CNI_NETNS: (v) => (v.startsWith('/') && v.length <= MAX_PATH && !/[\n\r]/.test(v) ? undefined : `CNI_NETNS ${quote(v)} is not an absolute path`),
  CNI_PATH: () => undefined,
};

export function readEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = env['CNI_COMMAND'] ?? '';
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(CNI_CODE.INVALID_ENV, command ? `unknown CNI_COMMAND ${quote(command)} (want one of ${COMMANDS.join(', ')})` : 'required env variable CNI_COMMAND missing');
  }
  const cmd = command as CniCommandName;
  const problems: string[] = [];
  const missing = REQUIRED[cmd].filter((name) => !env[name]);
  if (missing.length > 0) problems.push(`required env variables [${missing.join(',')}] missing for ${cmd}`);
  for (const name of READ[cmd]) {
    const value = env[name];
    const problem = value ? PROBLEM[name](value) : undefined;
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) throw new CniError(CNI_CODE.INVALID_ENV, problems.join('; '));
  const used = (name: EnvVar) => (READ[cmd].includes(name) ? (env[name] ?? '') : '');
  return { command: cmd, containerId: used('CNI_CONTAINERID'), netns: used('CNI_NETNS'), ifname: used('CNI_IFNAME'), cniArgs: cmd === 'ADD' || cmd === 'DEL' || cmd === 'CHECK' ? (env['CNI_ARGS'] ?? '') : '' };
}
