#!/usr/bin/env bash
# Builds the seed's own Java as a port for the conform kit (docs/PORTING.md, "The seed's Java as a port").
#
# 1. Extracts the seed's sources from the mail copy of the Flink commit (../shared/seeds/ beside the repository,
#    or $SEED): the `+` lines of each new file's diff. Nothing of the seed is kept in this repository.
# 2. Compiles them with this project's stubs of the few Flink types they need (stubs/) and the adapter
#    (Adapter.java) twice: as they are, into target/java-seed/seed/classes, and with the fixes of the seed's
#    bugs found so far (fixes/*.sh, each a small in-place edit of the extracted sources), into
#    target/java-seed/fixed/classes.
# Run the adapter with `ports/java-seed/run.sh [seed|fixed]`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seed="${SEED:-$root/../shared/seeds/000_d23b8d360ed3514c.txt}"
out="${JAVA_SEED_OUT:-$root/target/java-seed}"

# The seed files the port needs, all under flink-runtime/.../state/heap/async/.
files=(CopyOnWriteStateTable CopyOnWriteStateTableSnapshot StateTable StateEntry StateTableSnapshot InternalKeyContext)

[ -r "$seed" ] || { echo "build.sh: seed not found at $seed (set SEED=...)" >&2; exit 2; }
command -v javac >/dev/null || { echo "build.sh: javac not found (apt-get install -y default-jdk-headless)" >&2; exit 2; }

rm -rf "$out"
mkdir -p "$out/src"
for f in "${files[@]}"; do
  path="flink-runtime/src/main/java/org/apache/flink/runtime/state/heap/async/$f.java"
  # A new file's diff: `+++ b/PATH`, one hunk `@@ -0,0 +1,N @@`, then N lines starting with `+`.
  awk -v want="+++ b/$path" -v dest="$out/src/$f.java" '
    $0 == want { found = 1; next }
    found == 1 && /^@@ -0,0 \+1,[0-9]+ @@/ { n = $3; sub(/^\+1,/, "", n); left = n + 0; found = 2; next }
    found == 2 && left > 0 {
      if (substr($0, 1, 1) != "+") { printf "line %d of the hunk does not start with +\n", NR > "/dev/stderr"; exit 3 }
      sub(/\r$/, ""); print substr($0, 2) > dest; left--; if (left == 0) { done = 1; exit 0 }
    }
    END { if (!done) { print "incomplete or missing diff" > "/dev/stderr"; exit 3 } }
  ' "$seed" || { echo "build.sh: could not extract $f.java from $seed" >&2; exit 3; }
done

# The fixed variant's sources: the seed's with every fix applied.
mkdir -p "$out/fixed/src"
cp "$out/src/"*.java "$out/fixed/src/"
for fix in "$here"/fixes/*.sh; do
  src="$out/fixed/src"
  # shellcheck source=/dev/null
  ( . "$fix" ) || { echo "build.sh: fix $(basename "$fix") does not apply" >&2; exit 3; }
done
mkdir -p "$out/seed"
mv "$out/src" "$out/seed/src"

# Per variant: the stubs and the adapter, then the seed's files, in one javac run.
for variant in seed fixed; do
  dir="$out/$variant"
  find "$here/stubs" -name '*.java' > "$dir/sources.txt"
  echo "$here/Adapter.java" >> "$dir/sources.txt"
  for f in "${files[@]}"; do echo "$dir/src/$f.java" >> "$dir/sources.txt"; done
  mkdir -p "$dir/classes"
  javac -nowarn -encoding UTF-8 -d "$dir/classes" @"$dir/sources.txt" 2> "$dir/javac.log" ||
    { cat "$dir/javac.log" >&2; exit 4; }
  echo "build.sh: $dir/classes"
done
