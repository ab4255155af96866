#!/usr/bin/env bash
# Markdown table of one or more cargo-mutants output directories (scripts/mutation.sh writes them): per source
# file, the mutants caught, missed, timed out and unviable, then the missed and timed-out ones by name.
# Mutants that `--iterate` skipped (`previously_caught.txt`: caught or unviable in an earlier attempt into the
# same directory) count as caught, unless the later attempt tried the same mutant again at a shifted line (a
# commit in between moved it): a mutant is then matched by its file and description without line and column.
#
#   scripts/mutation_summary.sh target/mutation-core target/mutation-rest
set -euo pipefail
[ $# -gt 0 ] || set -- target/mutation
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
strip() { sed -E 's/^([^:]+):[0-9]+:[0-9]+: /\1: /'; }
for kind in caught missed timeout unviable prev; do : >"$tmp/$kind"; done
for d in "$@"; do
    o="$d/mutants.out"
    for kind in caught missed timeout unviable; do
        [ -f "$o/$kind.txt" ] && cat "$o/$kind.txt" >>"$tmp/$kind"
    done
    if [ -f "$o/previously_caught.txt" ]; then
        cat "$o/previously_caught.txt" >>"$tmp/prev"
    fi
done
cat "$tmp"/caught "$tmp"/missed "$tmp"/timeout "$tmp"/unviable | strip | sort -u >"$tmp/tried.stripped"
# Earlier attempts' catches that the last attempt did not try again.
while IFS= read -r line; do
    key=$(printf '%s\n' "$line" | strip)
    grep -qxF -- "$key" "$tmp/tried.stripped" || printf '%s\n' "$line" >>"$tmp/caught"
done < <(sort -u "$tmp/prev")
for kind in caught missed timeout unviable; do sort -u "$tmp/$kind" -o "$tmp/$kind"; done
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
