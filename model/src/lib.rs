//! Reference model, operation language and differential runner for `cow-state-table`.
//!
//! * [`Reference`] — the model: a `BTreeMap<(K, N), S>` for the live table, a frozen `BTreeMap` per snapshot
//!   taken at snapshot time, and the table's version counter.
//! * [`Op`] — every table and snapshot operation, as data: `arbitrary::Arbitrary` for fuzzing, [`ops`] as a
//!   proptest strategy. Keys, namespaces and snapshot slots come from small spaces ([`KEYS`],
//!   [`NAMESPACES`], [`SLOTS`]) so that collisions, chains and snapshot interplay are frequent.
//! * [`Runner`] — applies each operation to a [`StateTable`](cow_state_table::StateTable) (4 initial buckets,
//!   so growth and incremental rehash happen constantly) and to the model, compares every result, and after
//!   every operation compares the live table and every live snapshot with the model and runs
//!   `check_invariants()`. The first difference is returned as a [`Divergence`].
//! * [`HasherChoice`] / [`CollidingState`] — the deterministic hasher or one with only a few distinct
//!   outputs, so that long chains, rehash under snapshot and removal from shared chains happen all the time.
//!
//! ```
//! use cow_state_table_model::{Case, HasherChoice, Op, Teardown};
//! let case = Case {
//!     hasher: HasherChoice::Colliding { mask: 0 },
//!     teardown: Teardown::TableFirst,
//!     ops: vec![
//!         Op::Put { key: 1, ns: 0, value: 1 },
//!         Op::Put { key: 2, ns: 0, value: 2 },
//!         Op::TakeSnapshot { slot: 0 },
//!         Op::Remove { key: 2, ns: 0 },
//!     ],
//! };
//! case.run().unwrap();
//! ```
#![warn(missing_docs)]

pub mod backend;
mod hashers;
mod op;
mod reference;
mod runner;
pub mod ttl;

pub use hashers::{ChoiceHasher, CollidingHasher, CollidingState, HasherChoice};
pub use op::{drain_op, op, ops, Op, KEYS, NAMESPACES, SLOTS};
pub use reference::{Frozen, ModelState, Reference, SnapshotOutcome, MAX_SNAPSHOT_VERSION};
pub use runner::{
    install_quiet_panic_hook, Case, Config, Divergence, ModelKey, ModelPanic, RunStats, Runner, Teardown,
};
