# shellcheck shell=bash
# The bench's workloads, made offline from Debian's packages and cached in
# $BENCH_CACHE between runs. Sourced by scripts/bench.sh, never run.
#
#   busybox       one layer: Debian's busybox-static and its applet links
#   many-files    five layers of real Debian package contents (dpkg -x):
#                 Python with Django, Perl, the kernel headers with libstdc++,
#                 icons with tzdata, locales and Ruby; then a layer that
#                 deletes /usr/share/doc and /usr/share/man (whiteouts)
#   some-files    the same with the Python layer only (for `bench quick`)
#   big-blob-<N>  two layers: N MiB of incompressible bytes, N MiB of log
#                 lines (gzip about 5:1)
#   build context and the 10-step and two-stage Dockerfiles (bench.sh)
#
# Images are built with umoci into $BENCH_CACHE/layout (gzip layers, fixed
# timestamps) and pushed as Docker schema 2 (what registries serve most) to
# the workload registry, whose storage is kept in $BENCH_CACHE/registry.
# Each workload's facts (layers, bytes, tar entries) go to
# $BENCH_CACHE/facts/NAME.json. Bump RECIPE when a recipe changes.

RECIPE=1
EPOCH=1700000000
CREATED=$(date -u -d @$EPOCH +%Y-%m-%dT%H:%M:%SZ)
LAYOUT=$BENCH_CACHE/layout
DEBS=$BENCH_CACHE/debs
FACTS=$BENCH_CACHE/facts

# Layers of many-files: a name, then the Debian packages unpacked into it.
many_files_groups() {
  local headers sudo=""
  if ! apt-cache show python3-django >/dev/null 2>&1; then
    [[ $(id -u) == 0 ]] || sudo=sudo
    log "apt-get update (the package lists are needed to download .debs)"
    $sudo apt-get update -qq >&2
  fi
  headers=$(apt-cache depends linux-headers-amd64 2>/dev/null | awk '/Depends: linux-headers-[0-9]/{print $2; exit}')
  [[ -n $headers ]] && headers=$(apt-cache depends "$headers" | awk '/Depends: linux-headers-.*-common$/{print $2; exit}')
  [[ -n $headers ]] || die "cannot find Debian's linux-headers-*-common package (apt-get update?)"
  cat <<EOF
python python3.11-minimal libpython3.11-minimal libpython3.11-stdlib python3-django
perl perl-base perl-modules-5.36 libperl5.36
headers $headers libstdc++-12-dev
assets adwaita-icon-theme tzdata locales libruby3.1
EOF
}

# fetch_debs PKG...: make sure $DEBS holds a .deb of every package.
fetch_debs() {
  local missing=() p
  mkdir -p "$DEBS"
  for p in "$@"; do compgen -G "$DEBS/${p}_*.deb" >/dev/null || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  log "apt-get download ${missing[*]}"
  (cd "$DEBS" && apt-get download "${missing[@]}" 2>&1 | grep -v 'unsandboxed' >&2) || true
  for p in "${missing[@]}"; do
    compgen -G "$DEBS/${p}_*.deb" >/dev/null || die "apt-get download $p failed (is Debian's package registry reachable?)"
  done
}

has_tag() {
  [[ -f $LAYOUT/index.json ]] &&
    jq -e --arg t "$1" '.manifests[]? | select(.annotations["org.opencontainers.image.ref.name"] == $t)' \
      "$LAYOUT/index.json" >/dev/null
}

# tar_dir DIR: a reproducible tar of DIR's contents (names without ./,
# sorted, root-owned, fixed mtimes) on stdout.
tar_dir() {
  (cd "$1" && find . -mindepth 1 -maxdepth 1 -printf '%P\0' | LC_ALL=C sort -z |
    tar --null -T - --sort=name --owner=0 --group=0 --numeric-owner \
      --mtime=@$EPOCH --clamp-mtime --format=gnu -cf -)
}

new_image() {
  [[ -f $LAYOUT/oci-layout ]] || umoci init --layout "$LAYOUT"
  if has_tag "$1"; then umoci rm --image "$LAYOUT:$1"; fi
  umoci new --image "$LAYOUT:$1"
}

# add_layer TAG DIR CREATED_BY: DIR's contents as the image's next layer.
add_layer() {
  tar_dir "$2" >"$BENCH_WORK/layer.tar"
  umoci raw add-layer --image "$LAYOUT:$1" --history.created "$CREATED" \
    --history.created_by "$3" "$BENCH_WORK/layer.tar"
  rm -f "$BENCH_WORK/layer.tar"
}

# finish_image TAG CMD...: the config a Docker user expects.
finish_image() {
  local tag=$1 args=() c
  shift
  for c in "$@"; do args+=(--config.cmd "$c"); done
  umoci config --image "$LAYOUT:$tag" --no-history --os linux --architecture amd64 \
    --created "$CREATED" --author img-bench \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${args[@]}"
}

# marker DIR NAME: the file that tells an unpacked root filesystem is whole.
marker() { mkdir -p "$1/etc/img-bench" && echo "img-bench $2 recipe $RECIPE" >"$1/etc/img-bench/$2"; }

build_busybox() {
  fetch_debs busybox-static
  local r=$BENCH_WORK/busybox p
  rm -rf "$r"
  dpkg -x "$DEBS"/busybox-static_*.deb "$r.deb"
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,var/tmp,proc,sys,dev,home}
  chmod 1777 "$r/tmp" "$r/var/tmp"
  cp "$r.deb/bin/busybox" "$r/bin/busybox"
  while read -r p; do
    [[ $p == bin/busybox ]] || ln -sf /bin/busybox "$r/$p"
  done < <("$r/bin/busybox" --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  marker "$r" busybox
  new_image busybox
  add_layer busybox "$r" "busybox-static $(dpkg-deb -f "$DEBS"/busybox-static_*.deb Version)"
  finish_image busybox sh
  rm -rf "$r" "$r.deb"
}

# build_many_files TAG: many-files, or some-files (its first layer only).
build_many_files() {
  local tag=$1 groups=$BENCH_WORK/groups name pkgs d p
  if [[ $tag == some-files ]]; then many_files_groups | head -n 1; else many_files_groups; fi >"$groups"
  # shellcheck disable=SC2046  # the package names of every group
  fetch_debs $(cut -d' ' -f2- "$groups")
  new_image "$tag"
  while read -r name pkgs; do
    d=$BENCH_WORK/mf-$name
    rm -rf "$d" && mkdir -p "$d"
    for p in $pkgs; do dpkg -x "$DEBS/${p}"_*.deb "$d"; done
    log "$tag: layer $name: $(find "$d" | wc -l) entries, $(du -sm "$d" | cut -f1) MB"
    add_layer "$tag" "$d" "apt-get install $pkgs"
    rm -rf "$d"
  done <"$groups"
  # The way images often end: docs deleted (whiteouts), a file added.
  d=$BENCH_WORK/mf-cleanup
  rm -rf "$d" && mkdir -p "$d/usr/share"
  : >"$d/usr/share/.wh.doc"
  : >"$d/usr/share/.wh.man"
  marker "$d" "$tag"
  add_layer "$tag" "$d" "rm -rf /usr/share/doc /usr/share/man"
  rm -rf "$d"
  finish_image "$tag" python3.11
}

# big_files MIB: make (once) the incompressible and the compressible file.
big_files() {
  local mib=$1 rnd=$BENCH_CACHE/data/random-$1m.bin text=$BENCH_CACHE/data/log-$1m.log
  mkdir -p "$BENCH_CACHE/data"
  if [[ ! -s $rnd ]]; then
    log "making $rnd (AES-CTR keystream: incompressible, reproducible)"
    { openssl enc -aes-128-ctr -nosalt -K 696d672d62656e63682d72616e646f6d -iv 00000000000000000000000000000000 </dev/zero 2>/dev/null || true; } |
      head -c $((mib << 20)) >"$rnd.part"
    [[ $(stat -c %s "$rnd.part") == $((mib << 20)) ]] || die "short $rnd.part"
    mv "$rnd.part" "$rnd"
  fi
  if [[ ! -s $text ]]; then
    log "making $text (web-server log lines)"
    awk -v n=$(((mib << 20) / 80 + 1000)) 'BEGIN { srand(7); t = 1700000000
      split("GET GET GET POST PUT DELETE", m, " "); split("200 200 200 201 204 304 404 500", s, " ")
      for (i = 0; i < n; i++) { t += int(rand() * 2)
        printf "%d.%03d INFO req=%08x %s /api/v1/items/%d status=%s bytes=%d ms=%.2f ua=curl/7.88\n",
          t, int(rand() * 1000), int(rand() * 2^31), m[int(rand() * 6) + 1], int(rand() * 50000),
          s[int(rand() * 8) + 1], int(rand() * 65536), rand() * 200 } }' |
      head -c $((mib << 20)) >"$text.part" || true
    [[ $(stat -c %s "$text.part") == $((mib << 20)) ]] || die "short $text.part"
    mv "$text.part" "$text"
  fi
}

build_big_blob() {
  local tag=$1 mib=${1#big-blob-} d=$BENCH_WORK/bb
  mib=${mib%m}
  big_files "$mib"
  new_image "$tag"
  rm -rf "$d" && mkdir -p "$d/data"
  ln "$BENCH_CACHE/data/random-${mib}m.bin" "$d/data/random.bin" 2>/dev/null || cp "$BENCH_CACHE/data/random-${mib}m.bin" "$d/data/random.bin"
  add_layer "$tag" "$d" "COPY random.bin /data/ (incompressible)"
  rm -rf "$d" && mkdir -p "$d/data"
  ln "$BENCH_CACHE/data/log-${mib}m.log" "$d/data/app.log" 2>/dev/null || cp "$BENCH_CACHE/data/log-${mib}m.log" "$d/data/app.log"
  marker "$d" "$tag"
  add_layer "$tag" "$d" "COPY app.log /data/ (compressible)"
  rm -rf "$d"
  finish_image "$tag" sh
}

# facts TAG: layers, compressed and uncompressed bytes, tar entries → JSON.
facts() {
  local tag=$1 manifest layers=0 gz=0 tar=0 entries=0 d f
  manifest=$LAYOUT/blobs/sha256/$(jq -r --arg t "$tag" \
    '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest[7:]' "$LAYOUT/index.json")
  for d in $(jq -r '.layers[].digest[7:]' "$manifest"); do
    f=$LAYOUT/blobs/sha256/$d
    layers=$((layers + 1)) gz=$((gz + $(stat -c %s "$f")))
    tar=$((tar + $(gzip -dc "$f" | wc -c)))
    entries=$((entries + $(gzip -dc "$f" | tar -tf - | wc -l)))
  done
  jq -n --arg name "$tag" --argjson recipe $RECIPE --argjson layers $layers --argjson gz $gz \
    --argjson tar $tar --argjson entries $entries --arg manifest "sha256:${manifest##*/}" \
    '{name: $name, recipe: $recipe, manifest: $manifest, layers: $layers,
      compressed_bytes: $gz, uncompressed_bytes: $tar, tar_entries: $entries}'
}

# ensure_workload TAG: build TAG into the cached layout unless it is there.
ensure_workload() {
  local tag=$1 t0
  mkdir -p "$FACTS"
  if has_tag "$tag" && [[ $(jq -r .recipe "$FACTS/$tag.json" 2>/dev/null) == "$RECIPE" ]]; then
    return 0
  fi
  log "workload $tag: building (once; cached in $BENCH_CACHE)"
  t0=$SECONDS
  case $tag in
    busybox) build_busybox ;;
    many-files | some-files) build_many_files "$tag" ;;
    big-blob-*m) build_big_blob "$tag" ;;
    *) die "unknown workload $tag" ;;
  esac
  umoci gc --layout "$LAYOUT"
  facts "$tag" >"$FACTS/$tag.json"
  log "workload $tag: $(jq -r '"\(.layers) layers, \(.compressed_bytes / 1e6 | floor) MB gzip, \(.uncompressed_bytes / 1e6 | floor) MB tar, \(.tar_entries) entries"' "$FACTS/$tag.json"), built in $((SECONDS - t0)) s"
}

# fact TAG KEY: one number of a workload's facts.
fact() { jq -r ".$2" "$FACTS/$1.json"; }

# seed_registry ADDR TAG...: push the workloads the registry lacks (or
# holds from an older recipe) as ADDR/TAG:latest, Docker schema 2.
seed_registry() {
  local addr=$1 tag want
  shift
  for tag in "$@"; do
    want=$(fact "$tag" manifest)
    if [[ $(cat "$BENCH_CACHE/registry/$tag.seeded" 2>/dev/null) == "$want" ]] &&
      curl -fsI -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://$addr/v2/$tag/manifests/latest"; then
      continue
    fi
    log "workload $tag: pushing to the workload registry"
    skopeo copy -q --dest-tls-verify=false --format v2s2 "oci:$LAYOUT:$tag" "docker://$addr/$tag:latest"
    echo "$want" >"$BENCH_CACHE/registry/$tag.seeded"
  done
}

# build_context: files for the Dockerfiles (~40 MB): Perl's module tree
# (thousands of small files), 16 MiB incompressible, 8 MiB of log.
build_context() {
  local ctx=$BENCH_CACHE/context
  [[ -f $ctx/.recipe-$RECIPE ]] && return 0
  fetch_debs perl-modules-5.36
  big_files 64
  rm -rf "$ctx" && mkdir -p "$ctx/data" "$BENCH_WORK/ctx"
  dpkg -x "$DEBS"/perl-modules-5.36_*.deb "$BENCH_WORK/ctx"
  mv "$BENCH_WORK/ctx/usr/share/perl" "$ctx/src"
  rm -rf "$BENCH_WORK/ctx"
  head -c $((16 << 20)) "$BENCH_CACHE/data/random-64m.bin" >"$ctx/data/blob.bin"
  head -c $((8 << 20)) "$BENCH_CACHE/data/log-64m.log" >"$ctx/data/app.log"
  touch "$ctx/.recipe-$RECIPE"
}

# dockerfiles DIR REGISTRY: write DIR/ten-step.Dockerfile and
# DIR/two-stage.Dockerfile, FROM the registry's busybox.
dockerfiles() {
  local dir=$1 base=$2/busybox:latest
  cat >"$dir/ten-step.Dockerfile" <<EOF
FROM $base
ENV APP_HOME=/app LANG=C.UTF-8
WORKDIR /app
COPY src/ /app/src/
RUN find /app/src -name '*.pm' | wc -l >/app/modules.txt
COPY data/ /app/data/
RUN mkdir -p /app/out && gzip -1 -c /app/data/app.log >/app/out/app.log.gz
LABEL org.opencontainers.image.title=img-bench-ten-step
EXPOSE 8080
CMD ["sh", "-c", "cat /app/modules.txt"]
EOF
  cat >"$dir/two-stage.Dockerfile" <<EOF
FROM $base AS builder
WORKDIR /build
COPY src/ ./src/
RUN tar -cf - src | gzip -1 >/build/src.tar.gz && find src -type f | sort >/build/files.txt
FROM $base
COPY --from=builder /build/src.tar.gz /build/files.txt /app/
CMD ["sh", "-c", "wc -l /app/files.txt"]
EOF
}
