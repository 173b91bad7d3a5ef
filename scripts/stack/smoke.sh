#!/bin/bash
# End-to-end check of a running stack (scripts/stack.sh up [--no-kuryr]),
# doing by hand what Kuryr does for a container:
#  1. the Linux bridge agent is alive on this host;
#  2. a network + subnet + port bound to this host with device_owner
#     compute:kuryr gets binding:vif_type=bridge;
#  3. plugging a veth `tap<port id[:11]>` into `brq<net id[:11]>` (the agent
#     leaves compute:* ports to the compute side, i.e. Kuryr) makes the port
#     ACTIVE within a few seconds; the agent also survives a port update
#     (ebtables --among-src rule rewrite);
#  4. deleting the network does not fail (no nova 500);
#  5. `docker run --rm kuryr/busybox:latest true` on the default bridge.
# Cleans up after itself, also on failure.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin

set -a
# shellcheck disable=SC1091
. /etc/kuryr-stack/admin-openrc
set +a
HOST_NAME="$(cat /etc/kuryr-stack/host 2>/dev/null || hostname)"
NAME="kstack-smoke-$$"
NET_ID="" TAP="" TAP_PEER=""

cleanup() {
  if [ -n "$TAP" ]; then ip link del "$TAP" 2>/dev/null || true; fi
  if [ -n "$NET_ID" ]; then
    openstack port list --network "$NET_ID" -f value -c ID | xargs -r openstack port delete >/dev/null 2>&1 || true
    openstack network delete "$NET_ID" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
fail() { echo "SMOKE FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

openstack network agent list --agent-type linux-bridge --host "$HOST_NAME" -f value -c Alive | grep -qx True ||
  fail "no live Linux bridge agent on host $HOST_NAME"
ok "linuxbridge agent alive on $HOST_NAME"

NET_ID="$(openstack network create "$NAME" -f value -c id)"
openstack subnet create "$NAME" --network "$NET_ID" --subnet-pool kuryr -f value -c cidr >/dev/null
PORT_ID="$(openstack port create "$NAME" --network "$NET_ID" --host "$HOST_NAME" \
  --device-owner compute:kuryr --device "kstack-smoke-$$" -f value -c id)"
VIF_TYPE="$(openstack port show "$PORT_ID" -f value -c binding_vif_type)"
[ "$VIF_TYPE" = bridge ] || fail "binding:vif_type is '$VIF_TYPE', want bridge"
ok "port $PORT_ID bound, vif_type bridge"

TAP="tap${PORT_ID:0:11}"
TAP_PEER="ksp${PORT_ID:0:11}"
BRQ="brq${NET_ID:0:11}"
MAC="$(openstack port show "$PORT_ID" -f value -c mac_address)"
ip link add "$TAP" type veth peer name "$TAP_PEER"
ip link set "$TAP_PEER" address "$MAC"
if ! ip link show "$BRQ" >/dev/null 2>&1; then
  ip link add "$BRQ" type bridge
fi
ip link set "$BRQ" up
ip link set "$TAP" master "$BRQ"
ip link set "$TAP" up
ip link set "$TAP_PEER" up

wait_status() {
  local want="$1" st=""
  for _ in $(seq 1 40); do
    st="$(openstack port show "$PORT_ID" -f value -c status)"
    [ "$st" = "$want" ] && return 0
    sleep 0.5
  done
  fail "port status is $st, want $want (see scripts/stack.sh logs neutron-agent)"
}
t0=$(date +%s)
wait_status ACTIVE
ok "port ACTIVE after $(($(date +%s) - t0))s"

# A MAC/allowed-address change makes the agent rewrite its --among-src
# ebtables rule: the step that wedges it without the ebtables wrapper.
openstack port set "$PORT_ID" --allowed-address mac-address=fa:16:3e:00:0a:01,ip-address=10.250.0.1 >/dev/null
sleep 3
ebtables -t nat -L | grep -q 'fa:16:3e:0:a:1' || fail "agent did not apply the new allowed MAC (ebtables)"
wait_status ACTIVE
ok "port still ACTIVE after an allowed-address-pairs update"

ip link del "$TAP"
TAP=""
openstack port delete "$PORT_ID"
openstack network delete "$NET_ID" || fail "network delete failed"
NET_ID=""
ok "network deleted"

/usr/bin/docker run --rm kuryr/busybox:latest true || fail "docker run kuryr/busybox"
ok "docker run --rm kuryr/busybox:latest true"
echo "smoke: all ok"
