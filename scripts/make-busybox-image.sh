#!/bin/bash
# Build the local image kuryr/busybox:latest from Debian's busybox-static.
#
# Why: no image registry is reachable from this machine or CI, so the test
# image is made from a rootfs tar and `docker import`ed. Idempotent: does
# nothing when the image exists (pass --force to rebuild).
# Needs a running dockerd; uses Debian's client (/usr/bin/docker, matching the
# 20.10 daemon) unless DOCKER is set.
set -euo pipefail

IMAGE="${IMAGE:-kuryr/busybox:latest}"
DOCKER="${DOCKER:-/usr/bin/docker}"
BUSYBOX=/bin/busybox

if [ "${1:-}" != --force ] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE already present"
  exit 0
fi

# The image has no libc: the binary must be busybox-static's (which replaces
# the dynamic busybox at the same path).
if [ ! -x "$BUSYBOX" ] || [[ "$(ldd "$BUSYBOX" 2>&1 || true)" != *"not a dynamic"* ]]; then
  echo "$BUSYBOX is missing or dynamic: apt-get install busybox-static" >&2
  exit 1
fi

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var/run,run}
chmod 1777 "$rootfs/tmp"
install -m 755 "$BUSYBOX" "$rootfs/bin/busybox"
# One link per applet, at the path busybox expects it (bin/sh, sbin/ip, ...).
"$BUSYBOX" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$rootfs/$(dirname "$applet")"
  ln -sf /bin/busybox "$rootfs/$applet"
done
cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"

tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . |
  "$DOCKER" import --change 'CMD ["sh"]' --message 'busybox-static from Debian (kuryr scripts/make-busybox-image.sh)' - "$IMAGE"
echo "built $IMAGE"
