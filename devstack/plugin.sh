# shellcheck shell=bash
# Kuryr-TS devstack plugin: installs Node.js and the kuryr npm package, writes kuryr.conf from
# devstack's Keystone settings, creates Kuryr's service user, starts kuryr-server under devstack's
# run_process (systemd) and makes its default subnet pools. The phases are upstream
# kuryr-libnetwork's: stack install, post-config, extra; unstack; clean.
#
# devstack sources this file into stack.sh/unstack.sh/clean.sh (`source plugin.sh <mode> [phase]`)
# with its functions (is_service_enabled, iniset, run_process, ...) and variables defined. It is not
# run on its own, so it sets no shell options (stack.sh's errexit, and nounset with NOUNSET=1,
# apply; it is written for both).
# The functions and variables it uses but does not define are devstack's (functions-common,
# lib/keystone, stackrc).

# Save trace setting
_KURYR_XTRACE=$(set +o | grep xtrace)
set +o xtrace

# True when the node on PATH is at least KURYR_NODE_MIN.
function kuryr_node_is_recent {
    command -v node >/dev/null 2>&1 || return 1
    node -e '
        const want = process.argv[1].split(".").map(Number);
        const have = process.versions.node.split(".").map(Number);
        for (let i = 0; i < 3; i++) if (have[i] !== want[i]) process.exit(have[i] > want[i] ? 0 : 1);
    ' "$KURYR_NODE_MIN"
}

# The official Node.js build for this machine, checked against nodejs.org's SHASUMS256.txt.
function kuryr_install_node {
    local arch tarball tmp
    if kuryr_node_is_recent; then
        echo "kuryr: using node $(node --version)"
        return 0
    fi
    case "$(uname -m)" in
        x86_64) arch=x64 ;;
        aarch64) arch=arm64 ;;
        *) die $LINENO "kuryr: no Node.js build for $(uname -m); install node >= $KURYR_NODE_MIN yourself" ;;
    esac
    tarball="node-v${KURYR_NODE_VERSION}-linux-${arch}.tar.xz"
    tmp=$(mktemp -d)
    curl -fsSL -o "$tmp/$tarball" "$KURYR_NODE_MIRROR/v$KURYR_NODE_VERSION/$tarball"
    curl -fsSL -o "$tmp/SHASUMS256.txt" "$KURYR_NODE_MIRROR/v$KURYR_NODE_VERSION/SHASUMS256.txt"
    (cd "$tmp" && grep " $tarball\$" SHASUMS256.txt | sha256sum -c -) || die $LINENO "kuryr: $tarball does not match SHASUMS256.txt"
    sudo tar -xJf "$tmp/$tarball" -C /usr/local --strip-components=1 --no-same-owner
    rm -rf "$tmp"
    hash -r
    kuryr_node_is_recent || die $LINENO "kuryr: node on PATH is still older than $KURYR_NODE_MIN"
}

# The package: KURYR_NPM_PACKAGE if set, else `npm pack` of this repository (its prepack builds it).
function kuryr_install_package {
    local package=$KURYR_NPM_PACKAGE
    if [[ -z "$package" ]]; then
        # npm pack prints the tarball's name last.
        package=$(cd "$KURYR_TS_DIR" && npm ci --no-audit --no-fund >&2 && npm pack --pack-destination "$DATA_DIR" | tail -n 1) \
            || die $LINENO "kuryr: npm pack of $KURYR_TS_DIR failed"
        package=$DATA_DIR/$package
    fi
    sudo npm install --global --prefix "$KURYR_PREFIX" --no-audit --no-fund "$package"
    "$KURYR_BIN_DIR/kuryr-server" --version || die $LINENO "kuryr: $KURYR_BIN_DIR/kuryr-server does not run"
}

# Kuryr's user in the service project with the admin role (as upstream: binding:host_id and
# the ports of other projects' networks need it).
function kuryr_create_account {
    create_service_user "kuryr" "admin"
}

# kuryr.conf: the generated sample with devstack's values set. Credentials in [keystone_authtoken]
# as every devstack service writes them, read by Kuryr through [neutron] auth_section. Written as
# STACK_USER (devstack's iniset and configure_keystone_authtoken_middleware edit as that user),
# then handed to root with mode 0600: kuryr-server runs as root and the file holds a password.
function kuryr_configure {
    sudo install -d -o "$STACK_USER" -m 0700 "$KURYR_CONFIG_DIR"
    sudo rm -f "$KURYR_CONFIG"
    (umask 077 && "$KURYR_BIN_DIR/kuryr" config sample > "$KURYR_CONFIG") || die $LINENO "kuryr: kuryr config sample failed"
    iniset "$KURYR_CONFIG" DEFAULT capability_scope "$KURYR_CAPABILITY_SCOPE"
    iniset "$KURYR_CONFIG" DEFAULT process_external_connectivity "$KURYR_PROCESS_EXTERNAL_CONNECTIVITY"
    iniset "$KURYR_CONFIG" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"
    iniset "$KURYR_CONFIG" DEFAULT socket_path "$KURYR_SOCKET"
    if [[ -n "$KURYR_URI" ]]; then
        iniset "$KURYR_CONFIG" DEFAULT kuryr_uri "$KURYR_URI"
        iniset "$KURYR_CONFIG" DEFAULT plugin_spec_dir "$KURYR_ACTIVATOR_DIR"
    fi
    configure_keystone_authtoken_middleware "$KURYR_CONFIG" kuryr
    iniset "$KURYR_CONFIG" neutron auth_section keystone_authtoken
    iniset "$KURYR_CONFIG" neutron region_name "$REGION_NAME"
    if [[ -n "${SSL_BUNDLE_FILE:-}" ]]; then
        # Session options are read from [neutron] only.
        iniset "$KURYR_CONFIG" neutron cafile "$SSL_BUNDLE_FILE"
    fi
    sudo chown root:root "$KURYR_CONFIG_DIR" "$KURYR_CONFIG"
    sudo chmod 0600 "$KURYR_CONFIG"
}

# Docker finds Kuryr by its socket. Upstream's kuryr.spec (http://127.0.0.1:23750), left by an
# upstream kuryr-libnetwork install, would send Docker there instead: move it aside.
function kuryr_register_plugin {
    local upstream_spec=$KURYR_ACTIVATOR_DIR/kuryr.spec
    if [[ -f "$upstream_spec" ]]; then
        echo "kuryr: moving upstream's $upstream_spec aside (Docker would use it instead of $KURYR_SOCKET)"
        sudo mv "$upstream_spec" "$upstream_spec.upstream"
    fi
    sudo install -d -m 0755 "$(dirname "$KURYR_SOCKET")"
}

# After Neutron is up (extra), as upstream: kuryr-server checks Neutron's extensions at start.
function kuryr_start {
    local waited=0
    run_process kuryr-libnetwork "$KURYR_BIN_DIR/kuryr-server --config-file $KURYR_CONFIG" "" "root"
    while ! sudo test -S "$KURYR_SOCKET"; do
        if (( waited >= KURYR_START_TIMEOUT )); then
            die $LINENO "kuryr: kuryr-server is not listening on $KURYR_SOCKET after ${KURYR_START_TIMEOUT}s (journalctl -u devstack@kuryr-libnetwork)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

# The default pools Kuryr's [neutron] default_subnetpool_v4/_v6 name, unless they exist.
function kuryr_create_subnet_pools {
    local name prefix prefix_len
    for name in kuryr kuryr6; do
        if [[ "$name" == kuryr ]]; then
            prefix=$KURYR_POOL_PREFIX prefix_len=$KURYR_POOL_PREFIX_LEN
        else
            prefix=$KURYR_POOL_PREFIX_V6 prefix_len=$KURYR_POOL_PREFIX_LEN_V6
        fi
        [[ -n "$prefix" ]] || continue
        if openstack --os-cloud devstack-admin subnet pool show "$name" >/dev/null 2>&1; then
            continue
        fi
        openstack --os-cloud devstack-admin subnet pool create --share \
            --project "$SERVICE_PROJECT_NAME" --project-domain "$SERVICE_DOMAIN_NAME" \
            --pool-prefix "$prefix" --default-prefix-length "$prefix_len" "$name"
    done
}

if is_service_enabled kuryr-libnetwork; then
    if [[ "${1:-}" == "stack" && "${2:-}" == "install" ]]; then
        echo_summary "Installing Kuryr-TS"
        kuryr_install_node
        kuryr_install_package
        sudo install -d -m 0750 "$KURYR_LOG_DIR"
    elif [[ "${1:-}" == "stack" && "${2:-}" == "post-config" ]]; then
        echo_summary "Configuring Kuryr-TS"
        kuryr_create_account
        kuryr_configure
        kuryr_register_plugin
    elif [[ "${1:-}" == "stack" && "${2:-}" == "extra" ]]; then
        echo_summary "Starting Kuryr-TS"
        kuryr_start
        kuryr_create_subnet_pools
    fi

    if [[ "${1:-}" == "unstack" ]]; then
        stop_process kuryr-libnetwork
    fi

    if [[ "${1:-}" == "clean" ]]; then
        sudo rm -rf "$KURYR_CONFIG_DIR"
        sudo npm uninstall --global --prefix "$KURYR_PREFIX" kuryr
    fi
fi

# Restore xtrace
$_KURYR_XTRACE
