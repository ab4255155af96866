#!/usr/bin/env bash
# Markdown table of one or more cargo-mutants output directories (scripts/mutation.sh writes them): per source
# file, the mutants caught, missed, timed out and unviable, then the missed and timed-out ones by name.
# Mutants excluded by `--iterate` (caught or unviable in an earlier run into the same directory) count as caught
# or unviable.
#
#   scripts/mutation_summary.sh target/mutation-core target/mutation-rest
set -euo pipefail
[ $# -gt 0 ] || set -- target/mutation
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in "$@"; do
    o="$d/mutants.out"
    for kind in caught missed timeout unviable; do
        [ -f "$o/$kind.txt" ] && cat "$o/$kind.txt" >>"$tmp/$kind"
    done
    # `previously_caught.txt` lists what --iterate skipped: caught or unviable before.
    if [ -f "$o/previously_caught.txt" ]; then
        cat "$o/previously_caught.txt" >>"$tmp/caught"
    fi
done
for kind in caught missed timeout unviable; do
    touch "$tmp/$kind"
    sort -u "$tmp/$kind" -o "$tmp/$kind"
done
# An earlier run's unviable mutants are also in previously_caught: count each mutant once, unviable first.
comm -23 "$tmp/caught" "$tmp/unviable" >"$tmp/caught.only"
mv "$tmp/caught.only" "$tmp/caught"
echo "| file | tried | caught | missed | timeout | unviable |"
echo "|---|---|---|---|---|---|"
cat "$tmp"/caught "$tmp"/missed "$tmp"/timeout "$tmp"/unviable | cut -d: -f1 | sort -u | while read -r f; do
    c=$(grep -c "^$f:" "$tmp/caught" || true)
    m=$(grep -c "^$f:" "$tmp/missed" || true)
    t=$(grep -c "^$f:" "$tmp/timeout" || true)
    u=$(grep -c "^$f:" "$tmp/unviable" || true)
    echo "| \`$f\` | $((c + m + t + u)) | $c | $m | $t | $u |"
done
c=$(wc -l <"$tmp/caught"); m=$(wc -l <"$tmp/missed"); t=$(wc -l <"$tmp/timeout"); u=$(wc -l <"$tmp/unviable")
echo "| **total** | $((c + m + t + u)) | $c | $m | $t | $u |"
echo
echo "Missed:"
echo
sed 's/^/* /' "$tmp/missed"
echo
echo "Timed out:"
echo
sed 's/^/* /' "$tmp/timeout"
