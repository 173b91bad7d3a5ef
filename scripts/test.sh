#!/usr/bin/env bash
# The README's test command: installs what the tests need, brings the dev stack up (Docker, Keystone,
# Neutron and the Kuryr daemon), then runs the unit and functional tests in one node:test run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/test.sh: run as root: the functional tests drive dockerd, Neutron and host networking" >&2
  exit 1
fi

# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.kuryr-installed-lock; then
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.kuryr-installed-lock
fi
# From scratch: a test deleted or renamed in the source must not run again from an older build.
rm -rf dist
npm run --silent build

started=$(date +%s)
bash scripts/stack.sh up
echo "test.sh: stack ready in $(( $(date +%s) - started ))s"

shopt -s nullglob
tests=(dist/test/unit/*.test.js dist/test/functional/*.test.js)
if [ -n "${KURYR_TEST_FILTER:-}" ]; then
  mapfile -t tests < <(printf '%s\n' "${tests[@]}" | grep -E "$KURYR_TEST_FILTER")
fi
exec node --test --test-concurrency=1 --test-timeout=900000 "${tests[@]}"
