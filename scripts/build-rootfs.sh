#!/usr/bin/env bash
# build-rootfs.sh: the root file system Kuryr ships in (Docker managed plugin, container image),
# built on this machine from the Debian mirror, with no image registry.
#
#   scripts/build-rootfs.sh base                  print the Debian 12 minbase tar (built if missing)
#   scripts/build-rootfs.sh app [DIST]            print the Kuryr tree (node + project) laid over it
#   scripts/build-rootfs.sh rootfs DEST [DIST]    unpack base + app into DEST (created, must be empty)
#
# DIST is the TypeScript output directory holding src/ (default: dist, as `npm run build` makes it).
#
# Why this way:
# - base: `mmdebstrap --variant=minbase bookworm` with iproute2 (the binding layer execs `ip`).
#   That is the smallest Debian that runs the host's Node 20 binary (it needs only glibc,
#   libstdc++ and libgcc_s; Debian 12's own nodejs is 18). Package lists come from the host's
#   apt sources (bookworm, -updates, -security), passed as a file: mmdebstrap reads mirrors from
#   stdin when stdin is not a terminal, so stdin is /dev/null. SOURCE_DATE_EPOCH is fixed, so
#   the same package versions give the same tar. Cached under /var/cache/kuryr-rootfs, keyed by
#   what goes into it (suite, packages, the sources file, this recipe); a newer Debian point
#   release is picked up with KURYR_ROOTFS_REFRESH=1.
# - app: the host's node binary, DIST/src, package.json and the production node_modules of
#   `npm ci --omit=dev` run in a staging directory (never in the work tree), cached by the hash
#   of those inputs.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KURYR_ROOTFS_CACHE:-/var/cache/kuryr-rootfs}"
SUITE=bookworm
VARIANT=minbase
INCLUDE=iproute2
SOURCES="${KURYR_APT_SOURCES:-/etc/apt/sources.list.d/debian.sources}"
# 2023-06-10, Debian 12's release day: any fixed value makes the tar reproducible.
EPOCH=1686355200
# Bump when the base recipe changes in a way the key below does not see.
RECIPE=1
# Where Kuryr lives inside the rootfs (the plugin's config.json and the Dockerfile name it).
APP_DIR=opt/kuryr

log() { echo "build-rootfs: $*" >&2; }
die() { log "$*"; exit 1; }

sha() { sha256sum | cut -c1-16; }

base_tar() {
  [ -r "$SOURCES" ] || die "no apt sources file $SOURCES (set KURYR_APT_SOURCES)"
  local key tar
  key="$( { echo "$RECIPE $SUITE $VARIANT $INCLUDE $EPOCH"; cat "$SOURCES"; } | sha)"
  tar="$CACHE/debian-$SUITE-$VARIANT-$key.tar"
  if [ -f "$tar" ] && [ "${KURYR_ROOTFS_REFRESH:-0}" != 1 ]; then
    echo "$tar"
    return
  fi
  command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install -y mmdebstrap"
  mkdir -p "$CACHE"
  # One build at a time (tests and helpers may ask at once); who waited finds the tar made.
  exec 9>"$CACHE/.base.lock"
  flock 9
  if [ -f "$tar" ] && [ "${KURYR_ROOTFS_REFRESH:-0}" != 1 ]; then
    exec 9>&-
    echo "$tar"
    return
  fi
  log "building $tar (mmdebstrap --variant=$VARIANT $SUITE, about a minute)"
  local start=$SECONDS
  SOURCE_DATE_EPOCH=$EPOCH mmdebstrap --quiet --format=tar --variant="$VARIANT" --include="$INCLUDE" \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$SUITE" "$tar.tmp" "$SOURCES" </dev/null
  mv "$tar.tmp" "$tar"
  exec 9>&-
  log "built $tar ($(du -h "$tar" | cut -f1), $((SECONDS - start)) s)"
  echo "$tar"
}

app_tree() {
  local dist="${1:-$REPO/dist}" node key tree stage
  dist="$(cd "$dist" && pwd)"
  [ -f "$dist/src/cli/kuryr-server.js" ] || die "$dist/src/cli/kuryr-server.js is missing: build first (npx tsc -p . --outDir $dist)"
  node="$(readlink -f "$(command -v node)")"
  "$node" -e 'process.exit(Number(process.versions.node.split(".")[0]) === 20 ? 0 : 1)' || die "$node is not Node 20"
  key="$( { sha256sum "$node" "$REPO/package.json" "$REPO/package-lock.json"; (cd "$dist" && find src -type f -name '*.js' -print0 | sort -z | xargs -0 sha256sum); } | sha)"
  tree="$CACHE/app-$key"
  if [ -d "$tree" ]; then
    echo "$tree"
    return
  fi
  mkdir -p "$CACHE"
  stage="$(mktemp -d "$CACHE/app-stage.XXXXXX")"
  trap 'rm -rf "$stage"' RETURN
  log "staging Kuryr from $dist with production dependencies (npm ci --omit=dev)"
  install -D -m 755 "$node" "$stage/usr/local/bin/node"
  mkdir -p "$stage/$APP_DIR/dist"
  cp "$REPO/package.json" "$REPO/package-lock.json" "$stage/$APP_DIR/"
  # Only the daemon's and CLI's code: tests and declaration files stay out.
  (cd "$dist" && find src -type f -name '*.js' -print0 | tar --null -T - -cf -) | tar -C "$stage/$APP_DIR/dist" -xf -
  (cd "$stage/$APP_DIR" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
  rm -f "$stage/$APP_DIR/package-lock.json"
  chmod 755 "$stage"
  # Fixed times: the same inputs give byte-identical files, whatever the day of the build.
  find "$stage" -exec touch -h -d "@$EPOCH" {} +
  # A concurrent build of the same inputs may have won: its tree is as good as ours.
  if mv -T "$stage" "$tree" 2>/dev/null; then
    log "staged $tree ($(du -sh "$tree" | cut -f1))"
    trap - RETURN
  fi
  # Only the three newest trees are kept (ctime: the rename; every mtime is the fixed epoch).
  find "$CACHE" -maxdepth 1 -name 'app-*' -type d ! -name 'app-stage.*' -printf '%C@ %p\n' | sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
  echo "$tree"
}

rootfs() {
  local dest="$1" dist="${2:-}" base app
  [ -n "$dest" ] || die "usage: $0 rootfs DEST [DIST]"
  base="$(base_tar)"
  app="$(app_tree "$dist")"
  mkdir -p "$dest"
  [ -z "$(ls -A "$dest")" ] || die "$dest is not empty"
  tar -C "$dest" -xf "$base"
  cp -a "$app/." "$dest/"
  echo "$dest"
}

case "${1:-}" in
  base) base_tar ;;
  app) app_tree "${2:-}" ;;
  rootfs) rootfs "${2:-}" "${3:-}" ;;
  *) die "usage: $0 base | app [DIST] | rootfs DEST [DIST]" ;;
esac
