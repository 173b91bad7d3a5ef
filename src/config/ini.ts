/**
 * An INI parser that reads files the way oslo.config's `iniparser` does, so that any kuryr.conf
 * upstream accepts means the same here. (`ini@5` is not used: it strips `;`/`#` after a value,
 * which would cut passwords, and it treats `key[]` as arrays.)
 *
 * oslo's rules, reproduced:
 * - `[section]` starts a section. Names are lower-cased except `DEFAULT`.
 * - `key = value` or `key: value`: split at the first `=` or `:`, whichever comes first; the
 *   key and value are trimmed; one pair of matching surrounding quotes (`"` or `'`) is removed.
 *   Everything after the separator is the value: `#`, `;`, `=` and `:` inside it are kept.
 * - Lines starting with `#` or `;` are comments. Blank lines end a multi-line value.
 * - A line starting with a space or tab continues the previous value (joined with "\n").
 * - A key repeated in a section: the last value wins (the earlier ones are kept in `values`).
 *
 * Deviation: an indented comment line that does not follow an assignment is treated as a comment
 * (oslo rejects it as an "unexpected continuation line").
 */

export interface IniEntry {
  /** The value of the last assignment of this key in its section. */
  value: string;
  /** 1-based line of the last assignment. */
  line: number;
  /** Every value assigned to the key in this section, in file order (for repeated keys). */
  values: string[];
}

export interface IniFile {
  path: string;
  /** section name (normalized) → key → entry. */
  sections: Map<string, Map<string, IniEntry>>;
}

export class IniSyntaxError extends Error {
  constructor(
    readonly path: string,
    readonly line: number,
    readonly problem: string,
  ) {
    // The offending line's text is deliberately not included: it could hold a secret.
    super(`${path}:${line}: ${problem}`);
    this.name = 'IniSyntaxError';
  }
}

/** oslo.config keeps `DEFAULT` as is and lower-cases every other group name. */
export function normalizeSectionName(name: string): string {
  return name === 'DEFAULT' ? name : name.toLowerCase();
}

function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value[0] === value[value.length - 1]) {
    return value.slice(1, -1);
  }
  return value;
}

export function parseIni(text: string, path: string): IniFile {
  const sections = new Map<string, Map<string, IniEntry>>();
  let section: Map<string, IniEntry> | undefined;
  let pending: { key: string; parts: string[]; line: number } | undefined;

  const flush = () => {
    if (!pending || !section) return;
    const value = pending.parts.join('\n');
    const prev = section.get(pending.key);
    section.set(pending.key, { value, line: pending.line, values: [...(prev?.values ?? []), value] });
    pending = undefined;
  };

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((rawLine, i) => {
    const lineNo = i + 1;
    const line = rawLine.replace(/\s+$/, '');
    if (line === '') {
      flush();
      return;
    }
    if (line[0] === ' ' || line[0] === '\t') {
      if (pending) {
        pending.parts.push(line.trimStart());
        return;
      }
      const stripped = line.trimStart();
      if (stripped[0] === '#' || stripped[0] === ';') return;
      throw new IniSyntaxError(path, lineNo, 'indented line continues no value (remove the leading space)');
    }
    flush();
    if (line[0] === '[') {
      if (line[line.length - 1] !== ']') throw new IniSyntaxError(path, lineNo, 'section header has no closing "]"');
      if (line.length <= 2) throw new IniSyntaxError(path, lineNo, 'section header has no name');
      const name = normalizeSectionName(line.slice(1, -1));
      section = sections.get(name) ?? new Map();
      sections.set(name, section);
      return;
    }
    if (line[0] === '#' || line[0] === ';') return;
    const colon = line.indexOf(':');
    const equal = line.indexOf('=');
    if (colon < 0 && equal < 0) {
      throw new IniSyntaxError(path, lineNo, 'line is not "key = value", a [section] or a comment');
    }
    const at = colon < 0 || (equal >= 0 && equal < colon) ? equal : colon;
    const key = line.slice(0, at).trim();
    if (!key) throw new IniSyntaxError(path, lineNo, 'assignment has an empty key');
    if (!section) throw new IniSyntaxError(path, lineNo, `option "${key}" appears before any [section]`);
    pending = { key, parts: [unquote(line.slice(at + 1).trim())], line: lineNo };
  });
  flush();
  return { path, sections };
}
