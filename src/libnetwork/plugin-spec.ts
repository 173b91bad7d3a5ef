/**
 * Docker's plugin discovery files (moby pkg/plugins/discovery.go): for a driver name, Docker uses the
 * unix socket `/run/docker/plugins/<name>.sock` when it exists, else the first of `<root>/<name>.spec`,
 * `<root>/<name>/<name>.spec`, `<root>/<name>.json`, `<root>/<name>/<name>.json` that exists, over
 * the roots `/etc/docker/plugins` then `/usr/lib/docker/plugins`.
 *
 * Kuryr writes one `.json` for its TCP listener and never removes or replaces a file it did not write
 * (upstream kuryr-libnetwork installs `/usr/lib/docker/plugins/kuryr/kuryr.spec`): a file is Kuryr's
 * when it is a `.json` holding exactly what Kuryr writes for that plugin name, one line of
 * `{"Name":<name>,"Addr":...[,"TLSConfig":{...}]}` as serialized here (Docker's format allows any
 * layout and key order, and a `.spec` is plain text, so a file written by hand or by another tool
 * does not round-trip to the same bytes). Foreign files that can take Kuryr's place are reported.
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** Paths on Docker's host: the CA that signed Kuryr's certificate, and Docker's client certificate. */
export interface DockerTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** Docker's `.json` plugin spec (moby pkg/plugins: Plugin with tlsconfig.Options). */
export interface PluginSpec {
  Name: string;
  Addr: string;
  TLSConfig?: { InsecureSkipVerify: boolean; CAFile?: string; CertFile?: string; KeyFile?: string };
}

/** The directories Docker searches for spec files, in its order. */
export const DISCOVERY_ROOTS: readonly string[] = ['/etc/docker/plugins', '/usr/lib/docker/plugins'];

/**
 * The plugin (driver) name Docker will know the TCP listener by. Docker names a plugin after its
 * spec file, and finds `<root>/<name>/<name>.json`, so a spec directory is named after its plugin
 * (upstream's `/usr/lib/docker/plugins/kuryr`); written straight into a discovery root, it is `kuryr`.
 */
export function pluginNameForSpecDir(specDir: string, roots: readonly string[] = DISCOVERY_ROOTS): string {
  const dir = specDir.replace(/\/+$/, '');
  return !dir || roots.includes(dir) ? 'kuryr' : basename(dir);
}

/** What Docker is told: Addr, and for https how to verify Kuryr and which certificate to present. */
export function pluginSpec(opts: { pluginName: string; uri: string; dockerTls?: DockerTlsFiles }): PluginSpec {
  const spec: PluginSpec = { Name: opts.pluginName, Addr: opts.uri };
  if (new URL(opts.uri).protocol !== 'https:') return spec;
  const t = opts.dockerTls ?? {};
  // Without a CA Docker cannot verify Kuryr; it would skip verification anyway (moby readPluginJSONInfo), say so.
  spec.TLSConfig = {
    InsecureSkipVerify: !t.caFile,
    ...(t.caFile ? { CAFile: t.caFile } : {}),
    ...(t.certFile ? { CertFile: t.certFile } : {}),
    ...(t.keyFile ? { KeyFile: t.keyFile } : {}),
  };
  return spec;
}

/** The file text Kuryr writes for a spec. */
export const specText = (spec: PluginSpec): string => JSON.stringify(spec) + '\n';

/** The spec files Docker reads for `name`, in its order. */
export function discoveryFiles(name: string, roots: readonly string[] = DISCOVERY_ROOTS): string[] {
  return roots.flatMap((root) => ['.spec', '.json'].flatMap((ext) => [join(root, `${name}${ext}`), join(root, name, `${name}${ext}`)]));
}

/** A discovery file as found on disk: its address, and whether Kuryr wrote it. */
export interface FoundSpec {
  file: string;
  addr: string;
  kuryrs: boolean;
}

/** Reads a discovery file; undefined when there is none. */
export async function readDiscoveryFile(file: string, name: string): Promise<FoundSpec | undefined> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    throw err;
  });
  if (text === undefined) return undefined;
  if (!file.endsWith('.json')) return { file, addr: text.trim(), kuryrs: false };
  const spec = parseSpec(text);
  const kuryrs = spec !== undefined && spec.Name === name && specText(kuryrShape(spec)) === text;
  return { file, addr: spec?.Addr ?? '(unreadable JSON)', kuryrs };
}

function parseSpec(text: string): PluginSpec | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' ? (v as PluginSpec) : undefined;
  } catch {
    return undefined;
  }
}

/** The spec with only what Kuryr writes, in Kuryr's key order. */
function kuryrShape(spec: PluginSpec): PluginSpec {
  const t = spec.TLSConfig;
  return {
    Name: spec.Name,
    Addr: spec.Addr,
    ...(t
      ? { TLSConfig: { InsecureSkipVerify: t.InsecureSkipVerify, ...(t.CAFile ? { CAFile: t.CAFile } : {}), ...(t.CertFile ? { CertFile: t.CertFile } : {}), ...(t.KeyFile ? { KeyFile: t.KeyFile } : {}) } }
      : {}),
  };
}

/** One driver name Kuryr serves, and how. */
export interface ServedName {
  name: string;
  /** Addresses Kuryr answers on under this name (`unix:///run/docker/plugins/kuryr.sock`, `kuryr_uri`). */
  addrs: readonly string[];
  /** Docker finds Kuryr's unix socket under this name. */
  socket?: string;
  /** The `.json` Kuryr writes for this name. */
  ownSpec?: string;
}

/**
 * Files Kuryr did not write that Docker would use for a name Kuryr serves, sending its calls
 * elsewhere: with a socket, whenever the socket is missing; without, instead of Kuryr's own `.json`.
 * Files Docker reads only after Kuryr's own `.json`, and files naming an address Kuryr serves, are
 * harmless.
 */
export async function foreignSpecs(served: ServedName, roots: readonly string[] = DISCOVERY_ROOTS): Promise<FoundSpec[]> {
  const files = discoveryFiles(served.name, roots);
  const own = served.ownSpec ? files.indexOf(served.ownSpec) : -1;
  const found = await Promise.all((own >= 0 ? files.slice(0, own + 1) : files).map((f) => readDiscoveryFile(f, served.name)));
  return found.filter((f): f is FoundSpec => f !== undefined && !f.kuryrs && !served.addrs.includes(f.addr));
}

/** The warning for a foreign spec file, telling the operator to remove it. */
export function foreignSpecWarning(served: ServedName, found: FoundSpec): string {
  const instead = found.file === served.ownSpec ? "instead of the spec Kuryr would write there for kuryr_uri (Kuryr does not replace it)" : served.ownSpec ? `instead of Kuryr's ${served.ownSpec}` : "instead of Kuryr's listener";
  const when = served.socket ? `whenever Kuryr's socket ${served.socket} is missing (dockerd starting before kuryr-server, or kuryr-server stopped)` : instead;
  return `${found.file} is a plugin spec file Kuryr did not write (address ${found.addr}): Docker uses it for driver "${served.name}" ${when}, sending Kuryr's calls there; remove it (upstream kuryr-libnetwork installs /usr/lib/docker/plugins/kuryr/kuryr.spec)`;
}
