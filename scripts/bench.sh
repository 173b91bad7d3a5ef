#!/usr/bin/env bash
# npm run bench: Kuryr against Docker's bridge on the running dev stack (issue 4).
# Measures the stack's daemon (driver kuryr) unless KURYR_BENCH_CONFIG names another daemon's
# kuryr.conf files; `node dist/bench/main.js --help` lists the knobs. Reports go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
# KURYR_BENCH_BUILD_DIR: build elsewhere than dist/, e.g. while others' edits break the shared tree.
out="${KURYR_BENCH_BUILD_DIR:-dist}"
npx tsc -p . --outDir "$out"
exec node "$out/bench/main.js" "$@"
