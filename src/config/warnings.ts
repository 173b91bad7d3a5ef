/**
 * Warnings for options Kuryr does not use. oslo.config ignores unknown options, so they are not
 * errors; but a renamed or misspelled one gets a hint naming the right option. Values are never
 * quoted here (an unknown key could hold a secret).
 */
import { AUTH_OPTS, ConfStore, editDistance, findOpt, GROUPS, RENAMED } from './options.js';

function hint(group: string, key: string): string {
  const renamed = RENAMED[group]?.[key];
  if (renamed) return `; use ${renamed}`;
  const names = (GROUPS[group] ?? []).map((o) => o.name);
  const underscored = key.replace(/-/g, '_');
  if (underscored !== key && names.includes(underscored)) return `; did you mean ${underscored}? (option names use "_")`;
  const lower = key.toLowerCase();
  if (lower !== key && names.includes(lower)) return `; did you mean ${lower}? (option names are lower case)`;
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = editDistance(lower, n);
    if (d < bestD) [best, bestD] = [n, d];
  }
  if (best) return `; did you mean ${best}?`;
  for (const [g, opts] of Object.entries(GROUPS)) {
    if (g !== group && opts.some((o) => o.name === key && !o.ignored)) return `; it belongs in [${g}]`;
  }
  return '';
}

export function unknownOptionWarnings(store: ConfStore, authGroup: string): string[] {
  const out: string[] = [];
  const where = (group: string, key: string) => store.raw(group, key)?.origin.where ?? '';
  const ignoredLog: string[] = [];

  for (const group of store.sectionNames()) {
    if (group === authGroup && group !== 'neutron') {
      // An auth_section is often shared with other services ([keystone_authtoken]): only its auth options are read.
      continue;
    }
    if (!GROUPS[group]) {
      const renamedSection = RENAMED[group];
      if (renamedSection) {
        for (const key of store.keys(group)) {
          out.push(`kuryr.conf: [${group}] ${key} is not read: this section is from old kuryr releases${hint(group, key)} (${where(group, key)})`);
        }
      } else {
        const first = store.keys(group)[0];
        out.push(`kuryr.conf: section [${group}] is not read by Kuryr; ignored${first ? ` (${where(group, first)})` : ''}`);
      }
      continue;
    }
    for (const key of store.keys(group)) {
      const def = findOpt(group, key);
      if (def) {
        if (def.ignored === 'oslo.log') ignoredLog.push(key);
        if (def.ignored === 'warn') {
          out.push(`kuryr.conf: [${group}] ${key} has no effect in Kuryr-TS; ignored${def.help ? ` (${def.help})` : ''} (${where(group, key)})`);
        }
        if (group === 'neutron' && authGroup !== 'neutron' && AUTH_OPTS.some((o) => o.name === key)) {
          out.push(`kuryr.conf: [neutron] ${key} is ignored because [neutron] auth_section = ${authGroup} (${where(group, key)})`);
        }
        continue;
      }
      const renamedFrom = (GROUPS[group] ?? []).find((o) => o.deprecatedNames?.includes(key));
      if (renamedFrom) {
        out.push(`kuryr.conf: [${group}] ${key} is deprecated; use ${renamedFrom.name} (${where(group, key)})`);
        continue;
      }
      out.push(`kuryr.conf: [${group}] ${key} is not a Kuryr option, ignored${hint(group, key)} (${where(group, key)})`);
    }
  }
  if (ignoredLog.length > 0) {
    out.push(`kuryr.conf: [DEFAULT] ${ignoredLog.join(', ')}: oslo.log option(s) Kuryr-TS does not implement; ignored (${where('DEFAULT', ignoredLog[0]!)})`);
  }
  return out;
}
