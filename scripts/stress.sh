#!/usr/bin/env bash
# The crash suite: img's programs killed (SIGKILL) at random moments, many
# times each, as a crash or an impatient operator would.
#
#   bash scripts/stress.sh [N] [--only 'pull load ...']
#   just stress [N] [--only 'pull load ...']        (builds img first)
#
# For each operation (pull, load, build, commit, prune, rm, run) and each of
# N rounds (default 50): the store is brought to the state before the
# operation, the operation starts and is killed with SIGKILL after a random
# delay between 0 and 1.1 times its measured duration. Then:
#   1. img-fsck must find no damage (only leftovers: what a killed program
#      leaves by design);
#   2. the documented recovery (img-prune -f, then img-fsck --repair for
#      what only it removes: runtime state) must leave img-fsck clean;
#   3. the operation, run again, must succeed, and img-fsck stay clean.
# Processes that outlive a killed img-run or img-build by 10 s (containers
# nobody supervises, and their helpers: pasta, slirp4netns) are counted as
# leaks, reported, and ended so the round can go on. At the end: a table per operation (kills that landed mid-way, the
# leftovers seen by kind, leaks, failures) and exit 1 on any damage or
# failure. Logs of failed or leaking rounds go to target/stress/.
#
# Needs root (runc), docker-registry, skopeo, umoci, busybox-static, jq,
# openssl. Not run by CI: it takes minutes (IMG_STRESS_BIN picks the
# programs; default target/debug).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
N=50 ONLY="pull load build commit prune rm run"
while (($#)); do
  case $1 in
    --only) ONLY=${2:?--only needs a list of operations}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    [0-9]*) N=$1 ;;
    *) echo "stress: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
BIN=${IMG_STRESS_BIN:-$REPO/target/debug}
[[ -x $BIN/img-fsck ]] || { echo "stress: img is not built in $BIN (just build)" >&2; exit 2; }
for tool in docker-registry skopeo umoci jq openssl runc busybox; do
  command -v "$tool" >/dev/null || { echo "stress: $tool is not installed (scripts/setup.sh installs it)" >&2; exit 2; }
done
export PATH=$BIN:$PATH
WORK=$(mktemp -d "${TMPDIR:-/tmp}/img-stress.XXXXXX")
export IMG_ROOT=$WORK/store
LOGS=$REPO/target/stress
rm -rf "$LOGS" && mkdir -p "$LOGS"
REGISTRY_PID=""

log() { printf '%s stress: %s\n' "$(date +%T)" "$*" >&2; }

# Containers (and RUN steps) of this run that outlived the img-run or
# img-build that ran them: runc's containers (the store keeps runc's state,
# .img/runtime/runc) whose process lives (running, or created and never
# started: runc's init waiting for a start that will not come); their pids.
strays() {
  # runc list fails while a container it lists is half made or half gone.
  { runc --root "$IMG_ROOT/.img/runtime/runc" list --format json 2>/dev/null || echo '[]'; } |
    jq -r --arg w "$WORK/" '.[]? | select(.status != "stopped" and .pid > 0 and (.bundle | startswith($w))) | .pid' 2>/dev/null || true
}

# Helpers (pasta, slirp4netns) of this run's containers that outlived the
# img-run or img-build that started them: they name a file of the store on
# their command line (pasta its pid file under .img/runtime/owned).
helpers() {
  pgrep -f "^(pasta[^ ]*|passt[^ ]*|slirp4netns) .*$WORK/" || true
}

cleanup() {
  local id
  [[ -z $REGISTRY_PID ]] || kill "$REGISTRY_PID" 2>/dev/null || true
  for id in $(runc --root "$IMG_ROOT/.img/runtime/runc" list --format json 2>/dev/null | jq -r '.[]? | .id'); do
    runc --root "$IMG_ROOT/.img/runtime/runc" delete --force "$id" >/dev/null 2>&1 || true
  done
  # shellcheck disable=SC2046
  kill -9 $(helpers) 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- fixtures: busybox as `base`, `big` (base + 48 MiB of noise) in a
# registry and in an archive, a 16 MiB layer tar, a build context ----------
log "making fixtures in $WORK"
(
  cd "$WORK"
  umoci init --layout layout >/dev/null
  umoci new --image layout:base >/dev/null
  umoci unpack --image layout:base b >/dev/null
  mkdir -p b/rootfs/bin b/rootfs/etc b/rootfs/tmp
  cp "$(command -v busybox)" b/rootfs/bin/busybox
  ln -s busybox b/rootfs/bin/sh
  echo 'root:x:0:0:root:/root:/bin/sh' >b/rootfs/etc/passwd
  umoci repack --image layout:base b >/dev/null
  umoci config --image layout:base --config.cmd sh >/dev/null
  umoci tag --image layout:base big >/dev/null
  umoci unpack --image layout:big g >/dev/null
  head -c $((48 << 20)) /dev/urandom >g/rootfs/noise
  umoci repack --image layout:big g >/dev/null
  rm -rf b g
  mkdir layer ctx
  head -c $((16 << 20)) /dev/urandom >layer/noise
  tar -C layer -cf layer.tar .
  head -c $((4 << 20)) /dev/urandom >ctx/data
  printf '%s\n' 'FROM base' \
    'RUN busybox dd if=/dev/urandom of=/random bs=1M count=8 2>/dev/null' \
    'COPY data /data' \
    'RUN busybox sh -c "busybox sha256sum /data /random > /sums"' >ctx/Dockerfile
)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: $REG
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 200); do curl -fs "http://$REG/v2/" >/dev/null && break; sleep 0.05; done
skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout:big" "docker://$REG/big:1"
skopeo copy -q "oci:$WORK/layout:base" "oci:$IMG_ROOT:base"
skopeo copy -q "oci:$WORK/layout:big" "docker-archive:$WORK/big.tar:big:1"

# --- the operations: setup (the state before), the command, the check ---
# setup_OP ROUND, cmd_OP ROUND (the command line; it is killed), check_OP.
setup_pull() { img-rm -f "$REG/big:1" >/dev/null 2>&1 || true; img-prune -f >/dev/null; }
cmd_pull() { echo "img-pull -q $REG/big:1"; }
check_pull() { img-inspect "$REG/big:1" >/dev/null; }

setup_load() { img-rm -f big:1 >/dev/null 2>&1 || true; img-prune -f >/dev/null; }
cmd_load() { echo "img-load -q -i $WORK/big.tar"; }
check_load() { img-inspect big:1 >/dev/null; }

setup_commit() { img-rm -f noisy:1 >/dev/null 2>&1 || true; img-prune -f >/dev/null; }
cmd_commit() { echo "img-commit -q base noisy:1 <$WORK/layer.tar"; }
check_commit() { img-export noisy:1 | tar -tf - | grep -qE '^(\./)?noise$'; }

setup_build() { img-rm -f app:1 >/dev/null 2>&1 || true; img-prune -f --build-cache >/dev/null; }
cmd_build() { echo "img-build -q --no-cache -t app:1 $WORK/ctx"; }
check_build() { img-run --rm app:1 busybox sha256sum -c /sums >/dev/null; }

# 24 new images under the names d:1…d:24: the 24 images those names had
# become dangling.
setup_prune() {
  local i
  for i in $(seq 24); do
    head -c 200000 /dev/urandom >"$WORK/f" && tar -C "$WORK" -cf - f | img-import - "d:$i" >/dev/null
  done
}
cmd_prune() { echo "img-prune -f"; }
check_prune() { [[ -z $(img-ls -q --filter dangling=true) ]]; }

setup_rm() {
  local i
  for i in $(seq 24); do
    head -c 200000 /dev/urandom >"$WORK/f" && tar -C "$WORK" -cf - f | img-import - "r:$i" >/dev/null
  done
}
cmd_rm() { echo "img-rm $(for i in $(seq 24); do printf 'r:%s ' "$i"; done)"; }
# Run again, it removes the names the killed one had not.
again_rm() { echo "img-ls --format '{{.Repository}}:{{.Tag}}' --filter reference='r:*' | xargs -r img-rm"; }
check_rm() { [[ -z $(img-ls -q --filter reference='r:*') ]]; }

setup_run() { img-prune -f --containers >/dev/null; }
cmd_run() { echo "img-run --name c$1 base busybox sh -c 'busybox dd if=/dev/zero of=/f bs=1M count=16 2>/dev/null; echo done > /done'"; }
check_run() { img-prune -f --containers >/dev/null; }

# --- one round ------------------------------------------------------------
declare -A STAT
count() { STAT[$1]=$((${STAT[$1]:-0} + 1)); }

# A fsck, its leftovers counted by kind; prints its output; fails on damage.
fsck_after_kill() {
  local op=$1 out kind
  out=$(img-fsck 2>&1) || true
  echo "$out"
  if grep -q '^img-fsck: damaged: ' <<<"$out"; then return 1; fi
  while read -r kind; do
    [[ -n $kind ]] && count "$op leftover: $kind"
  done < <(grep '^img-fsck: leftover: ' <<<"$out" | sed -E \
    -e 's/.*a temporary file of a write.*/temporary file/' \
    -e 's/.*index.json update.*/index.json temporary file/' \
    -e 's/.*a layer being unpacked.*/unpack directory/' \
    -e 's/.*directory of a build.*/build directory/' \
    -e 's/.*ended before it wrote its record.*/container without record/' \
    -e 's/.*no img-run supervises it.*/container process nobody supervises/' \
    -e 's/.*its record says it runs.*/stale container record/' \
    -e 's/.*keeps the state of container.*/runtime state nobody owns/' \
    -e 's/.*no pull continued it.*/abandoned download/')
  return 0
}

round() {
  local op=$1 i=$2 duration=$3 cmd delay pid status strays_now helpers_now leaked=0 log=$LOGS/$op-$i.log
  if ! "setup_$op" "$i" >>"$log" 2>&1; then
    count "$op FAILED: the setup before it"
    return
  fi
  cmd=$("cmd_$op" "$i")
  delay=$(awk -v d="$duration" -v s="$RANDOM" 'BEGIN { srand(s); printf "%.3f", rand() * d * 1.1 }')
  eval "$cmd >>'$log' 2>&1 &"
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  status=0
  { wait "$pid"; } 2>/dev/null || status=$?
  if ((status == 137)); then count "$op killed mid-way"; else count "$op ended before the kill"; fi
  # Containers that outlived their img-run/img-build: their guard ends
  # them at once (container/owner.rs); those still there after 10 s are
  # leaks (ended here).
  for _ in $(seq 1000); do [[ -z $(strays)$(helpers) ]] && break; sleep 0.01; done
  strays_now=$(strays)
  if [[ -n $strays_now ]]; then
    count "$op leak: process outlived its program"
    leaked=1
    {
      echo "leaked processes: $strays_now"
      runc --root "$IMG_ROOT/.img/runtime/runc" list 2>&1 || true
      # shellcheck disable=SC2086
      ps -o pid,ppid,stat,lstart,cmd -p "$(echo $strays_now | tr ' ' ,)" 2>&1 || true
      pgrep -af 'img-guard|img-monitor' || true
    } >>"$log"
    # shellcheck disable=SC2086
    kill -9 $strays_now 2>/dev/null || true
    for _ in $(seq 500); do [[ -z $(strays) ]] && break; sleep 0.01; done
  fi
  helpers_now=$(helpers)
  if [[ -n $helpers_now ]]; then
    count "$op leak: helper (pasta) outlived its program"
    leaked=1
    # shellcheck disable=SC2086
    { echo "leaked helpers:"; ps -o pid,ppid,stat,lstart,cmd -p "$(echo $helpers_now | tr ' ' ,)"; } >>"$log" 2>&1
    # shellcheck disable=SC2086
    kill -9 $helpers_now 2>/dev/null || true
    for _ in $(seq 500); do [[ -z $(helpers) ]] && break; sleep 0.01; done
  fi
  if ! fsck_after_kill "$op" >>"$log" 2>&1; then
    count "$op FAILED: damage after the kill"
    return
  fi
  # A container process runc no longer lists, which img-fsck found: a leak
  # too (img-fsck leaves ending it to the user).
  local orphan
  for orphan in $(sed -nE 's/.*its process \(pid ([0-9]+)\) runs, but no img-run supervises it.*/\1/p' "$log" | sort -u); do
    count "$op leak: process outlived its program (found by img-fsck)"
    leaked=1
    kill -9 "$orphan" 2>/dev/null || true
    for _ in $(seq 500); do
      [[ $(awk '{ print $3 }' "/proc/$orphan/stat" 2>/dev/null) =~ ^(Z|)$ ]] && break
      sleep 0.01
    done
  done
  img-prune -f >>"$log" 2>&1 || true
  img-fsck -q >>"$log" 2>&1 || img-fsck --repair -q >>"$log" 2>&1 || true
  if ! img-fsck -q >>"$log" 2>&1; then
    count "$op FAILED: not clean after the recovery"
    return
  fi
  if declare -F "again_$op" >/dev/null; then cmd=$("again_$op"); fi
  if [[ $op == run ]]; then cmd=$("cmd_$op" "$i-again"); fi
  if ! eval "$cmd" >>"$log" 2>&1 || ! "check_$op" >>"$log" 2>&1; then
    count "$op FAILED: the operation failed when run again"
    return
  fi
  if ! img-fsck -q >>"$log" 2>&1; then
    count "$op FAILED: not clean after the operation ran again"
    return
  fi
  # A leak's log is kept (target/stress/) to say what was left.
  ((leaked)) || rm -f "$log"
}

# How long the operation takes, unkilled (the median of 3).
measure() {
  local op=$1 t times=()
  for t in 1 2 3; do
    "setup_$op" "m$t" >/dev/null 2>&1
    local start=$EPOCHREALTIME
    eval "$("cmd_$op" "m$t")" >/dev/null 2>&1 || { echo "stress: $op fails unkilled: $("cmd_$op" "m$t")" >&2; exit 1; }
    times+=("$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')")
    "check_$op" >/dev/null 2>&1 || { echo "stress: $op's result is wrong unkilled" >&2; exit 1; }
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}

T0=$SECONDS
for op in $ONLY; do
  declare -F "cmd_$op" >/dev/null || { echo "stress: no operation $op" >&2; exit 2; }
  duration=$(measure "$op")
  log "$op: $N rounds, killed within 0–$(awk -v d="$duration" 'BEGIN { printf "%.2f", d * 1.1 }') s"
  for i in $(seq "$N"); do round "$op" "$i"  "$duration"; done
done

echo
printf '| %-60s | %5s |\n' "after $N rounds of each ($((SECONDS - T0)) s)" count
printf '|%s|%s|\n' "$(printf -- '-%.0s' $(seq 62))" "-------"
failed=0
for key in $(printf '%s\n' "${!STAT[@]}" | sort | tr ' ' '~'); do
  k=${key//\~/ }
  printf '| %-60s | %5s |\n' "$k" "${STAT[$k]}"
  [[ $k == *FAILED* ]] && failed=1
done
if ((failed)); then
  echo "stress: FAILED; the logs of the failed rounds are in $LOGS" >&2
  exit 1
fi
echo "stress: no damage; every operation succeeded when run again" >&2
