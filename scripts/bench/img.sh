# shellcheck shell=bash disable=SC2034  # IMG_NEEDS and IMG_CMD are read by bench.sh
# ============================ img's command lines =============================
# The one place that says how the bench calls img. Each function sets
#   IMG_NEEDS  the img programs the line runs: when one is missing from
#              target/release, the row says "<program> not built yet" and
#              nothing of img is timed;
#   IMG_CMD    the bash command line that is timed.
# They follow SPEC.md and the issues' texts. When a program lands with a
# different command line, change it here and nowhere else.
#
# Images reach img's stores without img: the store is an OCI layout, so the
# bench seeds it with `skopeo copy oci:LAYOUT:NAME oci:STORE:NAME`.

q() { printf '%q' "$1"; }

# img_pull STORE REF: pull REF (a plain-HTTP registry on 127.0.0.1) into STORE.
img_pull() {
  IMG_NEEDS=img-pull
  IMG_CMD="img-pull --root $(q "$1") -q $2 >/dev/null"
}

# img_push STORE IMAGE DEST: push IMAGE from STORE to DEST (host:port/repo:tag).
img_push() {
  IMG_NEEDS=img-push
  IMG_CMD="img-push --root $(q "$1") -q $2 --to $3 >/dev/null"
}

# img_save STORE IMAGE FILE: Docker's archive of IMAGE (img-save's default).
img_save() {
  IMG_NEEDS=img-save
  IMG_CMD="img-save --root $(q "$1") -o $(q "$3") $2"
}

# img_load STORE FILE: load an archive (here skopeo's docker-archive).
img_load() {
  IMG_NEEDS=img-load
  IMG_CMD="img-load --root $(q "$1") -q -i $(q "$2") >/dev/null"
}

# img_unpack STORE IMAGE DIR: IMAGE's root filesystem into the empty DIR,
# as a tar through tar -x.
img_unpack() {
  IMG_NEEDS=img-export
  IMG_CMD="img-export --root $(q "$1") $2 | tar -C $(q "$3") -xf -"
}

# img_unpack_dir STORE IMAGE DIR: IMAGE's root filesystem written into DIR
# (which must not exist) by img itself.
img_unpack_dir() {
  IMG_NEEDS=img-export
  IMG_CMD="img-export --root $(q "$1") --output-dir $(q "$3") $2"
}

# img_layer_create DIR gzip|zstd FILE: DIR as a compressed layer tar.
img_layer_create() {
  IMG_NEEDS=img-layer
  IMG_CMD="img-layer create --compression $2 $(q "$1") >$(q "$3")"
}

# img_build STORE DOCKERFILE TAG CONTEXT: build, FROM the plain-HTTP registry.
img_build() {
  IMG_NEEDS=img-build
  IMG_CMD="img-build --root $(q "$1") -q -f $(q "$2") -t $3 $(q "$4") >/dev/null"
}

# img_fsck STORE: verify the whole store (every blob hashed, every image
# followed), quietly.
img_fsck() {
  IMG_NEEDS=img-fsck
  IMG_CMD="img-fsck --root $(q "$1") -q"
}

# img_build_from STORE DOCKERFILE TAG CONTEXT CACHE: build with --cache-from CACHE.
img_build_from() {
  IMG_NEEDS=img-build
  IMG_CMD="img-build --root $(q "$1") -q -f $(q "$2") -t $3 --cache-from $5 $(q "$4") >/dev/null"
}

# img_run STORE IMAGE ARGS...: start a container, wait, remove it.
img_run() {
  IMG_NEEDS=img-run
  IMG_CMD="img-run --root $(q "$1") --rm $2 ${*:3}"
}
# img_run_no_network STORE IMAGE ARGS...: img_run in a network namespace
# of its own with loopback only (--network none): what the peer's bundle
# gets (img-run's own --network none config; see bench.sh).
img_run_no_network() {
  IMG_NEEDS=img-run
  IMG_CMD="img-run --root $(q "$1") --rm --network none $2 ${*:3}"
}
# img_run_detached STORE IMAGE ARGS...: start a container in the background
# (returns once it runs; its monitor removes it when it ends).
img_run_detached() {
  IMG_NEEDS=img-run
  IMG_CMD="img-run --root $(q "$1") -d --rm $2 ${*:3} >/dev/null"
}

# img_run_publish STORE IMAGE ARGS...: img_run with a port published on a
# free port of 127.0.0.1.
img_run_publish() {
  IMG_NEEDS=img-run
  IMG_CMD="img-run --root $(q "$1") --rm -p 127.0.0.1::80 $2 ${*:3}"
}

# img_exec STORE CONTAINER ARGS...: run a command in a running container.
img_exec() {
  IMG_NEEDS=img-exec
  IMG_CMD="img-exec --root $(q "$1") $2 ${*:3}"
}
# ==============================================================================
