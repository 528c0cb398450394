# img's recipes. `just --list` shows them.
set shell := ["bash", "-euo", "pipefail", "-c"]

prefix := env_var_or_default("PREFIX", "/usr/local")

# Build every program (debug).
build:
    cargo build --workspace

# Build every program optimized (not the test harness: the demo, install and
# bench need the programs only).
release:
    cargo build --workspace --release --exclude img-tests

# Run the unit and integration tests (peer tools must be installed; see scripts/setup.sh).
test: build
    cargo test --workspace

# What CI runs: formatting, lints, every test with peer tools required.
ci:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo build --workspace
    CI=true cargo test --workspace --no-fail-fast

# Regenerate the man pages in man/ from the clap definitions.
man:
    cargo run -q -p img-tests --bin img-docgen -- man man

# Install the programs, man pages and bash/zsh/fish completions under PREFIX (default /usr/local).
install: release
    install -d {{prefix}}/bin {{prefix}}/share/man/man1 {{prefix}}/share/man/man7
    for b in bins/img-*; do install -m 0755 target/release/${b#bins/} {{prefix}}/bin/; done
    install -m 0644 man/*.1 {{prefix}}/share/man/man1/
    install -m 0644 man/*.7 {{prefix}}/share/man/man7/
    cargo run -q --release -p img-tests --bin img-docgen -- completions target/completions
    install -d {{prefix}}/share/bash-completion/completions {{prefix}}/share/zsh/site-functions {{prefix}}/share/fish/vendor_completions.d
    for f in target/completions/bash/*.bash; do install -m 0644 "$f" {{prefix}}/share/bash-completion/completions/$(basename "$f" .bash); done
    install -m 0644 target/completions/zsh/* {{prefix}}/share/zsh/site-functions/
    install -m 0644 target/completions/fish/* {{prefix}}/share/fish/vendor_completions.d/
    command -v mandb >/dev/null && mandb -q {{prefix}}/share/man || true

# The main job end to end: make a base image, then list, tag, inspect it … (scripts/demo.sh).
demo: release
    bash scripts/demo.sh

# The crash suite: every program killed at random moments, N times each (default 50; not in CI).
stress *args: build
    bash scripts/stress.sh {{args}}

# Every fuzz target for SECONDS each (default 60), or only those named: `just fuzz 300 layer`.
fuzz *args:
    bash scripts/fuzz.sh {{args}}

# Benchmarks beside skopeo, umoci and buildah: `just bench` or `just bench quick`.
bench *args: release
    bash scripts/bench.sh {{args}}
