#!/bin/bash
# Self-test of scripts/stack/ebtables-wrapper against the real ebtables-nft:
# add --among-src rules (MACs with leading zeros, several MACs), delete them
# by specification through the wrapper, check that plain commands and failures
# still pass through with their exit codes. Needs root. Leaves nothing behind.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
W="${1:-$HERE/ebtables-wrapper}"
REAL="${EBTABLES_REAL:-/usr/sbin/ebtables-nft}"
CHAIN="kstest-$$"
fail() { echo "FAIL: $*" >&2; "$REAL" -t nat -F "$CHAIN" 2>/dev/null || true; "$REAL" -t nat -X "$CHAIN" 2>/dev/null || true; exit 1; }
count() { "$REAL" -t nat -L "$CHAIN" --Ln | grep -c -- '--among-src' || true; }

"$REAL" -t nat -N "$CHAIN" -P DROP
"$REAL" -t nat -A "$CHAIN" -j DROP
"$W" -t nat --concurrent -I "$CHAIN" -i tapkstest --among-src 02:42:0a:fa:00:c8 -j RETURN
"$W" -t nat --concurrent -I "$CHAIN" -i tapkstest2 --among-src fa:16:3e:0b:00:01,02:42:0a:fa:00:c9 -j RETURN
[ "$(count)" = 2 ] || fail "rules were not added"

# The real binary refuses this delete; the wrapper must succeed.
if "$REAL" -t nat --concurrent -D "$CHAIN" -i tapkstest --among-src 02:42:0a:fa:00:c8 -j RETURN 2>/dev/null; then
  echo "note: the real ebtables deleted an --among-src rule by spec (bug fixed upstream?)"
  "$W" -t nat -I "$CHAIN" -i tapkstest --among-src 02:42:0a:fa:00:c8 -j RETURN
fi
# Neutron passes the rule as printed by `ebtables -L` (no leading zeros).
"$W" -t nat --concurrent -D "$CHAIN" -i tapkstest --among-src 2:42:a:fa:0:c8 -j RETURN || fail "delete by printed spec"
[ "$(count)" = 1 ] || fail "first rule still there"
# Given with leading zeros and in another MAC order.
"$W" -t nat --concurrent -D "$CHAIN" -i tapkstest2 --among-src 02:42:0a:fa:00:c9,fa:16:3e:0b:00:01, -j RETURN || fail "delete by spec with zeros"
[ "$(count)" = 0 ] || fail "second rule still there"
# A delete of a rule that does not exist must still fail.
if "$W" -t nat -D "$CHAIN" -i tapnone --among-src 2:42:a:fa:0:1 -j RETURN 2>/dev/null; then fail "missing rule deleted?"; fi
# Plain pass-through keeps output and exit codes.
"$W" -t nat -L "$CHAIN" | grep -q -- '-j DROP' || fail "listing through the wrapper"
if "$W" -t nat -L no-such-chain-$$ 2>/dev/null; then fail "error exit code lost"; fi

"$REAL" -t nat -F "$CHAIN"
"$REAL" -t nat -X "$CHAIN"
echo "ebtables wrapper: ok"
