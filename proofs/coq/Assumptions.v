(** * Assumptions.v -- prints the axioms the main theorems depend on; proofs/check.sh requires each to be
    "Closed under the global context". *)
From CowTable Require Import Model Ops Frame Blocks Live Preserve Main.

Print Assumptions isolation.
Print Assumptions step_preserves_inv.
Print Assumptions reachable_inv.
Print Assumptions snapshot_isolation.
Print Assumptions snapshot_captures.
Print Assumptions live_view_is_map.
Print Assumptions structure_ok.
