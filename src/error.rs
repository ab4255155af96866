//! Errors of the table core.

/// Why a snapshot could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The 32-bit version counter is exhausted and snapshots have stayed live the whole time, so versions could
    /// not be renormalised (I12). Release the live snapshots; the next `snapshot()` renormalises.
    #[error("snapshot versions exhausted: {live} snapshot(s) have been continuously live since the last renormalisation; release them and retry")]
    VersionsExhausted {
        /// Snapshots live when the attempt failed.
        live: usize,
    },
}

/// An invariant of docs/DESIGN.md that [`StateTable::check_invariants`](crate::StateTable::check_invariants)
/// found broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invariant {invariant} violated: {detail}")]
#[non_exhaustive]
pub struct InvariantViolation {
    /// The invariant's number in docs/DESIGN.md, e.g. `"I10"`.
    pub invariant: &'static str,
    /// What was found.
    pub detail: String,
}
