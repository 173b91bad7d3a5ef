#!/bin/bash
# Kuryr-TS development stack: the project's devstack analogue.
#
#   scripts/stack.sh up [--no-kuryr]   install, configure and start everything
#   scripts/stack.sh down              stop everything `up` started
#   scripts/stack.sh status [--no-kuryr]  one line per service; non-zero if one is down
#   scripts/stack.sh logs [SERVICE]    tail the log files (all, or one service)
#   scripts/stack.sh restart-kuryr     (re)build and (re)start only the Kuryr daemon
#   scripts/stack.sh restart SERVICE   stop SERVICE, then `up --no-kuryr` (Kuryr untouched)
#   scripts/stack.sh reset             down, then forget all state (next up is a first run)
#
# Services, all on loopback (RabbitMQ's distribution port and epmd included;
# the kernel's VXLAN socket, which binds every address, is fenced off by an
# INPUT rule), started in the background without systemd
# (this machine has none), each in its own session so that `down` can stop
# the whole process group: MariaDB, RabbitMQ, Keystone (uwsgi, :5000),
# neutron-server (:9696), neutron-linuxbridge-agent, neutron-l3-agent,
# neutron-dhcp-agent, dockerd, kuryr-server.
# The external network `public` (flat, 172.24.4.0/24) lives on the host
# bridge br-ex (172.24.4.1): router `kuryr-router` has its gateway on it, and
# floating IP 172.24.4.10 is there for published ports (-p).
# Pid files: /run/kuryr-stack/*.pid (Kuryr: /run/kuryr/kuryr-server.pid).
# Logs: /var/log/kuryr-stack/*.log (Kuryr: /var/log/kuryr/kuryr-server.{log,out}).
# Credentials: /etc/kuryr-stack/{admin,kuryr}-openrc (root only).
#
# Environment: KURYR_STACK_SKIP_DAEMON=1 (same as --no-kuryr),
# KURYR_STACK_HOST (agent host name, default: `hostname`),
# KURYR_STACK_TRACE=1 (timestamped xtrace on stderr, to profile a run).
# Must run as root. Idempotent: a rerun only starts what is not running.
set -euo pipefail
if [ "${KURYR_STACK_TRACE:-0}" = 1 ]; then
  PS4='+ $(date +%s.%N | cut -c7-14) '
  set -x
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_LIB="$REPO/scripts/stack"

# The system's tools first: the sandbox PATH may put pyenv's python3 and a
# newer docker client (/usr/local/bin/docker) ahead of Debian's.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin
export LC_ALL=C.UTF-8
# Debian's client matches dockerd 20.10 (used by make-busybox-image.sh).
export DOCKER=/usr/bin/docker

CONF_DIR=/etc/kuryr-stack          # configs, secrets, openrc files (0700)
STATE_DIR=/var/lib/kuryr-stack     # markers of one-time steps
RUN_DIR=/run/kuryr-stack           # pid files
LOG_DIR=/var/log/kuryr-stack
SECRETS="$CONF_DIR/secrets"
KURYR_CONF=/etc/kuryr/kuryr.conf
KURYR_PID=/run/kuryr/kuryr-server.pid
KURYR_OUT=/var/log/kuryr/kuryr-server.out
KURYR_SOCK=/run/docker/plugins/kuryr.sock
EBTABLES_WRAPPER=/usr/local/libexec/kuryr-stack/ebtables
# The external network: a flat physnet on a host bridge, which has the
# subnet's gateway address (the host is the "outside" of the cloud).
EXT_BRIDGE=br-ex
EXT_PHYSNET=public
EXT_GATEWAY=172.24.4.1
EXT_PREFIXLEN=24
EXT_FIP=172.24.4.10

SERVICES=(mariadb rabbitmq keystone neutron-server neutron-agent neutron-l3-agent
  neutron-dhcp-agent dockerd kuryr)
PACKAGES=(mariadb-server python3-pymysql rabbitmq-server keystone uwsgi-plugin-python3
  neutron-server neutron-linuxbridge-agent neutron-l3-agent neutron-dhcp-agent
  python3-openstackclient docker.io
  busybox-static iputils-ping iproute2 ebtables ipset curl)

# shellcheck source-path=SCRIPTDIR source=stack/configs.sh
. "$STACK_LIB/configs.sh"

T0=$(date +%s)
log() { printf '[stack %3ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- helpers --

pidfile_of() {
  case "$1" in
    kuryr) echo "$KURYR_PID" ;;
    *) echo "$RUN_DIR/$1.pid" ;;
  esac
}

logfile_of() {
  case "$1" in
    kuryr) echo "$KURYR_OUT" ;;
    *) echo "$LOG_DIR/$1.log" ;;
  esac
}

# A word of the service's command line: guards against a recycled pid.
cmdline_marker_of() {
  case "$1" in
    mariadb) echo mariadbd ;;
    rabbitmq) echo rabbit ;;
    keystone) echo uwsgi ;;
    neutron-server) echo neutron-server ;;
    neutron-agent) echo neutron-linuxbridge-agent ;;
    neutron-l3-agent) echo neutron-l3-agent ;;
    neutron-dhcp-agent) echo neutron-dhcp-agent ;;
    dockerd) echo dockerd ;;
    kuryr) echo kuryr-server ;;
  esac
}

# is_running SERVICE: pid file present, process alive and really ours.
is_running() {
  local pidf pid
  pidf="$(pidfile_of "$1")"
  [ -s "$pidf" ] || return 1
  pid="$(cat "$pidf")"
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(cmdline_marker_of "$1")"
}

# spawn SERVICE CMD...: start CMD detached in its own session (setsid, so its
# pgid is its pid and `down` can signal all its children), with a clean
# environment (no secrets of ours leak into /proc/PID/environ), output
# appended to the service's log file.
spawn() {
  local svc="$1"; shift
  local logf pidf
  logf="$(logfile_of "$svc")"
  pidf="$(pidfile_of "$svc")"
  mkdir -p "$(dirname "$logf")" "$(dirname "$pidf")"
  printf '\n===== %s: starting %s\n' "$(date -u '+%F %T')" "$svc" >>"$logf"
  # In a non-interactive shell a background job is not a group leader, so
  # setsid does not fork and $! is the service's own pid. fd 9 is our lock:
  # a daemon must not inherit it.
  env -i PATH="$PATH" LANG=C.UTF-8 HOME=/root "${SPAWN_ENV[@]}" \
    setsid nohup "$@" </dev/null >>"$logf" 2>&1 9>&- &
  echo $! >"$pidf"
  SPAWN_ENV=()
  log "started $svc (pid $!)"
}
SPAWN_ENV=()

# fail_service SERVICE WHAT: fail loudly with the end of the service's log.
fail_service() {
  local logf
  logf="$(logfile_of "$1")"
  {
    echo "[stack] ERROR: $1 $2"
    echo "[stack] log file: $logf (last 40 lines below)"
    tail -n 40 "$logf" 2>/dev/null | sed 's/^/    /'
  } >&2
  exit 1
}

# wait_for SERVICE TIMEOUT PROBE...: poll PROBE until it succeeds; fail loudly
# when the timeout expires or the process died meanwhile.
wait_for() {
  local svc="$1" timeout="$2"; shift 2
  local deadline=$(($(date +%s) + timeout))
  while ! "$@" >/dev/null 2>&1; do
    is_running "$svc" || fail_service "$svc" "died while starting"
    [ "$(date +%s)" -lt "$deadline" ] || fail_service "$svc" "not ready after ${timeout}s (probe: $*)"
    sleep 0.5
  done
}

# pid_alive PID: the process exists and is not a zombie (this machine's
# init reaps orphans late, so /proc/PID alone says nothing).
pid_alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}

# group_alive PGID: some non-zombie process is left in the process group.
group_alive() {
  local p
  for p in $(pgrep -g "$1" 2>/dev/null); do
    pid_alive "$p" && return 0
  done
  return 1
}

# stop_service SERVICE: TERM the process group, KILL it after 20 s.
stop_service() {
  local svc="$1" pidf pid i
  pidf="$(pidfile_of "$svc")"
  if ! is_running "$svc"; then
    rm -f "$pidf"
    return 0
  fi
  pid="$(cat "$pidf")"
  log "stopping $svc (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    group_alive "$pid" || break
    sleep 0.2
  done
  if group_alive "$pid"; then
    log "$svc did not stop in 20 s: killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
}

# install_file PATH MODE SERVICE < content: replace PATH only if the content
# changed; then remember SERVICE for a restart if it is already running.
RESTART=()
install_file() {
  local path="$1" mode="$2" svc="${3:-}" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    chmod "$mode" "$path"
    return 0
  fi
  mkdir -p "$(dirname "$path")"
  install -m "$mode" "$tmp" "$path"
  rm -f "$tmp"
  log "wrote $path"
  [ -n "$svc" ] && RESTART+=("$svc")
  return 0
}

needs_restart() {
  local s
  for s in "${RESTART[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

marker() { [ -f "$STATE_DIR/$1" ]; }
# A step that stored a password is redone when the secrets file is newer.
marker_since_secrets() { marker "$1" && [ ! "$SECRETS" -nt "$STATE_DIR/$1" ]; }
set_marker() { mkdir -p "$STATE_DIR"; date -u '+%F %T' >"$STATE_DIR/$1"; }

mysql_root() { mysql --protocol=socket -uroot "$@"; }

# Number of tables of a database (0 when it does not exist).
db_tables() {
  mysql_root -N -e "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='$1'" 2>/dev/null || echo 0
}

http_ok() { curl -fsS -o /dev/null --max-time 5 "$1"; }
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
docker_ok() { curl -fsS -o /dev/null --max-time 5 --unix-socket /var/run/docker.sock http://docker/_ping; }
kuryr_ok() { curl -fsS -o /dev/null --max-time 5 --unix-socket "$KURYR_SOCK" -X POST http://kuryr/Plugin.Activate; }
osctl() { /usr/bin/python3 "$STACK_LIB/osctl.py" "$@"; }
# as_admin CMD...: run CMD with the admin credentials in its environment only.
# shellcheck disable=SC1091
as_admin() { ( set -a; . "$CONF_DIR/admin-openrc"; set +a; "$@" ); }

# ------------------------------------------------------------------ steps --

require_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

# require_node: the daemon is built and run with the Node.js on the PATH, which
# package.json's engines bound from below (Debian 12's own nodejs is 18).
require_node() {
  local want have
  want=$(sed -n 's/.*"node": *">= *\([0-9.]*\)".*/\1/p' "$REPO/package.json")
  command -v node >/dev/null ||
    die "no Node.js on the PATH: Kuryr needs Node.js $want or newer with npm (Debian 12's own nodejs is 18: install Node 20 first)"
  have=$(node -p 'process.versions.node')
  [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n 1)" = "$want" ] ||
    die "Node.js $have ($(command -v node)) is too old: Kuryr needs $want or newer (Debian 12's own nodejs is 18: install Node 20 first)"
}

# Wait for any apt/dpkg run already in progress (e.g. a provisioning install
# in the background) instead of failing on the dpkg lock. apt-get itself also
# gets DPkg::Lock::Timeout; waiting first lets us re-check what is missing.
wait_dpkg_lock() {
  local i
  for i in $(seq 1 600); do
    pgrep -x 'apt-get|apt|dpkg|unattended-upgr' >/dev/null 2>&1 || return 0
    [ "$i" = 1 ] && log "waiting for another apt/dpkg run to finish"
    sleep 1
  done
  die "apt/dpkg still running after 10 minutes"
}

# Packages of PACKAGES not installed yet (one dpkg-query for all: fast).
missing_packages() {
  local installed
  installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null |
    awk '$4 == "installed" {print $1}')" || true
  local p
  for p in "${PACKAGES[@]}"; do
    grep -qx "$p" <<<"$installed" || echo "$p"
  done
}

install_packages() {
  local missing=()
  mapfile -t missing < <(missing_packages)
  [ ${#missing[@]} -eq 0 ] && return 0
  wait_dpkg_lock
  mapfile -t missing < <(missing_packages)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (log: $LOG_DIR/apt.log)"
  mkdir -p "$LOG_DIR"
  # Package scripts must not start services (no init system here; we start
  # them ourselves): Docker-style images ship a policy-rc.d that denies it,
  # make sure of it for the duration of the install.
  local policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  local rc=0
  {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq -o DPkg::Lock::Timeout=600 &&
      apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  } >>"$LOG_DIR/apt.log" 2>&1 || rc=$?
  [ "$policy_added" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ "$rc" != 0 ]; then
    tail -n 30 "$LOG_DIR/apt.log" >&2
    die "apt-get install failed (log: $LOG_DIR/apt.log)"
  fi
}

# Random passwords on the first run, kept (root only) for every later run.
load_secrets() {
  mkdir -p "$CONF_DIR"
  chmod 700 "$CONF_DIR"
  if [ ! -s "$SECRETS" ]; then
    local v
    (
      umask 077
      for v in ADMIN_PASSWORD KURYR_PASSWORD NEUTRON_PASSWORD KEYSTONE_DB_PASSWORD \
        NEUTRON_DB_PASSWORD RABBIT_PASSWORD; do
        echo "$v=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24)"
      done >"$SECRETS"
    )
    log "generated passwords in $SECRETS"
  fi
  chmod 600 "$SECRETS"
  # shellcheck disable=SC1090
  . "$SECRETS"
}

# install_file reads its content from a process substitution, not a pipe: a
# pipe would run it in a subshell, losing what it adds to RESTART.
write_configs() {
  HOST_NAME="${KURYR_STACK_HOST:-$(hostname)}"
  echo "$HOST_NAME" >"$CONF_DIR/host"
  install_file /etc/mysql/mariadb.conf.d/99-kuryr-stack.cnf 644 mariadb < <(mariadb_cnf)
  install_file /etc/rabbitmq/rabbitmq-env.conf 644 rabbitmq < <(rabbitmq_env_conf)
  install_file "$CONF_DIR/keystone.conf" 600 keystone < <(keystone_conf)
  install_file "$CONF_DIR/neutron.conf" 600 neutron-server < <(neutron_conf)
  install_file "$CONF_DIR/ml2_conf.ini" 600 neutron-server < <(ml2_conf)
  install_file "$CONF_DIR/linuxbridge_agent.ini" 600 neutron-agent < <(linuxbridge_agent_ini)
  install_file "$CONF_DIR/l3_agent.ini" 600 neutron-l3-agent < <(l3_agent_ini)
  install_file "$CONF_DIR/dhcp_agent.ini" 600 neutron-dhcp-agent < <(dhcp_agent_ini)
  # The agents read neutron.conf as well.
  needs_restart neutron-server && RESTART+=(neutron-agent neutron-l3-agent neutron-dhcp-agent)
  install_file "$CONF_DIR/admin-openrc" 600 < <(openrc admin "$ADMIN_PASSWORD" admin)
  install_file "$CONF_DIR/kuryr-openrc" 600 < <(openrc kuryr "$KURYR_PASSWORD" service)
  install_file "$KURYR_CONF" 600 kuryr < <(kuryr_conf)
  return 0
}

# Debian's ebtables-nft cannot delete --among-src rules by spec; see the
# wrapper's header. Installed as a higher-priority `ebtables` alternative.
install_ebtables_wrapper() {
  if ! cmp -s "$STACK_LIB/ebtables-wrapper" "$EBTABLES_WRAPPER"; then
    install -D -m 755 "$STACK_LIB/ebtables-wrapper" "$EBTABLES_WRAPPER"
    log "installed $EBTABLES_WRAPPER"
  fi
  if [ "$(readlink -f /usr/sbin/ebtables)" != "$EBTABLES_WRAPPER" ]; then
    update-alternatives --quiet --install /usr/sbin/ebtables ebtables "$EBTABLES_WRAPPER" 100 \
      --slave /usr/sbin/ebtables-restore ebtables-restore /usr/sbin/ebtables-nft-restore \
      --slave /usr/sbin/ebtables-save ebtables-save /usr/sbin/ebtables-nft-save
    update-alternatives --quiet --set ebtables "$EBTABLES_WRAPPER"
    log "ebtables -> $EBTABLES_WRAPPER"
  fi
}

# The kernel's VXLAN socket (the agent's [vxlan] udp_dstport is unset: the
# kernel default) is bound to every address, whatever the device's `local
# 127.0.0.1`: the kernel cannot bind it to one. Frames sent to it from off the
# machine would enter the tenant networks' bridges; only loopback may reach it.
VXLAN_PORT=8472
VXLAN_GUARD=(-p udp --dport "$VXLAN_PORT" ! -i lo -m comment --comment kuryr-stack-vxlan-loopback-only -j DROP)
guard_vxlan_port() {
  local ipt
  for ipt in iptables ip6tables; do
    "$ipt" -C INPUT "${VXLAN_GUARD[@]}" 2>/dev/null || "$ipt" -I INPUT 1 "${VXLAN_GUARD[@]}"
  done
}

# The external network's host bridge, with the subnet's gateway address: the
# Linux bridge agent plugs router gateways into it (bridge_mappings) and
# refuses to start while it is missing.
ensure_ext_bridge() {
  ip link show "$EXT_BRIDGE" >/dev/null 2>&1 || ip link add "$EXT_BRIDGE" type bridge
  ip -4 addr show dev "$EXT_BRIDGE" | grep -q " $EXT_GATEWAY/" ||
    ip addr add "$EXT_GATEWAY/$EXT_PREFIXLEN" dev "$EXT_BRIDGE"
  ip link set "$EXT_BRIDGE" up
}

restart_if_changed() {
  local svc="$1"
  if needs_restart "$svc" && is_running "$svc"; then
    log "configuration of $svc changed: restarting it"
    stop_service "$svc"
  fi
}

start_mariadb() {
  restart_if_changed mariadb
  is_running mariadb && return 0
  mkdir -p /run/mysqld
  chown mysql:root /run/mysqld
  # A fresh package normally comes with an initialised datadir; a wiped one
  # is recreated.
  if [ ! -d /var/lib/mysql/mysql ]; then
    log "initialising /var/lib/mysql"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >>"$LOG_DIR/mariadb.log" 2>&1
  fi
  spawn mariadb /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid
}

start_rabbitmq() {
  restart_if_changed rabbitmq
  is_running rabbitmq && return 0
  stop_epmd
  mkdir -p /var/log/rabbitmq
  chown rabbitmq:rabbitmq /var/log/rabbitmq
  # RABBITMQ_LOGS=- : log to stdout, i.e. our log file.
  SPAWN_ENV=(HOME=/var/lib/rabbitmq RABBITMQ_LOGS=-)
  spawn rabbitmq setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \
    /usr/lib/rabbitmq/bin/rabbitmq-server
}

# epmd is started by the first Erlang VM (RabbitMQ or rabbitmqctl) and outlives
# it; one started before rabbitmq-env.conf set ERL_EPMD_ADDRESS listens on every
# address. Stopped while no node is up, the next VM starts it on loopback.
stop_epmd() {
  epmd -kill >/dev/null 2>&1 || true
}

# remove_stale_pidfile FILE: drop a daemon's own pid file whose process is
# gone. dockerd refuses to start while its pid file names a live pid, and a
# killed dockerd stays a zombie here (this machine's init reaps late).
remove_stale_pidfile() {
  local pid
  [ -f "$1" ] || return 0
  pid="$(cat "$1" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! pid_alive "$pid"; then
    rm -f "$1"
  fi
}

start_dockerd() {
  is_running dockerd && return 0
  remove_stale_pidfile /var/run/docker.pid
  remove_stale_pidfile /var/run/docker/containerd/containerd.pid
  # vfs: works on any filesystem; no iptables: no NAT needed, only loopback.
  spawn dockerd /usr/sbin/dockerd --storage-driver=vfs --iptables=false
}

ensure_databases() {
  # Passwords travel on stdin, never on a command line.
  mysql_root <<EOF
CREATE DATABASE IF NOT EXISTS keystone CHARACTER SET utf8;
CREATE DATABASE IF NOT EXISTS neutron CHARACTER SET utf8;
CREATE USER IF NOT EXISTS 'keystone'@'localhost' IDENTIFIED BY '${KEYSTONE_DB_PASSWORD}';
CREATE USER IF NOT EXISTS 'keystone'@'127.0.0.1' IDENTIFIED BY '${KEYSTONE_DB_PASSWORD}';
CREATE USER IF NOT EXISTS 'neutron'@'localhost' IDENTIFIED BY '${NEUTRON_DB_PASSWORD}';
CREATE USER IF NOT EXISTS 'neutron'@'127.0.0.1' IDENTIFIED BY '${NEUTRON_DB_PASSWORD}';
ALTER USER 'keystone'@'localhost' IDENTIFIED BY '${KEYSTONE_DB_PASSWORD}';
ALTER USER 'keystone'@'127.0.0.1' IDENTIFIED BY '${KEYSTONE_DB_PASSWORD}';
ALTER USER 'neutron'@'localhost' IDENTIFIED BY '${NEUTRON_DB_PASSWORD}';
ALTER USER 'neutron'@'127.0.0.1' IDENTIFIED BY '${NEUTRON_DB_PASSWORD}';
GRANT ALL PRIVILEGES ON keystone.* TO 'keystone'@'localhost', 'keystone'@'127.0.0.1';
GRANT ALL PRIVILEGES ON neutron.* TO 'neutron'@'localhost', 'neutron'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
}

# Run in the background while Keystone comes up: the slowest first-run step.
neutron_db_sync() {
  if marker neutron-db && [ "$(db_tables neutron)" -gt 100 ]; then
    return 0
  fi
  log "neutron-db-manage upgrade heads (first run: about a minute)"
  neutron-db-manage --config-file "$CONF_DIR/neutron.conf" --config-file "$CONF_DIR/ml2_conf.ini" \
    upgrade heads >>"$LOG_DIR/neutron-db-manage.log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/neutron-db-manage.log" >&2; die "neutron-db-manage failed (log: $LOG_DIR/neutron-db-manage.log)"; }
  set_marker neutron-db
  log "neutron database ready"
}

setup_keystone() {
  local kconf=(--config-file "$CONF_DIR/keystone.conf")
  local klog="$LOG_DIR/keystone-manage.log"
  if ! marker keystone-db || [ "$(db_tables keystone)" -lt 10 ]; then
    log "keystone-manage db_sync"
    keystone-manage "${kconf[@]}" db_sync >>"$klog" 2>&1 || die "keystone db_sync failed (log: $klog)"
    rm -f "$STATE_DIR/keystone-bootstrap"
    set_marker keystone-db
  fi
  if [ ! -s /etc/keystone/fernet-keys/0 ]; then
    keystone-manage "${kconf[@]}" fernet_setup --keystone-user root --keystone-group root >>"$klog" 2>&1 ||
      die "keystone fernet_setup failed (log: $klog)"
  fi
  if [ ! -s /etc/keystone/credential-keys/0 ]; then
    keystone-manage "${kconf[@]}" credential_setup --keystone-user root --keystone-group root >>"$klog" 2>&1 ||
      die "keystone credential_setup failed (log: $klog)"
  fi
}

# Admin user/project/role, region and identity endpoints. Runs while uwsgi
# loads Keystone (both take seconds of CPU; only the database is shared).
bootstrap_keystone() {
  local kconf=(--config-file "$CONF_DIR/keystone.conf")
  local klog="$LOG_DIR/keystone-manage.log"
  # bootstrap also resets the admin password of an existing admin user.
  if ! marker_since_secrets keystone-bootstrap; then
    log "keystone-manage bootstrap"
    # OS_BOOTSTRAP_PASSWORD: the password stays off the command line.
    OS_BOOTSTRAP_PASSWORD="$ADMIN_PASSWORD" keystone-manage "${kconf[@]}" bootstrap \
      --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
      --bootstrap-region-id RegionOne \
      --bootstrap-admin-url http://127.0.0.1:5000/v3 \
      --bootstrap-internal-url http://127.0.0.1:5000/v3 \
      --bootstrap-public-url http://127.0.0.1:5000/v3 >>"$klog" 2>&1 ||
      die "keystone bootstrap failed (log: $klog)"
    set_marker keystone-bootstrap
  fi
}

start_keystone() {
  restart_if_changed keystone
  is_running keystone && return 0
  # --http11-socket, not --http-socket: the latter resets kept-alive
  # connections, which breaks clients that pool connections (Kuryr, neutron).
  # One process with threads (as Debian's keystone-uwsgi.ini does, with
  # more): loading the app costs ~8 s of CPU per process on this machine.
  SPAWN_ENV=(OS_KEYSTONE_CONFIG_FILES="$CONF_DIR/keystone.conf")
  spawn keystone uwsgi --plugin python3 --http11-socket 127.0.0.1:5000 \
    --wsgi-file /usr/bin/keystone-wsgi-public --master --processes 1 --threads 8 \
    --enable-threads --die-on-term --need-app --buffer-size 65535 --listen 100
}

ensure_rabbit_user() {
  marker_since_secrets rabbit-user && return 0
  log "creating the rabbitmq user"
  rabbitmqctl -q await_startup >/dev/null
  # The password is read from stdin when not given as an argument.
  if ! rabbitmqctl -q list_users | grep -q '^kuryrstack\b'; then
    printf '%s\n' "$RABBIT_PASSWORD" | rabbitmqctl -q add_user kuryrstack >/dev/null
  else
    printf '%s\n' "$RABBIT_PASSWORD" | rabbitmqctl -q change_password kuryrstack >/dev/null
  fi
  rabbitmqctl -q set_permissions -p / kuryrstack '.*' '.*' '.*' >/dev/null
  set_marker rabbit-user
}

start_neutron() {
  local svc
  for svc in neutron-server neutron-agent neutron-l3-agent neutron-dhcp-agent; do
    restart_if_changed "$svc"
  done
  if ! is_running neutron-server; then
    spawn neutron-server neutron-server --config-file "$CONF_DIR/neutron.conf" \
      --config-file "$CONF_DIR/ml2_conf.ini"
  fi
  start_agent neutron-agent neutron-linuxbridge-agent linuxbridge_agent.ini
}

# The L3 and DHCP agents start with RPC calls (not casts) to the server: sent
# before the server's RPC workers consume, they wait out rpc_response_timeout
# (60 s, then 25 s more). Started once the Linux bridge agent is alive, i.e.
# once the server answers RPC, they are alive within seconds.
start_l3_dhcp_agents() {
  start_agent neutron-l3-agent neutron-l3-agent l3_agent.ini
  start_agent neutron-dhcp-agent neutron-dhcp-agent dhcp_agent.ini
}

# start_agent SERVICE PROGRAM INI: start a neutron agent unless it runs.
start_agent() {
  is_running "$1" && return 0
  # Remember when this agent started: readiness = the server saw it start
  # (a killed agent stays "alive" in neutron for agent_down_time).
  date -u '+%F %T' >"$RUN_DIR/$1.since"
  spawn "$1" "$2" --config-file "$CONF_DIR/neutron.conf" --config-file "$CONF_DIR/$3"
}

# Neutron's agent_type of each agent service.
agent_type_of() {
  case "$1" in
    neutron-agent) echo "Linux bridge agent" ;;
    neutron-l3-agent) echo "L3 agent" ;;
    neutron-dhcp-agent) echo "DHCP agent" ;;
  esac
}

# wait_agent SERVICE: until neutron-server reports the agent alive since its start.
wait_agent() {
  local svc="$1" since type deadline=$(($(date +%s) + 90))
  since="$(cat "$RUN_DIR/$svc.since" 2>/dev/null || true)"
  type="$(agent_type_of "$svc")"
  until as_admin osctl agent-ready "$HOST_NAME" "$since" "$type" 2>/dev/null; do
    is_running "$svc" || fail_service "$svc" "died while starting"
    [ "$(date +%s)" -lt "$deadline" ] ||
      fail_service "$svc" "not reported alive (host $HOST_NAME) by neutron-server after 90s"
    sleep 1
  done
  log "$type alive on host $HOST_NAME"
}

# Agents' own children outlive them on purpose (dnsmasq, radvd: a restarted
# agent takes them over); `down` stops them by the pid files the agents keep.
stop_agent_children() {
  local pidf pid
  for pidf in /var/lib/neutron/dhcp/*/pid /var/lib/neutron/external/pids/*.pid; do
    [ -s "$pidf" ] || continue
    pid="$(cat "$pidf")"
    pid_alive "$pid" || continue
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qE '^(dnsmasq|radvd|haproxy|keepalived) ' || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
}

build_busybox_image() {
  "$REPO/scripts/make-busybox-image.sh" >>"$LOG_DIR/busybox-image.log" 2>&1 ||
    { tail -n 20 "$LOG_DIR/busybox-image.log" >&2; die "building kuryr/busybox failed (log: $LOG_DIR/busybox-image.log)"; }
}

# npm ci only when node_modules is missing or package-lock.json is newer than
# the tree npm last installed (npm records it in node_modules/.package-lock.json);
# a needless npm ci would pull node_modules from under concurrent builds.
build_kuryr() {
  if [ ! -d "$REPO/node_modules" ] || [ "$REPO/package-lock.json" -nt "$REPO/node_modules/.package-lock.json" ]; then
    log "npm ci"
    (cd "$REPO" && npm ci --no-audit --no-fund) >>"$LOG_DIR/npm.log" 2>&1 ||
      { tail -n 30 "$LOG_DIR/npm.log" >&2; die "npm ci failed (log: $LOG_DIR/npm.log)"; }
  fi
  log "npm run build"
  (cd "$REPO" && npm run build) >>"$LOG_DIR/npm.log" 2>&1 ||
    { tail -n 30 "$LOG_DIR/npm.log" >&2; die "npm run build failed: the Kuryr daemon cannot be built (log: $LOG_DIR/npm.log)"; }
}

# kuryr_current: the running daemon answers and no source, config or
# dependency changed since it started (then `up` leaves it alone).
kuryr_current() {
  is_running kuryr && kuryr_ok || return 1
  [ -z "$(find "$REPO/src" "$REPO/package.json" "$REPO/package-lock.json" "$REPO/tsconfig.json" \
    "$KURYR_CONF" -newer "$KURYR_PID" -print -quit 2>/dev/null)" ]
}

start_kuryr() {
  build_kuryr
  launch_kuryr
}

# launch_kuryr: (re)start the built daemon, wait until it answers Docker.
KURYR_NODE_FLAGS="--max-semi-space-size=1 --max-old-space-size=48 --optimize-for-size --v8-pool-size=1"
launch_kuryr() {
  local entry="$REPO/dist/src/cli/kuryr-server.js"
  [ -f "$entry" ] || die "Kuryr daemon not built: $entry is missing (build log: $LOG_DIR/npm.log; use --no-kuryr to skip it)"
  stop_service kuryr
  mkdir -p /var/log/kuryr /run/docker/plugins
  # A daemon killed with -9 leaves its socket behind; nobody listens on it.
  rm -f "$KURYR_SOCK"
  # The daemon holds little: a small young generation and heap, and V8 tuned for size, keep its
  # resident memory near Node's own floor (measured: ~77 MiB after 30 parallel starts).
  spawn kuryr node $KURYR_NODE_FLAGS "$entry" --config-file "$KURYR_CONF"
  wait_for kuryr 30 kuryr_ok
  log "kuryr-server answers Plugin.Activate on $KURYR_SOCK"
}

# --------------------------------------------------------------- commands --

# Neutron's chain, run as a background job of `up`: migrate the database
# (first run only), wait for RabbitMQ and its user, start server and agent.
neutron_chain() {
  neutron_db_sync
  # Once its user exists, RabbitMQ need not be up yet: oslo.messaging
  # reconnects, and starting neutron meanwhile saves ~8 s.
  if ! marker_since_secrets rabbit-user; then
    wait_for rabbitmq 90 tcp_open 127.0.0.1 5672
    ensure_rabbit_user
  fi
  start_neutron
}

# dockerd's chain, a background job of `up`: wait for it, build the image.
docker_chain() {
  wait_for dockerd 60 docker_ok
  build_busybox_image
}

# wait_job PID WHAT: wait for a background job of `up`, fail if it failed.
wait_job() {
  wait "$1" || die "$2"
}

cmd_up() {
  local skip_daemon="${KURYR_STACK_SKIP_DAEMON:-0}" arg
  for arg in "$@"; do
    case "$arg" in
      --no-kuryr) skip_daemon=1 ;;
      *) die "unknown option for up: $arg" ;;
    esac
  done
  require_root
  [ "$skip_daemon" = 1 ] || require_node
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$STATE_DIR"
  install_packages
  load_secrets
  write_configs
  install_ebtables_wrapper
  guard_vxlan_port
  ensure_ext_bridge

  # Everything is CPU-bound Python start-up on 2 cores: start each service
  # as soon as what it needs is there, and do the rest in parallel.
  start_mariadb
  start_rabbitmq
  start_dockerd
  local docker_job neutron_job kuryr_job=""
  docker_chain &
  docker_job=$!
  # The TypeScript build needs none of the services: overlap it with them.
  if [ "$skip_daemon" != 1 ] && ! kuryr_current; then
    build_kuryr &
    kuryr_job=$!
  fi

  wait_for mariadb 60 mysqladmin --protocol=socket -uroot ping
  ensure_databases
  neutron_chain &
  neutron_job=$!

  setup_keystone
  start_keystone
  bootstrap_keystone
  wait_for keystone 90 http_ok http://127.0.0.1:5000/v3
  (export NEUTRON_PASSWORD KURYR_PASSWORD; as_admin osctl keystone-setup >/dev/null) ||
    die "keystone setup (service project, users, endpoints) failed (log: $LOG_DIR/keystone.log)"
  log "keystone ready"

  wait_job "$neutron_job" "neutron did not start (logs: $LOG_DIR/neutron-db-manage.log, $LOG_DIR/rabbitmq.log)"
  wait_for neutron-server 90 http_ok http://127.0.0.1:9696/
  log "neutron-server ready"
  wait_for rabbitmq 60 tcp_open 127.0.0.1 5672
  as_admin osctl subnetpools >/dev/null || die "creating the kuryr subnet pools failed"
  as_admin osctl external "$EXT_PHYSNET" "$EXT_GATEWAY/$EXT_PREFIXLEN" "$EXT_FIP" >/dev/null ||
    die "creating the external network, router and floating IP failed"
  wait_agent neutron-agent
  start_l3_dhcp_agents
  wait_agent neutron-l3-agent
  wait_agent neutron-dhcp-agent

  wait_job "$docker_job" "dockerd or the kuryr/busybox image failed (logs: $LOG_DIR/dockerd.log, $LOG_DIR/busybox-image.log)"
  log "dockerd ready, image kuryr/busybox:latest present"

  if [ "$skip_daemon" = 1 ]; then
    log "skipping the Kuryr daemon (--no-kuryr)"
  elif [ -z "$kuryr_job" ]; then
    log "kuryr-server running and up to date (pid $(cat "$KURYR_PID"))"
  else
    wait_job "$kuryr_job" "building the Kuryr daemon failed (log: $LOG_DIR/npm.log)"
    launch_kuryr
  fi
  log "stack up in $(($(date +%s) - T0))s (host $HOST_NAME; credentials: $CONF_DIR/admin-openrc, $CONF_DIR/kuryr-openrc)"
}

cmd_down() {
  require_root
  local i
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    stop_service "${SERVICES[$i]}"
  done
  stop_agent_children
  stop_epmd
  log "stack down"
}

cmd_status() {
  local svc rc=0 state host
  host="$(cat "$CONF_DIR/host" 2>/dev/null || hostname)"
  for svc in "${SERVICES[@]}"; do
    [ "$svc" = kuryr ] && [ "${1:-}" = --no-kuryr ] && continue
    state=down
    if is_running "$svc"; then
      state="running (pid $(cat "$(pidfile_of "$svc")"))"
      case "$svc" in
        mariadb) mysqladmin --protocol=socket -uroot ping >/dev/null 2>&1 || state="not ready" ;;
        rabbitmq) tcp_open 127.0.0.1 5672 || state="not ready" ;;
        keystone) http_ok http://127.0.0.1:5000/v3 2>/dev/null || state="not ready" ;;
        neutron-server) http_ok http://127.0.0.1:9696/ 2>/dev/null || state="not ready" ;;
        neutron-*agent) as_admin osctl agent-ready "$host" "" "$(agent_type_of "$svc")" 2>/dev/null ||
          state="not alive in neutron" ;;
        dockerd) docker_ok 2>/dev/null || state="not ready" ;;
        kuryr) kuryr_ok 2>/dev/null || state="not ready" ;;
      esac
    fi
    case "$state" in running*) ;; *) rc=1 ;; esac
    printf '%-19s %s\n' "$svc" "$state"
  done
  return "$rc"
}

cmd_logs() {
  local files=() svc
  if [ $# -gt 0 ]; then
    for svc in "$@"; do
      case "$svc" in
        kuryr) files+=("$KURYR_OUT" /var/log/kuryr/kuryr-server.log) ;;
        *) files+=("$(logfile_of "$svc")") ;;
      esac
    done
  else
    for svc in "${SERVICES[@]}"; do files+=("$(logfile_of "$svc")"); done
    files+=(/var/log/kuryr/kuryr-server.log)
  fi
  local existing=() f
  for f in "${files[@]}"; do [ -f "$f" ] && existing+=("$f"); done
  [ ${#existing[@]} -gt 0 ] || die "no log files yet (${files[*]})"
  tail -n "${LINES_TO_SHOW:-50}" "${existing[@]}"
}

cmd_restart_kuryr() {
  require_root
  [ -f "$KURYR_CONF" ] || die "$KURYR_CONF is missing: run scripts/stack.sh up first"
  start_kuryr
}

cmd_restart() {
  require_root
  local svc known=" ${SERVICES[*]} "
  [ $# -gt 0 ] || die "restart: name a service (${SERVICES[*]})"
  for svc in "$@"; do
    [[ "$known" == *" $svc "* ]] || die "restart: unknown service $svc (${SERVICES[*]})"
  done
  for svc in "$@"; do
    [ "$svc" = kuryr ] && continue
    stop_service "$svc"
  done
  cmd_up --no-kuryr
  for svc in "$@"; do
    [ "$svc" = kuryr ] && cmd_restart_kuryr
  done
  return 0
}

# Back to "packages installed, never configured": the next `up` is a first
# run (new passwords, fresh databases). Docker's images are kept.
cmd_reset() {
  require_root
  cmd_down
  if [ -d /var/lib/mysql/mysql ]; then
    log "dropping the keystone and neutron databases"
    start_mariadb
    wait_for mariadb 60 mysqladmin --protocol=socket -uroot ping
    mysql_root -e "DROP DATABASE IF EXISTS keystone; DROP DATABASE IF EXISTS neutron;
      DROP USER IF EXISTS 'keystone'@'localhost', 'keystone'@'127.0.0.1',
        'neutron'@'localhost', 'neutron'@'127.0.0.1';"
    stop_service mariadb
  fi
  log "removing rabbitmq data, keystone keys, configuration, secrets and markers"
  rm -rf "$STATE_DIR" /var/lib/rabbitmq/mnesia/* /etc/keystone/fernet-keys \
    /etc/keystone/credential-keys "$CONF_DIR" "$KURYR_CONF" "$RUN_DIR"
  log "reset done"
}

# Serialise state-changing commands: tests or developers may run `up`
# concurrently (the lock is released when this process exits).
take_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/stack.lock"
  if ! flock -n 9; then
    log "another stack.sh is running: waiting for it"
    flock -w 900 9 || die "stack.sh lock ($RUN_DIR/stack.lock) still held after 15 minutes"
  fi
}

usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

main() {
  local cmd="${1:-}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
    up|down|restart-kuryr|restart|reset) require_root; take_lock ;;
  esac
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status "$@" ;;
    logs) cmd_logs "$@" ;;
    restart-kuryr) cmd_restart_kuryr ;;
    restart) cmd_restart "$@" ;;
    reset) cmd_reset ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
