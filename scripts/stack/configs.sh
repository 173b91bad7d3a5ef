# shellcheck shell=bash
# Configuration files written by scripts/stack.sh (sourced, not run).
#
# Every writer prints the full file on stdout; stack.sh's install_file only
# replaces the file (and marks the service for a restart) when the content
# changed, so rerunning `up` never restarts a healthy service for nothing.
# Inputs: HOST_NAME, the *_PASSWORD variables from the secrets file, and the
# paths defined at the top of stack.sh.

# MariaDB: loopback only, no fsync per commit (throw-away dev database: the
# neutron migrations run a few thousand DDL statements), room for the
# connection pools of keystone and neutron workers.
mariadb_cnf() {
  cat <<EOF
# Written by kuryr scripts/stack.sh
[mysqld]
bind-address = 127.0.0.1
innodb_flush_log_at_trx_commit = 0
sync_binlog = 0
max_connections = 1000
skip-name-resolve
EOF
}

# RabbitMQ reads this for both the server and rabbitmqctl: a fixed node name
# keeps the node independent of the machine's host name (CI machines differ).
# Everything it listens on is loopback: AMQP (NODE_IP_ADDRESS), the Erlang
# distribution port rabbitmqctl talks to (DIST_PORT, bound by
# inet_dist_use_interface; the CLI's own node likewise) and epmd, which the
# first Erlang VM starts and which reads ERL_EPMD_ADDRESS (exported by
# rabbitmq-env). Off loopback, the distribution port plus the cookie is a
# remote shell as the rabbitmq user.
rabbitmq_env_conf() {
  cat <<'EOF'
# Written by kuryr scripts/stack.sh
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=5672
DIST_PORT=25672
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
ERL_EPMD_ADDRESS=127.0.0.1
EOF
}

keystone_conf() {
  cat <<EOF
# Written by kuryr scripts/stack.sh
[DEFAULT]
# Logs go to stderr, which stack.sh sends to $LOG_DIR/keystone.log
debug = False

[database]
connection = mysql+pymysql://keystone:${KEYSTONE_DB_PASSWORD}@127.0.0.1/keystone?charset=utf8

[token]
provider = fernet
# Long enough for a whole CI run on one token.
expiration = 14400

[identity]
# bcrypt's minimum cost: every password login costs ~250 ms at the default
# (12) on this 2-core machine; this is a local dev cloud.
password_hash_rounds = 4

[fernet_tokens]
key_repository = /etc/keystone/fernet-keys/

[credential]
key_repository = /etc/keystone/credential-keys/

[oslo_policy]
policy_dirs = /etc/keystone/policy.d
EOF
}

# Options shared by neutron-server and the linux bridge agent.
neutron_conf() {
  cat <<EOF
# Written by kuryr scripts/stack.sh
[DEFAULT]
# binding:host_id of the ports must equal this; Kuryr writes it too.
host = ${HOST_NAME}
bind_host = 127.0.0.1
bind_port = 9696
core_plugin = ml2
service_plugins = router,qos,trunk,port_forwarding
auth_strategy = keystone
allow_overlapping_ips = true
dns_domain = kuryr.local.
# No nova here: do not try to tell it about port changes.
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
# The DHCP agent (dnsmasq) serves every DHCP-enabled subnet, as in a real cloud.
dhcp_agent_notification = true
dhcp_agents_per_network = 1
interface_driver = linuxbridge
transport_url = rabbit://kuryrstack:${RABBIT_PASSWORD}@127.0.0.1:5672/
# Nested Kuryr puts one {ip, mac} pair per container on its VM's port: the default (10) would cap
# a VM at 10 containers; the functional tests run 30 at once in one simulated VM.
max_allowed_address_pair = 40
# No distributed routers here. With DVR's API on (the default), every update of a bound port
# re-sends DVR ARP entries for each of its pairs times each of its addresses (Zed's
# l3_dvrscheduler_db): measured 20 s for one update of a VM port holding 30 pairs, 0.3 s without.
enable_dvr = False
api_workers = 2
rpc_workers = 1
rpc_state_report_workers = 1
api_paste_config = /etc/neutron/api-paste.ini
state_path = /var/lib/neutron
# Not debug: with the DHCP and L3 agents, the server's debug records (several per RPC call and
# per port) cost it a core's worth of CPU under the pool tests, and its answers then take longer
# than Kuryr's 15 s Neutron timeout. The access log (request ids) is INFO.
debug = False

[agent]
# Everything runs as root: no sudo/rootwrap round trip per command.
root_helper =
report_interval = 10

[database]
connection = mysql+pymysql://neutron:${NEUTRON_DB_PASSWORD}@127.0.0.1/neutron?charset=utf8
max_pool_size = 20

[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000/v3
auth_url = http://127.0.0.1:5000/v3
auth_type = password
username = neutron
password = ${NEUTRON_PASSWORD}
user_domain_name = Default
project_name = service
project_domain_name = Default
region_name = RegionOne
service_token_roles_required = true

# Real credentials are needed even without nova: without them every network
# DELETE answers 500 (neutron builds the nova client on that path).
[nova]
auth_url = http://127.0.0.1:5000/v3
auth_type = password
username = neutron
password = ${NEUTRON_PASSWORD}
user_domain_name = Default
project_name = service
project_domain_name = Default
region_name = RegionOne

[experimental]
# The linuxbridge mechanism driver is "experimental" since Zed.
linuxbridge = true

[oslo_concurrency]
lock_path = /var/lib/neutron/lock

[oslo_messaging_notifications]
driver = noop

# Tests create many networks, ports and security groups: no quota failures.
[quotas]
quota_network = -1
quota_subnet = -1
quota_port = -1
quota_router = -1
quota_floatingip = -1
quota_security_group = -1
quota_security_group_rule = -1
EOF
}

ml2_conf() {
  cat <<EOF
# Written by kuryr scripts/stack.sh
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
# l2population is required: without it vxlan on 127.0.0.1 floods loop back.
mechanism_drivers = linuxbridge,l2population
extension_drivers = port_security,qos,dns_domain_ports,tag_ports_during_bulk_creation

[ml2_type_flat]
flat_networks = *

[ml2_type_vxlan]
vni_ranges = 1:16000

[securitygroup]
enable_security_group = true
enable_ipset = true
EOF
}

linuxbridge_agent_ini() {
  cat <<EOF
# Written by kuryr scripts/stack.sh
[linux_bridge]
physical_interface_mappings =
# The external flat network's ports (router gateways) go on the host bridge.
bridge_mappings = ${EXT_PHYSNET}:${EXT_BRIDGE}

[vxlan]
enable_vxlan = true
local_ip = 127.0.0.1
l2_population = true

[securitygroup]
firewall_driver = iptables
enable_security_group = true

[agent]
polling_interval = 1
EOF
}

# L3 agent: legacy routers in qrouter- namespaces, floating IP port
# forwardings (Kuryr's -p) by its port_forwarding extension. No metadata
# proxy: there is no nova, and it would listen off loopback in each router.
l3_agent_ini() {
  cat <<EOF
# Written by kuryr scripts/stack.sh
[DEFAULT]
# Not neutron.conf's debug: the privsep daemon ships every request and reply
# to the agent as a log record, which costs more CPU than the work itself.
debug = False
interface_driver = linuxbridge
agent_mode = legacy
enable_metadata_proxy = false

[agent]
extensions = port_forwarding
EOF
}

# DHCP agent: one dnsmasq per DHCP-enabled network, in its qdhcp- namespace
# (it listens there, never in the host's namespace); no metadata either.
dhcp_agent_ini() {
  cat <<EOF
# Written by kuryr scripts/stack.sh
[DEFAULT]
# Not neutron.conf's debug (see l3_agent_ini): the agent reloads dnsmasq on
# every port change, a few privsep calls each.
debug = False
interface_driver = linuxbridge
dhcp_driver = neutron.agent.linux.dhcp.Dnsmasq
enable_isolated_metadata = false
force_metadata = false
EOF
}

# Upstream kuryr-libnetwork format (see docs/reference kuryr-libnetwork.md §6).
kuryr_conf() {
  cat <<EOF
# Written by kuryr scripts/stack.sh
[DEFAULT]
# No kuryr_uri: Docker finds Kuryr on its root-only unix socket, /run/docker/plugins/kuryr.sock.
capability_scope = local
process_external_connectivity = True
debug = False
log_file = /var/log/kuryr/kuryr-server.log
metrics_listen = 127.0.0.1:9723
EOF
  # Kuryr defaults to the machine's host name; say it only when it differs.
  if [ "$HOST_NAME" != "$(hostname)" ]; then
    echo "hostname = ${HOST_NAME}"
  fi
  cat <<EOF

[neutron]
auth_type = password
auth_url = http://127.0.0.1:5000/v3
username = kuryr
password = ${KURYR_PASSWORD}
user_domain_name = Default
project_name = service
project_domain_name = Default
region_name = RegionOne
endpoint_type = public
default_subnetpool_v4 = kuryr
default_subnetpool_v6 = kuryr6
vif_plugging_is_fatal = False
# Containers never use DHCP. Upstream's default (True) makes the DHCP agent reload dnsmasq and
# report on every port change of every Kuryr subnet: on this 2-core stack that work makes Neutron
# answer port writes after Docker's 25 s deadlines under the pool tests. The DHCP test runs a
# daemon of its own with DHCP on.
enable_dhcp = False

[binding]
default_driver = kuryr.lib.binding.drivers.veth
EOF
}

# openrc USER PASSWORD PROJECT
openrc() {
  cat <<EOF
# Written by kuryr scripts/stack.sh: credentials of the $1 user
export OS_AUTH_URL=http://127.0.0.1:5000/v3
export OS_IDENTITY_API_VERSION=3
export OS_AUTH_TYPE=password
export OS_USERNAME=$1
export OS_PASSWORD=$2
export OS_PROJECT_NAME=$3
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_INTERFACE=public
EOF
}
