# Keyport: `make run` serves the portal, `make test` runs every check.
# Both install what is missing first (wasm target, cargo-leptos, the
# wasm-bindgen CLI, wasm-opt and Playwright from npm, Debian's Chromium).

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(CURDIR)/end2end/node_modules/.bin:$(PATH)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

CARGO_LEPTOS_VERSION := 0.3.10
WASM_BINDGEN_VERSION := 0.2.130
# Every Rust check builds the server half with this feature set.
SSR := -p app -p keyport --features app/ssr

.PHONY: run test tools browser fmt clippy unit e2e race attacks site budget soak bench fuzz reliability

# --split: the pages come in four WebAssembly chunks, one per section,
# loaded when the first page of it is shown (app/src/ui/mod.rs).
# --precompress: every site file also as .br and .gz, sent to browsers that
# take them (server/src/lib.rs, `site_file`).
run: tools
	cargo leptos serve --release --split --precompress

test: tools browser fmt clippy unit e2e attacks budget soak

tools: end2end/node_modules/.installed
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@cargo leptos --version 2>/dev/null | grep -q " $(CARGO_LEPTOS_VERSION)" \
		|| cargo install cargo-leptos --version $(CARGO_LEPTOS_VERSION) --locked
	@wasm-bindgen --version 2>/dev/null | grep -q " $(WASM_BINDGEN_VERSION)" \
		|| cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

# Playwright, and binaryen's wasm-opt for release builds (Debian's is too old).
end2end/node_modules/.installed: end2end/package.json end2end/package-lock.json
	cd end2end && npm ci --no-audit --no-fund
	touch $@

browser:
	@command -v chromium >/dev/null || { apt-get update && apt-get install -y chromium; }

fmt:
	cargo fmt --all -- --check

# The server with its bench routes, and the crates beside it: the bench
# (server/bench) and the scratch databases (server/scratch).
clippy:
	cargo clippy $(SSR),keyport/bench -p keyport-bench -p keyport-scratch --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings

# Unit and integration tests; each integration test runs on SQLite and on
# the PostgreSQL at 127.0.0.1:5432 (KEYPORT_TEST_POSTGRES), in a database of
# its own that it drops afterwards (server/scratch, tested here too).
unit:
	cargo test $(SSR) -p keyport-scratch

site:
	cargo leptos build --release --split --precompress

# On a failure, the servers' warnings and errors follow the report.
e2e: tools browser site
	cd end2end && { npx playwright test || { grep -hE "WARN|ERROR" .run/*.log | tail -40; exit 1; }; }

# The flows that race the user (a CPU throttled 4x, then a slow network;
# each step the moment its element shows), RACE_REPEAT times each with no
# second try, keeping a trace of each failure (end2end/test-results/);
# `make test` runs them once. Today: an application's life
# (register, reveal, rotate, remove, restore), a member and a domain, an
# authenticator app set up and asked for, consent, and an initial access
# token.
RACE_REPEAT ?= 20
race: tools browser site
	cd end2end && npx playwright test operations.spec.ts factors.spec.ts authorize.spec.ts --grep "on a (throttled CPU|slow network)" --repeat-each=$(RACE_REPEAT) --retries=0 --trace retain-on-failure

# The attack suite's measurements of a release node (server/tests/attacks.rs):
# memory and latency under a flood of wrong secrets, as deployed.
attacks: site
	KEYPORT_BIN=$(CURDIR)/target/release/keyport cargo test $(SSR) --test attacks -- --ignored

# The browser bundle may not grow unseen: the module every page loads, and
# all modules together (the pages' sections and the code they share), each
# have a gzip budget, raised only on purpose with the measured reason.
# Lowered from 400 and 960 KiB when the pages moved into four sections and
# every server function's answer came to be read as text: 294 and 790 KiB.
WASM_BUDGET_KIB := 300
WASM_ALL_BUDGET_KIB := 800
# This build's modules only (hash.txt names them; older builds' files stay
# beside them in target/site/pkg).
budget: site
	@cd target/site/pkg; gz() { gzip -9 -c "$$1" | wc -c; }; \
	hash() { sed -n "s/^$$1: //p" ../../release/hash.txt; }; \
	main=keyport.$$(hash wasm).wasm; \
	modules="$$main $$(grep -o '"[a-z_]*[0-9]*\.[A-Za-z0-9_-]*"' __wasm_split_manifest.$$(hash manifest).json | tr -d '"' | sort -u | sed 's/$$/.wasm/')"; \
	all=0; for f in $$modules; do all=$$((all + $$(gz $$f))); done; \
	echo "release .wasm: $$(( $$(gz $$main) / 1024)) KiB gzipped (budget $(WASM_BUDGET_KIB) KiB), all $$(echo $$modules | wc -w) modules $$((all / 1024)) KiB (budget $(WASM_ALL_BUDGET_KIB) KiB)"; \
	[ $$(gz $$main) -le $$(( $(WASM_BUDGET_KIB) * 1024 )) ] || { echo "keyport.wasm is over its budget"; exit 1; }; \
	[ $$all -le $$(( $(WASM_ALL_BUDGET_KIB) * 1024 )) ] || { echo "the modules together are over their budget"; exit 1; }

# Every portal page, signed in, over 16 keep-alive connections for
# PAGES_SECONDS (60; `make test` runs 10), while 200 more page requests
# are cut off mid-render or mid-response: each answer must be its page
# (its title, its nonce) and the server may say nothing that is a warning,
# an error or a panic (server/bench/src/pages.rs).
PAGES_SECONDS ?= $(if $(filter test,$(MAKECMDGOALS)),10,60)
soak: tools site
	RUSTFLAGS="--cfg erase_components" cargo build --release -p keyport-bench
	PAGES_SECONDS=$(PAGES_SECONDS) target/release/keyport-bench pages

# Measures the server against its own limits (see server/bench/) and
# prints one table, also written to target/bench/report.md; then the scale
# run (a node seeded through SQL to 200 domains, 12,600 clients, 5 million
# audit entries, beside a small one; minutes of seeding) and its table,
# target/bench/scale.md; then Lighthouse (mobile preset, Chromium) on the
# sign-in page, the applications list and the register form,
# target/bench/lighthouse.md. A benchmark, not a test: it never fails for a
# slow machine. BENCH_SECONDS per run (default 3).
# (RUSTFLAGS as cargo-leptos sets them for the server: the build reuses the site's.)
bench: tools browser site server/bench/lighthouse/node_modules/.installed
	RUSTFLAGS="--cfg erase_components" cargo build --release -p keyport-bench
	target/release/keyport-bench measure
	target/release/keyport-bench scale
	bash server/bench/lighthouse/run.sh

# Lighthouse and the Node 24 it needs, from npm.
server/bench/lighthouse/node_modules/.installed: server/bench/lighthouse/package.json server/bench/lighthouse/package-lock.json
	cd server/bench/lighthouse && npm ci --no-audit --no-fund
	touch $@

# Fuzzes token request parsing and client-credential extraction for
# FUZZ_SECONDS (libFuzzer through cargo-fuzz, on the stable toolchain).
FUZZ_SECONDS ?= 300
fuzz:
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd server && RUSTC_BOOTSTRAP=1 cargo fuzz run token_request -- -max_total_time=$(FUZZ_SECONDS)

# The long reliability checks, beyond the quick ones `make test` runs (the
# two-node, kill -9 and outage tests are in `unit`): a bounded soak of mixed
# load (SOAK_SECONDS, default 180; see server/bench/src/soak.rs), the fuzz target
# for FUZZ_SECONDS, and schemathesis (pinned, from PyPI) against the
# management API's OpenAPI document. Each fails the target on a failure.
reliability: tools site
	RUSTFLAGS="--cfg erase_components" cargo build --release -p keyport-bench
	target/release/keyport-bench soak
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)
	bash reliability/schemathesis.sh
