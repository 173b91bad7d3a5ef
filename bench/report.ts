/**
 * The benchmark's report: summaries, the targets (issue 4's and the nested one) with a met/not-met
 * column (informational: the benchmark asserts nothing), a text table for the terminal and a
 * self-contained HTML page with SVG charts for an operator.
 */
import type { Memory } from './daemon-probe.js';
import { NESTED_MODES, NESTED_MODE_LABELS, NESTED_WARMUP_ROUNDS, type NestedMode, type NestedResults } from './nested.js';
import { MODES, MODE_LABELS, type BenchResults, type Mode, type ParallelResult, type Series } from './phases.js';
import type { Phase } from './settings.js';
import { ratio, summarize, type Summary } from './stats.js';

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  durationS: number;
  machine: { hostname: string; cpus: number; cpuModel: string; memoryMiB: number; kernel: string };
  daemon: { driver: string; configFiles: string[]; pid?: number; neutronRequestsCountedFrom: string; poolsActive?: boolean; poolConfig: object };
  settings: { sequentialRuns: number; connectivityRuns: number; parallelContainers: number; networkRuns: number; nestedRuns: number; phases: Phase[]; image: string };
  memory: { idle?: Memory; afterRuns?: Memory };
  summaries: Record<TimingKey, Record<Mode, Summary | undefined>>;
  /** Present when the nested phase ran. */
  nestedSummaries?: NestedSummaries;
  targets: TargetRow[];
  notes: string[];
  results: BenchResults;
}

export interface TargetRow {
  target: string;
  result: string;
  /** Undefined: not measured. */
  met?: boolean;
}

const TIMINGS = {
  run: { title: 'docker run -d', phase: 'sequential', series: (r: BenchResults) => r.sequential.run },
  rm: { title: 'docker rm -f', phase: 'sequential', series: (r: BenchResults) => r.sequential.rm },
  connectivity: { title: 'time to connectivity', phase: 'connectivity', series: (r: BenchResults) => r.connectivity },
  networkCreate: { title: 'docker network create', phase: 'networks', series: (r: BenchResults) => r.networks.create },
  networkRm: { title: 'docker network rm', phase: 'networks', series: (r: BenchResults) => r.networks.rm },
} as const satisfies Record<string, { title: string; phase: Phase; series: (r: BenchResults) => Record<Mode, Series> }>;
type TimingKey = keyof typeof TIMINGS;
const TIMING_KEYS = Object.keys(TIMINGS) as TimingKey[];

const NESTED_TIMINGS = {
  run: { title: 'docker run -d', series: (n: NestedResults) => n.run },
  rm: { title: 'docker rm -f', series: (n: NestedResults) => n.rm },
} as const;
type NestedTimingKey = keyof typeof NESTED_TIMINGS;
const NESTED_TIMING_KEYS = Object.keys(NESTED_TIMINGS) as NestedTimingKey[];
export type NestedSummaries = Record<NestedTimingKey, Record<NestedMode, Summary | undefined>>;

/** The timings of the phases that ran (the others have no samples). */
const timingKeysRun = (report: BenchReport) => TIMING_KEYS.filter((key) => report.settings.phases.includes(TIMINGS[key].phase));

export function summarizeTimings(results: BenchResults): Record<TimingKey, Record<Mode, Summary | undefined>> {
  const out = {} as Record<TimingKey, Record<Mode, Summary | undefined>>;
  for (const key of TIMING_KEYS) {
    const series = TIMINGS[key].series(results);
    out[key] = { kuryr: summarize(series.kuryr.samplesMs), kuryrPool: summarize(series.kuryrPool.samplesMs), bridge: summarize(series.bridge.samplesMs) };
  }
  return out;
}

export function summarizeNested(nested: NestedResults | undefined): NestedSummaries | undefined {
  if (!nested) return undefined;
  const summaryOf = (key: NestedTimingKey) => {
    const series = NESTED_TIMINGS[key].series(nested);
    return { nested: summarize(series.nested.samplesMs), macvlan: summarize(series.macvlan.samplesMs) };
  };
  return { run: summaryOf('run'), rm: summaryOf('rm') };
}

const seconds = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(2)} s`);
const times = (x: number | undefined) => (x === undefined ? '-' : `${x.toFixed(2)}x`);
const mib = (kb: number | undefined) => (kb === undefined || Number.isNaN(kb) ? '-' : `${(kb / 1024).toFixed(1)} MiB`);
const count = (n: number | undefined) => (n === undefined ? '-' : Number.isInteger(n) ? String(n) : n.toFixed(1));

function requestsText(perLifecycle: number[]): string {
  const s = summarize(perLifecycle);
  return s ? `${count(s.p50)} (mean ${s.mean.toFixed(1)}, ${count(s.min)}-${count(s.max)}, n=${s.n})` : '-';
}

function parallelOk(p: ParallelResult | undefined): boolean {
  return p !== undefined && p.started === p.requested && p.distinctAddresses === p.started;
}

export function evaluateTargets(
  summaries: Record<TimingKey, Record<Mode, Summary | undefined>>,
  nestedSummaries: NestedSummaries | undefined,
  results: BenchResults,
  memory: BenchReport['memory'],
  poolsActive: boolean | undefined,
): TargetRow[] {
  const within = (value: number | undefined, limit: number) => (value === undefined ? undefined : value <= limit);
  const poolsNote = poolsActive === false ? ' (pools inactive)' : '';
  const run = summaries.run;
  const runRatioPool = ratio(run.kuryrPool?.p50, run.bridge?.p50);
  const runRatioOff = ratio(run.kuryr?.p50, run.bridge?.p50);
  const connectPool = summaries.connectivity.kuryrPool?.p50;
  const pool = results.parallel.kuryrPool;
  const bridge = results.parallel.bridge;
  const parallelRatio = ratio(pool?.wallMs, bridge?.wallMs);
  const requestsOff = summarize(results.sequential.neutronRequestsPerLifecycle.kuryr)?.p50;
  const requestsPool = summarize(results.sequential.neutronRequestsPerLifecycle.kuryrPool)?.p50;
  const rssAfter = memory.afterRuns?.rssKb;
  const nestedRatio = ratio(nestedSummaries?.run.nested?.p50, nestedSummaries?.run.macvlan?.p50);
  return [
    { target: 'docker run p50, pools on <= 1.2x bridge', result: times(runRatioPool) + poolsNote, met: within(runRatioPool, 1.2) },
    { target: 'docker run p50, pools off <= 2.5x bridge', result: times(runRatioOff), met: within(runRatioOff, 2.5) },
    { target: 'time to connectivity p50, pools on <= 1 s', result: seconds(connectPool) + poolsNote, met: within(connectPool, 1000) },
    {
      target: `${pool?.requested ?? 'N'} parallel, pools on: all, distinct, <= 2x bridge wall`,
      result: pool ? `${pool.started}/${pool.requested}, ${pool.distinctAddresses} distinct, ${times(parallelRatio)}${poolsNote}` : '-',
      met: pool && parallelRatio !== undefined ? parallelOk(pool) && parallelRatio <= 2 : undefined,
    },
    { target: 'Neutron requests per create+rm p50, pools off <= 5', result: count(requestsOff), met: within(requestsOff, 5) },
    { target: 'Neutron requests per create+rm p50, pools on <= 2', result: count(requestsPool) + poolsNote, met: within(requestsPool, 2) },
    { target: 'daemon RSS after the runs <= 80 MiB', result: mib(rssAfter), met: rssAfter === undefined ? undefined : rssAfter <= 80 * 1024 },
    { target: 'docker run p50 in a VM, Kuryr nested (pools off) <= 2x Docker macvlan', result: times(nestedRatio), met: within(nestedRatio, 2) },
  ];
}

const metText = (met: boolean | undefined) => (met === undefined ? 'not measured' : met ? 'met' : 'NOT met');

/** Left-aligned first columns, right-aligned numbers. */
function textTable(header: string[], rows: string[][], leftColumns = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function failuresOf(series: Series): string {
  return series.failures.length ? String(series.failures.length) : '';
}

export function formatText(report: BenchReport): string {
  const { results, summaries } = report;
  const out: string[] = [];
  out.push(
    `Kuryr benchmark: driver ${report.daemon.driver} (pid ${report.daemon.pid ?? '?'}), ${report.machine.cpus} CPUs, ${report.startedAt}, ${Math.round(report.durationS)} s`,
    `Pools: ${JSON.stringify(report.daemon.poolConfig)} (the pools-on network keeps poolsOnNetworkMin free ports: -o kuryr.pool.min)`,
    '',
  );

  const phases = report.settings.phases;
  const timingRows: string[][] = [];
  for (const key of timingKeysRun(report)) {
    const series = TIMINGS[key].series(results);
    for (const mode of MODES) {
      const s = summaries[key][mode];
      timingRows.push([
        mode === MODES[0] ? TIMINGS[key].title : '',
        MODE_LABELS[mode],
        String(s?.n ?? 0),
        failuresOf(series[mode]),
        seconds(s?.p50),
        seconds(s?.p95),
        seconds(s?.min),
        seconds(s?.max),
        mode === 'bridge' ? '' : times(ratio(s?.p50, summaries[key].bridge?.p50)),
      ]);
    }
  }
  if (timingRows.length) out.push(textTable(['', '', 'n', 'failed', 'p50', 'p95', 'min', 'max', 'p50/bridge'], timingRows), '');

  if (phases.includes('parallel')) out.push(parallelTable(report), '');
  if (phases.includes('sequential') || phases.includes('networks')) {
    out.push(`Neutron requests, counted from ${report.daemon.neutronRequestsCountedFrom}: p50 (mean, min-max, n)`);
    out.push(
      textTable(
        ['', 'container run -d + rm -f', 'network create + rm'],
        (['kuryr', 'kuryrPool'] as const).map((mode) => [
          MODE_LABELS[mode],
          requestsText(results.sequential.neutronRequestsPerLifecycle[mode]),
          requestsText(results.networks.neutronRequestsPerLifecycle[mode]),
        ]),
        3,
      ),
      '',
    );
  }
  out.push(`Daemon memory (VmRSS): idle ${mib(report.memory.idle?.rssKb)}, after the runs ${mib(report.memory.afterRuns?.rssKb)} (peak VmHWM ${mib(report.memory.afterRuns?.peakRssKb)})`, '');
  if (results.nested && report.nestedSummaries) out.push(...nestedLines(report, results.nested, report.nestedSummaries), '');

  out.push(textTable(['Targets (informational)', 'result', ''], report.targets.map((t) => [t.target, t.result, metText(t.met)]), 1), '');
  const failures = failureLines(report);
  if (failures.length) out.push('Failures (count, first message):', ...failures.map((f) => `- ${f}`), '');
  if (report.notes.length) out.push('Notes:', ...report.notes.map((n) => `- ${n}`));
  return out.join('\n');
}

function parallelTable(report: BenchReport): string {
  const { results } = report;
  const parallelRows = MODES.map((mode) => {
    const p = results.parallel[mode];
    return [
      MODE_LABELS[mode],
      p ? `${p.started}/${p.requested}` : '-',
      p ? String(p.distinctAddresses) : '-',
      seconds(p?.wallMs),
      mode === 'bridge' ? '' : times(ratio(p?.wallMs, results.parallel.bridge?.wallMs)),
      seconds(p?.rmWallMs),
      p?.freePooledPortsBefore === undefined ? '' : String(p.freePooledPortsBefore),
      count(p?.neutronRequestsPerContainer),
    ];
  });
  return textTable([`${report.settings.parallelContainers} parallel docker run -d`, 'started', 'distinct IPs', 'wall', 'wall/bridge', 'rm wall', 'pooled ports', 'Neutron req/ctr'], parallelRows, 1);
}

/** The nested phase: its setup, its timings against Docker's macvlan, the nested daemon's Neutron requests. */
function nestedLines(report: BenchReport, nested: NestedResults, summaries: NestedSummaries): string[] {
  const { vmBoot, dockerd, daemon } = nested.setupMs;
  const rows = NESTED_TIMING_KEYS.flatMap((key) =>
    NESTED_MODES.map((mode) => {
      const s = summaries[key][mode];
      return [
        mode === NESTED_MODES[0] ? NESTED_TIMINGS[key].title : '',
        NESTED_MODE_LABELS[mode],
        String(s?.n ?? 0),
        failuresOf(NESTED_TIMINGS[key].series(nested)[mode]),
        seconds(s?.p50),
        seconds(s?.p95),
        seconds(s?.min),
        seconds(s?.max),
        mode === 'macvlan' ? '' : times(ratio(s?.p50, summaries[key].macvlan?.p50)),
      ];
    }),
  );
  return [
    `Nested: in a simulated Nova VM with its own dockerd, ${report.settings.nestedRuns} sequential runs per network after ${NESTED_WARMUP_ROUNDS} warm-ups; ` +
      `VM booted ${seconds(vmBoot)}, its dockerd ${seconds(dockerd)}, the nested daemon serving ${seconds(daemon)}; phase ${seconds(nested.durationMs)}`,
    textTable(['', '', 'n', 'failed', 'p50', 'p95', 'min', 'max', 'p50/macvlan'], rows),
    `Nested daemon, per run -d + rm -f, p50 (mean, min-max, n): Neutron requests ${requestsText(nested.neutronRequestsPerLifecycle)}; ` +
      `VM port updates (allowed_address_pairs) ${requestsText(nested.pairWritesPerLifecycle)}`,
  ];
}

/** Failed attempts are left out of the timings; this says how many and why. */
function failureLines(report: BenchReport): string[] {
  const lines: string[] = [];
  const add = (what: string, failures: string[]) => {
    if (failures.length) lines.push(`${what}: ${failures.length}, ${failures[0]}`);
  };
  for (const key of TIMING_KEYS) for (const mode of MODES) add(`${TIMINGS[key].title}, ${MODE_LABELS[mode]}`, TIMINGS[key].series(report.results)[mode].failures);
  for (const mode of MODES) add(`${report.settings.parallelContainers} parallel, ${MODE_LABELS[mode]}`, report.results.parallel[mode]?.failures ?? []);
  const nested = report.results.nested;
  if (nested) for (const key of NESTED_TIMING_KEYS) for (const mode of NESTED_MODES) add(`in the VM, ${NESTED_TIMINGS[key].title}, ${NESTED_MODE_LABELS[mode]}`, NESTED_TIMINGS[key].series(nested)[mode].failures);
  return lines;
}

// ---- HTML ---------------------------------------------------------------------------------

const COLORS: Record<Mode, string> = { kuryr: '#c0392b', kuryrPool: '#2471a3', bridge: '#7f8c8d' };
/** Kuryr's and Docker's colours of the other charts. */
const NESTED_COLORS: Record<NestedMode, string> = { nested: COLORS.kuryr, macvlan: COLORS.bridge };

interface ChartRow {
  label: string;
  color: string;
  samplesMs: number[];
}
const modeRow = (mode: Mode, samplesMs: number[]): ChartRow => ({ label: MODE_LABELS[mode], color: COLORS[mode], samplesMs });

const TICK_TEXT = 'text-anchor="middle" font-size="11" fill="#555"';

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A round axis maximum above the largest value (1, 2 or 5 times a power of ten). */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].find((m) => m * power >= value) ?? 10) * power;
}

/**
 * One row per network: every sample a dot (so that noise and outliers show), p50 a solid bar,
 * p95 a dashed one. Times in seconds on a shared axis starting at zero, so rows compare by eye.
 */
function stripChart(title: string, rows: ChartRow[]): string {
  const width = 760;
  const left = 150;
  const right = 30;
  const rowHeight = 34;
  const top = 28;
  const height = top + rows.length * rowHeight + 30;
  const maxS = niceMax(Math.max(0, ...rows.flatMap((r) => r.samplesMs)) / 1000);
  const x = (ms: number) => left + ((ms / 1000) * (width - left - right)) / maxS;
  // Presentation attributes rather than CSS classes: a chart saved on its own still draws the same.
  const parts: string[] = [`<text x="0" y="16" font-weight="bold" font-size="14">${escapeHtml(title)}</text>`];
  for (let i = 0; i <= 5; i++) {
    const value = (maxS * i) / 5;
    const px = x(value * 1000);
    parts.push(`<line x1="${px}" y1="${top}" x2="${px}" y2="${height - 24}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${px}" y="${height - 8}" ${TICK_TEXT}>${Number(value.toPrecision(3))} s</text>`);
  }
  rows.forEach((row, i) => {
    const cy = top + i * rowHeight + rowHeight / 2;
    parts.push(`<text x="${left - 8}" y="${cy + 4}" text-anchor="end" font-size="12">${escapeHtml(row.label)}</text>`);
    row.samplesMs.forEach((ms, j) => {
      // A fixed spread instead of random jitter: the same data draws the same chart.
      const dy = ((j % 5) - 2) * 3;
      parts.push(`<circle cx="${x(ms).toFixed(1)}" cy="${cy + dy}" r="3.5" fill="${row.color}" fill-opacity="0.55"><title>${(ms / 1000).toFixed(3)} s</title></circle>`);
    });
    const s = summarize(row.samplesMs);
    if (s) {
      parts.push(`<line x1="${x(s.p50)}" y1="${cy - 12}" x2="${x(s.p50)}" y2="${cy + 12}" stroke="${row.color}" stroke-width="3"><title>p50 ${(s.p50 / 1000).toFixed(3)} s</title></line>`);
      parts.push(`<line x1="${x(s.p95)}" y1="${cy - 10}" x2="${x(s.p95)}" y2="${cy + 10}" stroke="${row.color}" stroke-width="1.5" stroke-dasharray="3 2"><title>p95 ${(s.p95 / 1000).toFixed(3)} s</title></line>`);
    } else {
      parts.push(`<text x="${left + 6}" y="${cy + 4}" font-size="11" fill="#555">no successful sample</text>`);
    }
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}

function htmlTable(header: string[], rows: string[][], rowClasses: string[] = []): string {
  const head = `<tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = rows.map((r, i) => `<tr class="${rowClasses[i] ?? ''}">${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('');
  return `<table>${head}${body}</table>`;
}

export function formatHtml(report: BenchReport): string {
  const { results } = report;
  const charts = timingKeysRun(report).map((key) => {
    const series = TIMINGS[key].series(results);
    return stripChart(TIMINGS[key].title, MODES.map((mode) => modeRow(mode, series[mode].samplesMs)));
  });
  if (report.settings.phases.includes('parallel')) {
    charts.push(
      stripChart(
        `${report.settings.parallelContainers} containers started at once: wall time`,
        MODES.map((mode) => modeRow(mode, results.parallel[mode] ? [results.parallel[mode]!.wallMs] : [])),
      ),
    );
  }
  const nested = results.nested;
  if (nested) {
    for (const key of NESTED_TIMING_KEYS) {
      const series = NESTED_TIMINGS[key].series(nested);
      charts.push(stripChart(`In a Nova VM: ${NESTED_TIMINGS[key].title}`, NESTED_MODES.map((mode) => ({ label: NESTED_MODE_LABELS[mode], color: NESTED_COLORS[mode], samplesMs: series[mode].samplesMs }))));
    }
  }
  const text = formatText(report);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kuryr benchmark ${escapeHtml(report.startedAt)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; max-width: 900px; }
table { border-collapse: collapse; margin: 1em 0; } td, th { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: right; }
td:first-child, th:first-child, td:nth-child(2) { text-align: left; }
tr.met td:last-child { color: #1e8449; font-weight: bold; } tr.notmet td:last-child { color: #c0392b; font-weight: bold; }
svg { display: block; margin: 1.5em 0; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
</style></head><body>
<h1>Kuryr vs Docker bridge</h1>
<p>Driver <b>${escapeHtml(report.daemon.driver)}</b>, ${report.machine.cpus} CPUs (${escapeHtml(report.machine.cpuModel)}), kernel ${escapeHtml(report.machine.kernel)},
started ${escapeHtml(report.startedAt)}, ${Math.round(report.durationS)} s. Dots are samples, solid bars p50, dashed bars p95.</p>
<h2>Targets (informational)</h2>
${htmlTable(['target', 'result', ''], report.targets.map((t) => [t.target, t.result, metText(t.met)]), report.targets.map((t) => (t.met === undefined ? '' : t.met ? 'met' : 'notmet')))}
<h2>Charts</h2>
${charts.join('\n')}
${report.notes.length ? `<h2>Notes</h2><ul>${report.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : ''}
<h2>All numbers</h2>
<pre>${escapeHtml(text)}</pre>
</body></html>
`;
}
