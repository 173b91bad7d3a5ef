#!/usr/bin/env bash
# build-image.sh: builds Kuryr's container image with no image registry: the base is
# scripts/build-rootfs.sh's Debian 12 minbase tar, `docker import`ed once as
# kuryr/debian-minbase:<key>; packaging/image/Dockerfile adds the staged node + project and the
# non-root kuryr user. BuildKit (no intermediate images); its cache is pruned afterwards (the vfs
# storage driver copies every layer).
#
# Usage: scripts/build-image.sh [--tag TAG] [--dist DIST]     (prints the image, kuryr/libnetwork:TAG)
#   --tag   image tag (default latest)
#   --dist  TypeScript output holding src/ (default dist: `npm run build`)
#
# Run (the host's /etc/kuryr/kuryr.conf must be readable by uid 42480, and not name a log_file
# the container cannot write; Docker then finds the driver `kuryr` at /run/docker/plugins/kuryr/):
#   install -d -o 42480 -g 42480 -m 700 /run/docker/plugins/kuryr
#   docker run -d --name kuryr-libnetwork --restart unless-stopped --net host --cap-add NET_ADMIN \
#     -v /etc/kuryr:/etc/kuryr:ro -v /run/docker/plugins/kuryr:/run/docker/plugins/kuryr kuryr/libnetwork:latest
# Port DNS names and gc read Docker's API: add -v /run/docker.sock:/var/run/docker.sock
# --group-add "$(stat -c %g /run/docker.sock)", or set [docker] set_dns_name = False.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKER="${DOCKER:-/usr/bin/docker}"
TAG=latest
DIST=""

die() { echo "build-image: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG="$2"; shift 2 ;;
    --dist) DIST="$2"; shift 2 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
done
[[ "$TAG" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "bad tag $TAG"

start=$SECONDS
base_tar="$(bash "$REPO/scripts/build-rootfs.sh" base)"
base_image="kuryr/debian-minbase:$(basename "$base_tar" .tar | sed 's/.*-//')"
if ! "$DOCKER" image inspect "$base_image" >/dev/null 2>&1; then
  "$DOCKER" import "$base_tar" "$base_image" >/dev/null
  echo "build-image: imported $base_image" >&2
fi

app="$(bash "$REPO/scripts/build-rootfs.sh" app "$DIST")"
context="$(mktemp -d /var/tmp/kuryr-image.XXXXXX)"
trap 'rm -rf "$context"' EXIT
cp -a "$app/." "$context/"
install -m 644 "$REPO/packaging/image/Dockerfile" "$REPO/packaging/image/container.conf" "$context/"

DOCKER_BUILDKIT=1 "$DOCKER" build --quiet --network host --build-arg "BASE=$base_image" -t "kuryr/libnetwork:$TAG" "$context" >/dev/null
"$DOCKER" builder prune -af >/dev/null
echo "build-image: built kuryr/libnetwork:$TAG in $((SECONDS - start)) s ($("$DOCKER" image inspect -f '{{.Size}}' "kuryr/libnetwork:$TAG" | awk '{printf "%d MB", $1 / 1000000}'))" >&2
echo "kuryr/libnetwork:$TAG"
