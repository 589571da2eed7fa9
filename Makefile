# Conventional targets (the Charmhub listing review runs format, lint and unit).
# .ci/run runs all of them plus packing and the charmcraft checks.

.PHONY: format lint unit integration pack fuzz mutants

format:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# Tests inside the crates: pure logic, the in-memory fake, config and status rules.
unit:
	cargo test --workspace --lib --bins
	cargo test --workspace --doc

# The whole suite, as in the README: also the built binary with fake hook tools, the
# metadata files against the code, and the tests that run real ZooKeeper servers.
integration:
	cargo test --workspace

pack:
	cargo xtask pack

# Fuzz the parsers of outside input (fuzz/README.md): each target for FUZZ_SECONDS.
# Not part of .ci/run; needs `cargo install cargo-fuzz`.
FUZZ_SECONDS ?= 60
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

# Mutation testing of the decision code (membership, quorum arithmetic, restart lock, start
# order, upgrade decisions, the pre-upgrade check, the peer data's parsing), each mutant
# tested with the unit tests alone. Needs `cargo install cargo-mutants`. The survivors and
# why they are harmless are in mutants-survivors.md. Output: mutants.out/.
MUTANTS_JOBS ?= 1
mutants:
	cargo mutants -p zookeeper-charm --profile mutants --jobs $(MUTANTS_JOBS) \
		--cargo-arg=--lib \
		-f 'src/decide/**' -f src/quorum.rs -f src/upgrade/decide.rs -f src/upgrade/check.rs \
		-f 'src/peers/**' -e 'src/decide/tests/**'
