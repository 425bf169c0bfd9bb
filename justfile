# Trellis: the commands the README names. `just --list` shows them.

set shell := ["bash", "-euo", "pipefail", "-c"]

export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", "/var/tmp/trellis-target")
target := CARGO_TARGET_DIR

# Build the web UI and run Trellis on 127.0.0.1:8080 with SQLite under ./data; a fresh data
# directory gets the sales and store templates (TRELLIS_DEMO=false: an empty one).
run: ui
    TRELLIS_DEMO=${TRELLIS_DEMO:-true} cargo run --release -p trellis-server -- serve

# Every test: the generated UI client is current, web-ui unit tests, Rust unit and black-box tests on SQLite and PostgreSQL, the browser test, API fuzzing.
test: gen-check ui-test ui
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

# Generate web-ui's API types (web-ui/src/api/schema.d.ts) from the platform OpenAPI document (`trellis openapi`).
gen: ui-deps
    cargo build -p trellis-server
    {{target}}/debug/trellis openapi > {{target}}/platform-openapi.json
    cd web-ui && npm run --silent gen -- {{target}}/platform-openapi.json

# Fail when the generated files in git (committed, or staged to be) differ from a fresh `just gen`.
gen-check: gen
    @f=web-ui/src/api/schema.d.ts; \
    if ! git ls-files --error-unmatch "$f" >/dev/null 2>&1 || ! git diff --quiet -- "$f"; then \
        git --no-pager diff --stat -- "$f"; \
        echo "$f is not what the platform document generates: run 'just gen' and commit it." >&2; \
        exit 1; \
    fi

# Install web-ui's packages exactly as locked, unless node_modules is newer than the lock.
ui-deps:
    cd web-ui && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; }

# Install web-ui's packages (exactly as locked) and build it into web-ui/dist (embedded by the binary).
ui: ui-deps
    cd web-ui && npm run build

# web-ui's unit tests (Vitest).
ui-test: ui-deps
    cd web-ui && npm test

# The browser test: a real node with the UI built in, driven by Chromium.
ui-e2e:
    cargo build -p trellis-server
    scripts/ui-e2e.sh {{target}}/debug/trellis

# Schemathesis against a real node's platform and app documents (`pip install schemathesis`).
api-fuzz:
    cargo build -p trellis-server
    scripts/api-fuzz.sh {{target}}/debug/trellis

# The web UI at a million rows (slow; not part of `just test`): release build, a node on a fresh SQLite database, 1,000,000 rows seeded with the bulk endpoint, then in Chromium the first-load JavaScript (gzip), first paint and first grid rows on cold loads, and frame times while scrolling (UI_BENCH_ROWS, UI_BENCH_LOADS, UI_BENCH_DATABASE_URL to change).
ui-bench: ui
    cargo build --release -p trellis-server
    scripts/ui-bench.sh {{target}}/release/trellis

# Release build, then load on SQLite and PostgreSQL (BENCH_ROWS, BENCH_OPS, BENCH_DB to change).
bench: ui
    cargo build --release -p trellis-server -p trellis-bench
    {{target}}/release/trellis-bench {{target}}/release/trellis
    cargo bench -p trellis-rules --bench rules -- --noplot
