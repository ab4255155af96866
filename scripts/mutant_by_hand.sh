#!/usr/bin/env bash
# Applies one cargo-mutants mutant (a diff of its output's `mutants.out/diff/`) to a copy of the working tree and
# runs a test command there: the check that a new test kills a survivor (docs/MODEL_CHECKING.md, "Mutation testing
# of the upper layers"). The working tree itself is never modified, so builds running from it (the `determinism`
# check, a shard's baseline) cannot pick the mutant up.
#
#   scripts/mutant_by_hand.sh target/mutation-upper/serializer-0/mutants.out/diff/src__serializer__mod.rs_line_57_col_9.diff \
#       --test serializer_contracts
#
# The arguments after the diff are `cargo test` arguments. Prints "KILLED" and exits 0 if the tests fail with the
# mutant applied, prints "SURVIVED" and exits 1 if they pass; exits 2 if the diff does not apply or the mutant does
# not build, 3 if the tests already fail without the mutant (they are run first).
# A run that does not finish in MUTANT_TIMEOUT seconds (default 300) is stopped and counts as killed (a hang).
# Environment: MUTANT_TREE (the copy, default target/mutant-tree), MUTANT_TARGET_DIR (default
# target/mutant-build; one used only for the copy: a workspace's artifacts are named by their relative path, so a
# directory shared with the working tree's builds would swap artifacts between the two). An inherited
# CARGO_TARGET_DIR is ignored: exported for the working tree's builds, it once left a mutated library there.
set -euo pipefail
cd "$(dirname "$0")/.."
diff_file=$(realpath "$1")
shift
file=$(sed -n '1s/^--- //p' "$diff_file")
[ -n "$file" ] && [ -f "$file" ] || { echo "no source file named in $diff_file" >&2; exit 2; }
tree="${MUTANT_TREE:-target/mutant-tree}"
export CARGO_TARGET_DIR="${MUTANT_TARGET_DIR:-$PWD/target/mutant-build}"
rm -rf "$tree"
mkdir -p "$tree"
# The working tree as it is (tracked and untracked files, not the ignored build output), modification times kept
# so that cargo rebuilds only what the mutant touches.
git ls-files -z --cached --others --exclude-standard | tar -c --null -T - | tar -x -C "$tree"
# Every source file newer than the last build: the copy's times are the working tree's, older than the build of an
# earlier mutant, so without this cargo would reuse that mutant's build for a file the copy has restored.
find "$tree" -name '*.rs' -exec touch {} +
cd "$tree"
# The tests must pass without the mutant, or a failure with it would mean nothing.
cargo test "$@" >/dev/null 2>&1 || { echo "BASELINE FAILS (the tests fail without the mutant)"; exit 3; }
patch --quiet "$file" <"$diff_file" || exit 2
touch "$file"
echo "mutant: $(sed -n '2s/^+++ //p' "$diff_file") ($file)"
cargo test --no-run "$@" >/dev/null 2>&1 || { echo "UNVIABLE (does not build)"; exit 2; }
# A mutant that makes a test hang is detected, as cargo-mutants counts a timeout: the run is stopped after
# MUTANT_TIMEOUT seconds (default 300, the shards' per-mutant timeout).
status=0
timeout --kill-after=10 "${MUTANT_TIMEOUT:-300}" cargo test "$@" >/dev/null 2>&1 || status=$?
if [ "$status" = 0 ]; then
    echo "SURVIVED"
    exit 1
fi
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "KILLED (timeout: the tests did not finish in ${MUTANT_TIMEOUT:-300} s)"
    exit 0
fi
echo "KILLED"
