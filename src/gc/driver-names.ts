/**
 * The Docker driver names this daemon serves, which gc needs to tell its own live networks from
 * another Kuryr daemon's on the same dockerd.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { KuryrConfig } from '../config/types.js';
import type { DockerApi } from '../docker/client.js';
import { pluginNameForSpecDir } from '../libnetwork/plugin-spec.js';
import type { Logger } from '../log.js';

type NameConfig = Pick<KuryrConfig, 'socketPath' | 'pluginSpecDir' | 'kuryrUri'>;

/** The names Docker knows a legacy plugin by: its socket's file name, and its spec file's when it writes one. */
export function servedDriverNames(config: NameConfig): string[] {
  const names = new Set<string>();
  if (config.socketPath) names.add(basename(config.socketPath, '.sock'));
  if (config.pluginSpecDir && config.kuryrUri) names.add(pluginNameForSpecDir(config.pluginSpecDir));
  return [...names];
}

export interface PluginNameDeps {
  config: NameConfig;
  docker: Pick<DockerApi, 'listPlugins'>;
  logger: Logger;
  /** This process's /proc/self/cgroup. */
  readOwnCgroups?: () => Promise<string>;
}

const readProcSelfCgroup = () => readFile('/proc/self/cgroup', 'utf8').catch(() => '');

/**
 * servedDriverNames, plus the `NAME:TAG` Docker names the networks of the managed (v2) plugin this
 * process runs in. Nothing inside the plugin says that name (its socket is config.json's, e.g.
 * kuryr-libnetwork.sock), but dockerd runs a plugin's processes in a cgroup named after the plugin's
 * ID, in the host's cgroup namespace, so the ID is in /proc/self/cgroup and `GET /plugins` maps it to
 * the name. Outside a container no path holds a 64-hex ID and Docker is not asked.
 */
export async function servedDriverNamesWithPluginName(deps: PluginNameDeps): Promise<string[]> {
  const names = servedDriverNames(deps.config);
  const ids = new Set((await (deps.readOwnCgroups ?? readProcSelfCgroup)()).match(/[0-9a-f]{64}/g) ?? []);
  if (ids.size === 0) return names;
  try {
    const plugin = (await deps.docker.listPlugins()).find((p) => ids.has(p.Id));
    if (!plugin) return names; // a container, not a plugin
    deps.logger.debug({ pluginId: plugin.Id }, `gc: running in managed plugin ${plugin.Name}, Docker's driver name of its networks`);
    return [...new Set([...names, plugin.Name])];
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    deps.logger.warn(
      { err: why },
      `gc: cannot tell from Docker whether this is a managed plugin (its driver name is NAME:TAG): gc judges only networks of driver ${names.join(', ') || '(none)'}; leftovers on a plugin's own networks stay until Docker answers`,
    );
    return names;
  }
}
