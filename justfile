# Trellis: the commands the README names. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", "/var/tmp/trellis-target")
target := CARGO_TARGET_DIR

# Build the web UI and run Trellis on 127.0.0.1:8080 with SQLite under ./data.
run: ui
    cargo run --release -p trellis-server -- serve

# Every test: web-ui unit tests, Rust unit and black-box tests on SQLite and PostgreSQL, the browser test, API fuzzing.
test: ui-test ui
    cargo test --workspace --all-targets
    just ui-e2e
    just api-fuzz

# fmt and clippy, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Format the Rust code.
fmt:
    cargo fmt --all

# Install web-ui's packages (exactly as locked) and build it into web-ui/dist (embedded by the binary).
ui:
    cd web-ui && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build

# web-ui's unit tests (Vitest).
ui-test:
    cd web-ui && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm test

# The browser test: a real node with the UI built in, driven by Chromium.
ui-e2e:
    cargo build -p trellis-server
    scripts/ui-e2e.sh {{target}}/debug/trellis

# Schemathesis against a real node's platform and app documents (`pip install schemathesis`).
api-fuzz:
    cargo build -p trellis-server
    scripts/api-fuzz.sh {{target}}/debug/trellis

# Release build, then load on SQLite and PostgreSQL (BENCH_ROWS, BENCH_OPS, BENCH_DB to change).
bench: ui
    cargo build --release -p trellis-server -p trellis-bench
    {{target}}/release/trellis-bench {{target}}/release/trellis
    cargo bench -p trellis-rules --bench rules -- --noplot
