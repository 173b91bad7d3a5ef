/** packaging/systemd's unit files as systemd reads them, for the tests that check them. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const UNIT_DIR = fileURLToPath(new URL('../../../packaging/systemd/', import.meta.url));

/** `[Service]` etc. → key → every value assigned (systemd allows repeats); comments and blank lines skipped. */
export function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = out.get(header[1]!) ?? new Map();
      out.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq <= 0) throw new Error(`unit line outside a section or without "=": ${line}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** The [Service] section of a unit in packaging/systemd. */
export function serviceSection(unitName: string): Map<string, string[]> {
  return parseUnit(readFileSync(`${UNIT_DIR}${unitName}`, 'utf8')).get('Service') ?? new Map<string, string[]>();
}
