//! Keyed state on [timely dataflow](https://docs.rs/timely): `cow-state-table`'s `KeyedStateBackend` as the
//! state of a keyed timely operator, with aligned checkpoints at epoch boundaries and restarts with another
//! number of workers or processes.
//!
//! Flink counterparts: the key-group partitioner (`KeyGroupStreamPartitioner`), a keyed operator with its
//! `HeapKeyedStateBackend`, aligned barriers (`CheckpointBarrierAligner`) and the checkpoint coordinator's
//! `_metadata` file, rescaling through `StateAssignmentOperation`.
//!
//! * [`KeyGroupExchange`] — key → key group → worker (X1).
//! * [`keyed_state`] with a [`KeyedLogic`] — the operator (X3, X7), [`WorkerCheckpoints`] its progress.
//! * [`CheckpointRoot`], [`Manifest`], [`ManifestCommitter`] — the shared checkpoint layout and what makes a
//!   checkpoint complete (X2, X4, X5).
//! * [`restore_worker`] — a worker's key groups from a checkpoint of any worker count (X6).
//! * [`baseline`] — the same job on a plain `HashMap`, no checkpoints (docs/PERFORMANCE.md).
//! * [`cli`] — the `cluster_wordcount` example's commands: `worker`, `demo`, `bench`.
//! * [`cputime`] — on-CPU time from `/proc`, for the measurements.
//! * [`cluster`] — worker processes on 127.0.0.1, killed on drop (X9).
//! * [`wordcount`] — the windowed word count of the `cluster_wordcount` example and its single-process model.
//!
//! The rules **X1 … X9** are in docs/CLUSTER.md.

pub mod baseline;
mod checkpoints;
pub mod cli;
pub mod cluster;
pub mod cputime;
mod error;
mod exchange;
mod manifest;
mod operator;
mod restore;
pub mod wordcount;

pub use checkpoints::{ManifestCommitter, WorkerCheckpoints};
pub use error::ClusterError;
pub use exchange::KeyGroupExchange;
pub use manifest::{CheckpointRoot, Manifest, Part};
pub use operator::{keyed_state, Backend, CheckpointConfig, KeyedConfig, KeyedLogic, Restore, StorageWrapper};
pub use restore::restore_worker;
