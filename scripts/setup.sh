#!/usr/bin/env bash
# Installs what img's demo, tests and benchmark need on a fresh Debian 12 machine:
# the peer tools and servers from Debian's packages, and `just` from crates.io.
# Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(
  docker-registry runc crun skopeo umoci buildah podman busybox-static
  zstd jq curl apache2-utils openssl hyperfine time
  python3 isal docker.io passt strace
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian docker-registry package starts a system service on :5000; img's
# tests start their own registries on free ports and need no system one.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi
# Likewise Docker's engine: the differential tests start their own dockerd
# (own data root, exec root and socket). A system one is stopped and kept
# from starting again (its socket unit would start it on first use), and so
# is a system containerd, which a test's dockerd would otherwise share.
if command -v systemctl >/dev/null 2>&1; then
  for unit in docker.socket docker containerd; do
    if systemctl is-active --quiet "$unit" 2>/dev/null; then
      systemctl stop "$unit" || true
    fi
  done
  systemctl disable --quiet docker.socket docker 2>/dev/null || true
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v just >/dev/null 2>&1; then
  echo "setup: installing just (cargo install, about 2 minutes)" >&2
  cargo install --locked --quiet just
fi
