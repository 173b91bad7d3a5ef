#!/usr/bin/env bash
# The README's test command: installs what the tests need, brings the dev stack up (Docker, Keystone,
# Neutron and the Kuryr daemon), then runs the unit and functional tests, one file at a time.
#
# Test files named *.restarts-daemon.test.ts restart or kill the daemon under test (the stack's
# kuryr-server): they run last, one at a time, after every other file. With KURYR_TEST_SHARED_ONLY=1
# they are left out and the stack's daemon is not restarted to pick up new code either, so the rest
# can run while someone else uses the stack. KURYR_TEST_FILTER (an egrep pattern) selects files.
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
# Shared only: `up` must not restart the stack's daemon, even when the code changed since it started.
if [ -n "${KURYR_TEST_SHARED_ONLY:-}" ]; then export KURYR_STACK_SKIP_DAEMON=1; fi
bash scripts/stack.sh up
echo "test.sh: stack ready in $(( $(date +%s) - started ))s"

# Tools only the tests use, from Debian's packages (the stack's own are in stack.sh): root file
# systems for the plugin and the image, shell linting of the devstack plugin, unit file checks, and
# the container runtimes that drive kuryr-cni (podman 4.3, whose CNI backend the tests select in a
# private containers.conf, and the reference CNI plugins; containerd comes with docker.io).
TEST_PACKAGES=(mmdebstrap shellcheck systemd podman containernetworking-plugins)
missing=()
for p in "${TEST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
fi

# node --test sorts the files it is given: the restarting files go to a second run after the first.
shopt -s nullglob
shared=(dist/test/unit/*.test.js)
restarting=()
for f in dist/test/functional/*.test.js; do
  case "$f" in
    *.restarts-daemon.test.js) restarting+=("$f") ;;
    *) shared+=("$f") ;;
  esac
done
if [ -n "${KURYR_TEST_SHARED_ONLY:-}" ]; then restarting=(); fi
if [ -n "${KURYR_TEST_FILTER:-}" ]; then
  mapfile -t shared < <(printf '%s\n' "${shared[@]}" | grep -E "$KURYR_TEST_FILTER")
  mapfile -t restarting < <(printf '%s\n' "${restarting[@]}" | grep -E "$KURYR_TEST_FILTER")
fi

status=0
if [ "${#shared[@]}" -gt 0 ]; then
  node --test --test-concurrency=1 --test-timeout=900000 "${shared[@]}" || status=$?
fi
if [ "${#restarting[@]}" -gt 0 ]; then
  echo "test.sh: files that restart the daemon under test, one at a time: ${restarting[*]}"
  node --test --test-concurrency=1 --test-timeout=900000 "${restarting[@]}" || status=$?
fi
exit "$status"
