#!/usr/bin/env bash
# Runs every machine check of proofs/: SPIN on the protocol model (must pass exhaustively), SPIN on each
# protocol mutant (each must be rejected), coqc on the Coq development, and the axiom check of the main
# theorems. Exits non-zero on any failure and prints a summary table. Runnable from any directory.
set -u
cd "$(dirname "$0")"
HERE=$(pwd)

command -v spin >/dev/null 2>&1 || (apt-get update && apt-get install -y spin)
command -v coqc >/dev/null 2>&1 || (apt-get update && apt-get install -y coq)
command -v gcc >/dev/null 2>&1 || (apt-get update && apt-get install -y gcc)

MAXOPS=${MAXOPS:-5}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAIL=0
SUMMARY=()
row() { SUMMARY+=("$(printf '%-44s %-9s %s' "$1" "$2" "$3")"); }

# pan options: -DSAFETY (safety properties only: assertions and invalid end states), -DCOLLAPSE (lossless
# state compression), no -DBITSTATE / -DHC / -DMA approximations: the search is exhaustive. -m: depth bound
# well above the depth reached; -w: hash table size hint (only affects speed).
PAN_CFLAGS="-O2 -DSAFETY -DCOLLAPSE"
PAN_RUN="-m100000 -w24"

run_spin() { # $1 = name, $2 = extra spin flags; writes $WORK/$1/out.txt; echoes elapsed seconds
  local d="$WORK/$1"
  mkdir -p "$d" && cp "$HERE/spin/cow_table.pml" "$d/"
  (cd "$d" && spin -DMAXOPS="$MAXOPS" $2 -a cow_table.pml >spin.txt 2>&1 &&
    gcc $PAN_CFLAGS -o pan pan.c 2>gcc.txt) || { echo "spin/gcc failed for $1" >&2; cat "$d/spin.txt" "$d/gcc.txt" >&2; return 1; }
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$d" && ./pan $PAN_RUN >out.txt 2>&1)
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }'
}

echo "== SPIN: correct model (MAXOPS=$MAXOPS)"
secs=$(run_spin correct "") || { FAIL=1; secs="?"; }
out="$WORK/correct/out.txt"
cat "$out" | grep -E "State-vector|states, stored|errors|max search depth|unreached|of [0-9]+ states" || true
states=$(grep -Eo '^ *[0-9]+ states, stored' "$out" | grep -Eo '[0-9]+' || echo "?")
if grep -q "errors: 0" "$out" && ! grep -q "max search depth too small" "$out" &&
   ! grep -q "search not completed" "$out" && grep -q "Full statespace search" "$out"; then
  row "spin cow_table.pml" "PASS" "errors: 0, $states states, ${secs}s"
else
  row "spin cow_table.pml" "FAIL" "see output above"
  cat "$out"
  FAIL=1
fi

for m in RELAXED_RELEASE SKIP_PREFIX_COPY SKIP_STATE_COPY FREE_TOO_EARLY SNAPSHOT_SKIPS_REHASH_TABLE \
         CHUNK_IN_PLACE VERSION_OFF_BY_ONE REHASH_RELINK PUBLISH_AFTER_UNLOCK; do
  secs=$(run_spin "m_$m" "-DMUTANT_$m") || { FAIL=1; secs="?"; }
  out="$WORK/m_$m/out.txt"
  feature="mutant-$(echo "$m" | tr 'A-Z_' 'a-z-')"
  if grep -Eq "errors: [1-9]" "$out"; then
    a=$(grep -Eo "assertion violated.*|invalid end state" "$out" | head -1)
    case "$a" in
      *fpn*) why="P1/P2: write or free of a node a reading snapshot reaches" ;;
      *fpc*) why="P1/P2: write or free of a chunk a reading snapshot reaches" ;;
      *seen*|*sexp*) why="P3: a reader does not see what its snapshot captured" ;;
      *) why="$a" ;;
    esac
    row "spin -DMUTANT_$m" "REJECTED" "$feature: $why (${secs}s)"
  else
    row "spin -DMUTANT_$m" "FAIL" "$feature NOT rejected"
    FAIL=1
  fi
done

# Vacuity check: every probe point of the model (see REACH in cow_table.pml) is reached.
for p in 1 2 3 4 5 6 7 8; do
  secs=$(run_spin "probe_$p" "-DPROBE=$p") || { FAIL=1; secs="?"; }
  out="$WORK/probe_$p/out.txt"
  if grep -q "assertion violated (($p!=$p)\|assertion violated ($p!=$p)" "$out"; then
    row "spin -DPROBE=$p (reachability)" "REACHED" "(${secs}s)"
  else
    row "spin -DPROBE=$p (reachability)" "FAIL" "probe point $p not reached: the model is vacuous there"
    FAIL=1
  fi
done

if [ -d "$HERE/coq" ] && [ -f "$HERE/coq/_files" ]; then
  echo "== Coq"
  cd "$HERE/coq"
  rm -f ./*.vo ./*.vok ./*.vos ./*.glob ./.*.aux ./.lia.cache
  coq_ok=1
  for f in $(cat _files); do
    t0=$(date +%s.%N)
    if coqc -Q . CowTable "$f" >"$WORK/coq_$f.txt" 2>&1; then
      t1=$(date +%s.%N)
      row "coqc $f" "PASS" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1fs", b - a }')"
    else
      cat "$WORK/coq_$f.txt"
      row "coqc $f" "FAIL" "see output above"
      coq_ok=0; FAIL=1
    fi
  done
  if [ $coq_ok = 1 ]; then
    # Print Assumptions of every main theorem (in Assumptions.v): each must be closed.
    out="$WORK/coq_Assumptions.v.txt"
    n_thm=$(grep -c "Closed under the global context" "$out" || true)
    n_req=$(grep -c "^Print Assumptions" Assumptions.v || true)
    if [ "$n_thm" = "$n_req" ] && [ "$n_req" -gt 0 ] && ! grep -Eq "Axioms:|Admitted" "$out" &&
       ! grep -Eqw "Admitted|admit|Axiom|Axioms|Parameter|Hypothesis|Conjecture|Variable" ./*.v; then
      row "Print Assumptions ($n_req theorems)" "PASS" "all closed under the global context"
    else
      cat "$out"
      row "Print Assumptions" "FAIL" "$n_thm of $n_req closed, or an axiom/Admitted found"
      FAIL=1
    fi
  fi
  rm -f ./*.vo ./*.vok ./*.vos ./*.glob ./.*.aux ./.lia.cache
  cd "$HERE"
else
  row "coq" "FAIL" "proofs/coq/_files missing"
  FAIL=1
fi

echo
echo "== Summary"
printf '%-44s %-9s %s\n' "check" "result" "detail"
for r in "${SUMMARY[@]}"; do echo "$r"; done
if [ $FAIL = 0 ]; then echo "ALL CHECKS PASSED"; else echo "SOME CHECKS FAILED"; fi
exit $FAIL
