#!/usr/bin/env bash
# The README's two commands: `bash scripts/run.sh demo` runs img's main job
# end to end; `bash scripts/run.sh test` runs the whole test suite as CI does.
# Both first install what they need (scripts/setup.sh): the demo needs fewer
# Debian packages than the tests, so a first use gets only those.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  demo | test) ;;
  *) echo "usage: bash scripts/run.sh demo|test" >&2; exit 2 ;;
esac
bash scripts/setup.sh "$1"
export PATH="$HOME/.cargo/bin:$PATH"
case "$1" in
  demo) exec just demo ;;
  test) exec just ci ;;
esac
