#!/usr/bin/env bash
# CI stage: the seed's own Java as a port (docs/PORTING.md, "The seed's Java as a port").
#
# Installs a JDK if javac is missing, builds the seed's classes twice (as they are, and with fixes/ applied), then:
#   1. replays the shrunk trace of every seed bug found (bugs/*.jsonl) straight into the adapter: the seed as it is
#      must still fail it as documented, the fixed seed must pass it;
#   2. runs `conform` over every profile against the fixed seed: it must agree with the model on every case;
#   3. runs `conform` over every profile against the seed as it is: every divergence must be one of the seed bugs
#      of bugs/ (its signature), anything else fails the stage.
# CASES (default 200) cases of 200 operations per profile. About a minute on 2 cores, plus the JDK install.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
cases="${CASES:-200}"
profiles=(mixed rehash release keygroups shrink)

if ! command -v javac >/dev/null 2>&1; then
  echo "java-seed: installing a JDK (default-jdk-headless)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq default-jdk-headless >/dev/null
fi
javac -version

"$here/build.sh"
cargo build -q -p cow-state-table-cli
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
  cargo run -q -p cow-state-table-cli -- conform --exec "$here/run.sh $1" --level results --profile "$2" --cases "$cases" 2>&1
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

echo "java-seed: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
