#!/usr/bin/env bash
# The Miri subset: the unit tests, drop counting, panic safety, a multi-threaded smoke test and a reduced
# differential run, checked for undefined behaviour (use-after-free, double free, data races, invalid
# aliasing, leaks) by the nightly Miri. `MIRI_FULL=1` adds the scenario and version-overflow tests
# (several more minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
export COW_CASES="${COW_CASES:-2}"
# A shorter maximum for the phased op sequences keeps the Miri run near its earlier length.
export COW_MAX_OPS="${COW_MAX_OPS:-32}"
tests=(--lib --test drops --test clone_panics --test stress --test differential_proptest)
if [ "${MIRI_FULL:-0}" = 1 ]; then
  tests+=(--test scenarios --test version_overflow --test properties_quickcheck)
fi
CARGO_TARGET_DIR=target/miri cargo +nightly miri test -p cow-state-table "${tests[@]}"
