#!/usr/bin/env bash
# A private Kuryr daemon for development, beside the stack's own: its own build (dist-NAME), socket
# (/run/docker/plugins/kuryr-NAME.sock, so Docker knows it as driver "kuryr-NAME") and log, on the
# same Keystone, Neutron and dockerd. Several developers can test their branches at once.
#   scripts/dev-daemon.sh NAME start|stop|restart|env [extra.conf]
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: dev-daemon.sh NAME start|stop|restart|env [extra.conf]}"
cmd="${2:-start}"
extra="${3:-}"
[[ "$name" =~ ^[a-z0-9]{1,12}$ ]] || { echo "dev-daemon.sh: NAME must be 1-12 lower-case letters or digits" >&2; exit 2; }
out="dist-$name"
conf="/tmp/kuryr-$name.conf"
pidf="/run/kuryr/kuryr-$name.pid"
log="/var/log/kuryr/kuryr-$name.log"

stop() {
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    kill "$(cat "$pidf")"; for _ in $(seq 150); do kill -0 "$(cat "$pidf")" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidf"
}

start() {
  npx tsc -p . --outDir "$out" >/dev/null || true   # others' half-written files must not block a build
  mkdir -p /run/kuryr /var/log/kuryr
  cat >"$conf" <<CONF
[DEFAULT]
socket_path = /run/docker/plugins/kuryr-$name.sock
kuryr_uri =
plugin_spec_dir =
log_file = $log
metrics_listen =
CONF
  files=(--config-file /etc/kuryr/kuryr.conf --config-file "$conf")
  [ -n "$extra" ] && files+=(--config-file "$extra")
  nohup node --max-semi-space-size=1 --max-old-space-size=48 --optimize-for-size --v8-pool-size=1 "$out/src/cli/kuryr-server.js" "${files[@]}" >>"$log.out" 2>&1 &
  echo $! >"$pidf"
  for _ in $(seq 100); do
    curl -sf --unix-socket "/run/docker/plugins/kuryr-$name.sock" -X POST http://x/Plugin.Activate >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -sf --unix-socket "/run/docker/plugins/kuryr-$name.sock" -X POST http://x/Plugin.Activate >/dev/null || { echo "kuryr-$name did not start; see $log.out" >&2; tail -5 "$log.out" >&2; exit 1; }
}

case "$cmd" in
  start) stop; start ;;
  restart) stop; start ;;
  stop) stop ;;
  env) ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
extra_cfg=""; [ -n "$extra" ] && extra_cfg=",$extra"
echo "export KURYR_TEST_CONFIG=/etc/kuryr/kuryr.conf,$conf$extra_cfg KURYR_TEST_RESTART_CMD='bash $PWD/scripts/dev-daemon.sh $name restart $extra'"
