/**
 * Reads a daemon's Prometheus text exposition back into what an operator asks first (`kuryr
 * status`): calls per Docker method with failures and median latency, Neutron requests with
 * failures, ports created and deleted.
 */
import { METRIC } from './metrics.js';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

/** Parses the text format (version 0.0.4): one sample per non-comment line. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) {
      LABEL.lastIndex = 0;
      for (let l = LABEL.exec(m[2]); l; l = LABEL.exec(m[2])) labels[l[1]!] = unescapeLabel(l[2]!);
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

/**
 * The q-quantile of a cumulative histogram, interpolating linearly inside the bucket as
 * Prometheus' histogram_quantile does. Undefined without observations; the highest finite bound
 * when the quantile falls in the +Inf bucket.
 */
export function histogramQuantile(q: number, buckets: { le: number; count: number }[]): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const b of sorted) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lowerBound;
      const inBucket = b.count - lowerCount;
      return inBucket === 0 ? b.le : lowerBound + ((b.le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = b.le;
    lowerCount = b.count;
  }
  return lowerBound;
}

export interface DockerMethodSummary {
  method: string;
  calls: number;
  /** Answered with an error (timeouts included). */
  failed: number;
  timedOut: number;
  /** Median answer time in seconds, from the histogram buckets. */
  p50Seconds: number | undefined;
}

export interface NeutronRequestSummary {
  method: string;
  resource: string;
  requests: number;
  /** 4xx: refused (a 404 on a delete or lookup is often expected). */
  refused: number;
  /** 5xx or no answer at all. */
  failed: number;
}

export interface ActivitySummary {
  docker: DockerMethodSummary[];
  neutron: NeutronRequestSummary[];
  portsCreated: number;
  portsDeleted: number;
}

export function summarise(samples: Sample[]): ActivitySummary {
  const docker = new Map<string, DockerMethodSummary>();
  const dockerOf = (method: string) => {
    let s = docker.get(method);
    if (!s) docker.set(method, (s = { method, calls: 0, failed: 0, timedOut: 0, p50Seconds: undefined }));
    return s;
  };
  const buckets = new Map<string, { le: number; count: number }[]>();
  const neutron = new Map<string, NeutronRequestSummary>();
  let portsCreated = 0;
  let portsDeleted = 0;
  for (const { name, labels, value } of samples) {
    if (name === METRIC.dockerCalls) {
      const s = dockerOf(labels['method'] ?? '');
      s.calls += value;
      if (labels['outcome'] !== 'ok') s.failed += value;
      if (labels['outcome'] === 'timeout') s.timedOut += value;
    } else if (name === `${METRIC.dockerCallDuration}_bucket`) {
      const method = labels['method'] ?? '';
      const le = labels['le'] === '+Inf' ? Infinity : Number(labels['le']);
      buckets.set(method, [...(buckets.get(method) ?? []), { le, count: value }]);
    } else if (name === METRIC.neutronRequests) {
      const key = `${labels['method']} ${labels['resource']}`;
      let s = neutron.get(key);
      if (!s) neutron.set(key, (s = { method: labels['method'] ?? '', resource: labels['resource'] ?? '', requests: 0, refused: 0, failed: 0 }));
      // A status label is a code (`404`), a class (`4xx`) or 0 (no answer): its first digit says which.
      const status = labels['status'] ?? '';
      s.requests += value;
      if (status.startsWith('4')) s.refused += value;
      else if (status === '0' || status.startsWith('5')) s.failed += value;
    } else if (name === METRIC.portsCreated) {
      portsCreated += value;
    } else if (name === METRIC.portsDeleted) {
      portsDeleted += value;
    }
  }
  for (const [method, b] of buckets) {
    const s = docker.get(method);
    if (s) s.p50Seconds = histogramQuantile(0.5, b);
  }
  const byName = <T extends { method: string }>(key: (t: T) => string) => (a: T, b: T) => key(a).localeCompare(key(b));
  return {
    docker: [...docker.values()].sort(byName((s) => s.method)),
    neutron: [...neutron.values()].sort(byName((s) => `${s.resource} ${s.method}`)),
    portsCreated,
    portsDeleted,
  };
}
