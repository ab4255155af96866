#!/usr/bin/env bash
# Runs every planted mutant (`--cfg cow_mutant="<name>"`, set through COW_MUTANT by build.rs; not Cargo
# features, so `--all-features` never switches one on) against the suites that can see its layer, prints a
# mutant x suite table, and fails unless
#   * the un-mutated suites pass, and
#   * every mutant is caught by at least one suite.
#
# Suites: loom (tests/loom_models.rs), shuttle (tests/shuttle_models.rs), differential
# (tests/differential_proptest.rs, with tests/snapshot_diff.rs) — the table and its snapshots — and backend (the layers above the table:
# tests/backend_properties.rs, restore.rs, storage_crash.rs, stream_format.rs). A table mutant runs
# loom, shuttle and differential; a mutant of an upper layer (stream framing, restore range, merge, storage
# commit) runs backend only, since the other three never call the code it changes. ALL_SUITES=1 runs every
# suite for every mutant. A suite not run reads "-" in the table.
#
# "caught" means the suite's tests failed (an assertion, a loom-reported race/leak/deadlock, a shuttle-reported
# failure), or the test process was killed by a signal (use-after-free crashing it: shown as "caught (crash)"),
# or it did not finish within the time limit (shown as "caught (timeout)"). A build error is a script error.
#
# Environment:
#   MUTANTS            space-separated subset of mutants to run (default: all)
#   BACKEND_TESTS      the test binaries of the backend suite (default: backend_properties restore storage_crash
#                      stream_format incremental_checkpoints)
#   ALL_SUITES         1: every suite for every mutant (default: the suites of the mutant's layer)
#   COW_CASES          differential cases (default 300)
#   PROPTEST_RNG_SEED  the proptest seed of the differential suite (default 20261207: fixed, so runs agree)
#   SHUTTLE_ITERATIONS shuttle schedules per scheduler and scenario (default 1000 here)
#   LOOM_MAX_PREEMPTIONS  loom preemption bound (default: the models' own, 3)
#   SUITE_TIMEOUT      seconds per suite run (default 300)
#   LOG_DIR            where each run's output is kept (default target/mutants/logs)
set -euo pipefail

cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/mutants}"
export COW_CASES="${COW_CASES:-300}"
export SHUTTLE_ITERATIONS="${SHUTTLE_ITERATIONS:-1000}"
# One proptest seed for every run, so "caught" is the same on every machine and every run (a mutant a random
# case reaches only sometimes once failed CI; the suites also hold fixed cases for each planted walk).
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261207}"
# Faster builds: no debug info in this target dir (only rebuilds dependencies once).
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-0}"
SUITE_TIMEOUT="${SUITE_TIMEOUT:-300}"
LOG_DIR="${LOG_DIR:-$CARGO_TARGET_DIR/logs}"
mkdir -p "$LOG_DIR"

TABLE_MUTANTS="mutant-relaxed-release mutant-skip-prefix-copy mutant-skip-state-copy mutant-free-too-early
mutant-snapshot-skips-rehash-table mutant-chunk-in-place mutant-version-off-by-one mutant-rehash-relink
mutant-retain-all-slots mutant-diff-skips-changed-chunk mutant-diff-shared-as-changed mutant-diff-changed-as-shared"
UPPER_MUTANTS="mutant-stream-crc-short mutant-restore-range-off-by-one mutant-merge-repeats-source
mutant-rename-before-sync mutant-incr-failed-advances-base"
ALL_MUTANTS="$TABLE_MUTANTS $UPPER_MUTANTS"
MUTANTS="${MUTANTS:-$ALL_MUTANTS}"
SUITES="loom shuttle differential backend"
# The test binaries of the backend suite: those that catch the upper layers' mutants (tests/backend.rs catches
# none of the five and is the largest to build per mutant; add it with BACKEND_TESTS="... backend").
BACKEND_TESTS="${BACKEND_TESTS:-backend_properties restore storage_crash stream_format incremental_checkpoints}"

is_upper() { # $1 = mutant
    [[ " $(echo $UPPER_MUTANTS) " == *" $1 "* ]]
}

# The suites run for a mutant (see the top of this file).
suites_for() { # $1 = mutant
    if [[ "${ALL_SUITES:-0}" == 1 ]]; then
        echo "$SUITES"
    elif is_upper "$1"; then
        echo "backend"
    else
        echo "loom shuttle differential"
    fi
}

# The cargo test arguments selecting a suite's test binaries.
test_args() { # $1 = suite
    case "$1" in
        loom) echo "--test loom_models" ;;
        shuttle) echo "--test shuttle_models" ;;
        # tests/snapshot_diff.rs (Snapshot::diff against a model diff) runs with the differential suite.
        differential) if [[ $have_differential == 1 ]]; then echo "--test differential_proptest --test snapshot_diff"; fi ;;
        backend) for t in $BACKEND_TESTS; do printf -- '--test %s ' "$t"; done ;;
    esac
}

have_differential=1
if [[ ! -f tests/differential_proptest.rs ]]; then
    have_differential=0
    echo "note: tests/differential_proptest.rs not found; the differential column will read 'absent'" >&2
fi

features_for() { # $1 = mutant or "" for the baseline (the mutant itself is a cfg, see mutant_env)
    echo "loom shuttle"
}

# The environment that selects the mutant: build.rs turns COW_MUTANT=<name> into --cfg cow_mutant="<name>"
# for this crate only (the dependencies are not rebuilt per mutant).
mutant_env() { # $1 = mutant or ""
    local m="${1:-}"
    echo "COW_MUTANT=${m#mutant-}"
}

build() { # $1 = mutant or "", $2 = the suites to build
    local f log s
    f="$(features_for "$1")"
    log="$LOG_DIR/build-${1:-baseline}.log"
    local targets=()
    for s in $2; do
        # shellcheck disable=SC2207 # test_args prints words without globs
        targets+=($(test_args "$s"))
    done
    if ! env "$(mutant_env "$1")" cargo test --release --features "$f" "${targets[@]}" --no-run >"$log" 2>&1; then
        echo "error: build failed for '${1:-baseline}' (features: $f, $(mutant_env "$1")); see $log" >&2
        tail -20 "$log" >&2
        exit 2
    fi
}

# Runs one suite; prints one of: pass, caught, caught (crash), caught (timeout), absent.
run_suite() { # $1 = mutant or "", $2 = suite
    local m="$1" suite="$2" f log test rc
    f="$(features_for "$m")"
    if [[ $suite == differential && $have_differential == 0 ]]; then echo absent; return; fi
    test="$(test_args "$suite")"
    log="$LOG_DIR/${m:-baseline}-$suite.log"
    set +e
    # shellcheck disable=SC2086 # $test is a list of cargo arguments
    timeout --kill-after=10 "$SUITE_TIMEOUT" env "$(mutant_env "$m")" \
        cargo test --release --features "$f" $test >"$log" 2>&1
    rc=$?
    set -e
    if [[ $rc == 0 ]]; then
        echo pass
    elif [[ $rc == 124 || $rc == 137 ]]; then
        echo "caught (timeout)"
    elif grep -qE "^error(\[E[0-9]+\])?:" "$log" && ! grep -q "Running " "$log"; then
        echo "error: '$test' did not build for '${m:-baseline}'; see $log" >&2
        echo error
    elif grep -qE "signal: [0-9]+|SIGSEGV|SIGABRT|SIGILL|SIGBUS" "$log"; then
        echo "caught (crash)"
    elif [[ $suite == backend ]] && grep -q "test result: FAILED" "$log"; then
        # Which test binary failed first (cargo stops there): the last `Running tests/….rs` before the first
        # failed result, however long the failing binary's output (a shrunk proptest case can run to thousands of
        # lines).
        local binary
        binary="$(awk '/Running tests\/[a-z_]+\.rs/ { match($0, /tests\/[a-z_]+\.rs/); b = substr($0, RSTART + 6, RLENGTH - 9) }
            /test result: FAILED/ { print b; exit }' "$log")"
        echo "caught (${binary:-a backend test})"
    elif grep -q "test result: FAILED" "$log"; then
        # What reported it: the first panic message of the run.
        local msg
        msg="$(grep -A1 -m1 "panicked at" "$log" | tail -1)"
        case "$msg" in
            *"Causality violation"*) echo "caught (race)" ;;
            *"freed while a live snapshot"* | *"reads freed state"*) echo "caught (early free)" ;;
            *"does not read what the table held"*) echo "caught (snapshot)" ;;
            *"invariant violated"* | *InvariantViolation*) echo "caught (invariant)" ;;
            *leak* | *Leak*) echo "caught (leak)" ;;
            *deadlock*) echo "caught (deadlock)" ;;
            *) echo "caught (assert)" ;;
        esac
    else
        echo "error: '$test' exited with $rc for '${m:-baseline}' without a test result; see $log" >&2
        echo error
    fi
}

start=$(date +%s)
# The baseline runs the suites any selected mutant runs.
baseline_suites=""
for s in $SUITES; do
    for m in $MUTANTS; do
        if [[ " $(suites_for "$m") " == *" $s "* ]]; then
            baseline_suites+="$s "
            break
        fi
    done
done
echo "== baseline (no mutant): building ($baseline_suites)" >&2
build "" "$baseline_suites"
for s in $baseline_suites; do
    t0=$(date +%s)
    r="$(run_suite "" "$s")"
    if [[ "$r" == error ]]; then exit 2; fi
    echo "   baseline $s: $r ($(( $(date +%s) - t0 ))s)" >&2
    if [[ "$r" != pass && "$r" != absent ]]; then
        echo "error: the un-mutated $s suite does not pass ($r); see $LOG_DIR/baseline-$s.log" >&2
        exit 1
    fi
done

declare -A result seconds
failed=0
for m in $MUTANTS; do
    t0=$(date +%s)
    suites="$(suites_for "$m")"
    echo "== $m: building ($suites)" >&2
    build "$m" "$suites"
    any=0
    for s in $SUITES; do
        if [[ " $suites " != *" $s "* ]]; then
            result[$m,$s]="-"
            continue
        fi
        r="$(run_suite "$m" "$s")"
        if [[ "$r" == error ]]; then exit 2; fi
        case "$r" in
            pass) result[$m,$s]="missed" ;;
            *) result[$m,$s]="$r" ;;
        esac
        [[ "$r" == caught* ]] && any=1
    done
    if [[ $any == 0 ]]; then failed=1; fi
    seconds[$m]=$(( $(date +%s) - t0 ))
    echo "   $m: loom=${result[$m,loom]} shuttle=${result[$m,shuttle]} differential=${result[$m,differential]} backend=${result[$m,backend]} (${seconds[$m]}s)" >&2
done

dashes() { printf -- '-%.0s' $(seq 1 "$1"); }
printf '\n| %-36s | %-20s | %-20s | %-20s | %-27s | %-7s |\n' mutant loom shuttle differential backend seconds
printf '|%s|%s|%s|%s|%s|%s|\n' "$(dashes 38)" "$(dashes 22)" "$(dashes 22)" "$(dashes 22)" "$(dashes 29)" "$(dashes 9)"
for m in $MUTANTS; do
    printf '| %-36s | %-20s | %-20s | %-20s | %-27s | %7s |\n' "$m" "${result[$m,loom]}" "${result[$m,shuttle]}" \
        "${result[$m,differential]}" "${result[$m,backend]}" "${seconds[$m]}"
done
echo
echo "total: $(( $(date +%s) - start ))s (logs in $LOG_DIR)"

if [[ $failed == 1 ]]; then
    echo "FAIL: at least one mutant was caught by no suite" >&2
    exit 1
fi
echo "OK: every mutant is caught by at least one suite"
