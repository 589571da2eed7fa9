#!/bin/sh
# Runs the fuzz targets one after the other, each for SECONDS (default 60).
# Usage: fuzz/run.sh [SECONDS] [TARGET...]   (default: every target)
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer needs nightly-only rustc flags;
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them. SANITIZER=address turns
# AddressSanitizer back on (cargo-fuzz's default; slower, and the charm's parsers are safe
# Rust, so none is the default here).
set -eu
cd "$(dirname "$0")"
seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-four_letter databag version_constraint action_params}
sanitizer=${SANITIZER:-none}
for t in $targets; do
    mkdir -p "corpus/$t"
    set -- "corpus/$t"
    [ -d "seeds/$t" ] && set -- "$@" "seeds/$t"
    dict=""
    [ -f "dicts/$t.dict" ] && dict="-dict=dicts/$t.dict"
    echo "== $t: ${seconds}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run -s "$sanitizer" "$t" "$@" -- \
        -max_total_time="$seconds" -print_final_stats=1 $dict
done
