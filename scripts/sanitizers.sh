#!/usr/bin/env bash
# Sanitizer runs on the nightly toolchain (docs/MODEL_CHECKING.md, "Sanitizers"):
#   1. AddressSanitizer (heap use-after-free, double free, out-of-bounds, and LeakSanitizer's leak check at
#      exit) over the unit tests, drop counting and panic robustness, the scenarios and the stress test, with
#      the node arena as every user runs it (not Miri's one-Box-per-node mode). `--target` keeps the
#      sanitizer off build scripts and proc macros.
#   2. ThreadSanitizer on the multi-threaded stress test, with std rebuilt instrumented (-Zbuild-std, from the
#      rust-src component) so that its atomics and mutexes are seen. SANITIZERS_TSAN=0 skips it (.ci/run does,
#      to stay within its time budget).
# Each pass prints its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || true
TARGET="${SANITIZER_TARGET:-x86_64-unknown-linux-gnu}"
export COW_CASES="${COW_CASES:-200}"
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"

t0=$(date +%s)
echo "--- AddressSanitizer ($(date -u +%H:%M:%S))"
RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=1" \
    CARGO_TARGET_DIR=target/asan cargo +nightly test -p cow-state-table --target "$TARGET" \
    --lib --test drops --test robustness --test scenarios --test stress
echo "--- AddressSanitizer: $(( $(date +%s) - t0 ))s"

if [ "${SANITIZERS_TSAN:-1}" = 1 ]; then
    t0=$(date +%s)
    echo "--- ThreadSanitizer ($(date -u +%H:%M:%S))"
    RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread" TSAN_OPTIONS="halt_on_error=1" \
        CARGO_TARGET_DIR=target/tsan cargo +nightly test -Zbuild-std -p cow-state-table --target "$TARGET" \
        --test stress
    echo "--- ThreadSanitizer: $(( $(date +%s) - t0 ))s"
fi
