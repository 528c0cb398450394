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
