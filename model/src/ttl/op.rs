//! The TTL operation language and its proptest strategies.

use cow_state_table::backend::ttl::UpdateType;
use proptest::prelude::*;

/// The states' time-to-live, in milliseconds.
pub const TTL_MILLIS: i64 = 10;
/// Keys are `0..TTL_KEYS` (all in the backend's range).
pub const TTL_KEYS: u64 = 6;
/// Namespaces are `0..TTL_NAMESPACES`.
pub const TTL_NAMESPACES: u32 = 3;
/// Map user keys are `0..TTL_MAP_KEYS`.
pub const TTL_MAP_KEYS: u8 = 4;
/// Checkpoints in flight at once.
pub const TTL_SLOTS: usize = 2;

/// One run's TTL configuration (the same for the four states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlMode {
    /// When stamps are refreshed (T3): `Disabled` (only a creating write stamps), `OnCreateAndWrite` or
    /// `OnReadAndWrite`.
    pub update: UpdateType,
    /// `StateVisibility::ReturnExpiredIfNotCleanedUp` (else `NeverReturnExpired`).
    pub return_expired: bool,
    /// Cleanup at snapshot (T5).
    pub full_snapshot: bool,
    /// Incremental cleanup with this visit count (T6).
    pub incremental: Option<u8>,
    /// With incremental cleanup: a step per `record_processed` too.
    pub every_record: bool,
}

/// One operation. Namespaces are taken mod [`TTL_NAMESPACES`], keys mod [`TTL_KEYS`], user keys mod
/// [`TTL_MAP_KEYS`], states mod 4 (list, map, reducing, aggregating).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtlOp {
    /// `set_current_key`.
    SetKey {
        /// Key.
        key: u8,
    },
    /// Moves the clock forward.
    Advance {
        /// Milliseconds.
        millis: u8,
    },
    /// List `add`.
    ListAdd {
        /// Namespace.
        ns: u8,
        /// Element.
        value: u64,
    },
    /// List `update` (empty: clears).
    ListUpdate {
        /// Namespace.
        ns: u8,
        /// Elements.
        values: Vec<u64>,
    },
    /// List `get`.
    ListGet {
        /// Namespace.
        ns: u8,
    },
    /// List `merge_namespaces` (T9).
    ListMerge {
        /// Target.
        target: u8,
        /// Sources, in order.
        sources: Vec<u8>,
    },
    /// Map `put`.
    MapPut {
        /// Namespace.
        ns: u8,
        /// User key.
        user_key: u8,
        /// Value.
        value: u64,
    },
    /// Map `remove`.
    MapRemove {
        /// Namespace.
        ns: u8,
        /// User key.
        user_key: u8,
    },
    /// Map `get`.
    MapGet {
        /// Namespace.
        ns: u8,
        /// User key.
        user_key: u8,
    },
    /// Map `entries` (sorted), `keys`, `values` and `is_empty`, which must agree.
    MapEntries {
        /// Namespace.
        ns: u8,
    },
    /// Map `entries_mut`: removes the entries of odd value, adds one to the others with `set_value` (T10).
    MapCursor {
        /// Namespace.
        ns: u8,
    },
    /// Reducing `add`.
    ReduceAdd {
        /// Namespace.
        ns: u8,
        /// Value.
        value: u64,
    },
    /// Reducing `get`.
    ReduceGet {
        /// Namespace.
        ns: u8,
    },
    /// Reducing `merge_namespaces` (T9).
    ReduceMerge {
        /// Target.
        target: u8,
        /// Sources, in order.
        sources: Vec<u8>,
    },
    /// Aggregating `add`.
    AggAdd {
        /// Namespace.
        ns: u8,
        /// Value.
        value: u64,
    },
    /// Aggregating `get` (the function's result).
    AggGet {
        /// Namespace.
        ns: u8,
    },
    /// Aggregating `merge_namespaces` (T9).
    AggMerge {
        /// Target.
        target: u8,
        /// Sources, in order.
        sources: Vec<u8>,
    },
    /// `clear` of a state.
    Clear {
        /// Which state.
        state: u8,
        /// Namespace.
        ns: u8,
    },
    /// `cleanup_full` of a state (T7).
    CleanupFull {
        /// Which state.
        state: u8,
    },
    /// `record_processed` of a state (T6).
    RecordProcessed {
        /// Which state.
        state: u8,
    },
    /// The synchronous part of a checkpoint (a checkpoint already in the slot is dropped, i.e. cancelled).
    CheckpointStart {
        /// Slot.
        slot: u8,
    },
    /// Runs the slot's asynchronous part now and verifies the checkpoint.
    CheckpointFinish {
        /// Slot.
        slot: u8,
    },
    /// Restores the live backend from a verified checkpoint (index mod their number; nothing if none).
    Restore {
        /// Which checkpoint.
        index: u8,
    },
}

/// An operation's outcome as the backend reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TtlOutcome {
    /// Nothing returned.
    Unit,
    /// A list, or `None`.
    List(Option<Vec<u64>>),
    /// A value, or `None`.
    Value(Option<u64>),
    /// Map entries, sorted by user key.
    Entries(Vec<(u8, u64)>),
    /// `"no-key"`: no current key.
    Err(&'static str),
}

fn ns() -> impl Strategy<Value = u8> {
    0u8..TTL_NAMESPACES as u8
}

fn sources() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(ns(), 0..4)
}

/// A strategy for one operation: writes on few keys, reads, merges, the clock moving about a third of the TTL
/// at a time, checkpoints started and finished a few operations later.
pub fn ttl_op() -> impl Strategy<Value = TtlOp> {
    prop_oneof![
        6 => (0u8..TTL_KEYS as u8).prop_map(|key| TtlOp::SetKey { key }),
        6 => (0u8..8).prop_map(|millis| TtlOp::Advance { millis }),
        5 => (ns(), 0u64..100).prop_map(|(ns, value)| TtlOp::ListAdd { ns, value }),
        1 => (ns(), prop::collection::vec(0u64..100, 0..3)).prop_map(|(ns, values)| TtlOp::ListUpdate { ns, values }),
        3 => ns().prop_map(|ns| TtlOp::ListGet { ns }),
        2 => (ns(), sources()).prop_map(|(target, sources)| TtlOp::ListMerge { target, sources }),
        5 => (ns(), 0u8..TTL_MAP_KEYS, 0u64..100).prop_map(|(ns, user_key, value)| TtlOp::MapPut { ns, user_key, value }),
        2 => (ns(), 0u8..TTL_MAP_KEYS).prop_map(|(ns, user_key)| TtlOp::MapRemove { ns, user_key }),
        3 => (ns(), 0u8..TTL_MAP_KEYS).prop_map(|(ns, user_key)| TtlOp::MapGet { ns, user_key }),
        2 => ns().prop_map(|ns| TtlOp::MapEntries { ns }),
        2 => ns().prop_map(|ns| TtlOp::MapCursor { ns }),
        5 => (ns(), 0u64..100).prop_map(|(ns, value)| TtlOp::ReduceAdd { ns, value }),
        3 => ns().prop_map(|ns| TtlOp::ReduceGet { ns }),
        2 => (ns(), sources()).prop_map(|(target, sources)| TtlOp::ReduceMerge { target, sources }),
        4 => (ns(), 0u64..100).prop_map(|(ns, value)| TtlOp::AggAdd { ns, value }),
        3 => ns().prop_map(|ns| TtlOp::AggGet { ns }),
        2 => (ns(), sources()).prop_map(|(target, sources)| TtlOp::AggMerge { target, sources }),
        1 => (0u8..4, ns()).prop_map(|(state, ns)| TtlOp::Clear { state, ns }),
        1 => (0u8..4).prop_map(|state| TtlOp::CleanupFull { state }),
        1 => (0u8..4).prop_map(|state| TtlOp::RecordProcessed { state }),
        2 => (0u8..TTL_SLOTS as u8).prop_map(|slot| TtlOp::CheckpointStart { slot }),
        2 => (0u8..TTL_SLOTS as u8).prop_map(|slot| TtlOp::CheckpointFinish { slot }),
        1 => any::<u8>().prop_map(|index| TtlOp::Restore { index }),
    ]
}

/// A strategy for a run's configuration: every combination of update type, visibility and cleanups.
pub fn ttl_mode() -> impl Strategy<Value = TtlMode> {
    let update = prop_oneof![
        Just(UpdateType::Disabled),
        Just(UpdateType::OnCreateAndWrite),
        Just(UpdateType::OnReadAndWrite),
    ];
    (
        update,
        any::<bool>(),
        any::<bool>(),
        prop::option::of(1u8..4),
        any::<bool>(),
    )
        .prop_map(
            |(update, return_expired, full_snapshot, incremental, every_record)| TtlMode {
                update,
                return_expired,
                full_snapshot,
                incremental,
                every_record,
            },
        )
}

/// A strategy for a configuration and up to `max_len` operations.
pub fn ttl_case(max_len: usize) -> impl Strategy<Value = (TtlMode, Vec<TtlOp>)> {
    (ttl_mode(), prop::collection::vec(ttl_op(), 0..=max_len))
}
