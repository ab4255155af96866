#!/usr/bin/env bash
# The Miri subset: unit tests, doc-free integration scenarios, drop counting and a reduced differential run,
# checked for undefined behaviour (use-after-free, data races, invalid aliasing) by the nightly Miri.
set -euo pipefail
cd "$(dirname "$0")/.."
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
export COW_CASES="${COW_CASES:-4}"
tests=()
for t in scenarios drops clone_panics differential_proptest stress version_overflow; do
  [ -f "tests/$t.rs" ] && tests+=(--test "$t")
done
CARGO_TARGET_DIR=target/miri cargo +nightly miri test -p cow-state-table --lib "${tests[@]}"
