//! State time-to-live (Flink 1.6+ `StateTtlConfig` and the TTL state decorators of `TtlStateFactory`): its rules,
//! **T1 … T10**, are in docs/DESIGN.md ("State time-to-live").
//!
//! * [`StateTtlConfig`] — time-to-live, [`UpdateType`], [`StateVisibility`], cleanup at snapshot and
//!   [`IncrementalCleanup`], the clock ([`TtlTimeProvider`]: [`SystemClock`], [`ManualClock`]).
//! * [`TtlValue`] / [`TtlSerializer`] — the stored form, a timestamp then the user value, byte-compatible with
//!   Flink's `TtlSerializer` (T1); [`expired`] is Flink's `TtlUtils.expired` (T2).
//! * The TTL states, registered with `register_ttl_*`: [`TtlValueState`], [`TtlListState`] (per element),
//!   [`TtlMapState`] (per entry), [`TtlReducingState`], [`TtlAggregatingState`], and the deprecated
//!   `TtlFoldingState` (as the plain folding state).
//! * Merging namespaces of the list, reducing and aggregating TTL states (T9); the TTL map's views and its
//!   cursor, [`TtlMapEntriesMut`] (T10).
//! * Cleanup at snapshot: a filter the checkpoint's asynchronous part writes through (T5); incremental cleanup:
//!   a resumable visit of the live table per state access (T6, `StateTable::visit_some`); `cleanup_full` (T7).

mod aggregating_state;
mod clock;
mod config;
mod folding_state;
mod handle;
mod list_state;
mod map_cursor;
mod map_state;
mod merge;
mod reducing_state;
mod runtime;
pub(crate) mod snapshot;
mod value;
mod value_state;

pub use aggregating_state::TtlAggregatingState;
pub use clock::{ManualClock, SystemClock, TtlTimeProvider};
pub use config::{IncrementalCleanup, StateTtlConfig, StateVisibility, TtlConfigError, UpdateType};
#[allow(deprecated)]
pub use folding_state::TtlFoldingState;
pub use list_state::TtlListState;
pub use map_cursor::TtlMapEntriesMut;
pub use map_state::TtlMapState;
pub use reducing_state::TtlReducingState;
pub use value::{expired, TtlSerializer, TtlValue};
pub use value_state::TtlValueState;
