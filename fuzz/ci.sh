#!/usr/bin/env bash
# Builds every fuzz target and runs each for FUZZ_SECONDS (default 60) with AddressSanitizer (cargo fuzz's
# default), seeded from fuzz/seeds/<target> (read-only; new inputs go to fuzz/corpus/<target>). Fails on any
# crash, leak, timeout or out-of-memory (libFuzzer exits non-zero and leaves the input in fuzz/artifacts/).
#
# Environment: FUZZ_SECONDS (per target), FUZZ_TARGETS (space-separated subset), FUZZ_JOBS is not used: one
# target at a time.
set -euo pipefail
cd "$(dirname "$0")"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
TARGETS="${FUZZ_TARGETS:-table_ops checkpoint_decode checkpoint_roundtrip schedules stream_decode}"

# libFuzzer options per target (besides -max_total_time): limits and dictionaries.
options_for() {
    case "$1" in
        table_ops) echo "-max_len=4096 -timeout=20" ;;
        checkpoint_decode) echo "-max_len=8192 -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=32 -dict=dicts/checkpoint.dict" ;;
        checkpoint_roundtrip) echo "-max_len=4096 -timeout=20" ;;
        schedules) echo "-max_len=2048 -timeout=20" ;;
        stream_decode) echo "-max_len=8192 -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=32 -dict=dicts/stream.dict" ;;
        *) echo "" ;;
    esac
}

cargo +nightly fuzz build

for t in $TARGETS; do
    printf '\n--- fuzzing %s for %ss (%s)\n' "$t" "$SECONDS_PER_TARGET" "$(date -u +%H:%M:%S)"
    mkdir -p "corpus/$t" "seeds/$t"
    # shellcheck disable=SC2046
    cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 $(options_for "$t")
done
echo "fuzzing: no crash"
