#!/bin/sh
# Replays a shrunk trace (as `conform` prints it) against the seed's Java: `replay.sh seed|fixed TRACE.jsonl`.
# Prints `agrees` or the first difference.
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/run.sh" "$1" --replay "$2"
