# tokenkit: `make demo` runs the example, `make test` runs every test. Both install what
# they need first (idempotently: each step checks before it installs).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export WRANGLER_SEND_METRICS := false
export CARGO_TERM_COLOR := never

WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' Cargo.lock)
WASM := target/wasm32-unknown-unknown/release/tokenkit.wasm
# strip = true drops the target-features section, so tell wasm-opt what the wasm uses.
WASM_OPT_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-reference-types --enable-multivalue --enable-mutable-globals

.PHONY: setup build worker-build worker test demo example test-native test-wasm test-node clean

setup:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
	@[ "$$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $(WASM_BINDGEN_VERSION)" ] || \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; }
	@[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund

build: setup
	cargo build --release --target wasm32-unknown-unknown --lib --no-default-features
	rm -rf target/bindgen
	wasm-bindgen --target web --no-typescript --out-dir target/bindgen --out-name tokenkit $(WASM)
	wasm-opt -Oz --converge $(WASM_OPT_FEATURES) target/bindgen/tokenkit_bg.wasm -o target/bindgen/tokenkit_bg.wasm
	node scripts/assemble.mjs

# The Worker build: the same crate with the broker, to worker/pkg/.
worker-build: setup
	cargo build --release --target wasm32-unknown-unknown --lib --no-default-features --features broker
	rm -rf worker/pkg
	wasm-bindgen --target web --no-typescript --out-dir worker/pkg --out-name tokenkit $(WASM)
	wasm-opt -Oz --converge $(WASM_OPT_FEATURES) worker/pkg/tokenkit_bg.wasm -o worker/pkg/tokenkit_bg.wasm
	@echo "worker/pkg: broker wasm $$(wc -c < worker/pkg/tokenkit_bg.wasm) bytes"

worker: worker-build
	node worker/dev.mjs

# The live demo: local auth server + API, the broker in workerd, the page. Ctrl-C stops it.
demo: build worker-build
	node www/serve.mjs

# A non-interactive walk through the same features, printed to the terminal.
example: build worker-build
	node examples/demo.mjs

test: build worker-build test-native test-wasm test-node

test-native:
	cargo test --locked
	cargo clippy --locked --all-targets -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown --lib -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown --lib --no-default-features -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown --lib --no-default-features --features broker -- -D warnings

test-wasm:
	node tests/wasm/run.mjs

test-node:
	tsc -p tests/types
	tsc -p tests/types/tsconfig.node.json
	node --test --test-concurrency=1 tests/node/
	node examples/demo.mjs > /dev/null

clean:
	rm -rf target pkg node_modules tests/artifacts
