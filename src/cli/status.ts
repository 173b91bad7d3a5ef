import { stat } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import type { KuryrConfig } from '../config/types.js';
import { probeNeutron } from '../daemon.js';
import { DockerClient } from '../docker/client.js';
import { servedDriverNames } from '../gc/index.js';
import { stripUrlUserInfo, type Logger } from '../log.js';
import { tcpExposure } from '../libnetwork/server.js';
import { metricsUrl, parseExposition, summarise, type ActivitySummary } from '../metrics/index.js';
import { createOpenStackClients } from '../openstack/index.js';
import type { Neutron } from '../openstack/neutron-types.js';
import { PORT_POOLED_TAG, poolHostTag } from '../libnetwork/naming.js';
import { unixJson } from './unix-http.js';
import { IprouteHostNetwork } from '../binding/host/index.js';
import { VmPort, VmTrunk } from '../libnetwork/nested/index.js';
import { insideVm } from '../libnetwork/context.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Lines shown under the check (the activity tables). */
  lines?: string[];
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** C0 and C1 controls, DEL, line and paragraph separators, bidi overrides: what can rewrite a terminal. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * What status prints comes partly from others (Neutron and Docker names, error messages, URLs from
 * kuryr.conf): no URL's user-info, and no character that could move the cursor or recolour the
 * terminal (written as \uXXXX instead).
 */
function printable(text: string): string {
  return stripUrlUserInfo(text).replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function printableCheck(check: Check): Check {
  return { ...check, detail: printable(check.detail), ...(check.lines ? { lines: check.lines.map(printable) } : {}) };
}

/** Everything an operator checks first when containers do not get networking. */
export async function statusChecks(config: KuryrConfig, logger: Logger): Promise<Check[]> {
  const checks: Check[] = [];
  const { session, neutron } = createOpenStackClients(config.neutron, logger);
  try {
    await session.getToken();
    checks.push({ name: 'keystone', ok: true, detail: `authenticated at ${stripUrlUserInfo(config.neutron.auth.authUrl)}` });
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
      checks.push(await poolCheck(neutron, config.hostname));
      checks.push(await portDriverCheck(config, neutron));
    } catch (err) {
      checks.push({ name: 'neutron', ok: false, detail: message(err) });
    }
  } catch (err) {
    checks.push({ name: 'keystone', ok: false, detail: message(err) });
  }

  checks.push(await endpointCheck(config));
  if (config.socketPath) {
    try {
      const r = await unixJson(config.socketPath, 'POST', '/Plugin.Activate');
      const ok = r.status === 200 && JSON.stringify(r.body).includes('NetworkDriver');
      checks.push({ name: 'plugin', ok, detail: ok ? `kuryr-server answers on ${config.socketPath}` : `unexpected answer ${r.status} on ${config.socketPath}` });
    } catch (err) {
      checks.push({ name: 'plugin', ok: false, detail: `kuryr-server does not answer on ${config.socketPath}: ${message(err)}` });
    }
  }

  checks.push(await dockerCheck(config));
  checks.push(await activityCheck(config));
  return checks.map(printableCheck);
}

/**
 * Who can drive the daemon: the unix socket is root's only; a TCP kuryr_uri is reachable by local
 * users and host-network containers (said as kuryr-server says it at start), and by the network
 * off loopback, which without client certificates fails this check.
 */
async function endpointCheck(config: KuryrConfig): Promise<Check> {
  const lines: string[] = [];
  let ok = true;
  if (config.socketPath) {
    const mode = await stat(config.socketPath).then((st) => st.mode & 0o777, () => undefined);
    if (mode !== undefined && (mode & 0o077) !== 0) ok = false;
    lines.push(
      mode === undefined
        ? `unix socket ${config.socketPath}: not there (kuryr-server is not running?)`
        : `unix socket ${config.socketPath}: mode 0${mode.toString(8)}${mode & 0o077 ? ': others can drive Kuryr through it (kuryr-server makes it 0600)' : ' (root only)'}`,
    );
  }
  if (!config.kuryrUri) {
    return { name: 'endpoint', ok, detail: `unix socket only; no TCP listener (kuryr_uri is empty)`, lines };
  }
  const exposure = tcpExposure(config.kuryrUri, config.enableSsl ? { caFile: config.sslCaFile, allowedClientNames: config.sslAllowedClientNames } : undefined);
  return { name: 'endpoint', ok: ok && exposure.level !== 'error', detail: `WARNING: ${exposure.message}`, lines };
}

/**
 * The dockerd Kuryr reads (docker_host), whether it can find the plugin, and the Docker networks of
 * the driver name(s) this configuration serves (`kuryr`, or e.g. `kuryr-dev` from socket_path).
 */
export async function dockerCheck(config: Pick<KuryrConfig, 'docker' | 'socketPath' | 'pluginSpecDir' | 'kuryrUri'>): Promise<Check> {
  const where = stripUrlUserInfo(config.docker.host);
  try {
    const docker = new DockerClient(config.docker, { timeoutMs: 5_000 });
    const { Version } = await docker.version();
    const drivers = servedDriverNames(config);
    // No name served (no socket, no spec file): no network is Kuryr's, and an empty filter would list all.
    const count = drivers.length > 0 ? (await docker.listNetworks({ driver: drivers })).length : 0;
    const networks = `${count} network(s) of driver ${drivers.join(' or ')}`;
    const discoverable = config.socketPath.startsWith('/run/docker/plugins/') || config.socketPath.startsWith('/var/run/docker/plugins/');
    return {
      name: 'docker',
      ok: discoverable || !!config.kuryrUri,
      detail: discoverable
        ? `dockerd ${Version} at ${where} is up and finds the plugin at ${config.socketPath}; ${networks}`
        : `dockerd ${Version} at ${where} is up; it finds Kuryr through the spec file in ${config.pluginSpecDir} (${config.kuryrUri}); ${networks}`,
    };
  } catch (err) {
    return { name: 'docker', ok: false, detail: `dockerd not reachable at ${where}: ${message(err)}` };
  }
}

/** This host's port pools as Neutron holds them (so also while the daemon is down): free ports per network. */
async function poolCheck(neutron: Neutron, hostname: string): Promise<Check> {
  const free = await neutron.listPorts({ tags: [PORT_POOLED_TAG, poolHostTag(hostname)].join(','), device_id: '' });
  if (free.length === 0) return { name: 'pools', ok: true, detail: `no free pooled ports for host ${hostname}` };
  const perNetwork = new Map<string, number>();
  for (const port of free) perNetwork.set(port.network_id, (perNetwork.get(port.network_id) ?? 0) + 1);
  const names = new Map((await neutron.listNetworks({ id: [...perNetwork.keys()] })).map((n) => [n.id, n.name]));
  return {
    name: 'pools',
    ok: true,
    detail: `${free.length} free pooled port(s) for host ${hostname} on ${perNetwork.size} network(s)`,
    // Names are anyone's: quoted and escaped, so that none can pass for another line or rewrite the terminal.
    lines: [...perNetwork].map(([id, count]) => `${String(count).padStart(5)}  ${JSON.stringify(names.get(id) ?? '?')} (${id})`),
  };
}

/** How containers are plugged: on this host for its agent (veth), or inside a VM through its port (nested). */
async function portDriverCheck(config: KuryrConfig, neutron: Neutron): Promise<Check> {
  if (!insideVm(config)) {
    return { name: 'port driver', ok: true, detail: `veth: container ports bound to host ${config.hostname}, plugged for its Neutron agent` };
  }
  const { linkIface, defaultDriver } = config.binding;
  const vm = new VmPort(neutron, linkIface, async () => (await new IprouteHostNetwork().getLink(linkIface))?.mac);
  try {
    const port = await vm.locate();
    if (config.defaultPortDriver === 'vlan') {
      const trunk = VmTrunk.trunkOf(port, linkIface);
      return {
        name: 'port driver',
        ok: true,
        detail: `vlan on ${linkIface}: VM port ${port.id} on network ${port.network_id}, parent of trunk ${trunk.trunk_id} with ${trunk.sub_ports.length} subport(s)`,
        lines: trunk.sub_ports.map((s) => `  VLAN ${String(s.segmentation_id).padStart(4)}  port ${s.port_id}`),
      };
    }
    const pairs = port.allowed_address_pairs ?? [];
    return {
      name: 'port driver',
      ok: true,
      detail: `nested ${defaultDriver} on ${linkIface}: VM port ${port.id} on network ${port.network_id}, ${pairs.length} allowed address pair(s)`,
      lines: pairs.map((p) => `  ${p.ip_address} ${p.mac_address ?? ''}`),
    };
  } catch (err) {
    return { name: 'port driver', ok: false, detail: `nested ${defaultDriver} on ${linkIface}: ${message(err)}` };
  }
}

/** What the daemon has done since it started, read from its metrics endpoint. */
export async function activityCheck(config: Pick<KuryrConfig, 'metricsListen'>): Promise<Check> {
  if (!config.metricsListen) {
    return { name: 'activity', ok: true, detail: 'no call counts: [DEFAULT] metrics_listen is empty (metrics off)' };
  }
  const url = metricsUrl(config.metricsListen);
  try {
    const summary = summarise(parseExposition(await httpGetText(url, 5_000)));
    return { name: 'activity', ok: true, detail: `since kuryr-server started (${url}): ${activityTotals(summary)}`, lines: activityTables(summary) };
  } catch (err) {
    return { name: 'activity', ok: false, detail: `kuryr-server's metrics do not answer at ${url}: ${message(err)}` };
  }
}

/** node:http rather than fetch, whose "bad port" list would refuse some metrics_listen ports. */
function httpGetText(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`answered HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
  });
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function activityTotals(s: ActivitySummary): string {
  const calls = sum(s.docker.map((d) => d.calls));
  const failed = sum(s.docker.map((d) => d.failed));
  const timedOut = sum(s.docker.map((d) => d.timedOut));
  const requests = sum(s.neutron.map((n) => n.requests));
  const neutronFailed = sum(s.neutron.map((n) => n.failed));
  return (
    `${calls} Docker calls, ${failed} failed (${timedOut} timed out); ` +
    `${requests} Neutron requests, ${neutronFailed} failed (5xx or no answer); ports ${s.portsCreated} created, ${s.portsDeleted} deleted`
  );
}

function formatSeconds(seconds: number | undefined): string {
  if (seconds === undefined) return '-';
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`;
}

function activityTables(s: ActivitySummary): string[] {
  const lines: string[] = [];
  if (s.docker.length > 0) {
    lines.push(`${'Docker call'.padEnd(42)}${'calls'.padStart(8)}${'failed'.padStart(8)}${'~p50'.padStart(10)}`);
    for (const d of s.docker) {
      lines.push(`${d.method.padEnd(42)}${String(d.calls).padStart(8)}${String(d.failed).padStart(8)}${formatSeconds(d.p50Seconds).padStart(10)}`);
    }
  }
  if (s.neutron.length > 0) {
    lines.push(`${'Neutron request'.padEnd(42)}${'requests'.padStart(8)}${'4xx'.padStart(8)}${'5xx/none'.padStart(10)}`);
    for (const n of s.neutron) {
      lines.push(`${`${n.method} ${n.resource}`.padEnd(42)}${String(n.requests).padStart(8)}${String(n.refused).padStart(8)}${String(n.failed).padStart(10)}`);
    }
  }
  return lines;
}
