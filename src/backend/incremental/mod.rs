//! Incremental checkpoints (docs/DESIGN.md C6–C9): the checkpoint mode and its policy, the base the backend
//! retains per state, and the typed delta writer and applier.
//!
//! Flink has no counterpart for the heap backend (FLIP-151, incremental heap snapshots, was never finished);
//! the policy mirrors RocksDB's incremental checkpoints, whose chain of shared files a full checkpoint restarts.

pub(crate) mod delta;
mod retain;

pub use retain::IncrementalStats;
pub(crate) use retain::{completed, BaseSlot, Incremental, RetainedBase};

/// How [`KeyedStateBackend::checkpoint_with`](crate::backend::KeyedStateBackend::checkpoint_with) writes a
/// checkpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum CheckpointMode {
    /// Every entry of every state (what [`checkpoint`](crate::backend::KeyedStateBackend::checkpoint) does):
    /// byte-identical to the streams of the seed's layout. The backend retains nothing for it, and its
    /// completion leaves the base of incremental checkpoints as it was (C8).
    Full,
    /// A delta on top of the base when the policy allows, else a full checkpoint; either way, once it completes
    /// (its commit returned `Ok` or `NotDurable`) its snapshots become the base (C6, C8).
    Incremental(IncrementalPolicy),
}

/// When an incremental checkpoint is written in full anyway (C7).
///
/// ```
/// use cow_state_table::backend::IncrementalPolicy;
/// let p = IncrementalPolicy::default();
/// assert_eq!((p.full_every, p.max_delta_fraction), (10, 0.5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct IncrementalPolicy {
    /// A full checkpoint every `full_every` checkpoints: a chain holds one full checkpoint and at most
    /// `full_every - 1` deltas (0 and 1: always full).
    pub full_every: u32,
    /// A full checkpoint when the estimated delta (node copies since the base, C7) exceeds this fraction of the
    /// entries.
    pub max_delta_fraction: f64,
}

impl Default for IncrementalPolicy {
    fn default() -> Self {
        IncrementalPolicy {
            full_every: 10,
            max_delta_fraction: 0.5,
        }
    }
}

impl IncrementalPolicy {
    /// A policy with a full checkpoint every `full_every` checkpoints and the default fraction.
    pub fn every(full_every: u32) -> Self {
        IncrementalPolicy {
            full_every,
            ..Self::default()
        }
    }

    /// The same policy with another fraction.
    pub fn with_max_delta_fraction(mut self, fraction: f64) -> Self {
        self.max_delta_fraction = fraction;
        self
    }
}
