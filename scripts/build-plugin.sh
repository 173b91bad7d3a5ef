#!/usr/bin/env bash
# build-plugin.sh: builds Kuryr as a Docker managed (v2) plugin and creates it in the local dockerd
# (`docker plugin create`), with no image registry: the rootfs is scripts/build-rootfs.sh's (Debian
# 12 minbase + iproute2 + the host's Node 20 + this project), config.json is packaging/plugin/'s.
#
# Usage:
#   scripts/build-plugin.sh [--name NAME] [--tag TAG] [--dist DIST] [--dir DIR] [--config DIR] [--enable]
#     --name   plugin name (default kuryr/libnetwork2)
#     --tag    plugin tag (default latest); the driver name is NAME:TAG, always with its tag:
#              `docker network create -d kuryr/libnetwork2:latest --ipam-driver kuryr/libnetwork2:latest`
#     --dist   TypeScript output holding src/ (default dist: `npm run build`)
#     --dir    also leave the plugin directory (config.json + rootfs/) here, e.g. for
#              `docker plugin upgrade`; default: a temporary directory, removed
#     --config DIR  the host directory mounted read-only as the plugin's /etc/kuryr (default
#              /etc/kuryr; later: docker plugin set NAME:TAG config.source=DIR while disabled)
#     --enable `docker plugin enable` it after creating it
#   An existing plugin NAME:TAG is refused (disable and `docker plugin rm` it first, or upgrade).
#   Prints NAME:TAG.
#
# Configuration stays on the host: the plugin reads the host's /etc/kuryr/kuryr.conf (mounted
# read-only) and then /opt/kuryr/plugin.conf from its rootfs, which fixes what Docker dictates:
# the socket (/run/docker/plugins/kuryr-libnetwork.sock inside the plugin, so no clash with a
# legacy `kuryr` daemon's kuryr.sock), no discovery file, no log file: the plugin's output goes
# to dockerd's log, tagged plugin=<id>. The plugin shares the host's network: a metrics_listen
# another daemon on the host holds makes it fail to start. While the plugin is disabled:
#   docker plugin set kuryr/libnetwork2:latest config.source=/etc/kuryr-other   # another config dir
#   docker plugin set kuryr/libnetwork2:latest CAPABILITY_SCOPE=global KURYR_DEBUG=true KURYR_HOSTNAME=node-1
#   docker plugin set kuryr/libnetwork2:latest docker-socket.source=/run/other-docker.sock
# Upgrade (Docker takes a new version only from a registry, and only into a disabled plugin;
# `disable -f` when networks use it: they, their endpoints and Neutron ports are kept):
#   scripts/build-plugin.sh --name REGISTRY/kuryr/libnetwork2 --tag NEW && docker plugin push REGISTRY/kuryr/libnetwork2:NEW
#   docker plugin disable -f kuryr/libnetwork2:latest
#   docker plugin upgrade --grant-all-permissions kuryr/libnetwork2:latest REGISTRY/kuryr/libnetwork2:NEW
#   docker plugin set kuryr/libnetwork2:latest config.source=...   # again: dockerd 20.10 starts the
#       upgraded plugin with config.json's sources, whatever `docker plugin inspect` shows
#   docker plugin enable kuryr/libnetwork2:latest
# The variables give defaults for what kuryr.conf leaves unset (as upstream's OS_KURYR_URI and
# CAPABILITY_SCOPE do): [DEFAULT] capability_scope, debug, hostname. Credentials are never plugin
# settings (`docker plugin inspect` shows them to anyone who can run docker): they stay in kuryr.conf.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER="${DOCKER:-/usr/bin/docker}"
NAME=kuryr/libnetwork2
TAG=latest
DIST=""
DIR=""
ENABLE=0
CONFIG=""

die() { echo "build-plugin: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME="$2"; shift 2 ;;
    --tag) TAG="$2"; shift 2 ;;
    --dist) DIST="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --config) CONFIG="$2"; shift 2 ;;
    --enable) ENABLE=1; shift ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
done
[[ "$TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "bad tag $TAG"
REF="$NAME:$TAG"

if "$DOCKER" plugin inspect "$REF" >/dev/null 2>&1; then
  die "plugin $REF exists: disable and remove it first (docker plugin disable $REF && docker plugin rm $REF)"
fi

if [ -n "$DIR" ]; then
  work="$DIR"
  [ ! -e "$work" ] || [ -z "$(ls -A "$work")" ] || die "$work is not empty"
  mkdir -p "$work"
else
  work="$(mktemp -d /var/tmp/kuryr-plugin.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
fi

start=$SECONDS
bash "$REPO/scripts/build-rootfs.sh" rootfs "$work/rootfs" "$DIST" >/dev/null
install -m 644 "$REPO/packaging/plugin/plugin.conf" "$work/rootfs/opt/kuryr/plugin.conf"
# What was built, readable inside (`kuryr-server --version` gives the package's version). It also
# keeps two tags' rootfs from being byte-identical, which `docker plugin create` refuses.
echo "$REF" >"$work/rootfs/opt/kuryr/PLUGIN"
install -m 644 "$REPO/packaging/plugin/config.json" "$work/config.json"
echo "build-plugin: $work ready in $((SECONDS - start)) s ($(du -sh "$work/rootfs" | cut -f1))" >&2

"$DOCKER" plugin create "$REF" "$work" >/dev/null
echo "build-plugin: created $REF in $((SECONDS - start)) s" >&2
if [ -n "$CONFIG" ]; then
  [ -f "$CONFIG/kuryr.conf" ] || die "no kuryr.conf in $CONFIG"
  "$DOCKER" plugin set "$REF" "config.source=$(cd "$CONFIG" && pwd)"
fi
if [ "$ENABLE" = 1 ]; then
  "$DOCKER" plugin enable "$REF" >/dev/null
  echo "build-plugin: enabled $REF" >&2
fi
echo "$REF"
