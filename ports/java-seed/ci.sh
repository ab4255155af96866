#!/usr/bin/env bash
# CI stage: the seed's own Java as a port (docs/PORTING.md, "The seed's Java as a port").
#
# Installs a JDK if javac is missing, builds the seed's classes twice (as they are, and with fixes/ applied), then:
#   1. replays the shrunk trace of every seed bug found (bugs/*.jsonl) straight into the adapter: the seed as it is
#      must still fail it as documented, the fixed seed must pass it;
#   2. runs `conform` over every profile against the fixed seed at the level the adapter declares (structural,
#      hash flink, the seed's documented differences declared): it must agree on every case, results and state;
#   3. runs `conform` over every profile against the seed as it is: every divergence must be one of the seed bugs
#      of bugs/ (its signature), anything else fails the stage;
#   4. replays every golden trace (tests/traces/) and a trace generated with the flink hash against both variants
#      with `trace replay --exec` at the declared level;
#   5. checks that every declared difference is needed: the fixed seed declaring all but one fails `conform` on a
#      case that shows that one.
# CASES (default 100) cases of 200 operations per profile. About a minute and a half on 2 cores, plus the JDK
# install.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
cases="${CASES:-100}"
profiles=(mixed rehash release keygroups shrink)

if ! command -v javac >/dev/null 2>&1; then
  echo "java-seed: installing a JDK (default-jdk-headless)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq default-jdk-headless >/dev/null
fi
javac -version

"$here/build.sh"
cargo build -q -p cow-state-table-cli
kit="${CARGO_TARGET_DIR:-$root/target}/debug/cow-state-table"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "java-seed: ok: $*"; }
bad() { failed=$((failed + 1)); echo "java-seed: FAILED: $*"; }

# 1. The seed bugs' shrunk traces, replayed without the kit.
for trace in "$here"/bugs/*.jsonl; do
  name="$(basename "$trace" .jsonl)"
  signature="$(cat "$here/bugs/$name.signature")"
  for variant in seed fixed; do
    got="$("$here/replay.sh" "$variant" "$trace" 2>/dev/null || true)"
    if [ "$variant" = seed ]; then
      if grep -qF -- "$signature" <<<"$got"; then ok "the seed fails $name as documented"; else bad "the seed no longer fails $name as documented: $got"; fi
    else
      if [ "$got" = "agrees" ]; then ok "the fixed seed passes $name"; else bad "the fixed seed fails $name: $got"; fi
    fi
  done
done

conform() {
  "$kit" conform --exec "$here/run.sh $1" --profile "$2" --cases "$cases" 2>&1
}

# 2. The fixed seed agrees with the model everywhere.
for p in "${profiles[@]}"; do
  if out="$(conform fixed "$p")"; then ok "${out##*$'\n'}"; else bad "fixed seed, profile $p:"; echo "$out"; fi
done

# 3. The seed as it is: agreement, or a divergence that is a known seed bug.
for p in "${profiles[@]}"; do
  out="$(conform seed "$p")" && { ok "${out##*$'\n'}"; continue; }
  # The first divergence (its line may be cut) and the shrunk trace's failing operation must both show the same
  # known bug: the shrinker keeps any failure, so they could differ.
  first="$(grep '^divergence in case' <<<"$out" || true)"
  shrunk="$(grep '"got":' <<<"$out" || true)"
  known=""
  for sig in "$here"/bugs/*.signature; do
    if grep -qF -- "$(cat "$sig")" <<<"$first" && grep -qF -- "$(cat "$sig")" <<<"$shrunk"; then
      known="$(basename "$sig" .signature)"
    fi
  done
  if [ -n "$known" ]; then
    ok "the seed as it is, profile $p: diverges by the known seed bug $known"
  else
    bad "the seed as it is, profile $p: a divergence that is not a known seed bug:"
    echo "$out"
  fi
done

# 4. Golden traces and a flink-hash trace, replayed against both variants at the declared level.
flink="$(mktemp -d)/flink.jsonl"
"$kit" trace generate --hash flink --profile rehash --ops 400 -o "$flink"
for trace in "$root"/tests/traces/*.jsonl "$flink"; do
  for variant in fixed seed; do
    if out="$("$kit" trace replay --exec "$here/run.sh $variant" "$trace" 2>&1)"; then
      ok "$variant: $(head -1 <<<"$out")"
    else
      bad "$variant: trace replay of $trace:"; echo "$out"
    fi
  done
done

# 5. Every declared difference is needed: without it, a case that shows it fails (profile, seed).
while read -r difference profile seed; do
  if out="$("$kit" conform --exec "$here/run.sh fixed --without $difference" --profile "$profile" --seed "$seed" \
    --cases 1 --shrink-time 5 2>&1)"; then
    bad "the fixed seed passes $profile seed $seed without declaring $difference: $out"
  elif grep -q '^divergence in case 0 .*then state\.\(capacity\|rehashing\)' <<<"$out"; then
    ok "without declaring $difference, $profile seed $seed fails at the structural level"
  else
    bad "without declaring $difference, $profile seed $seed fails otherwise:"; echo "$out"
  fi
done <<'EOF'
no-shrink shrink 1
step-on-reads mixed 2
whole-bucket-steps mixed 1
insert-at-rehash-index-into-old mixed 4
EOF

echo "java-seed: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
