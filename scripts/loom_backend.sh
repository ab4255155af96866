#!/usr/bin/env bash
# The loom models of the backend's checkpoint lifecycle (tests/loom_backend.rs; docs/DESIGN.md B21, B22, B25,
# B26) at a high preemption bound, with the interleaving counts (docs/MODEL_CHECKING.md, "loom: the checkpoint
# lifecycle"). CI runs them at the default bound 3.
#
#   scripts/loom_backend.sh            # bound 16
#   LOOM_MAX_PREEMPTIONS=6 scripts/loom_backend.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-16}"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/loom}" exec cargo test --release --features loom --test loom_backend \
    -- --nocapture --test-threads=1
