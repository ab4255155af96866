#!/usr/bin/env bash
# Applies one cargo-mutants mutant (a diff of its output's `mutants.out/diff/`) to the working tree, runs a test
# command, and reverts the mutant whatever happens: the check that a new test kills a survivor
# (docs/MODEL_CHECKING.md, "Mutation testing of the upper layers").
#
#   scripts/mutant_by_hand.sh target/mutation-upper/serializer-0/mutants.out/diff/src__serializer__mod.rs_line_57_col_9.diff \
#       --test serializer_contracts
#
# The arguments after the diff are `cargo test` arguments. Prints "KILLED" and exits 0 if the tests fail with the
# mutant applied, prints "SURVIVED" and exits 1 if they pass; exits 2 if the diff does not apply or the mutant does not build. The file must
# have no uncommitted change (the revert restores it with `git checkout`).
set -euo pipefail
cd "$(dirname "$0")/.."
diff_file="$1"
shift
file=$(sed -n '1s/^--- //p' "$diff_file")
[ -n "$file" ] && [ -f "$file" ] || { echo "no source file named in $diff_file" >&2; exit 2; }
git diff --quiet -- "$file" || { echo "$file has uncommitted changes" >&2; exit 2; }
trap 'git checkout -- "$file"' EXIT
patch --quiet "$file" <"$diff_file" || exit 2
echo "mutant: $(sed -n '2s/^+++ //p' "$diff_file") ($file)"
cargo test --no-run "$@" >/dev/null 2>&1 || { echo "UNVIABLE (does not build)"; exit 2; }
if cargo test "$@" >/dev/null 2>&1; then
    echo "SURVIVED"
    exit 1
fi
echo "KILLED"
