#!/usr/bin/env bash
# The README's two commands: `bash scripts/run.sh demo` runs img's main job
# end to end; `bash scripts/run.sh test` runs the whole test suite as CI does.
# Both first install what they need (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
case "${1:-}" in
  demo) exec just demo ;;
  test) exec just ci ;;
  *) echo "usage: bash scripts/run.sh demo|test" >&2; exit 2 ;;
esac
