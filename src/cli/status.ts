import type { KuryrConfig } from '../config/types.js';
import { probeNeutron } from '../daemon.js';
import type { Logger } from '../log.js';
import { createOpenStackClients } from '../openstack/index.js';
import { unixJson } from './unix-http.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const DOCKER_SOCKET = '/var/run/docker.sock';

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Everything an operator checks first when containers do not get networking. */
export async function statusChecks(config: KuryrConfig, logger: Logger): Promise<Check[]> {
  const checks: Check[] = [];
  const { session, neutron } = createOpenStackClients(config.neutron, logger);
  try {
    await session.getToken();
    checks.push({ name: 'keystone', ok: true, detail: `authenticated at ${config.neutron.auth.authUrl}` });
    try {
      const { missingRequired, missingOptional } = await probeNeutron(neutron);
      checks.push({
        name: 'neutron',
        ok: missingRequired.length === 0,
        detail: missingRequired.length ? `missing required extensions: ${missingRequired.join(', ')}` : 'reachable; required extensions present',
      });
      checks.push({
        name: 'neutron-extensions',
        ok: true,
        detail: missingOptional.length ? `optional extensions missing (features off): ${missingOptional.join(', ')}` : 'trunk, port forwarding, dns and bulk tagging available',
      });
    } catch (err) {
      checks.push({ name: 'neutron', ok: false, detail: message(err) });
    }
  } catch (err) {
    checks.push({ name: 'keystone', ok: false, detail: message(err) });
  }

  if (config.socketPath) {
    try {
      const r = await unixJson(config.socketPath, 'POST', '/Plugin.Activate');
      const ok = r.status === 200 && JSON.stringify(r.body).includes('NetworkDriver');
      checks.push({ name: 'plugin', ok, detail: ok ? `kuryr-server answers on ${config.socketPath}` : `unexpected answer ${r.status} on ${config.socketPath}` });
    } catch (err) {
      checks.push({ name: 'plugin', ok: false, detail: `kuryr-server does not answer on ${config.socketPath}: ${message(err)}` });
    }
  }

  try {
    const ping = await unixJson(DOCKER_SOCKET, 'GET', '/_ping');
    if (ping.status !== 200) throw new Error(`_ping answered ${ping.status}`);
    const discoverable = config.socketPath.startsWith('/run/docker/plugins/') || config.socketPath.startsWith('/var/run/docker/plugins/');
    const nets = await unixJson(DOCKER_SOCKET, 'GET', `/networks?filters=${encodeURIComponent(JSON.stringify({ driver: ['kuryr'] }))}`);
    const count = Array.isArray(nets.body) ? nets.body.length : 0;
    checks.push({
      name: 'docker',
      ok: discoverable || !!config.kuryrUri,
      detail: discoverable
        ? `dockerd is up and finds the plugin at ${config.socketPath}; ${count} kuryr network(s)`
        : `dockerd is up; it finds Kuryr through the spec file in ${config.pluginSpecDir} (${config.kuryrUri}); ${count} kuryr network(s)`,
    });
  } catch (err) {
    checks.push({ name: 'docker', ok: false, detail: `dockerd not reachable on ${DOCKER_SOCKET}: ${message(err)}` });
  }
  return checks;
}
