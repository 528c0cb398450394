# shellcheck shell=bash
# Helpers of scripts/bench.sh: logging, the local registries, the scratch
# directory and its cleanup. Sourced, never run.
#
# Paths:
#   BENCH_CACHE  workloads kept between runs (downloaded .debs, the OCI layout
#                of the workload images, the workload registry's storage).
#                $IMG_BENCH_CACHE, else ~/.cache/img-bench.
#   BENCH_WORK   this run's scratch directory (mktemp under $TMPDIR or /tmp),
#                removed at exit, with every server this run started stopped
#                by its PID and every mount it left undone.
#   BENCH_OUT    target/bench: report.json, report.md, logs/.

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

BENCH_CACHE=${IMG_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/img-bench}
BENCH_PIDS=()   # servers this run started; stopped at exit, by PID

# bench_lock: one bench at a time per cache (they would share the workloads
# and, worse, the two cores); waits for a running one to finish.
bench_lock() {
  mkdir -p "$BENCH_CACHE"
  exec 9>"$BENCH_CACHE/lock"
  if ! flock -n 9; then
    log "another bench run holds $BENCH_CACHE/lock; waiting for it"
    flock 9
  fi
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry NAME STORAGE: start Debian's docker-registry on a free port
# of 127.0.0.1 with STORAGE as its filesystem; sets REG_ADDR.
start_registry() {
  local name=$1 storage=$2 cfg port pid
  mkdir -p "$storage"
  for attempt in 1 2 3; do
    port=$(free_port)
    cfg=$BENCH_WORK/registry-$name.yml
    cat >"$cfg" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
EOF
    # 9>&-: the registry must not hold the bench lock.
    docker-registry serve "$cfg" </dev/null >>"$BENCH_WORK/registry-$name.log" 2>&1 9>&- &
    pid=$!
    BENCH_PIDS+=("$pid")
    for _ in $(seq 1 100); do
      if curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$port/v2/"; then
        REG_ADDR=127.0.0.1:$port
        log "registry '$name' on http://$REG_ADDR (pid $pid, storage $storage)"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    stop_pid "$pid"
    log "registry '$name' did not start on port $port (attempt $attempt)"
  done
  die "docker-registry did not start: $(tail -n 3 "$BENCH_WORK/registry-$name.log")"
}

# stop_pid PID: TERM, then KILL after 10 s, a process this run started.
stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

# start_dockerd DIR: a Docker engine of the bench's own (Debian's docker.io,
# the engine most users would otherwise build, save and load with), with the
# overlay2 storage driver as Docker installs it, its own data root, exec
# root, pidfile and socket under DIR, and no changes to the host's network;
# sets DOCKER, its client's command line (Debian's client: the 20.10 engine
# builds with BuildKit through it, a newer client on PATH would want buildx).
# bench_cleanup stops it with the other servers (dockerd stops its
# containerd and unmounts its layers).
start_dockerd() {
  local dir=$1 pid
  mkdir -p "$dir"
  # 9>&-: the engine must not hold the bench lock.
  dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" \
    -H "unix://$dir/sock" --storage-driver overlay2 --iptables=false --ip-masq=false \
    --bridge=none --userland-proxy=false </dev/null >"$dir/dockerd.log" 2>&1 9>&- &
  pid=$!
  BENCH_PIDS+=("$pid")
  DOCKER="/usr/bin/docker -H unix://$dir/sock"
  for _ in $(seq 1 300); do  # 60 s at most
    $DOCKER version >/dev/null 2>&1 && { log "dockerd (overlay2) on $dir/sock (pid $pid)"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  die "dockerd did not start: $(tail -n 3 "$dir/dockerd.log")"
}

# unmount_under DIR: undo every mount below DIR (buildah's overlay mounts),
# deepest first. Fails when one stays.
unmount_under() {
  local dir=$1 m
  awk -v p="$dir/" 'index($2, p) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  ! awk -v p="$dir/" 'index($2, p) == 1 {found = 1} END {exit !found}' /proc/mounts
}

# bench_cleanup: stop our servers, let the peers drop their state, unmount,
# remove the scratch directory. Runs at exit, whatever happened.
bench_cleanup() {
  local rc=$? pid
  set +o errexit
  [[ $rc == 0 ]] || log "stopping (exit $rc): cleaning up"
  [[ -z ${RUNNER_PID:-} ]] || stop_pid "$RUNNER_PID"
  for pid in "${BENCH_PIDS[@]}"; do stop_pid "$pid"; done
  if [[ -n ${BENCH_WORK:-} && -d $BENCH_WORK ]]; then
    if [[ -n ${BUILDAH:-} ]]; then
      $BUILDAH rm -a >/dev/null 2>&1
      $BUILDAH rmi -a -f >/dev/null 2>&1
    fi
    if unmount_under "$BENCH_WORK"; then
      rm -rf -- "$BENCH_WORK"
    else
      log "mounts remain under $BENCH_WORK; left it in place"
    fi
  fi
  exit "$rc"
}

# size_of PATH...: total bytes of regular files.
size_of() { stat -c %s -- "$@" | awk '{s += $1} END {print s + 0}'; }
