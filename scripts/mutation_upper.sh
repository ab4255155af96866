#!/usr/bin/env bash
# Mutation testing of the layers above the table with cargo-mutants (issue 22, item 1; docs/MODEL_CHECKING.md,
# "Mutation testing of the upper layers"). One group per layer, each with its own fast test command, sharded so
# that each shard stays under an hour on 2 cores. The planted mutants' `#[cfg(cow_mutant = "…")]` statements and
# blocks are excluded (found in the source at each run, so the exclusions follow the lines when they move): the
# real build never compiles them, so every mutant in them would survive.
#
#   scripts/mutation_upper.sh list                       # the groups, their files, tests, mutants and shards
#   scripts/mutation_upper.sh keygroup                   # every shard of a group, one after the other
#   scripts/mutation_upper.sh keygroup 2                 # shard 2 of the group (0-based)
#   scripts/mutation_upper.sh state all --exclude F      # the group unsharded, here without one file
#   scripts/mutation_upper.sh keygroup 2 --re hash_code  # any further cargo-mutants arguments
#   scripts/mutation_upper.sh determinism [group…]       # each group's fast command twice, results compared
#
# Output: target/mutation-upper/<group>-<shard>/mutants.out (scripts/mutation_summary.sh makes the table).
# Environment: MUTATION_TIMEOUT (seconds per test run; default ten times the baseline's, at least 60),
# MUTATION_OUT (default target/mutation-upper), MUTATION_JOBS (mutants built and tested at once; default 1).
# Needs `cargo install cargo-mutants --locked` (v27.1.0 measured).
set -euo pipefail
cd "$(dirname "$0")/.."
out_root="${MUTATION_OUT:-target/mutation-upper}"
# One build directory for every group and shard (and the determinism check): the dependencies are built once.
# Not with MUTATION_JOBS > 1: cargo-mutants' parallel jobs each build in a scratch copy of the tree, and one shared
# target directory would make them wait for each other's lock and run each other's (differently mutated) binaries.
# Each copy then builds in a target directory of its own (a cold build per job, once per run).
if [ "${MUTATION_JOBS:-1}" = 1 ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/mutation-build}"
else
    unset CARGO_TARGET_DIR
fi

# group → files (cargo-mutants globs), package, fast test command (cargo test arguments), shards.
# The fast commands are deterministic (`determinism` below checks it), so that whether a mutant is caught is never
# a matter of chance: proptest seeds from the clock unless told (keygroup, format_*, stream_*, restore), so every
# run here uses one fixed seed. tests/properties_quickcheck.rs has a fixed seed of its own (COW_QUICKCHECK_SEED) but
# is in no group: the shards run so far were measured without it, and adding it would change their command.
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261207}"
# Shards: about 45 mutants each (a mutant costs 6–10 s on the 2-core machine alone and 40–80 s beside other
# builds: the incremental rebuild of the crate and of the group's test binaries, then the tests).
group_files() {
    case "$1" in
        keygroup) echo 'src/keygroup/**/*.rs' ;;
        serializer) echo 'src/serializer/**/*.rs' ;;
        format) echo 'src/format/**/*.rs' ;;
        restore) echo 'src/restore.rs' ;;
        # The backend layer, one group per folder (until 2026-12-08 one group of 22 shards, `src/backend/**`:
        # its shards 0-4 are recorded under that name in docs/MODEL_CHECKING.md). `*` stops at a `/`.
        backend) echo 'src/backend/*.rs' ;;
        state) echo 'src/backend/state/**/*.rs' ;;
        incremental) echo 'src/backend/incremental/**/*.rs' ;;
        stream) echo 'src/backend/stream/**/*.rs' ;;
        storage) echo 'src/backend/storage/**/*.rs' ;;
        ttl) echo 'src/backend/ttl/**/*.rs' ;;
        conform) echo 'cli/src/conform/**/*.rs' ;;
        *) echo "unknown group $1" >&2; exit 2 ;;
    esac
}
group_package() {
    case "$1" in
        conform) echo cow-state-table-cli ;;
        *) echo cow-state-table ;;
    esac
}
group_tests() {
    case "$1" in
        keygroup) echo --lib --test keygroup --test placement_vectors ;;
        # `--features serde`: src/serializer/postcard_serde.rs is compiled only with it (without it every mutant
        # there "survives" unbuilt; shards 0-3 ran without it, and the file's mutants were run again with it).
        serializer) echo --features serde --lib --test format_roundtrip --test format_vectors --test stream_vectors --test backend_properties \
            --test serializer_contracts ;;
        format) echo --lib --test format_roundtrip --test format_corrupt --test format_vectors --test restore ;;
        restore) echo --test restore --test backend_properties ;;
        # Every group of the backend layer runs the layer's tests: its folders call each other (a state kind's
        # handle, the stream it is written to, the storage that holds it), so a narrower command would only move
        # catches into survivors to check by hand. TTL and incremental checkpoints have their own test files,
        # added after `backend` shards 0 and 1 had run without them (their survivors were checked by hand).
        backend | state | incremental | stream | storage | ttl) echo --lib --test backend --test backend_properties --test storage --test storage_crash \
            --test stream_format --test stream_vectors --test checkpoint_spawn --test backend_ttl \
            --test backend_ttl_api --test ttl_differential --test incremental_checkpoints ;;
        # Every CLI test that runs `conform` or its child protocol (`trace replay` shares it): until 2026-12-08 only
        # `--test conform`, which left the `--level all` refusal (tests/deviations.rs) to survive in shard 0.
        conform) echo --test conform --test deviations --test python_skeleton --test trace ;;
    esac
}
group_shards() {
    case "$1" in
        keygroup) echo 5 ;;
        serializer) echo 4 ;;
        format) echo 3 ;;
        restore) echo 1 ;;
        backend) echo 4 ;;
        state) echo 3 ;;
        incremental) echo 2 ;;
        stream) echo 5 ;;
        storage) echo 4 ;;
        ttl) echo 5 ;;
        conform) echo 8 ;;
    esac
}
groups="keygroup serializer format restore backend state incremental stream storage ttl conform"

# `--exclude-re` for every line of a positive `cfg(cow_mutant = …)` statement or block in the group's files.
planted_excludes() {
    local glob="$1" f
    for f in $(git ls-files "${glob%%\**}" | grep '\.rs$'); do
        awk -v f="$f" '
            /#\[cfg\(cow_mutant = / { on = 1; depth = 0; next }
            on {
                printf "--exclude-re\n^%s:%d:\n", f, NR
                n = gsub(/\{/, "{"); m = gsub(/\}/, "}"); depth += n - m
                if (depth <= 0 && ($0 ~ /;[[:space:]]*$/ || $0 ~ /\}[[:space:]]*$/)) on = 0
            }' "$f"
    done
}

fast_command() {
    local g="$1"
    # shellcheck disable=SC2046
    CARGO_TARGET_DIR="$PWD/target/mutation-determinism" \
        cargo test --profile mutants -p "$(group_package "$g")" $(group_tests "$g")
}

case "${1:-}" in
    list)
        for g in $groups; do
            n=$(cargo mutants --no-config --list -p "$(group_package "$g")" --file "$(group_files "$g")" \
                $(planted_excludes "$(group_files "$g")") 2>/dev/null | wc -l)
            echo "$g: $(group_files "$g"), $n mutants, $(group_shards "$g") shards; tests: $(group_tests "$g")"
        done
        exit 0
        ;;
    determinism)
        shift
        [ $# -gt 0 ] || set -- $groups
        status=0
        for g in "$@"; do
            dir="$out_root/determinism"
            mkdir -p "$dir"
            # Its own build directory: cargo names a workspace's artifacts by their path relative to the workspace,
            # so cargo-mutants' scratch copies and this tree would overwrite each other's test binaries in a shared
            # one, and either could run the other's (mutated or not) code.
            for run in 1 2; do
                # The set of tests and their outcome; timings and order stripped.
                fast_command "$g" 2>&1 | grep -E '^test .* \.\.\. ' | sed -E 's/ \([0-9.]+s\)$//' | sort \
                    >"$dir/$g.$run" || true
            done
            if [ ! -s "$dir/$g.1" ]; then
                echo "$g: no test ran"; status=1
            elif cmp -s "$dir/$g.1" "$dir/$g.2"; then
                echo "$g: deterministic ($(wc -l <"$dir/$g.1") tests, $(grep -c ' ok$' "$dir/$g.1") ok, twice)"
            else
                echo "$g: DIFFERS between two runs:"; diff "$dir/$g.1" "$dir/$g.2" || true; status=1
            fi
        done
        exit $status
        ;;
    "" | -h | --help)
        sed -n '2,18p' "$0"
        exit 0
        ;;
esac

g="$1"
shift
files=$(group_files "$g")
shards=$(group_shards "$g")
if [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$|^all$ ]]; then
    list="$1"
    shift
else
    list=$(seq 0 $((shards - 1)))
fi
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
mapfile -t excludes < <(planted_excludes "$files")
# A test run's limit: MUTATION_TIMEOUT seconds if set (300 was used through 2026-12-07, when the machine was
# shared), else ten times the unmutated run's, at least 60 s (the fast commands run in seconds, so a hanging mutant
# costs a minute instead of five).
if [ -n "${MUTATION_TIMEOUT:-}" ]; then
    timeout=(--timeout "$MUTATION_TIMEOUT")
else
    timeout=(--timeout-multiplier 10 --minimum-test-timeout 60)
fi
cargo_args=()
for a in $(group_tests "$g"); do cargo_args+=("--cargo-arg=$a"); done
for s in $list; do
    mkdir -p "$out_root/$g-$s"
    shard=(--shard "$s/$shards")
    [ "$s" != all ] || shard=()
    cargo mutants --no-config -p "$(group_package "$g")" --file "$files" "${excludes[@]}" "${cargo_args[@]}" \
        --jobs "${MUTATION_JOBS:-1}" "${timeout[@]}" --build-timeout 900 --profile mutants --no-shuffle \
        "${shard[@]}" --output "$out_root/$g-$s" "$@" || true
done
