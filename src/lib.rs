//! # cow-state-table
//!
//! A hash table from `(key, namespace)` to state whose snapshots are nearly free, whose writer never stops for
//! them, and whose concurrency is checked: a Rust port of Apache Flink's `CopyOnWriteStateTable`, the
//! copy-on-write keyed-state table of its heap state backend.
//!
//! * [`StateTable`] — the writer's side: chained buckets, incremental rehash, copy-on-write by versions.
//! * [`Snapshot`] — a frozen view, `Send + Sync`, readable on any thread while the writer goes on, released
//!   by `Drop` in any order.
//! * [`sync`] — the primitives seam: the same core runs on std, loom and shuttle.
//!
//! The copy-on-write and reclamation invariants **I1–I13** are written down in `docs/DESIGN.md`; every
//! `SAFETY:` comment, the runtime checker ([`StateTable::check_invariants`]), the loom/shuttle models and the
//! proofs cite them by number.
//!
//! ```
//! use cow_state_table::StateTable;
//!
//! let mut table: StateTable<u64, u32, u64> = StateTable::new();
//! for k in 0..1000 {
//!     table.put(k, 0, k);
//! }
//! let snapshot = table.snapshot().unwrap();           // copies a chunk directory, not the entries
//! let reader = std::thread::spawn(move || snapshot.iter().map(|(_, _, s)| *s).sum::<u64>());
//! for k in 0..1000 {
//!     *table.get_mut(&k, &0).unwrap() += 1;           // copy-on-write: the snapshot keeps the old values
//! }
//! assert_eq!(reader.join().unwrap(), (0..1000).sum::<u64>());
//! assert_eq!(table.iter().map(|(_, _, s)| *s).sum::<u64>(), (1..=1000).sum::<u64>());
//! table.check_invariants().unwrap();
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod backend;
mod check;
pub mod error;
pub mod format;
pub mod hash;
pub mod keygroup;
pub mod restore;
pub mod serializer;
pub mod snapshot;
pub mod sync;
pub mod table;

pub use error::{InvariantViolation, SnapshotError};
pub use hash::{DeterministicState, StableHasher};
pub use snapshot::reclaim::CowStats;
pub use snapshot::Snapshot;
pub use table::iter::Entries;
pub use table::StateTable;
