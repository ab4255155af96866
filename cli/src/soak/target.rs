//! What the soak run drives: a keyed-state target with several named states of `(u64 key, u32 namespace) ->
//! u64`, snapshotted all at once, whose snapshots can be read (by the reader threads) and checkpointed,
//! restored and read back (by the checkpointer).
//!
//! Two targets implement [`KeyedTarget`]: the keyed state backend ([`super::backend::BackendSet`], the default:
//! Flink's `HeapKeyedStateBackend` with value and reducing states) and plain tables
//! ([`super::tables::TableSet`], one [`StateTable`](cow_state_table::StateTable) per state, which also reports
//! copy-on-write counts). The writer, readers, checkpointer and verification are the same for both.

use super::checkpoint::{CheckpointStats, Storage};
use super::model::{Capture, Cell};
use cow_state_table::keygroup::KeyGroupContext;

/// Results of target operations; an error is a failure of the target (reported as a mismatch).
pub type OpResult<T> = Result<T, String>;

/// A keyed-state target.
pub trait KeyedTarget: Send + Sized + 'static {
    /// A snapshot of every state at one instant, shared by a reader and the checkpointer.
    type Snap: Send + Sync + 'static;
    /// What the checkpointer keeps between checkpoints (e.g. the checkpoint storage).
    type Store: Send + 'static;
    /// Short description for the summary.
    const NAME: &'static str;

    /// `states` empty states over `ctx`'s key groups.
    fn new(states: usize, ctx: KeyGroupContext) -> OpResult<Self>;
    /// Sets `(key, ns)` to `value`.
    fn put(&mut self, state: usize, key: u64, ns: u32, value: u64) -> OpResult<()>;
    /// In-place update `s = f(s)` of an existing state; returns the old state.
    fn update(&mut self, state: usize, key: u64, ns: u32, f: impl FnOnce(u64) -> u64) -> OpResult<Option<u64>>;
    /// Adds `delta` (`s = s + delta`, or `delta` if absent; Flink `ReducingState.add`); returns the old state.
    fn add(&mut self, state: usize, key: u64, ns: u32, delta: u64) -> OpResult<Option<u64>>;
    /// Removes `(key, ns)`; returns the removed state.
    fn remove(&mut self, state: usize, key: u64, ns: u32) -> OpResult<Option<u64>>;
    /// Merges `sources` into `into` by addition and removes them (Flink `mergeNamespaces`); returns the merged
    /// state of `into`.
    fn merge(&mut self, state: usize, key: u64, into: u32, sources: [u32; 2]) -> OpResult<Option<u64>>;
    /// Puts an entry behind the model's back (fault injection, to test the verification itself).
    fn inject(&mut self, state: usize, key: u64, ns: u32, value: u64) -> OpResult<()>;
    /// Snapshots every state (the synchronous part of a checkpoint).
    fn snapshot(&mut self, id: u64) -> OpResult<Self::Snap>;
    /// Entries over all states.
    fn entries(&self) -> u64;
    /// Copy-on-write copies so far (nodes, chunks), if the target reports them.
    fn copies(&self) -> Option<(u64, u64)>;

    /// Reads `snap`: per state, the count and fingerprint of every key group; and the entries read.
    fn read(snap: &Self::Snap, ctx: KeyGroupContext) -> OpResult<(Vec<Vec<Cell>>, u64)>;
    /// Opens the checkpointer's store.
    fn open_store(storage: &Storage) -> OpResult<Self::Store>;
    /// Writes checkpoint `id` of `snap` to `store`, reads it back, restores it (rescaled when `rescale` is
    /// `Some(parallelism)`) and verifies every restore against `capture`.
    fn checkpoint(
        snap: &Self::Snap,
        id: u64,
        op: u64,
        capture: &Capture,
        ctx: KeyGroupContext,
        store: &mut Self::Store,
        rescale: Option<u32>,
    ) -> OpResult<CheckpointStats>;
}
