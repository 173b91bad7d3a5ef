/**
 * Neutron API requests the daemon under test sends, counted by Kuryr's own client: from its
 * Prometheus metrics (`kuryr_neutron_requests_total`) when `[DEFAULT] metrics_listen` is set and
 * answers, else from the per-request debug lines of its log (NeutronClient logs one line per HTTP
 * attempt, with `durationMs`). Retries and 404-on-delete are requests too, as in `requestCount`.
 */
import { open, stat } from 'node:fs/promises';
import type { KuryrConfig } from '../src/config/types.js';

export const NEUTRON_REQUESTS_METRIC = 'kuryr_neutron_requests_total';
export const BACKGROUND_TASKS_METRIC = 'kuryr_background_tasks';

/** An opaque point in the daemon's request history. */
export interface RequestMark {
  atMs: number;
  total?: number;
  /** The daemon's `kuryr_background_tasks` then, when it exposes it. */
  busy?: number;
}

export interface RequestCounter {
  /** Where the counts come from, for the report. */
  readonly source: string;
  mark(): Promise<RequestMark>;
  /** Requests sent between two marks. */
  between(from: RequestMark, to: RequestMark): Promise<number>;
}

/**
 * A mark once the daemon has stopped sending: Kuryr finishes some Neutron work after Docker's call
 * returned (a pooled port's scrub after `docker rm`), and that work belongs to the lifecycle measured.
 */
export async function markWhenIdle(counter: RequestCounter, quietMs = 300, boundMs = 15_000): Promise<RequestMark> {
  const startedAt = Date.now();
  let last = await counter.mark();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    const next = await counter.mark();
    const quiet = next.total === last.total && !next.busy;
    if (quiet || Date.now() - startedAt > boundMs) return next;
    last = next;
  }
}

/** Sum of every labelled series of one counter in Prometheus text format; undefined when absent. */
export function sumMetric(exposition: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue; // another metric sharing the prefix
    const valueAndTimestamp = rest[0] === '{' ? rest.slice(rest.lastIndexOf('}') + 1) : rest;
    const value = Number(valueAndTimestamp.trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}

class MetricsCounter implements RequestCounter {
  readonly source: string;
  constructor(readonly url: string) {
    this.source = `metrics ${url} (${NEUTRON_REQUESTS_METRIC})`;
  }

  async mark(): Promise<RequestMark> {
    const res = await fetch(this.url, { signal: AbortSignal.timeout(5000) });
    // A counter not yet incremented has no series: that is zero, not "no metrics".
    const text = await res.text();
    return { atMs: Date.now(), total: sumMetric(text, NEUTRON_REQUESTS_METRIC) ?? 0, busy: sumMetric(text, BACKGROUND_TASKS_METRIC) };
  }

  async between(from: RequestMark, to: RequestMark): Promise<number> {
    return (to.total ?? 0) - (from.total ?? 0);
  }
}

/** How long after a mark the daemon's asynchronous log writer may still be flushing lines. */
const LOG_FLUSH_GRACE_MS = 300;

/** One Neutron request as the daemon's debug log has it. */
export interface LoggedRequest {
  atMs: number;
  method: string;
  /** Without the query, e.g. `/v2.0/ports/<id>`. */
  path: string;
}

export class LogCounter implements RequestCounter {
  readonly source: string;
  /** The request lines read so far, in file order. */
  readonly #requests: LoggedRequest[] = [];
  #offset: number;
  #partialLine = '';

  constructor(
    readonly logFile: string,
    startOffset: number,
  ) {
    this.source = `debug log ${logFile} (one line per Neutron request)`;
    this.#offset = startOffset;
  }

  async mark(): Promise<RequestMark> {
    return { atMs: Date.now() };
  }

  async between(from: RequestMark, to: RequestMark): Promise<number> {
    return (await this.requestsBetween(from, to)).length;
  }

  /** The requests themselves, for counting some kinds of them (the writes of one port). */
  async requestsBetween(from: RequestMark, to: RequestMark): Promise<LoggedRequest[]> {
    const wait = to.atMs + LOG_FLUSH_GRACE_MS - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await this.#readNewLines();
    return this.#requests.filter((r) => r.atMs >= from.atMs && r.atMs <= to.atMs);
  }

  async #readNewLines(): Promise<void> {
    const file = await open(this.logFile, 'r');
    try {
      const { size } = await file.stat();
      if (size < this.#offset) this.#offset = 0; // rotated or truncated
      if (size === this.#offset) return;
      const buffer = Buffer.alloc(size - this.#offset);
      await file.read(buffer, 0, buffer.length, this.#offset);
      this.#offset = size;
      const lines = (this.#partialLine + buffer.toString('utf8')).split('\n');
      this.#partialLine = lines.pop() ?? '';
      for (const line of lines) {
        // Cheap filter first: debug logs carry request bodies and Docker calls too.
        if (!line.includes('"component":"neutron"') || !line.includes('"durationMs"')) continue;
        try {
          const entry = JSON.parse(line) as { time?: string; method?: unknown; path?: unknown; durationMs?: unknown };
          if (typeof entry.method === 'string' && typeof entry.durationMs === 'number' && entry.time) {
            this.#requests.push({ atMs: Date.parse(entry.time), method: entry.method, path: typeof entry.path === 'string' ? entry.path : '' });
          }
        } catch {
          /* a line some other writer interleaved */
        }
      }
    } finally {
      await file.close();
    }
  }
}

/** Counts the requests a daemon logging at debug level to `logFile` sends from now on. */
export async function debugLogCounter(logFile: string): Promise<LogCounter> {
  return new LogCounter(logFile, (await stat(logFile)).size);
}

/** The best available counter, or why there is none. */
export async function neutronRequestCounter(config: KuryrConfig): Promise<RequestCounter | { unavailable: string }> {
  const problems: string[] = [];
  if (config.metricsListen) {
    const counter = new MetricsCounter(`http://${config.metricsListen}/metrics`);
    try {
      const res = await fetch(counter.url, { signal: AbortSignal.timeout(5000) });
      if (res.ok && (await res.text()).includes(NEUTRON_REQUESTS_METRIC)) return counter;
      problems.push(`${counter.url} has no ${NEUTRON_REQUESTS_METRIC}`);
    } catch (err) {
      problems.push(`${counter.url}: ${(err as Error).message}`);
    }
  } else {
    problems.push('[DEFAULT] metrics_listen is not set');
  }
  if (config.debug && config.logFile) {
    try {
      return await debugLogCounter(config.logFile);
    } catch (err) {
      problems.push(`log ${config.logFile}: ${(err as Error).message}`);
    }
  } else {
    problems.push('the daemon does not log at debug level to a file ([DEFAULT] debug, log_file)');
  }
  return { unavailable: problems.join('; ') };
}
