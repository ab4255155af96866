//! `table_ops`: an arbitrary [`Case`] (hasher, teardown order, op sequence) run by the model's differential
//! [`Runner`] on a table with 4 initial buckets and 16 keys x 4 namespaces, so that growth, incremental
//! rehash, snapshots taken mid-rehash, removals from shared chains and releases in any order happen on nearly
//! every input. The runner compares every result, the live table and every live snapshot with the reference
//! model after every op, and runs `check_invariants()`; a [`Divergence`] is a crash.

use crate::MAX_OPS;
use arbitrary::Arbitrary;
use cow_state_table_model::{Case, Config, Divergence, HasherChoice, RunStats, Runner};

/// The input of `table_ops`.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Input {
    /// Version at which the table renormalises (`2 + raw % 63`): small limits make renormalisation (I12)
    /// happen inside a run.
    pub version_limit: u8,
    /// When the case chose the deterministic hasher and `colliding % 4 != 0`, a colliding hasher with mask
    /// `colliding` is used instead (so three inputs in four collide).
    pub colliding: u8,
    /// Hasher, teardown order and ops (the model's own `Arbitrary` case).
    pub case: Case,
}

impl Input {
    /// The runner configuration of this input: 4 initial buckets, full comparison after every op.
    pub fn config(&self) -> Config {
        Config {
            capacity: 4,
            version_limit: 2 + u32::from(self.version_limit % 63),
            compare_live_every_op: true,
            teardown: self.case.teardown,
            // Half of the inputs (the top bit of `version_limit`, which the limit ignores): chunks of 4 heads, so
            // that rehashes of these small tables allocate and give up chunks in steps (W1).
            chunk_bits: (self.version_limit >= 128).then_some(2),
        }
    }

    /// The hasher: the case's, unless [`Input::colliding`] replaces the deterministic one.
    pub fn hasher(&self) -> HasherChoice {
        match self.case.hasher {
            HasherChoice::Deterministic if self.colliding % 4 != 0 => HasherChoice::Colliding { mask: self.colliding },
            h => h,
        }
    }
}

/// Runs the input through the differential runner (ops beyond [`MAX_OPS`] are ignored).
pub fn run(input: &Input) -> Result<RunStats, Divergence> {
    let ops = &input.case.ops[..input.case.ops.len().min(MAX_OPS)];
    Runner::<u8, u8, Vec<u32>, HasherChoice>::with_config(input.hasher(), input.config()).run_ops(ops)
}

/// The fuzz target's body: panics with the divergence and the op sequence.
pub fn fuzz(input: &Input) {
    if let Err(d) = run(input) {
        let ops = &input.case.ops[..input.case.ops.len().min(MAX_OPS)];
        let upto = ops.len().min(d.index + 1);
        panic!(
            "divergence: {d}\nhasher: {:?}, config: {:?}\nops[..={}]: {:?}",
            input.hasher(),
            input.config(),
            d.index,
            &ops[..upto]
        );
    }
}
