#!/usr/bin/env bash
# img's main job end to end, with every program, on a scratch store: make a
# base image from Debian's busybox-static, build an example image on it from
# a Dockerfile, run it, look at it, name it, save and load it, flatten it,
# push it to a local registry and pull it back (and run what came back),
# commit a container's changes, prune what a rebuild left dangling, diff a
# change into a layer and commit it, remove it.
# Nothing comes from the internet.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/target/release:$PATH"
work=$(mktemp -d /tmp/img-demo.XXXXXX)
registry_pid=""
cleanup() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
export IMG_ROOT="$work/store"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }

# A root filesystem: busybox-static and its shell.
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
ln -s busybox "$work/rootfs/bin/sh"
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/rootfs/etc/passwd"

step "tar -C rootfs -c . | img-import -c 'CMD [\"sh\"]' - busybox:latest"
tar -C "$work/rootfs" -c . | img-import -c 'CMD ["sh"]' -m 'busybox-static from Debian' - busybox:latest >/dev/null

# An example image, built from a Dockerfile on that base.
mkdir -p "$work/hello"
printf '%s\n' 'FROM busybox' 'ARG GREETING=hello' 'WORKDIR /app' 'COPY message.txt ./' \
  'RUN echo "$GREETING from a RUN step" > run.txt' \
  'CMD ["sh", "-c", "cat /app/message.txt /app/run.txt"]' >"$work/hello/Dockerfile"
echo 'hello from COPY' >"$work/hello/message.txt"
step "cat hello/Dockerfile";              cat "$work/hello/Dockerfile" >&2
step "img-build -t hello:1 --build-arg GREETING=hi hello/"
img-build -t hello:1 --build-arg GREETING=hi "$work/hello" >/dev/null
step "img-build -t hello:1 --build-arg GREETING=hi hello/   # again: every step from the cache"
img-build -t hello:1 --build-arg GREETING=hi "$work/hello" >/dev/null
step "img-run --rm hello:1";              img-run --rm hello:1
step "img-history hello:1";               img-history hello:1
step img-ls;                              img-ls
step "img-tag busybox mybusybox:1";       img-tag busybox mybusybox:1 >/dev/null
step img-ls;                              img-ls
step "img-inspect -f '{{.Config.Cmd}} {{.Os}}/{{.Architecture}}' mybusybox:1"
img-inspect -f '{{.Config.Cmd}} {{.Os}}/{{.Architecture}}' mybusybox:1
step "img-history mybusybox:1";           img-history mybusybox:1

step "img-save -o images.tar hello:1 mybusybox:1 && img-load --root other -i images.tar"
img-save -o "$work/images.tar" hello:1 mybusybox:1
img-load --root "$work/other" -i "$work/images.tar" >/dev/null
step "img-run --root other --rm hello:1"; img-run --root "$work/other" --rm hello:1
step "img-save mybusybox:1 | zstd | zstd -d | img-load --root other2"
img-save mybusybox:1 | zstd -q | zstd -dq | img-load --root "$work/other2" >/dev/null
step "img-ls --root other";               img-ls --root "$work/other"

# sed, not head: head leaves as soon as it has three lines, and tar, still
# writing, would die of SIGPIPE (exit 141) in one demo run out of a few.
step "img-export mybusybox:1 | tar -t | sed -n 1,3p"
img-export mybusybox:1 | tar -t | sed -n 1,3p
step "img-export mybusybox:1 | img-import -c 'CMD [\"sh\"]' - flatbusybox:1"
img-export mybusybox:1 | img-import -c 'CMD ["sh"]' - flatbusybox:1 >/dev/null

# A local registry on a free port; stopped by its PID at the end.
port=5000
while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
mkdir -p "$work/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
  "$work/registry/data" "$port" >"$work/registry/config.yml"
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

step "img-tag hello:1 127.0.0.1:$port/demo/hello:1 | img-push"
img-tag hello:1 "127.0.0.1:$port/demo/hello:1" | img-push >/dev/null
step "img-tag mybusybox:1 127.0.0.1:$port/demo/busybox:1 | img-push"
img-tag mybusybox:1 "127.0.0.1:$port/demo/busybox:1" | img-push >/dev/null
step "img-search --registry 127.0.0.1:$port busybox"
img-search --registry "127.0.0.1:$port" busybox
step "img-pull --root pulled 127.0.0.1:$port/demo/hello:1"
img-pull --root "$work/pulled" "127.0.0.1:$port/demo/hello:1" >/dev/null
step "img-ls --root pulled";              img-ls --root "$work/pulled"
original=$(img-inspect -f '{{.Id}}' hello:1)
pulled=$(img-inspect --root "$work/pulled" -f '{{.Id}}' "127.0.0.1:$port/demo/hello:1")
[ "$original" = "$pulled" ] || { echo "demo: the pulled image differs from the pushed one" >&2; exit 1; }
echo "pushed and pulled image IDs match: $pulled" >&2
step "img-run --root pulled --rm 127.0.0.1:$port/demo/hello:1"
img-run --root "$work/pulled" --rm "127.0.0.1:$port/demo/hello:1"

step "img-run --name work busybox sh -c 'echo Hello World > /hello.txt' && img-commit work busybox:hello"
img-run --name work busybox sh -c 'echo Hello World > /hello.txt'
img-commit -q work busybox:hello >/dev/null
step "img-run --rm busybox:hello busybox cat /hello.txt"
img-run --rm busybox:hello busybox cat /hello.txt
mkdir -p "$work/www" && echo 'hello from a published container' >"$work/www/index.html"
# The tutorial's port, 8090, or the next free one.
web=8090
while (echo >"/dev/tcp/127.0.0.1/$web") 2>/dev/null; do web=$((web + 1)); done
step "img-run -d --name web -p 127.0.0.1:$web:80 -v \$PWD/www:/www busybox httpd -f -p 80 -h /www"
img-run -d --name web -p "127.0.0.1:$web:80" -v "$work/www:/www" busybox busybox httpd -f -p 80 -h /www
step "img-ps";                              img-ps
step "curl -s 127.0.0.1:$web"
for _ in $(seq 100); do curl -sf "127.0.0.1:$web" && break; sleep 0.05; done
step "img-exec web busybox hostname";      img-exec web busybox hostname
step "img-stop -t 1 web && img-logs web";  img-stop -t 1 web && img-logs web
step "img-export \$(img-create busybox:hello) -o busybox.tar && tar -tf busybox.tar | grep hello"
img-export "$(img-create busybox:hello)" -o "$work/busybox.tar" && tar -tf "$work/busybox.tar" | grep hello
step "img-prune -f --containers";         img-prune -f --containers

step "img-export mybusybox:1 | img-import -m rebuilt - flatbusybox:1   # the old flatbusybox:1 is now <none>"
img-export mybusybox:1 | img-import -c 'CMD ["sh"]' -m rebuilt - flatbusybox:1 >/dev/null
step "img-ls --filter dangling=true";      img-ls --filter dangling=true
step "img-prune -f";                      img-prune -f
mkdir -p "$work/old"
step "img-export mybusybox:1 | tar -x -C old; cp -a old new; echo … >new/etc/motd"
img-export mybusybox:1 | tar -x -C "$work/old"
cp -a "$work/old" "$work/new"
echo 'hello from img-commit' >"$work/new/etc/motd"
step "img-layer diff old new | img-commit -m 'add motd' -c 'ENV GREETING=hello' mybusybox:1 mybusybox:2"
img-layer diff "$work/old" "$work/new" | img-commit -q -m 'add motd' -c 'ENV GREETING=hello' mybusybox:1 mybusybox:2 >/dev/null
step "img-layer ls mybusybox:2";          img-layer ls mybusybox:2
step "img-history mybusybox:2";           img-history mybusybox:2
step "img-rm hello:1 mybusybox:1 mybusybox:2 flatbusybox:1 busybox:hello"
img-rm hello:1 mybusybox:1 mybusybox:2 flatbusybox:1 busybox:hello
step img-ls;                              img-ls
step "img-prune -f && img-fsck   # what a nightly cron job runs (with -q)"
img-prune -f >/dev/null && img-fsck
