#!/usr/bin/env bash
# img's main job end to end, with every program that exists so far, on a
# scratch store. Base images are made locally from Debian's busybox-static;
# nothing comes from the internet.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/target/release:$PATH"
work=$(mktemp -d /tmp/img-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
export IMG_ROOT="$work/store"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }

# A base image from busybox-static, made with umoci and copied into the store
# by skopeo: the store is an OCI layout that other tools write as it is.
umoci init --layout "$work/base" >/dev/null
umoci new --image "$work/base:latest" >/dev/null
umoci unpack --image "$work/base:latest" "$work/bundle" >/dev/null
mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/sh"
umoci repack --image "$work/base:latest" "$work/bundle" >/dev/null
umoci config --image "$work/base:latest" --config.cmd sh \
  --history.created_by 'busybox-static from Debian' >/dev/null
mkdir -p "$IMG_ROOT"
skopeo copy -q "oci:$work/base:latest" "oci:$IMG_ROOT:busybox"

# A local registry on a free port: push the image there and pull it back
# into a second store. The registry is stopped by its PID at the end.
port=5000
while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
mkdir -p "$work/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
  "$work/registry/data" "$port" >"$work/registry/config.yml"
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
step "img-push busybox --to 127.0.0.1:$port/demo/busybox:1"
img-push busybox --to "127.0.0.1:$port/demo/busybox:1"
step "img-search --registry 127.0.0.1:$port busybox"; img-search --registry "127.0.0.1:$port" busybox
step "img-pull --root \$work/pulled 127.0.0.1:$port/demo/busybox:1"
img-pull --root "$work/pulled" "127.0.0.1:$port/demo/busybox:1"
kill "$registry_pid"; wait "$registry_pid" 2>/dev/null || true

step img-ls;                         img-ls
step img-tag busybox mybusybox:1;    img-tag busybox mybusybox:1
step img-ls;                         img-ls
step "img-inspect -f '{{.Config.Cmd}}' mybusybox:1"; img-inspect -f '{{.Config.Cmd}}' mybusybox:1
step img-history mybusybox:1;        img-history mybusybox:1
step "img-save mybusybox:1 | zstd | zstd -d | img-load --root \$work/other"
img-save mybusybox:1 | zstd -q | zstd -dq | img-load --root "$work/other"
step "img-export mybusybox:1 | img-import -c 'CMD [\"sh\"]' - flatbusybox:1"
img-export mybusybox:1 | img-import -c 'CMD ["sh"]' - flatbusybox:1
step img-rm mybusybox:1;             img-rm mybusybox:1
step img-ls;                         img-ls
