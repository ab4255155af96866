//! The bodies of the fuzz targets, as functions, so that the targets, the seed generator
//! (`examples/gen_seeds.rs`) and the regression test (`tests/seeds.rs`) share them.
//!
//! * [`table_ops`] — the model's [`Op`](cow_state_table_model::Op) sequences through the model's differential
//!   [`Runner`](cow_state_table_model::Runner).
//! * [`decode`] — arbitrary bytes into the checkpoint reader and restore.
//! * [`roundtrip`] — ops and snapshots, written by key group, restored into key-group ranges.
//! * [`stream_decode`] — arbitrary bytes into the checkpoint-stream reader of the keyed backend.
//! * [`schedules`] — a writer and two snapshot threads under shuttle, the interleaving chosen by the input.

pub mod decode;
pub mod encode;
pub mod roundtrip;
pub mod schedules;
pub mod stream_decode;
pub mod table_ops;

/// Longest op sequence a target runs (longer inputs are truncated): keeps every execution well under the
/// libFuzzer timeout.
pub const MAX_OPS: usize = 400;
