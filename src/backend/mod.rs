//! The keyed state layer: a backend for one operator instance over many named states, each backed by its own
//! [`StateTable`](crate::StateTable), checkpointed asynchronously.
//!
//! Flink: `HeapKeyedStateBackend`, `InternalKeyContext`, the heap states (`HeapValueState`, `HeapListState`,
//! `HeapReducingState`, `HeapFoldingState`, …) and `AsyncMemoryStateBackend`.
//!
//! This layer sits above the table, the snapshot, the key groups and the format; nothing below it imports it.
//! Its rules are written in docs/DESIGN.md ("The keyed state backend").
//!
//! * [`stream`] — the checkpoint stream of many states: the backport's key-group framing, the meta section,
//!   key-group offsets and checksums (docs/FORMAT.md).
//! * [`storage`] — where checkpoint streams go: memory with a size cap, or a directory.

pub mod storage;
pub mod stream;
