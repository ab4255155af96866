#!/usr/bin/env bash
# Mutation testing of the core with cargo-mutants (docs/MODEL_CHECKING.md, "Mutation testing"): every mutant the
# tool generates in src/table/, src/snapshot/ and src/check.rs (.cargo/mutants.toml) is built and run against a
# fast test command (unit tests, drops, robustness, scenarios, version overflow, a reduced differential run).
# Results go to target/mutation/mutants.out (caught.txt, missed.txt, timeout.txt, unviable.txt).
#
#   scripts/mutation.sh                                   # everything (hours on 2 cores)
#   scripts/mutation.sh --file src/snapshot/reclaim.rs    # a subset (any cargo-mutants arguments)
#   MUTATION_SAMPLE=1 scripts/mutation.sh                 # CI sample: a shard of about 1/40 of the mutants
#
# Needs `cargo install cargo-mutants --locked` (v27 measured). Environment: COW_CASES (differential cases,
# default 100; COW_MAX_OPS default 200), MUTATION_JOBS (default 1), MUTATION_TIMEOUT (seconds per test run, default 300),
# MUTATION_OUT (output directory, default target/mutation).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
export COW_CASES="${COW_CASES:-100}"
export COW_MAX_OPS="${COW_MAX_OPS:-200}"
# With one job, one build directory kept across runs: the dependencies are built once, not per run (each run
# copies the source tree to a new scratch directory). With more jobs each keeps its own (a shared one would
# serialise the builds on cargo's lock and make every build undo the other job's mutant).
if [ "${MUTATION_JOBS:-1}" = 1 ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/mutation-build}"
fi
args=(--jobs "${MUTATION_JOBS:-1}" --timeout "${MUTATION_TIMEOUT:-300}" --build-timeout 900 --profile mutants
      --output "${MUTATION_OUT:-target/mutation}" --no-shuffle)
if [ "${MUTATION_SAMPLE:-0}" = 1 ]; then
    args+=(--shard "${MUTATION_SHARD:-0}/40")
fi
if [ $# = 0 ] || ! printf '%s\n' "$@" | grep -qE '^(-f|--file)'; then
    args+=(--file 'src/table/**/*.rs' --file 'src/snapshot/**/*.rs' --file src/check.rs)
fi
exec cargo mutants "${args[@]}" "$@"
