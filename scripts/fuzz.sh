#!/usr/bin/env bash
# Runs img's fuzz targets (fuzz/fuzz_targets/*.rs, cargo-fuzz's layout) for a
# bounded time each: `just fuzz` (60 s a target), `just fuzz 300`, or
# `just fuzz 120 layer archive`. Each target starts from fuzz/seeds/TARGET
# (with the words of fuzz/dicts/TARGET.dict, when there is one) and keeps
# what it learns in fuzz/corpus/TARGET. An input that makes a target fail
# is kept in fuzz/artifacts/TARGET/ and named: make it a regression test (a
# seed, and a test beside the code), then fix what it found. Every target
# runs; the script fails at the end when any did.
#
# cargo-fuzz needs a nightly toolchain (libFuzzer and the sanitizers are
# nightly-only); both are installed when missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export PATH="$HOME/.cargo/bin:$PATH"

seconds=${1:-60}
shift || true
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
# Archives and layers are tars: their inputs need room.
max_len() {
  case $1 in
    archive) echo 65536 ;;
    layer | layer_entries) echo 32768 ;;
    *) echo 4096 ;;
  esac
}
mkdir -p logs
failed=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  seeds=()
  [ -d "seeds/$target" ] && seeds=("seeds/$target")
  log="logs/$target.log"
  echo "fuzz: $target for ${seconds} s (log: fuzz/$log)" >&2
  dict=()
  [ -f "dicts/$target.dict" ] && dict=("-dict=dicts/$target.dict")
  status=0
  cargo +nightly fuzz run -O "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$seconds" -max_len="$(max_len "$target")" "${dict[@]}" \
    -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 > "$log" 2>&1 || status=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | tr '\n' ' ' >&2 || true
  echo >&2
  if [ $status -ne 0 ]; then
    grep -A12 -m1 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" >&2 || tail -n 20 "$log" >&2
    echo "fuzz: $target failed (status $status); the input is in fuzz/artifacts/$target/" >&2
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
