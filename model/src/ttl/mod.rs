//! The TTL list, map, reducing and aggregating states against a reference model (docs/DESIGN.md T1–T10), the
//! clock an operation.
//!
//! * [`TtlMode`] — one run's configuration: update type (`Disabled` / `OnCreateAndWrite` / `OnReadAndWrite`),
//!   visibility (`NeverReturnExpired` / `ReturnExpiredIfNotCleanedUp`), cleanup at snapshot (T5) and incremental
//!   cleanup (T6, with or without a step per record).
//! * [`TtlOp`] — the operations of the four states (reads, writes, merges, the map's views and cursor, clear,
//!   `cleanup_full`, `record_processed`), the clock, and checkpoint start / finish / restore, as data.
//! * [`TtlModel`] — per state a `BTreeMap<(key, namespace), stored>` with every element's stamp.
//! * [`TtlRunner`] — applies each operation to a real backend and to the model. Reads that may see what a
//!   cleanup has not removed yet (`ReturnExpiredIfNotCleanedUp`) are checked against the backend's stored state,
//!   which is itself checked against the model after every operation: it must be the model less some expired
//!   elements, entries or values — cleanups run at times the model does not follow, but never remove anything
//!   unexpired (T2, T6) — and every stamp must be the model's. The model then adopts what the cleanups removed. A
//!   checkpoint's asynchronous part runs at its finish, later writes in between; restored, it must hold exactly
//!   the state captured at its start, less (with cleanup at snapshot) what was expired when it ran (T5).
//!
//! ```
//! use cow_state_table::backend::ttl::UpdateType;
//! use cow_state_table_model::ttl::{TtlMode, TtlOp, TtlRunner};
//! let mode = TtlMode { update: UpdateType::OnReadAndWrite, return_expired: false, full_snapshot: true, incremental: Some(2),
//!     every_record: false };
//! let ops = [
//!     TtlOp::SetKey { key: 1 },
//!     TtlOp::ListAdd { ns: 0, value: 7 },
//!     TtlOp::Advance { millis: 6 },
//!     TtlOp::ListAdd { ns: 0, value: 8 },
//!     TtlOp::CheckpointStart { slot: 0 },
//!     TtlOp::Advance { millis: 5 },            // 7 expired (TTL_MILLIS = 10)
//!     TtlOp::CheckpointFinish { slot: 0 },     // written without it (T5)
//!     TtlOp::ListGet { ns: 0 },
//!     TtlOp::Restore { index: 0 },
//! ];
//! let stats = TtlRunner::run(mode, &ops).unwrap();
//! assert_eq!(stats.checkpoints_verified, 1);
//! ```

mod model;
mod op;
mod runner;

pub use model::{agg_add, agg_merge, agg_result, Stamped, TtlModel, TtlStates, AGG_START};
pub use op::{
    ttl_case, ttl_mode, ttl_op, TtlMode, TtlOp, TtlOutcome, TTL_KEYS, TTL_MAP_KEYS, TTL_MILLIS, TTL_NAMESPACES,
};
pub use runner::{TtlDivergence, TtlRunner, TtlStats};
