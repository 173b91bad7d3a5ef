/**
 * `scripts/stack.sh up` stops at once, naming the version it needs, when the Node.js it finds is
 * older than package.json's engines (Debian 12's own nodejs is 18), before it installs or starts
 * anything. stack.sh sets its own PATH, so the old Node is a fake bind-mounted over that node in a
 * private mount namespace: nothing outside this test's process sees it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = new URL('../../..', import.meta.url).pathname;
const WANT = /"node": *">= *([0-9.]+)"/.exec(readFileSync(join(REPO, 'package.json'), 'utf8'))![1]!;
/** The node stack.sh finds first on its PATH (/usr/sbin:/usr/bin:...). */
const STACK_NODE = spawnSync('bash', ['-c', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin command -v node'], { encoding: 'utf8' }).stdout.trim();

test('stack.sh up refuses a Node.js older than package.json\'s engines, saying which it needs, before installing anything', (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('a private mount namespace needs root (so does stack.sh)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'kuryr-old-node-'));
  try {
    const fake = join(dir, 'node');
    writeFileSync(fake, '#!/bin/sh\necho 18.19.0\n');
    chmodSync(fake, 0o755);
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-c', `mount --bind ${fake} ${STACK_NODE} && exec bash ${join(REPO, 'scripts/stack.sh')} up`], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`Node\\.js 18\\.19\\.0 \\(${STACK_NODE}\\) is too old: Kuryr needs ${WANT.replaceAll('.', '\\.')} or newer`));
    assert.doesNotMatch(r.stderr, /installing|starting|npm/, 'nothing was installed, built or started');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
