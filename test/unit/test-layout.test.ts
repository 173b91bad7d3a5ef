/**
 * The test suite's own layout: tests that restart (or kill) the daemon under test, the stack's
 * kuryr-server in CI, live in *.restarts-daemon.test.ts files, which scripts/test.sh runs after the
 * others and KURYR_TEST_SHARED_ONLY=1 leaves out. A restart in any other file would break whoever
 * uses the stack while the shared-only tests run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const FUNCTIONAL = new URL('../../../test/functional/', import.meta.url).pathname;
/** What restarts or kills the daemon under test: the harness's restartKuryr, stack.sh, or a signal to the pid its pid file names. */
const RESTARTS = /\brestartKuryr\(|stack\.sh['"`,\s]+restart|restart-kuryr|process\.kill\(Number\(readFileSync\(/;

test('only *.restarts-daemon.test.ts files restart the daemon under test, and each of them does', () => {
  const files = readdirSync(FUNCTIONAL).filter((f) => f.endsWith('.test.ts'));
  const restarting = files.filter((f) => RESTARTS.test(readFileSync(join(FUNCTIONAL, f), 'utf8'))).sort();
  const named = files.filter((f) => f.endsWith('.restarts-daemon.test.ts')).sort();
  assert.ok(named.length > 0, `no *.restarts-daemon.test.ts in ${FUNCTIONAL}`);
  assert.deepEqual(restarting, named);
});

test('scripts/test.sh runs the restarting files after the others and leaves them out with KURYR_TEST_SHARED_ONLY', () => {
  const script = readFileSync(new URL('../../../scripts/test.sh', import.meta.url), 'utf8');
  assert.match(script, /\*\.restarts-daemon\.test\.js\) restarting\+=/);
  assert.match(script, /KURYR_TEST_SHARED_ONLY:-\}" \]; then restarting=\(\)/);
  assert.ok(script.indexOf('"${shared[@]}"') < script.indexOf('"${restarting[@]}"', script.indexOf('status=0')), 'the shared run comes first');
});
