#!/usr/bin/env bash
# Test harness for devstack/plugin.sh (test/unit/devstack-plugin.test.ts runs it): sources
# devstack/settings and devstack/plugin.sh as devstack does (`source plugin.sh <mode> [phase]`),
# under stack.sh's errexit and NOUNSET's nounset, with devstack's functions replaced by recorders
# (one line per call in $HARNESS_LOG). iniset and configure_keystone_authtoken_middleware edit the
# file as devstack's do; what leaves the machine (npm, nodejs.org, openstack, systemd) is recorded.
# sudo is a recorder function here, which runs the functions it is given:
# shellcheck disable=SC2032
set -o errexit -o nounset
record() { printf '%s\n' "$*" >> "$HARNESS_LOG"; }
is_service_enabled() { [[ " $HARNESS_ENABLED " == *" $1 "* ]]; }
enable_service() { record enable_service "$@"; }
echo_summary() { :; }
die() { record die "$@"; exit 1; }
sleep() { :; }
create_service_user() { record create_service_user "$@"; }
stop_process() { record stop_process "$@"; }
# A started daemon shows as its socket (unless the test says it never listens).
run_process() {
  record run_process "$@"
  if [[ -z "${HARNESS_NO_SOCKET:-}" ]]; then
    mkdir -p "$(dirname "$KURYR_SOCKET")"
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$KURYR_SOCKET"
  fi
}
openstack() {
  record openstack "$@"
  [[ "$*" != *"subnet pool show"* || -n "${HARNESS_POOLS_EXIST:-}" ]]
}
npm() {
  record npm "$@"
  if [[ "${1:-}" == pack ]]; then echo kuryr-0.1.0.tgz; fi
}
# nodejs.org: a tarball whose checksum is not the one SHASUMS256.txt lists.
curl() {
  record curl "$@"
  local out="" url="${!#}"
  while [[ $# -gt 0 ]]; do if [[ "$1" == -o ]]; then out=$2; shift; fi; shift; done
  if [[ "$url" == *SHASUMS256.txt ]]; then
    printf '%064d  %s\n' 0 "node-v$KURYR_NODE_VERSION-linux-x64.tar.xz" > "$out"
    printf '%064d  %s\n' 0 "node-v$KURYR_NODE_VERSION-linux-arm64.tar.xz" >> "$out"
  else
    echo not-node > "$out"
  fi
}
tar() { record tar "$@"; }
uname() { if [[ "${1:-}" == -m ]]; then echo x86_64; else command uname "$@"; fi; }
if [[ -n "${HARNESS_OLD_NODE:-}" ]]; then node() { echo v18.19.0; return 1; }; fi
sudo() { record sudo "$@"; "$@"; }
iniset() {
  if [[ "$1" == -sudo ]]; then shift; fi
  record iniset "$@"
  python3 - "$@" <<'PY'
import re, sys
path, section, option, value = sys.argv[1:5]
lines = open(path).read().split('\n')
header = '[%s]' % section
if header not in lines:
    lines += ['', header]
start = lines.index(header) + 1
end = next((i for i in range(start, len(lines)) if lines[i].startswith('[')), len(lines))
for i in range(start, end):
    if re.match(re.escape(option) + r'[ \t]*=', lines[i]):
        lines[i] = '%s = %s' % (option, value)
        break
else:
    lines.insert(start, '%s = %s' % (option, value))
open(path, 'w').write('\n'.join(lines))
PY
}
# lib/keystone's, as devstack writes it.
configure_keystone_authtoken_middleware() {
  local conf_file=$1 admin_user=$2 section=${3:-keystone_authtoken}
  record configure_keystone_authtoken_middleware "$@"
  iniset "$conf_file" "$section" auth_type password
  iniset "$conf_file" "$section" interface public
  iniset "$conf_file" "$section" auth_url "$KEYSTONE_SERVICE_URI"
  iniset "$conf_file" "$section" username "$admin_user"
  iniset "$conf_file" "$section" password "$SERVICE_PASSWORD"
  iniset "$conf_file" "$section" user_domain_name "$SERVICE_DOMAIN_NAME"
  iniset "$conf_file" "$section" project_name "$SERVICE_PROJECT_NAME"
  iniset "$conf_file" "$section" project_domain_name "$SERVICE_DOMAIN_NAME"
  iniset "$conf_file" "$section" www_authenticate_uri "$KEYSTONE_SERVICE_URI"
  iniset "$conf_file" "$section" cafile "$SSL_BUNDLE_FILE"
  iniset "$conf_file" "$section" memcached_servers "$MEMCACHE_SERVERS"
}
# shellcheck source=devstack/settings
source "$HARNESS_SETTINGS"
# shellcheck source=devstack/plugin.sh
source "$HARNESS_PLUGIN" "$@"
