# tokenkit: `make demo` runs the example, `make test` runs every test. Both install what
# they need first (idempotently: each step checks before it installs).
SHELL := /bin/bash
comma := ,
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export WRANGLER_SEND_METRICS := false
export CARGO_TERM_COLOR := never

WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/^version = "\(.*\)"$$/\1/p;}' Cargo.lock)
# wasm-pack runs the wasm tests (`make test`): from crates.io, never downloading its own tools.
WASM_PACK_VERSION := 0.15.1
WASM := target/wasm32-unknown-unknown/release/tokenkit.wasm
# strip = true drops the target-features section, so tell wasm-opt what the wasm uses.
WASM_OPT_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-reference-types --enable-multivalue --enable-mutable-globals

.PHONY: boundary pack fuzz soak bench figures setup setup-test setup-chromium setup-matrix build worker-build worker test demo example test-native test-wasm test-node test-matrix clean FORCE

# What building needs (`make pack`, `make demo`): a C linker for cargo install (Debian's
# build-essential when there is none), the wasm target, wasm-bindgen, the npm tools. What only
# the tests need is setup-test and setup-chromium, so a newcomer's first build compiles less.
setup:
	@command -v cc >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends build-essential; }
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@[ "$$(wasm-bindgen --version 2>/dev/null)" = "wasm-bindgen $(WASM_BINDGEN_VERSION)" ] || \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force
	@[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund

# Clippy (test-native) and wasm-pack (test-wasm).
setup-test: setup
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
	@[ "$$(wasm-pack --version 2>/dev/null)" = "wasm-pack $(WASM_PACK_VERSION)" ] || \
	  cargo install wasm-pack --version $(WASM_PACK_VERSION) --locked --force

# Installs the locked dev dependencies of directory $(1), unless they are newer than its lock.
# `npm install` with the lock, not `npm ci`: npm 11.19.1's lock leaves out other platforms'
# optional bindings (@swc/core) and its own `npm ci` rejects it.
npm-install-locked = [ $(1)/node_modules/.package-lock.json -nt $(1)/package-lock.json ] || \
  (cd $(1) && npm install --no-save --no-audit --no-fund --loglevel=error)

# The bundlers, frameworks and runtimes of the matrix test (tests/matrix/package.json, exact
# versions, about 1.7 GB, installed once).
setup-matrix:
	@$(call npm-install-locked,tests/matrix)

setup-chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; }

# Panic locations inside dependencies (js-sys, talc) carry their source path; cutting cargo's
# registry directory from it takes 36 B gzip off the browser download and makes the bytes the
# same on every machine. `cargo fetch` first, so the directory exists on a fresh one.
# A 128 KB stack instead of rustc's default 1 MB: the code has no deep recursion (values are
# read at most a few levels deep), and each instance's memory starts at 3 pages, not 17
# (every tab, worker and isolate pays for it).
WASM_RUSTFLAGS = $$(cargo fetch --locked -q && for d in $(HOME)/.cargo/registry/src/*/; do printf -- '--remap-path-prefix=%s= ' "$$d"; done) -C link-arg=-zstack-size=131072
export_wasm_flags = export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$(WASM_RUSTFLAGS)";

# What cargo's wasm builds read: the crate, its lock, and the JS modules it imports.
WASM_INPUTS := $(shell find src -name '*.rs') Cargo.toml Cargo.lock js/shell.js Makefile

# One wasm per feature set, named $(1), built with cargo flags $(2). Cargo runs only when an
# input is newer than the set's stamp (a no-op `make build` starts no cargo: each set would
# recompile the crate, as they share cargo's output path). Its output is copied only when its
# bytes change, so wasm-bindgen and wasm-opt (about 6 s) run only when they must.
define wasm_build
target/wasm/$(1).stamp: $(WASM_INPUTS) | setup
	@$$(export_wasm_flags) cargo build --release --target wasm32-unknown-unknown --lib --no-default-features $(2)
	@mkdir -p target/wasm; cmp -s $(WASM) target/wasm/$(1).wasm || cp $(WASM) target/wasm/$(1).wasm
	@touch $$@
target/wasm/$(1).wasm: target/wasm/$(1).stamp
	@:
endef
$(eval $(call wasm_build,browser,))
$(eval $(call wasm_build,signin,--features signin))
# tokenkit/dpop: the sign-in build with DPoP-bound tokens (RFC 9449).
$(eval $(call wasm_build,dpop,--features signin$(comma)dpop))
# The servers' builds (the Node and Workers entries of each): the same with what only servers
# do (feature server: private_key_jwt, which a page must never use, and PAR).
$(eval $(call wasm_build,server,--features server))
$(eval $(call wasm_build,signin-server,--features signin$(comma)server))
$(eval $(call wasm_build,dpop-server,--features signin$(comma)dpop$(comma)server))
$(eval $(call wasm_build,broker,--features broker))

# wasm-bindgen's glue and wasm for cargo's output $(1), in directory $(2): the glue tidied
# (scripts/glue.mjs), the wasm through wasm-opt, and the names between them shortened.
define bindgen
	rm -rf $(2)
	wasm-bindgen --target web --no-typescript --out-dir $(2) --out-name tokenkit $(1)
	node scripts/glue.mjs $(2)/tokenkit.js
	wasm-opt -Oz --converge $(WASM_OPT_FEATURES) $(2)/tokenkit_bg.wasm -o $(2)/tokenkit_bg.wasm
	node scripts/minify-names.mjs $(2) $(WASM_OPT_FEATURES)
endef

target/bindgen/tokenkit_bg.wasm: target/wasm/browser.wasm scripts/glue.mjs scripts/minify-names.mjs
	$(call bindgen,target/wasm/browser.wasm,target/bindgen)

# tokenkit/signin: the same client with the sign-in code (authorization code + PKCE).
target/bindgen-signin/tokenkit_bg.wasm: target/wasm/signin.wasm scripts/glue.mjs scripts/minify-names.mjs
	$(call bindgen,target/wasm/signin.wasm,target/bindgen-signin)

# tokenkit/dpop: the sign-in build with DPoP-bound tokens (RFC 9449).
target/bindgen-dpop/tokenkit_bg.wasm: target/wasm/dpop.wasm scripts/glue.mjs scripts/minify-names.mjs
	$(call bindgen,target/wasm/dpop.wasm,target/bindgen-dpop)

target/bindgen-server/tokenkit_bg.wasm: target/wasm/server.wasm scripts/glue.mjs scripts/minify-names.mjs
	$(call bindgen,target/wasm/server.wasm,target/bindgen-server)

target/bindgen-signin-server/tokenkit_bg.wasm: target/wasm/signin-server.wasm scripts/glue.mjs scripts/minify-names.mjs
	$(call bindgen,target/wasm/signin-server.wasm,target/bindgen-signin-server)

target/bindgen-dpop-server/tokenkit_bg.wasm: target/wasm/dpop-server.wasm scripts/glue.mjs scripts/minify-names.mjs
	$(call bindgen,target/wasm/dpop-server.wasm,target/bindgen-dpop-server)

SERVER_BUILDS := target/bindgen-server/tokenkit_bg.wasm target/bindgen-signin-server/tokenkit_bg.wasm target/bindgen-dpop-server/tokenkit_bg.wasm

# The npm package: the browser/Node/Workers client, tokenkit/signin, tokenkit/dpop and
# tokenkit/broker (the prebuilt broker).
pkg/package.json: target/bindgen/tokenkit_bg.wasm target/bindgen-signin/tokenkit_bg.wasm target/bindgen-dpop/tokenkit_bg.wasm $(SERVER_BUILDS) worker/pkg/tokenkit_bg.wasm worker/index.js scripts/assemble.mjs $(wildcard docs/*.md) js/unpack.js js/dpop.js js/signin.js js/jws.js js/server.js \
  $(wildcard pkg-template/* pkg-template/broker/* pkg-template/signin/* pkg-template/dpop/*)
	node scripts/assemble.mjs

build: setup pkg/package.json

# The npm package as a tarball, until it is published: `npm i <path printed>` in an app.
pack: build
	@rm -f tokenkit-*.tgz
	@cd pkg && npm pack --silent --pack-destination .. >/dev/null
	@echo "$(CURDIR)/$$(ls tokenkit-*.tgz)"

worker/pkg/tokenkit_bg.wasm: target/wasm/broker.wasm scripts/glue.mjs scripts/minify-names.mjs scripts/worker-pkg.mjs js/broker.js js/dpop.js js/server.js js/signin.js js/jws.js
	$(call bindgen,target/wasm/broker.wasm,worker/pkg)
	node scripts/worker-pkg.mjs worker/pkg
	@echo "worker/pkg: broker wasm $$(wc -c < $@) bytes"

# The Worker build: the same crate with the broker, to worker/pkg/.
worker-build: setup worker/pkg/tokenkit_bg.wasm

worker: worker-build
	node worker/dev.mjs

# The live demo: local auth server + API, the broker in workerd, the page. Ctrl-C stops it.
demo: build worker-build
	node www/serve.mjs

# A non-interactive walk through the same features, printed to the terminal.
example: build worker-build
	node examples/demo.mjs

test: setup-chromium setup-matrix build worker-build test-native test-wasm test-node test-matrix

# Rewrites the generated blocks of the js/ modules (src/boundary.rs `JS` lists them) from
# src/boundary.rs, the boundary's one table; tests/boundary.rs, in test-native, fails until
# they match.
boundary:
	TOKENKIT_WRITE_BOUNDARY=1 cargo test --locked -q --test boundary

# The core as each shipped build compiles it: the default features (the servers' sign-in and
# DPoP build), then every other feature set that ships (the browser builds: none, signin,
# signin+dpop; the servers' server and signin+server; the broker), each natively.
NATIVE_SETS := std std,signin std,signin,dpop std,server std,signin,server std,broker
test-native: setup-test
	cargo test --locked
	@for f in $(NATIVE_SETS); do echo "cargo test --no-default-features --features $$f"; cargo test --locked -q --no-default-features --features $$f || exit 1; done
	# The docs link only items that exist (a module doc naming something moved or gone fails here).
	RUSTDOCFLAGS="-D warnings -A rustdoc::private_intra_doc_links" cargo doc --locked -q --no-deps --document-private-items
	RUSTDOCFLAGS="-D warnings -A rustdoc::private_intra_doc_links" cargo doc --locked -q --no-deps --document-private-items --target wasm32-unknown-unknown
	RUSTDOCFLAGS="-D warnings -A rustdoc::private_intra_doc_links" cargo doc --locked -q --no-deps --document-private-items --target wasm32-unknown-unknown --no-default-features --features broker
	cargo clippy --locked --all-targets -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown --lib -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown --lib --no-default-features -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown --lib --no-default-features --features broker -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown --lib --no-default-features --features signin -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown --lib --no-default-features --features server -- -D warnings
	cargo clippy --locked --target wasm32-unknown-unknown --lib --no-default-features --features signin,dpop -- -D warnings

test-wasm: setup-test
	node tests/wasm/run.mjs

test-node:
	tsc -p tests/types
	tsc -p tests/types/tsconfig.node.json
	# --test-timeout: a test that hangs (a refresh that never comes) fails instead.
	node --test --test-concurrency=1 --test-timeout=120000 tests/node/
	node examples/demo.mjs > /dev/null

# Every bundler/runtime scenario, from the packed tarball, in fresh projects (tests/matrix/).
test-matrix: setup-matrix
	node --test --test-timeout=600000 tests/matrix/matrix.test.mjs

# Benchmarks next to the peers (bench/package.json, exact versions): not part of `make test`.
# Writes bench/results/latest.{md,json} and sets every figure the docs quote from them.
bench: build
	@$(call npm-install-locked,bench)
	node --expose-gc bench/run.mjs

# The deterministic figures alone (sizes, the matrix's count), in seconds: after a change that
# moves a size, so tests/node/34-figures agrees again (scripts/figures.mjs).
figures: build
	node scripts/figures.mjs --write

# Load and soak at full length (a short version runs in make test: tests/node/20-soak).
SOAK_SECONDS ?= 60
soak: setup-chromium build worker-build
	SOAK_SECONDS=$(SOAK_SECONDS) node tests/soak/run.mjs

# Fuzzing (cargo fuzz: nightly, native). Runs each target for FUZZ_SECONDS, then minimizes
# its corpus (fuzz/corpus/<target>, committed; `make test` replays it on stable, with the
# inputs that found bugs in fuzz/regressions/<target>, which minimizing never touches).
FUZZ_SECONDS ?= 600
FUZZ_TARGETS = token_response retry_after www_authenticate config origin broker metadata
fuzz:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked
	mkdir -p target && cd fuzz && for t in $(FUZZ_TARGETS); do \
	  cargo +nightly fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 2>&1 | tee ../target/fuzz-$$t.log | grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|==[0-9]+==)' ; \
	  [ $${PIPESTATUS[0]} -eq 0 ] || exit 1; \
	  cargo +nightly fuzz cmin -O $$t >/dev/null 2>&1 || exit 1; \
	done

clean:
	rm -rf target pkg node_modules tests/artifacts tests/matrix/node_modules tests/matrix/.work bench/node_modules
