#!/usr/bin/env bash
# Builds the fuzz targets with one planted protocol mutant of the core at a time (COW_MUTANT=<name>, which the
# core's build.rs turns into --cfg cow_mutant="<name>" for the core crate only) and runs `table_ops` and `schedules` for at most MUTANT_SECONDS (default 60) each,
# recording whether libFuzzer reported a crash and how fast. Prints a markdown table (also written to
# target/mutants/table.md); logs and crashing inputs go to target/mutants/. Not part of ci.sh (too slow).
#
# "caught" = libFuzzer stopped on a crash (panic from the differential runner / shuttle model, an
# AddressSanitizer report, a timeout or out-of-memory). "seed" in the phase column means one of the committed
# seeds (fuzz/seeds/<target>) already failed while the corpus was being loaded; "fuzz" means a mutated input did.
#
# Environment: MUTANTS (space-separated subset), MUTANT_TARGETS (default "table_ops schedules"),
# MUTANT_SECONDS (per target and mutant), MUTANT_SEEDS=0 to start from an empty corpus instead of the seeds,
# MUTANT_OUT (default target/mutants).
set -euo pipefail
cd "$(dirname "$0")"

ALL_MUTANTS="mutant-skip-prefix-copy mutant-skip-state-copy mutant-free-too-early mutant-snapshot-skips-rehash-table
mutant-chunk-in-place mutant-version-off-by-one mutant-rehash-relink mutant-relaxed-release"
MUTANTS="${MUTANTS:-$ALL_MUTANTS}"
TARGETS="${MUTANT_TARGETS:-table_ops schedules}"
SECS="${MUTANT_SECONDS:-60}"
USE_SEEDS="${MUTANT_SEEDS:-1}"
OUT="${MUTANT_OUT:-target/mutants}"
mkdir -p "$OUT"
TABLE="$OUT/table.md"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

options_for() {
    case "$1" in
        table_ops) echo "-max_len=4096 -timeout=20" ;;
        schedules) echo "-max_len=2048 -timeout=20" ;;
        *) echo "-timeout=20" ;;
    esac
}

# What a failing log shows, in a few words.
kind_of() { # $1 = log
    if grep -q "AddressSanitizer: heap-use-after-free" "$1"; then echo "ASan heap-use-after-free"
    elif grep -q "AddressSanitizer: attempting double-free" "$1"; then echo "ASan double-free"
    elif grep -q "ERROR: AddressSanitizer" "$1"; then grep -m1 -o "AddressSanitizer: [a-z-]*" "$1"
    elif grep -q "ERROR: LeakSanitizer" "$1"; then echo "LeakSanitizer leak"
    elif grep -q "ERROR: libFuzzer: timeout" "$1"; then echo "timeout"
    elif grep -q "out-of-memory" "$1"; then echo "out-of-memory"
    elif grep -q "panicked at" "$1"; then
        # The panic message: the line after "panicked at <location>:".
        (grep -m1 -A1 "panicked at" "$1" || true) | tail -1 | cut -c1-110 | sed 's/|/\\|/g'
    else echo "crash"
    fi
}

printf '| mutant | target | caught | phase | time to first crash | execs | what |\n|---|---|---|---|---|---|---|\n' | tee "$TABLE"
for m in $MUTANTS; do
    export COW_MUTANT="${m#mutant-}"
    if ! cargo +nightly fuzz build >"$OUT/build-$m.log" 2>&1; then
        echo "error: build failed for $m; see fuzz/$OUT/build-$m.log" >&2
        tail -20 "$OUT/build-$m.log" >&2
        exit 2
    fi
    for t in $TARGETS; do
        corpus="$OUT/corpus/$m/$t"
        artifacts="$OUT/artifacts/$m/$t/"
        rm -rf "$corpus" "$artifacts"
        mkdir -p "$corpus" "$artifacts"
        dirs=("$corpus")
        if [[ $USE_SEEDS == 1 ]]; then dirs+=("seeds/$t"); fi
        log="$OUT/$m-$t.log"
        start=$(date +%s.%N)
        set +e
        # shellcheck disable=SC2046
        cargo +nightly fuzz run "$t" "${dirs[@]}" -- -max_total_time="$SECS" \
            -artifact_prefix="$artifacts" -print_final_stats=1 $(options_for "$t") >"$log" 2>&1
        rc=$?
        set -e
        end=$(date +%s.%N)
        secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
        execs=$( (grep -o '^#[0-9]*' "$log" || true) | tail -1 | tr -d '#')
        [[ -n $execs ]] || execs=$( (grep -m1 -o 'number_of_executed_units: [0-9]*' "$log" || true) | awk '{print $2}')
        if [[ $rc != 0 ]]; then
            phase=fuzz
            if ! grep -q "INITED" "$log"; then phase=seed; fi
            printf '| %s | %s | **yes** | %s | %ss | %s | %s |\n' "$m" "$t" "$phase" "$secs" "${execs:-?}" "$(kind_of "$log")" | tee -a "$TABLE"
        else
            printf '| %s | %s | no | - | - (%ss) | %s | - |\n' "$m" "$t" "$SECS" "${execs:-?}" | tee -a "$TABLE"
        fi
    done
done
