#!/bin/sh
# Starts the seed's Java behind the conform protocol: `run.sh seed` (the seed as it is) or `run.sh fixed` (with
# the fixes of fixes/). Build first with ports/java-seed/build.sh. Further arguments go to the adapter
# (--exceptions-as-errors).
here="$(cd "$(dirname "$0")" && pwd)"
variant="${1:-seed}"
[ $# -gt 0 ] && shift
classes="${JAVA_SEED_OUT:-$here/../../target/java-seed}/$variant/classes"
[ -d "$classes" ] || { echo "run.sh: no $classes (run ports/java-seed/build.sh)" >&2; exit 2; }
exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$classes" org.apache.flink.runtime.state.heap.async.Adapter "$@"
