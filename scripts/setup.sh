#!/usr/bin/env bash
# Installs what img's demo, tests and benchmark need on a fresh Debian 12
# machine: the peer tools and servers from Debian's packages, and `just`.
# Safe to run again: it installs only what is missing.
#
#   bash scripts/setup.sh        everything: demo, tests, benchmark
#   bash scripts/setup.sh demo   only what the demo runs (the first use: a
#                                fresh machine reaches the demo's end sooner)
set -euo pipefail

# What the demo runs: a registry to push to, a runtime, pasta for a
# published port and curl to ask it, a base image's busybox, zstd in a
# pipe; and pip, to fetch a prebuilt `just`.
packages=(docker-registry runc passt busybox-static zstd curl python3-pip)
if [ "${1:-}" != demo ]; then
  packages+=(
    crun skopeo umoci buildah podman jq apache2-utils openssl hyperfine
    time python3 isal docker.io strace
  )
fi
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

# `just`, prebuilt: PyPI's rust-just wheel holds just's own static binary
# for Linux (x86_64, aarch64, …), fetched and checked by pip in seconds;
# `cargo install` (about 2 minutes of both cores) only where that fails.
JUST_VERSION=1.59.0
export PATH="$HOME/.cargo/bin:$PATH"
install_prebuilt_just() {
  local wheels
  wheels=$(mktemp -d)
  trap 'rm -rf "$wheels"' RETURN
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --dest "$wheels" "rust-just==$JUST_VERSION" >&2 || return 1
  mkdir -p "$HOME/.cargo/bin"
  python3 - "$wheels" "$HOME/.cargo/bin/just" <<'EOF' || return 1
import glob, os, sys, zipfile
wheels, target = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(os.path.join(wheels, "*.whl"))
with zipfile.ZipFile(wheel) as z:
    (member,) = [n for n in z.namelist() if n.endswith(".data/scripts/just")]
    with z.open(member) as src, open(target + ".tmp", "wb") as dst:
        dst.write(src.read())
os.chmod(target + ".tmp", 0o755)
os.replace(target + ".tmp", target)
EOF
  just --version >/dev/null
}
if ! command -v just >/dev/null 2>&1; then
  echo "setup: installing just $JUST_VERSION (prebuilt, from PyPI's rust-just)" >&2
  if ! install_prebuilt_just; then
    echo "setup: no prebuilt just here; building it (cargo install, about 2 minutes)" >&2
    cargo install --locked --quiet just --version "$JUST_VERSION"
  fi
fi
