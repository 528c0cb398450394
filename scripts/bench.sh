#!/usr/bin/env bash
# img measured beside the tools users would otherwise pick, in one run.
#
#   bash scripts/bench.sh [quick] [--only REGEX] [--readme]
#   just bench [quick] [--only REGEX] [--readme]      (builds img first)
#
#   quick      a smaller version: fewer runs, a smaller many-files image
#              (some-files), 64 MiB instead of 1 GiB layers, one Dockerfile,
#              unpacking onto a tmpfs
#   --only RE  only the groups whose id (OP:WORKLOAD, e.g. pull:many-files,
#              fsck:big-blob-1024m, limit:machine) matches the extended regex RE
#   --readme   put the table into README.md's Benchmark section
#
# Every img row is timed in the same run as its peer (skopeo, umoci, buildah,
# gzip/zstd, runc), interleaved run by run, on the same input; the machine's
# physical limits (sha256, gzip -d, disk read, copy, disk write, the local
# registry's own serve and ingest rates) are measured in the same run too.
# Rows whose img program is not built say so. Output: the table on stdout,
# target/bench/report.{md,json}, and each command's stderr in
# target/bench/logs/. Workloads are made offline from Debian's packages and
# cached in ~/.cache/img-bench (see scripts/bench/workloads.sh); nothing is
# fetched from the internet but the .deb files on the first run.
#
# Environment: IMG_BENCH_CACHE (the cache), IMG_BENCH_BIN (measure img
# programs built elsewhere instead of target/release).
#
# Run it as root, as CI machines and this project's sandboxes do: umoci
# unpack, buildah and runc are run as their root users run them (rows that
# fail for want of root say so, with the peer's error).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BENCH=$REPO/scripts/bench
# shellcheck source=scripts/bench/lib.sh
source "$BENCH/lib.sh"
# shellcheck source=scripts/bench/workloads.sh
source "$BENCH/workloads.sh"
# shellcheck source=scripts/bench/img.sh
source "$BENCH/img.sh"

MODE=full ONLY="" README=""
while (($#)); do
  case $1 in
    quick | full) MODE=$1 ;;
    --only) ONLY=${2:?--only needs a regex}; shift ;;
    --readme) README=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
COMMAND="just bench"
[[ $MODE == full ]] || COMMAND+=" $MODE"
[[ -z $ONLY ]] || COMMAND+=" --only '$ONLY'"

# RUNS/WARMUP for rows of a second or less, SLOW for the others, FAST_RUNS
# for container start.
if [[ $MODE == quick ]]; then
  BIG=64 FILES=some-files RUNS=3 WARMUP=0 SLOW="runs=3 warmup=0" FAST_RUNS=10 DOCKERFILES=(ten-step)
else
  BIG=1024 FILES=many-files RUNS=5 WARMUP=1 SLOW="runs=5 warmup=1" FAST_RUNS=20 DOCKERFILES=(ten-step two-stage)
fi
BIGW=big-blob-${BIG}m
selected() { [[ -z $ONLY || $1 =~ $ONLY ]]; }
# wanted W: whether a selected group reads workload W (busybox is every
# build's base, and the physical limits read the two large ones), so that
# `--only` makes and seeds only what it measures.
wanted() {
  local op
  [[ -z $ONLY || $1 == busybox ]] && return 0
  if selected limit:machine || selected limit:registry; then return 0; fi
  for op in pull push save load unpack unpack-tmpfs layer-create-gzip layer-create-zstd; do
    selected "$op:$1" && return 0
  done
  return 1
}
WORKLOADS=()
for w in busybox "$FILES" "$BIGW"; do wanted "$w" && WORKLOADS+=("$w"); done
TIMEOUT=900

bash scripts/setup.sh
for c in docker-registry skopeo umoci buildah runc jq curl zstd gzip igzip openssl python3 flock; do
  command -v "$c" >/dev/null || die "$c is not installed (scripts/setup.sh installs it)"
done
# $IMG_BENCH_BIN measures img programs built elsewhere (another commit).
IMG_BIN=${IMG_BENCH_BIN:-$REPO/target/release}
[[ -x $IMG_BIN/img-tag ]] || die "img is not built in $IMG_BIN: run \`just bench\` (or cargo build --release) first"
export PATH=$IMG_BIN:$PATH

bench_lock
BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/img-bench.XXXXXX")
BUILDAH="buildah --root $BENCH_WORK/containers/root --runroot $BENCH_WORK/containers/run --storage-driver overlay"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
export TMPDIR=$BENCH_WORK/tmp  # skopeo and buildah spill layers here
W=$BENCH_WORK
# The tools' directories here (img's stores, buildah's root, Docker's data
# root, the unpacked trees) spread over the disk's block groups, as ext4's
# Orlov allocator spreads top-level directories (and those under a
# `chattr +T` one), rather than all in this directory's group, where each
# tool would create its files among the inodes the tool before it freed
# moments ago (see `aside`): the two-stage build row's img runs took up to
# 1.8 s there against 1.0 s apart.
chattr +T "$W" 2>/dev/null || true
mkdir -p "$TMPDIR"
OUT=$REPO/target/bench
rm -rf "$OUT/logs" "$OUT/results.ndjson"
mkdir -p "$OUT/logs"
RESULTS=$OUT/results.ndjson
T0=$SECONDS
log "bench $MODE: scratch $W, cache $BENCH_CACHE"

# --- workloads ----------------------------------------------------------------
for w in "${WORKLOADS[@]}"; do ensure_workload "$w"; done
build_context
CTX=$BENCH_CACHE/context
dockerfiles_dir=$W/dockerfiles
mkdir -p "$dockerfiles_dir" "$BENCH_CACHE/registry"
start_registry workloads "$BENCH_CACHE/registry"
ADDR=$REG_ADDR
seed_registry "$ADDR" "${WORKLOADS[@]}"
start_registry push "$W/push-registry"
PUSH=$REG_ADDR PUSH_STORAGE=$W/push-registry
# Docker's engine, for the rows that time it beside img (builds, save, load).
DOCKER=/usr/bin/docker  # start_dockerd adds its socket
docker_wanted() {
  local id
  for id in "${DOCKERFILES[@]/#/build-cold:}" "${DOCKERFILES[@]/#/build-cached:}" \
    "${WORKLOADS[@]/#/save:}" "${WORKLOADS[@]/#/load:}"; do
    selected "$id" && return 0
  done
  return 1
}
if docker_wanted; then
  command -v dockerd >/dev/null && [[ -x /usr/bin/docker ]] ||
    die "dockerd is not installed (scripts/setup.sh installs docker.io)"
  start_dockerd "$W/docker"
fi
export BENCH_OWN_PIDS="${BENCH_PIDS[*]}"
dockerfiles "$dockerfiles_dir" "$ADDR"
log "workloads ready after $((SECONDS - T0)) s"

# A store with every workload in it, for the rows that read one.
SRC=$W/img-src
for w in "${WORKLOADS[@]}"; do skopeo copy -q "oci:$LAYOUT:$w" "oci:$SRC:$w"; done

# --- groups ---------------------------------------------------------------------
# group KIND OP WORKLOAD [key=value...]: start a group (keys: bytes, bytes_of,
# limits (comma-separated), runs, warmup); entry key=value...: add a
# command (keys: role, tool, cmd, prepare, check, needs, bytes, bytes_file,
# key, label); run_group: time it (skipped unless --only selects it, or
# FORCE is set: limits that selected rows need).
GROUP="" ENTRIES=()
kv_json() {  # key=value... → one JSON object (byte counts and run counts as numbers)
  local args=() kv i
  # jq keeps the first of two equal names: add the later ones first.
  for ((i = $#; i >= 1; i--)); do kv=${!i}; args+=(--arg "${kv%%=*}" "${kv#*=}"); done
  jq -cn "${args[@]}" '$ARGS.named | with_entries(
    if (.key | IN("bytes", "runs", "warmup")) then .value |= (if . == "" then null else tonumber end)
    elif (.key | IN("limits", "needs")) then .value |= (split(",") | map(select(. != "")))
    else . end)'
}
group() {
  local kind=$1 op=$2 wl=$3
  shift 3
  GROUP=$(kv_json "id=$op:$wl" "op=$op" "workload=$wl" "kind=$kind" "runs=$RUNS" "warmup=$WARMUP" "$@")
  ENTRIES=()
}
entry() { ENTRIES+=("$(kv_json "$@")"); }
# img_entry TOOL [key=value...]: the img side, from IMG_CMD/IMG_NEEDS.
img_entry() { entry role=img "tool=$1" "cmd=$IMG_CMD" "needs=${IMG_NEEDS// /,}" "${@:2}"; }
run_group() {
  local id spec
  id=$(jq -r .id <<<"$GROUP")
  [[ -n ${FORCE:-} ]] || selected "$id" || return 0
  spec=$W/group.json
  jq -n --argjson g "$GROUP" --arg logs "$OUT/logs" --arg bin "$IMG_BIN" --argjson t $TIMEOUT \
    '$g + {log_dir: $logs, img_bin: $bin, timeout: $t, entries: $ARGS.positional}' \
    --jsonargs "${ENTRIES[@]}" >"$spec"
  log "$id ($(jq -r '"\(.runs) runs, \(.warmup) warm-up"' "$spec"))"
  # In the background and waited for, so that INT/TERM reach the traps at
  # once; bench_cleanup stops the runner, which ends what it is timing.
  python3 "$BENCH/runner.py" group "$spec" "$RESULTS" &
  RUNNER_PID=$!
  wait "$RUNNER_PID"
  RUNNER_PID=""
}
runs_for() { [[ $1 == big-blob-* ]] && echo "$SLOW" || echo "runs=$RUNS warmup=$WARMUP"; }
limits_for() { [[ $1 == busybox ]] && echo "limits=" || echo "limits=$2"; }  # busybox is latency, not throughput

RND=$BENCH_CACHE/data/random-${BIG}m.bin
layer_blobs() { jq -r '.layers[].digest[7:]' "$LAYOUT/blobs/sha256/$(fact "$1" manifest | cut -c8-)" | sed "s|^|$LAYOUT/blobs/sha256/|"; }

# --- physical limits --------------------------------------------------------------
if selected limit:machine; then
# shellcheck disable=SC2086  # $SLOW is runs=… warmup=…
group limit limit machine $SLOW warmup=1
entry role=limit key=sha256 tool=openssl label="sha256 (openssl, SHA-NI where the CPU has it), page cache" \
  "cmd=openssl dgst -sha256 $RND >/dev/null" "bytes=$(size_of "$RND")"
entry role=limit key=disk-read tool=dd label="raw disk read (O_DIRECT)" \
  "cmd=dd if=$RND of=/dev/null bs=4M iflag=direct status=none" "bytes=$(size_of "$RND")"
entry role=limit key=copy tool=cp label="file copy, page cache (cp)" \
  "prepare=rm -f $W/copy.bin" "cmd=cp $RND $W/copy.bin" "bytes=$(size_of "$RND")"
entry role=limit key=disk-write tool=cp+fsync label="file copy to disk (cp, then fsync)" \
  "prepare=rm -f $W/copy.bin && sync" "cmd=cp $RND $W/copy.bin && sync $W/copy.bin" "bytes=$(size_of "$RND")"
for w in "$FILES" "$BIGW"; do
  mapfile -t blobs < <(layer_blobs "$w")
  # GNU gzip on the real package contents only (on 2 GiB it would take a minute).
  [[ $w != "$FILES" ]] ||
    entry role=limit "key=gunzip:$w" tool="gzip -d" label="gzip -d of $w's layers (tar bytes out)" \
      "cmd=gzip -dc ${blobs[*]} >/dev/null" "bytes=$(fact "$w" uncompressed_bytes)"
  # The fastest inflate there is (Intel's ISA-L): the ceiling for unpacking.
  entry role=limit "key=inflate:$w" tool="igzip -d" label="igzip -d (ISA-L) of $w's layers (tar bytes out)" \
    "cmd=igzip -dc ${blobs[*]} >/dev/null" "bytes=$(fact "$w" uncompressed_bytes)"
done
run_group
rm -f "$W/copy.bin"
fi

if selected limit:registry; then
blob1=$(layer_blobs "$BIGW" | head -n 1)
# shellcheck disable=SC2086
group limit limit registry $SLOW warmup=1
entry role=limit key=registry-get tool=curl label="registry serving one blob (curl GET)" \
  "cmd=curl -fsS -o /dev/null http://$ADDR/v2/$BIGW/blobs/sha256:${blob1##*/}" "bytes=$(size_of "$blob1")"
entry role=limit key=registry-put tool=curl label="registry ingesting one blob (curl monolithic PUT)" \
  "prepare=rm -rf $PUSH_STORAGE/docker" "bytes=$(size_of "$blob1")" \
  "cmd=loc=\$(curl -fsS -o /dev/null -w '%header{location}' -X POST http://$PUSH/v2/ceiling/blobs/uploads/) && case \$loc in /*) loc=http://$PUSH\$loc ;; esac && curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T $blob1 \"\$loc&digest=sha256:${blob1##*/}\""
run_group
fi

# --- pull: registry → local store -------------------------------------------------
for w in "${WORKLOADS[@]}"; do
  # shellcheck disable=SC2046  # runs=… warmup=… words
  group compare pull "$w" "bytes=$(fact "$w" compressed_bytes)" bytes_of="compressed image" \
    $(runs_for "$w") "$(limits_for "$w" sha256,disk-write)"
  img_pull "$W/img-pull" "$ADDR/$w:latest"
  img_entry img-pull "prepare=rm -rf $W/img-pull && sync" "check=python3 $BENCH/runner.py verify-layout $W/img-pull $w"
  entry role=peer tool="skopeo copy" "prepare=rm -rf $W/skopeo-pull && sync" \
    "cmd=skopeo copy -q --src-tls-verify=false docker://$ADDR/$w:latest oci:$W/skopeo-pull:$w"
  run_group
  rm -rf "$W/img-pull" "$W/skopeo-pull"
done

# --- push: local store → empty registry (emptied before every run) ---------------
for w in "${WORKLOADS[@]}"; do
  # shellcheck disable=SC2046
  group compare push "$w" "bytes=$(fact "$w" compressed_bytes)" bytes_of="compressed image" \
    $(runs_for "$w") "$(limits_for "$w" registry-put)"
  img_push "$SRC" "$w" "$PUSH/push-$w:latest"
  img_entry img-push "prepare=rm -rf $PUSH_STORAGE/docker" \
    "check=skopeo inspect --tls-verify=false docker://$PUSH/push-$w:latest >/dev/null"
  entry role=peer tool="skopeo copy" "prepare=rm -rf $PUSH_STORAGE/docker" \
    "cmd=skopeo copy -q --dest-tls-verify=false oci:$LAYOUT:$w docker://$PUSH/push-$w:latest"
  run_group
done
rm -rf "$PUSH_STORAGE/docker"

# --- save and load: Docker archives ---------------------------------------------------
for w in "${WORKLOADS[@]}"; do
  arch=$W/skopeo-save-$w.tar
  # shellcheck disable=SC2046
  group compare save "$w" bytes_of="archive" $(runs_for "$w") "$(limits_for "$w" copy)"
  img_save "$SRC" "$w" "$W/img-save-$w.tar"
  img_entry img-save "prepare=rm -f $W/img-save-$w.tar" "bytes_file=$W/img-save-$w.tar" \
    "check=skopeo inspect docker-archive:$W/img-save-$w.tar >/dev/null"
  entry role=peer tool="skopeo copy" "prepare=rm -f $arch" "bytes_file=$arch" \
    "cmd=skopeo copy -q oci:$LAYOUT:$w docker-archive:$arch:$w:latest"
  if selected "save:$w"; then
    # Docker saves the image from its own store: loaded there once.
    [[ -s $arch ]] || skopeo copy -q "oci:$LAYOUT:$w" "docker-archive:$arch:$w:latest"
    $DOCKER load -q -i "$arch" >/dev/null
    entry role=peer tool="docker save" "prepare=rm -f $W/docker-save-$w.tar" \
      "bytes_file=$W/docker-save-$w.tar" "cmd=$DOCKER save -o $W/docker-save-$w.tar $w:latest" \
      "check=skopeo inspect docker-archive:$W/docker-save-$w.tar >/dev/null"
  fi
  run_group
  rm -f "$W/docker-save-$w.tar"
  rm -f "$W/img-save-$w.tar"

  if selected "load:$w"; then
    [[ -s $arch ]] || skopeo copy -q "oci:$LAYOUT:$w" "docker-archive:$arch:$w:latest"
    # shellcheck disable=SC2046
    # Loading makes the blobs durable (fsync), so its limit is a copy
    # that reaches the disk (cp, then sync), not one into the page cache.
    group compare load "$w" "bytes=$(size_of "$arch")" bytes_of="archive" $(runs_for "$w") "$(limits_for "$w" disk-write)"
    img_load "$W/img-load" "$arch"
    img_entry img-load "prepare=rm -rf $W/img-load && sync" "check=python3 $BENCH/runner.py verify-layout $W/img-load $w"
    entry role=peer tool="skopeo copy" "prepare=rm -rf $W/skopeo-load && sync" \
      "cmd=skopeo copy -q docker-archive:$arch oci:$W/skopeo-load:$w"
    # Docker unpacks the layers into its storage driver as it loads them.
    entry role=peer tool="docker load" "prepare=$DOCKER rmi -f $w:latest >/dev/null 2>&1; sync" \
      "cmd=$DOCKER load -q -i $arch >/dev/null" "check=$DOCKER image inspect $w:latest >/dev/null"
    run_group
    $DOCKER rmi -f "$w:latest" >/dev/null 2>&1 || true
  fi
  rm -rf "$arch" "$W/img-load" "$W/skopeo-load"
done

# --- fsck: a store verified (every blob hashed against its name) -------------------------
# Against the machine's sha256 rate (one core, page cache): img-fsck hashes
# blobs on every core at once, one blob per core.
for w in "$FILES" "$BIGW"; do
  selected "fsck:$w" || continue
  store=$W/fsck-$w
  skopeo copy -q "oci:$LAYOUT:$w" "oci:$store:$w"
  blob_bytes=$(find "$store/blobs/sha256" -type f -printf '%s\n' | awk '{ n += $1 } END { print n }')
  # shellcheck disable=SC2046
  group compare fsck "$w" "bytes=$blob_bytes" bytes_of="blobs" $(runs_for "$w") "$(limits_for "$w" sha256)"
  img_fsck "$store"
  img_entry img-fsck "check=img-fsck --root $store -q"
  entry role=peer tool="sha256sum (xargs -P $(nproc))" \
    "cmd=find $store/blobs/sha256 -type f -print0 | xargs -0 -P $(nproc) -n 1 sha256sum >/dev/null"
  run_group
  rm -rf "$store"
done

# --- unpack: image → root filesystem ----------------------------------------------------
# Onto this run's disk, and (big-blob and many-files) onto a tmpfs, where the
# CPU is the limit; `quick` unpacks onto the tmpfs only, because deleting
# the unpacked trees between runs costs more than unpacking them on disks
# mounted with online discard. Each beside umoci unpack, img both ways
# users do it: `img-export --output-dir` (the `unpack` rows) and
# `img-export | tar -x` (the `unpack-pipe` rows). The limits: ISA-L's
# inflate of the layers, and GNU tar extracting the image's root filesystem
# as one uncompressed tar on the same file system (its bytes counted as the
# layers', so that the share of it is tar's time over img's).
T=""
if mkdir -p "$W/tmpfs" && mount -t tmpfs -o size=6g,mode=0700 img-bench "$W/tmpfs" 2>/dev/null; then
  T=$W/tmpfs
fi
TARGETS=("$W:unpack")
[[ $MODE == quick ]] && TARGETS=()
[[ -z $T ]] || TARGETS+=("$T:unpack-tmpfs")
((${#TARGETS[@]})) || TARGETS=("$W:unpack")
for w in "${WORKLOADS[@]}"; do
  [[ $w != busybox ]] || continue
  if selected "unpack(-tmpfs|-pipe)?:$w"; then
    flat=$W/flat-$w.tar
    [[ -s $flat ]] || img-export --root "$SRC" -o "$flat" "$w"
    # shellcheck disable=SC2086
    group limit unpack-limit "$w" $SLOW
    for target in "${TARGETS[@]}"; do
      dir=${target%%:*} op=${target#*:}
      where="disk"
      [[ $op == unpack ]] || where="tmpfs"
      entry role=limit "key=tar-x-$where:$w" tool="tar -x" \
        label="tar -x of $w's root filesystem as one uncompressed tar, onto the $where" \
        "prepare=rm -rf $dir/tar-limit && mkdir -p $dir/tar-limit && sync" \
        "cmd=tar -C $dir/tar-limit -xf $flat" "bytes=$(fact "$w" uncompressed_bytes)"
    done
    FORCE=1 run_group
    for target in "${TARGETS[@]}"; do rm -rf "${target%%:*}/tar-limit"; done
    rm -f "$flat"
  fi
done
# unpacked DIR W: the check that DIR holds W's root filesystem, whole.
unpacked() {
  local c="test -f $1/etc/img-bench/$2"
  [[ $2 != "$FILES" ]] || c+=" && test ! -e $1/usr/share/doc"
  echo "$c"
}
for w in "${WORKLOADS[@]}"; do
  runs=$(runs_for "$w")
  [[ $w != "$FILES" ]] || runs=$SLOW
  for target in "${TARGETS[@]}"; do
    dir=${target%%:*} op=${target#*:}
    where="disk"
    [[ $op == unpack ]] || where="tmpfs"
    limits=inflate:$w
    [[ $w == busybox ]] || limits+=",tar-x-$where:$w"
    for how in dir pipe; do
      d=$dir/img-unpack
      if [[ $how == dir ]]; then
        img_unpack_dir "$SRC" "$w" "$d"
        prepare="rm -rf $d && sync"
        tool="img-export --output-dir"
        group_op=$op
      else
        img_unpack "$SRC" "$w" "$d"
        prepare="rm -rf $d && mkdir -p $d && sync"
        tool="img-export | tar -x"
        group_op=${op/unpack/unpack-pipe}
      fi
      # shellcheck disable=SC2086
      group compare "$group_op" "$w" "bytes=$(fact "$w" uncompressed_bytes)" bytes_of="layer tars" \
        $runs "$(limits_for "$w" "$limits")"
      img_entry "$tool" "prepare=$prepare" "check=$(unpacked "$d" "$w")"
      entry role=peer tool="umoci unpack" "prepare=rm -rf $dir/umoci-$w && sync" \
        "cmd=umoci unpack --image $LAYOUT:$w $dir/umoci-$w >/dev/null"
      run_group
      rm -rf "$d"
    done
    [[ $w == "$FILES" && $op == unpack ]] || rm -rf "$dir/umoci-$w"
  done
done
U=${TARGETS[0]%%:*}

# --- layer create: root filesystem → compressed layer tar -----------------------------------
if selected "layer-create-gzip:$FILES" || selected "layer-create-zstd:$FILES"; then
  ROOTFS=$U/umoci-$FILES/rootfs
  [[ -d $ROOTFS ]] || umoci unpack --image "$LAYOUT:$FILES" "$U/umoci-$FILES" >/dev/null
  tarb=$(tar -C "$ROOTFS" -cf - . | wc -c)
  for z in gzip zstd; do
    peer="gzip -6" label="tar | gzip -6" test="gzip -t"
    [[ $z == gzip ]] || peer="zstd -q -3 -T0" label="tar | zstd -3 -T0" test="zstd -qt"
    # shellcheck disable=SC2086
    group compare "layer-create-$z" "$FILES" "bytes=$tarb" bytes_of="tar of the root filesystem" $SLOW
    img_layer_create "$ROOTFS" "$z" "$W/img-layer.out"
    img_entry "img-layer create $z" "prepare=rm -f $W/img-layer.out" "check=$test $W/img-layer.out"
    entry role=peer "tool=$label" "prepare=rm -f $W/peer-layer.out" \
      "cmd=tar -C $ROOTFS -cf - . | $peer >$W/peer-layer.out"
    run_group
  done
  rm -f "$W/img-layer.out" "$W/peer-layer.out"
fi
rm -rf "$U/umoci-$FILES"

# --- build: Dockerfiles FROM the registry's busybox, cold and cached ----------------------
ctx_bytes=$(du -sb --exclude='.recipe-*' "$CTX" | cut -f1)
# aside DIR...: the prepare command that starts a run from empty DIRs, for
# builds: each moved into a trash directory (deleted with the bench's
# scratch directory) rather than deleted, so that the run does not pay for
# the file system's recently freed inodes (below), then everything synced,
# so that the run's fsyncs wait for its own data only.
aside() {
  local dirs
  printf -v dirs '%q ' "$@"
  echo "mkdir -p $W/trash && t=\$(mktemp -d -p $W/trash) && for d in $dirs; do if [ -e \$d ]; then mv \$d \$t/; fi; done && sync"
}
# The rows above deleted large trees. ext4 skips the inodes freed in the
# last 60 s one by one when it allocates new ones (six minutes while their
# inode table block is not yet written back: fs/ext4/ialloc.c,
# recently_deleted), which made builds that create a few thousand files
# up to twice as slow, the more so the sooner they ran. Let the window
# close once for every tool alike.
if selected 'build-cold:'; then
  sync
  log "waiting 65 s for the file system's recently deleted inodes to age"
  sleep 65
fi
for df in "${DOCKERFILES[@]}"; do
  file=$dockerfiles_dir/$df.Dockerfile
  bud="$BUILDAH bud -q --layers --isolation chroot --tls-verify=false -f $file -t localhost/bench-$df:latest $CTX >/dev/null"
  # Docker's engine builds with its BuildKit; RUN without a network, as
  # the engine here has no bridge (img and buildah give RUN the host's).
  dbuild="DOCKER_BUILDKIT=1 $DOCKER build -q --network none -f $file -t localhost/bench-$df:latest $CTX >/dev/null"
  dcheck="$DOCKER image inspect localhost/bench-$df:latest >/dev/null"
  img_build "$W/img-build" "$file" "localhost/bench-$df:latest" "$CTX"
  check="python3 $BENCH/runner.py verify-layout $W/img-build bench-$df"
  # Cold: no image and no build cache. img and buildah start from an empty
  # store (the base pulled again); Docker's daemon keeps its data root, so
  # its builds are cold by --no-cache (the base's layers stay in its
  # content store). Nothing is deleted between runs: ext4 skips inodes
  # freed in the last 60 s (6 min while their table block is dirty) one by
  # one when it allocates new ones (fs/ext4/ialloc.c, recently_deleted), so
  # a store deleted just before a run made that run's file creations up to
  # twice as slow. The old stores are moved aside (`aside`).
  # shellcheck disable=SC2086
  group compare build-cold "$df" "bytes=$ctx_bytes" bytes_of="build context" $SLOW
  # Each run starts with the previous run's writes on the disk (sync), so
  # that no tool's fsyncs wait for another's data (see `aside`).
  img_entry img-build "prepare=$(aside "$W/img-build")" "check=$check"
  entry role=peer tool="buildah bud" "cmd=$bud" \
    "prepare=$BUILDAH rm -a >/dev/null; $(aside "$W/containers/root" "$W/containers/run")"
  entry role=peer tool="docker build (BuildKit)" "check=$dcheck" "cmd=${dbuild/ build / build --no-cache }" "prepare=sync"
  run_group
  $BUILDAH rm -a >/dev/null 2>&1 || true
  # Cached: the same build again; a warm-up run fills the caches when the
  # cold builds did not run.
  warm=1
  selected "build-cold:$df" && warm=0
  # shellcheck disable=SC2086
  group compare build-cached "$df" "bytes=$ctx_bytes" bytes_of="build context" $SLOW warmup=$warm
  img_entry img-build "check=$check"
  entry role=peer tool="buildah bud" "cmd=$bud"
  entry role=peer tool="docker build (BuildKit)" "check=$dcheck" "cmd=$dbuild"
  run_group
done
$BUILDAH rm -a >/dev/null 2>&1 || true
$BUILDAH rmi -a -f >/dev/null 2>&1 || true

# --- CI fleet: machine B builds from the cache machine A left in a registry --------------
# Machine A builds cold once and exports its cache (img: --cache-to mode=max;
# buildah: --cache-to, every layer) to a registry of its own, and pushes the
# image. Then, every run from an empty store that pulls FROM the workload
# registry: machine B with --cache-from (img) against buildah's B with
# --cache-from (ci-fleet), against img's cold build (ci-fleet-cold), and
# against the floor of a cache: a fully cached local build plus pulling
# the final image into an empty store (ci-fleet-floor).
fleet_selected() { selected "ci-fleet:$1" || selected "ci-fleet-cold:$1" || selected "ci-fleet-floor:$1"; }
FLEET=""
for df in "${DOCKERFILES[@]}"; do
  fleet_selected "$df" || continue
  if [[ -z $FLEET ]]; then
    start_registry fleet "$W/fleet-registry"
    FLEET=$REG_ADDR
    export BENCH_OWN_PIDS="${BENCH_PIDS[*]}"
  fi
  file=$dockerfiles_dir/$df.Dockerfile
  tag=localhost/fleet-$df:latest
  log "ci-fleet:$df: machine A builds and exports its cache"
  rm -rf "$W/fleet-a"
  img-build --root "$W/fleet-a" -q -f "$file" -t "$tag" \
    --cache-to "type=registry,ref=$FLEET/img-$df:cache,mode=max" "$CTX" >/dev/null
  img-push --root "$W/fleet-a" -q "$tag" --to "$FLEET/img-$df-image:latest" >/dev/null
  $BUILDAH rm -a >/dev/null 2>&1 || true
  $BUILDAH rmi -a -f >/dev/null 2>&1 || true
  $BUILDAH bud -q --layers --isolation chroot --tls-verify=false --cache-to "$FLEET/buildah-$df-cache" \
    -f "$file" -t "$tag" "$CTX" >/dev/null
  check="python3 $BENCH/runner.py verify-layout $W/fleet-b fleet-$df"
  img_build_from "$W/fleet-b" "$file" "$tag" "$CTX" "type=registry,ref=$FLEET/img-$df:cache"
  b_cmd=$IMG_CMD b_needs=$IMG_NEEDS

  # shellcheck disable=SC2086
  group compare ci-fleet "$df" "bytes=$ctx_bytes" bytes_of="build context" $SLOW
  img_entry "img-build --cache-from" "prepare=$(aside "$W/fleet-b")" "check=$check"
  entry role=peer tool="buildah bud --cache-from" \
    "prepare=$BUILDAH rm -a >/dev/null; $(aside "$W/containers/root" "$W/containers/run")" \
    "cmd=$BUILDAH bud -q --layers --isolation chroot --tls-verify=false --cache-from $FLEET/buildah-$df-cache -f $file -t $tag $CTX >/dev/null"
  run_group

  # shellcheck disable=SC2086
  group compare ci-fleet-cold "$df" "bytes=$ctx_bytes" bytes_of="build context" $SLOW
  IMG_CMD=$b_cmd IMG_NEEDS=$b_needs
  img_entry "img-build --cache-from" "prepare=$(aside "$W/fleet-b")" "check=$check"
  img_build "$W/fleet-cold" "$file" "$tag" "$CTX"
  entry role=peer tool="img-build cold" "needs=img-build" "prepare=$(aside "$W/fleet-cold")" "cmd=$IMG_CMD"
  run_group

  # shellcheck disable=SC2086
  group compare ci-fleet-floor "$df" "bytes=$ctx_bytes" bytes_of="build context" $SLOW
  IMG_CMD=$b_cmd IMG_NEEDS=$b_needs
  img_entry "img-build --cache-from" "prepare=$(aside "$W/fleet-b")" "check=$check"
  img_build "$W/fleet-a" "$file" "$tag" "$CTX"
  floor=$IMG_CMD
  img_pull "$W/fleet-pull" "$FLEET/img-$df-image:latest"
  entry role=peer tool="img-build cached + img-pull of the image" "needs=img-build,img-pull" \
    "prepare=$(aside "$W/fleet-pull")" "cmd=$floor && $IMG_CMD"
  run_group
  rm -rf "$W/fleet-a" "$W/fleet-b" "$W/fleet-cold" "$W/fleet-pull"
done
$BUILDAH rm -a >/dev/null 2>&1 || true
$BUILDAH rmi -a -f >/dev/null 2>&1 || true

# --- container start: busybox `true`, created, run, removed -------------------------------
# The peer is runc on img-run's own bundle, so that the row compares what
# img adds around the runtime, not two different containers: the
# config.json img-run wrote for a kept container (Docker's default seccomp
# profile, masked and read-only kernel paths, Docker's capabilities and
# mounts, /etc/hosts and friends bound in), with that container's root
# filesystem (img-export, plus its init layer's mount points) as a plain
# directory. The profile alone costs runc about 17 ms a run: umoci's
# default bundle, which this row used before, has none, and is kept as a
# second peer, `runc run (bare bundle)`: the runtime with nothing of
# Docker's.
# The config is --network none's (a namespace with loopback only): runc
# cannot join a namespace img made for one run, and pasta is img's part.
img_bundle() {
  bundle=$W/img-bundle
  [[ -d $bundle ]] && return
  local id dir
  img-run --root "$SRC" --network none --name bench-bundle busybox true
  id=$(img-ps --root "$SRC" -aq --no-trunc --filter name=bench-bundle)
  dir=$SRC/.img/containers/$id
  mkdir -p "$bundle/rootfs"
  img-export --root "$SRC" "$id" | tar -x -C "$bundle/rootfs"
  cp -a "$dir/init/." "$bundle/rootfs/"
  cp "$dir/hostname" "$dir/hosts" "$dir/resolv.conf" "$bundle/"
  # The /etc files are bound from the container's directory: the bundle's
  # copies instead, so that the container can go.
  jq --arg from "$dir/" --arg to "$bundle/" \
    '.mounts |= map(if (.source | startswith($from)) then .source = $to + (.source | ltrimstr($from)) else . end)' \
    "$dir/config.json" >"$bundle/config.json"
  jq -e '.linux.seccomp.syscalls | length > 0' "$bundle/config.json" >/dev/null ||
    die "img-run wrote no seccomp profile: the bench's runc bundle would not be img's"
  img-rm --root "$SRC" -c bench-bundle >/dev/null
}
# umoci's default bundle: runc with no seccomp profile and no masked paths.
runc_bundle() {
  bare=$W/runc-bundle
  [[ -d $bare ]] && return
  umoci unpack --image "$LAYOUT:busybox" "$bare" >/dev/null
  jq '.process.args = ["/bin/true"] | .process.terminal = false' "$bare/config.json" >"$bare/c.json"
  mv "$bare/c.json" "$bare/config.json"
}
# container_peers: both runc rows, timed in the same interleaved runs (the
# report gives each its own line).
container_peers() {
  img_bundle
  runc_bundle
  entry role=peer tool="runc run (img's bundle)" "cmd=runc --root $W/runc run -b $bundle img-bench-start"
  entry role=peer tool="runc run (bare bundle)" "cmd=runc --root $W/runc run -b $bare img-bench-bare"
}
if selected "run:busybox"; then
  group compare run busybox "runs=$FAST_RUNS" warmup=2
  img_run "$SRC" busybox true
  img_entry img-run "check=$(img_run "$SRC" busybox echo img-bench-ok; echo "$IMG_CMD") | grep -q img-bench-ok"
  container_peers
  run_group
fi

# --- the same, on the network the runc bundle has: its own namespace, loopback only --------
# The row above is Docker's default (bridge: pasta connects the namespace,
# on the timed path); the peer's bundle is --network none's, so this row is
# the like-for-like one, and the difference is pasta's start.
if selected "run-no-network:busybox"; then
  group compare run-no-network busybox "runs=$FAST_RUNS" warmup=2
  img_run_no_network "$SRC" busybox true
  img_entry img-run
  container_peers
  run_group
fi

# --- container start, detached: img-run -d returns once the container runs ---------------
if selected "run-detached:busybox"; then
  group compare run-detached busybox "runs=$FAST_RUNS" warmup=2
  img_run_detached "$SRC" busybox true
  img_entry img-run
  container_peers
  run_group
fi

# --- a published port: what -p adds to img-run (the peer is img-run without it) ----------
if selected "run-publish:busybox"; then
  group compare run-publish busybox "runs=$FAST_RUNS" warmup=2
  img_run_publish "$SRC" busybox true
  img_entry img-run
  entry role=peer tool="img-run" "cmd=img-run --root $SRC --rm busybox true"
  run_group
fi

# --- exec into a running container, beside runc exec on the same container -------------
if selected "exec:busybox"; then
  img-run --root "$SRC" -d --name bench-exec busybox sleep 100000 >/dev/null
  exec_id=$(img-ps --root "$SRC" -q --no-trunc --filter name=bench-exec)
  group compare exec busybox "runs=$FAST_RUNS" warmup=2
  img_exec "$SRC" bench-exec true
  img_entry img-exec
  entry role=peer tool="runc exec" "cmd=runc --root $SRC/.img/runtime/runc exec $exec_id true"
  run_group
  img-rm --root "$SRC" --container -f bench-exec >/dev/null
fi

# --- report ------------------------------------------------------------------------------
versions=$(for p in skopeo umoci buildah runc docker-registry gzip zstd openssl tar coreutils; do
  printf '%s\t%s\n' "$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo unknown)"
done | jq -Rn '[inputs | split("\t") | {(.[0]): .[1]}] | add')
facts_json=$(for w in "${WORKLOADS[@]}"; do cat "$FACTS/$w.json"; done | jq -s 'map({(.name): .}) | add')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=" (with uncommitted changes)"
[[ -z ${IMG_BENCH_BIN:-} ]] || commit="programs from $IMG_BENCH_BIN"
jq -n --arg date "$(date -u '+%Y-%m-%d %H:%M UTC')" --arg mode "$MODE" --arg command "$COMMAND" \
  --arg git "$commit" --argjson versions "$versions" --argjson workloads "$facts_json" \
  --arg cpus "$(nproc)" --arg cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
  --arg memory "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)" \
  --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" --arg kernel "$(uname -r)" \
  --arg fs "$(findmnt -no FSTYPE -T "$W") on $(findmnt -no SOURCE -T "$W")" \
  --arg sha_ni "$(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no)" \
  --argjson elapsed $((SECONDS - T0)) \
  '{date: $date, mode: $mode, command: $command, git: $git, elapsed_s: $elapsed,
    machine: {cpus: $cpus, cpu: $cpu, sha_ni: $sha_ni, memory: $memory, os: $os, kernel: $kernel, filesystem: $fs},
    versions: $versions, workloads: $workloads}' >"$W/meta.json"
echo
python3 "$BENCH/report.py" "$RESULTS" "$W/meta.json" "$OUT"
log "bench $MODE done in $((SECONDS - T0)) s: $OUT/report.md, $OUT/report.json"

if [[ -n $README ]]; then
  python3 - "$REPO/README.md" "$OUT/report.md" <<'EOF'
import sys
readme, table = sys.argv[1], open(sys.argv[2]).read()
text = open(readme).read()
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
if begin not in text or end not in text:
    sys.exit(f"bench: {readme} has no {begin} … {end} markers")
head, rest = text.split(begin, 1)
open(readme, "w").write(head + begin + "\n" + table + rest[rest.index(end):])
EOF
  log "README.md's Benchmark section updated"
fi
