/** Temporary config trees for the config tests: removed when the test file ends. */
import { after } from 'node:test';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadOptions } from '../../src/config/index.js';

/** Returns `dir(files)`: a fresh directory with the given files (mode 0600 unless a mode is given). */
export function configDirs(prefix: string): (files?: Record<string, string | [string, number]>) => string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  return (files = {}) => {
    const d = join(root, `t${n++}`);
    mkdirSync(d, { recursive: true });
    for (const [name, content] of Object.entries(files)) {
      const [text, mode] = Array.isArray(content) ? content : [content, 0o600];
      mkdirSync(join(d, name, '..'), { recursive: true });
      writeFileSync(join(d, name), text);
      chmodSync(join(d, name), mode);
    }
    return d;
  };
}

/** Password credentials for [neutron], as a minimal kuryr.conf needs them. */
export const AUTH = `[neutron]
auth_type = password
auth_url = http://ctrl:5000/v3
username = kuryr
password = n0t-for-logs
project_name = service
user_domain_name = Default
project_domain_name = Default
`;

/** Hermetic load options: no default files, no real clouds.yaml, a fixed host name. */
export const hermeticLoad = (extra: LoadOptions = {}): LoadOptions => ({ defaultConfigFiles: [], defaultConfigDirs: [], cloudsSearchDirs: [], hostname: 'node-1', ...extra });
