#!/usr/bin/env bash
# A second dockerd on this machine, standing in for a second Docker host on the same Neutron (the
# multi-host functional tests). It shares the host's network namespace (ports still bind to this
# host's Linux bridge agent) but has its own data root, exec root, API socket and cgroup parent.
#
# It shares the network namespace because Docker moves the container end of Kuryr's veth (Join's
# SrcName) from its own namespace into the sandbox, and Kuryr makes that veth where the Linux bridge
# agent plugs the tap: the host's. Its default bridge is one of its own ($bridge, on an address of
# TEST-NET-1 that nothing routes), never none: a dockerd started with --bridge=none deletes the
# host's docker0 at start-up, and the main dockerd's default-bridge containers then fail ("could
# not find bridge docker0") until it restarts.
#
# Docker looks for legacy plugins at fixed paths (/run/docker/plugins/<name>.sock, /etc/docker/plugins,
# /usr/lib/docker/plugins) whatever its --exec-root, so it runs in a private mount namespace where
# /run/docker/plugins is $plugin_dir (a Kuryr daemon for "host 2" puts its socket there) and the other
# two are empty: it sees only its own Kuryr, never the stack's.
#
#   scripts/second-docker.sh start    idempotent; loads kuryr/busybox:latest from the main dockerd
#   scripts/second-docker.sh stop     idempotent; containers of the second dockerd die with it
#   scripts/second-docker.sh status   exit 0 when it answers
#   scripts/second-docker.sh env      DOCKER2_HOST and DOCKER2_PLUGIN_DIR for callers
set -euo pipefail

base=/run/kuryr-docker2
sock="$base.sock"
plugin_dir="$base/plugins"
empty_dir="$base/empty"
exec_root="$base/exec"
pidf="$base/dockerd.pid"
data_root=/var/lib/kuryr-docker2
log=/var/log/kuryr/docker2.log
bridge=kt-docker2
bridge_address=192.0.2.1/28
image=kuryr/busybox:latest
docker2=(docker -H "unix://$sock")

# A dead daemon can stay a zombie here for a while (late reaping): that is not "running".
running() { [ -n "$1" ] && [ -d "/proc/$1" ] && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
alive() { running "$(cat "$pidf" 2>/dev/null || true)"; }

answers() { "${docker2[@]}" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start() {
  if alive && answers; then return 0; fi
  alive && stop
  mkdir -p "$plugin_dir" "$empty_dir" "$exec_root" "$data_root" "$(dirname "$log")"
  rm -f "$sock"
  # dockerd uses an existing bridge named by --bridge as it is (-b and --bip exclude each other).
  ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
  ip -4 addr show dev "$bridge" | grep -q "inet $bridge_address" || ip addr add "$bridge_address" dev "$bridge"
  printf '\n===== %s: starting second dockerd\n' "$(date -u '+%F %T')" >>"$log"
  # The mounts exist only in the new namespace (private propagation): the host never sees them.
  # shellcheck disable=SC2016
  setsid nohup unshare --mount --propagation private sh -c '
      mount --bind "$1" /run/docker/plugins &&
      { [ ! -d /usr/lib/docker/plugins ] || mount --bind "$2" /usr/lib/docker/plugins; } &&
      { [ ! -d /etc/docker/plugins ] || mount --bind "$2" /etc/docker/plugins; } &&
      shift 2 && exec "$@"' sh "$plugin_dir" "$empty_dir" \
    /usr/sbin/dockerd --host "unix://$sock" --pidfile "$pidf" --data-root "$data_root" --exec-root "$exec_root" \
    --bridge="$bridge" --iptables=false --ip-masq=false --ip-forward=false --storage-driver=vfs \
    --cgroup-parent=kuryr-docker2 </dev/null >>"$log" 2>&1 &
  local launcher=$!
  for _ in $(seq 120); do
    answers && break
    running "$launcher" || break # died: the log says why
    sleep 0.5
  done
  answers || { echo "second-docker.sh: dockerd did not answer on $sock; see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
  if ! "${docker2[@]}" image inspect "$image" >/dev/null 2>&1; then
    docker save "$image" | "${docker2[@]}" load >/dev/null
  fi
}

stop() {
  local pid
  pid="$(cat "$pidf" 2>/dev/null || true)"
  if [ -n "$pid" ] && alive; then
    kill "$pid"
    for _ in $(seq 100); do alive || break; sleep 0.2; done
    alive && { echo "second-docker.sh: dockerd $pid did not stop; killing it" >&2; kill -9 "$pid"; }
  fi
  rm -f "$pidf" "$sock"
  ip link del "$bridge" 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if alive && answers; then echo "second dockerd: running"; else echo "second dockerd: stopped"; exit 1; fi ;;
  env) ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
echo "DOCKER2_HOST=unix://$sock DOCKER2_PLUGIN_DIR=$plugin_dir"
