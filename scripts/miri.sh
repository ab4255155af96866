#!/usr/bin/env bash
# The Miri runs: undefined behaviour (use-after-free, double free, data races, invalid aliasing, leaks) checked by
# the nightly Miri, in three passes (docs/MODEL_CHECKING.md, "Miri"):
#   1. Stacked Borrows, one `Box` per node (a node use-after-free is reported as such): unit tests, drop
#      counting, panic safety (clone and drop panics), a multi-threaded smoke test, a reduced differential run.
#   2. Stacked Borrows, the node arena every real user runs (COW_MIRI_ARENA=1): unit tests, drop counting,
#      drop/clone panics, the scenarios and the version-overflow tests.
#   3. Tree Borrows, the node arena: unit tests, drop counting, drop/clone panics.
# `MIRI_FULL=1` adds the scenarios, version-overflow and quickcheck tests to pass 1 (several more minutes).
# `MIRI_PASSES="1 3"` runs a subset of the passes.
set -euo pipefail
cd "$(dirname "$0")/.."
export COW_CASES="${COW_CASES:-2}"
# A shorter maximum for the phased op sequences keeps the Miri run near its earlier length.
export COW_MAX_OPS="${COW_MAX_OPS:-32}"
export CARGO_TARGET_DIR=target/miri
PASSES="${MIRI_PASSES:-1 2 3}"
# Miri isolates the interpreted program from the host environment: the variables the tests read are forwarded
# explicitly (without this, every "arena" pass ran one `Box` per node and the tests' Miri defaults).
FORWARD="-Zmiri-env-forward=COW_MIRI_ARENA -Zmiri-env-forward=COW_CASES -Zmiri-env-forward=COW_MAX_OPS"
miri() { # $1 = label, rest = cargo test args
    local label="$1" t0
    shift
    t0=$(date +%s)
    echo "--- miri pass $label ($(date -u +%H:%M:%S))"
    # First the check that the program sees the mode this pass asks for (an ignored test, run only here).
    MIRIFLAGS="$MIRIFLAGS $FORWARD" cargo +nightly miri test -p cow-state-table --lib \
        miri_runs_the_node_storage_the_script_asks_for -- --ignored --exact \
        table::arena::tests::miri_runs_the_node_storage_the_script_asks_for
    MIRIFLAGS="$MIRIFLAGS $FORWARD" cargo +nightly miri test -p cow-state-table "$@"
    echo "--- miri pass $label: $(( $(date +%s) - t0 ))s"
}
for p in $PASSES; do
    case "$p" in
        1)
            tests=(--lib --test drops --test clone_panics --test robustness --test stress --test differential_proptest)
            if [ "${MIRI_FULL:-0}" = 1 ]; then
                tests+=(--test scenarios --test version_overflow --test properties_quickcheck)
            fi
            COW_MIRI_ARENA=0 MIRIFLAGS="${MIRIFLAGS:-}" miri "1 (stacked borrows, boxed nodes)" "${tests[@]}"
            ;;
        2)
            tests=(--lib --test drops --test clone_panics --test robustness --test scenarios)
            if [ "${MIRI_FULL:-0}" = 1 ]; then
                # The version-overflow tests run thousands of snapshot cycles: over CI's budget under Miri.
                tests+=(--test version_overflow)
            fi
            COW_MIRI_ARENA=1 MIRIFLAGS="${MIRIFLAGS:-}" miri "2 (stacked borrows, node arena)" "${tests[@]}"
            ;;
        3)
            COW_MIRI_ARENA=1 MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-tree-borrows" miri "3 (tree borrows, node arena)" \
                --lib --test drops --test clone_panics --test robustness
            ;;
        *) echo "unknown pass $p" >&2; exit 2 ;;
    esac
done
