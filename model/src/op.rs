//! The operation language of the differential tests, with generators for `arbitrary` (fuzzing) and proptest.
//!
//! Keys, namespaces and snapshot slots are raw bytes; the runner reduces them modulo [`KEYS`],
//! [`NAMESPACES`] and [`SLOTS`], so every byte string decodes to a meaningful sequence of operations.

use arbitrary::Arbitrary;
use proptest::prelude::*;

/// Size of the key space: keys are `0..KEYS`.
pub const KEYS: u8 = 16;
/// Size of the namespace space: namespaces are `0..NAMESPACES`.
pub const NAMESPACES: u8 = 4;
/// Number of snapshot slots: at most this many snapshots are live at once.
pub const SLOTS: usize = 4;

/// One operation on the table (and the reference model).
///
/// `key`, `ns` and `slot` are reduced modulo [`KEYS`], [`NAMESPACES`] and [`SLOTS`] by the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Op {
    /// `put(key, ns, S::from(value))`.
    Put {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
        /// The new state's seed.
        value: u32,
    },
    /// `put_and_get_old(key, ns, S::from(value))`; the old state is compared.
    PutAndGetOld {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
        /// The new state's seed.
        value: u32,
    },
    /// `get(key, ns)`; the result is compared.
    Get {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
    },
    /// `get_mut(key, ns)`, then the state (if any) is modified in place with `value`.
    GetMut {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
        /// Argument of the in-place modification.
        value: u32,
    },
    /// `contains(key, ns)`.
    Contains {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
    },
    /// `remove(key, ns)`; whether it was present is compared.
    Remove {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
    },
    /// `remove_and_get_old(key, ns)`; the removed state is compared.
    RemoveAndGetOld {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
    },
    /// `transform(key, ns, value, combine)`; the closure's `old` argument is compared too.
    Transform {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
        /// The value passed to the closure.
        value: u32,
    },
    /// `transform(key, ns, ..)` with a closure that panics; the table must follow the documented outcome.
    TransformPanic {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
    },
    /// `len()` and `is_empty()`.
    Len,
    /// A full `iter()` of the live table, compared (sorted) with the model.
    Iterate,
    /// `size_of_namespace(ns)`.
    SizeOfNamespace {
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
    },
    /// `snapshot()` into slot `slot`; a snapshot already in the slot is dropped first.
    TakeSnapshot {
        /// Slot (mod [`SLOTS`]).
        slot: u8,
    },
    /// Releases the snapshot in `slot` (if any): with `explicit`, `release()` twice and then drop; otherwise
    /// just drop.
    ReleaseSnapshot {
        /// Slot (mod [`SLOTS`]).
        slot: u8,
        /// Call `release()` (twice) before dropping.
        explicit: bool,
    },
    /// Reads the snapshot in `slot` (if any): `len()`, `version()` and a full iteration.
    ReadSnapshot {
        /// Slot (mod [`SLOTS`]).
        slot: u8,
    },
    /// `reclaim()`; with no snapshot of this table live, the retire queue must then be empty.
    Reclaim,
    /// `check_invariants()` (done after every operation anyway) plus a full comparison of everything.
    Check,
    /// `advance_version_for_test(u32::MAX - 1 - back_off)`: brings the version counter close to exhaustion.
    AdvanceVersion {
        /// Distance from the largest snapshot version.
        back_off: u8,
    },
    /// Drops the table (its live snapshots must survive it) and builds a new one holding the same entries.
    DropTable,
    /// `entry(key, ns).and_modify(modify(value)).or_insert_with(from_seed(value))`; the resulting state is
    /// compared.
    EntryUpsert {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
        /// Argument of the modification, or seed of the inserted state.
        value: u32,
    },
    /// `entry(key, ns)`: an occupied entry's `insert(from_seed(value))` (old state compared) or a vacant entry's
    /// `insert`.
    EntryInsert {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
        /// The new state's seed.
        value: u32,
    },
    /// `entry(key, ns)`: an occupied entry's `remove()` (state compared), or a vacant entry's `into_key()`.
    EntryRemove {
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
    },
    /// `retain`: removes the entries of namespace `ns` whose key has parity `parity % 2`.
    Retain {
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
        /// Key parity removed (mod 2).
        parity: u8,
    },
    /// `clear()`.
    Clear,
    /// `drain()`; the drained entries are compared (sorted) with the model's contents.
    Drain,
    /// Lookups in the snapshot in `slot` (if any): `get` and `contains` of `(key, ns)`.
    SnapshotGet {
        /// Slot (mod [`SLOTS`]).
        slot: u8,
        /// Key (mod [`KEYS`]).
        key: u8,
        /// Namespace (mod [`NAMESPACES`]).
        ns: u8,
    },
}

/// A proptest strategy for one key.
fn key() -> impl Strategy<Value = u8> {
    0..KEYS
}

/// A proptest strategy for one namespace.
fn ns() -> impl Strategy<Value = u8> {
    0..NAMESPACES
}

/// A proptest strategy for one snapshot slot.
fn slot() -> impl Strategy<Value = u8> {
    0..SLOTS as u8
}

/// A proptest strategy for state seeds: few distinct values, so equal states (and equality bugs) show up.
fn value() -> impl Strategy<Value = u32> {
    0u32..64
}

/// A proptest strategy for one [`Op`], weighted towards writes (so the table grows through several
/// incremental rehashes) and snapshots (so most writes happen under copy-on-write).
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => (key(), ns(), value()).prop_map(|(key, ns, value)| Op::Put { key, ns, value }),
        5 => (key(), ns(), value()).prop_map(|(key, ns, value)| Op::PutAndGetOld { key, ns, value }),
        5 => (key(), ns()).prop_map(|(key, ns)| Op::Get { key, ns }),
        8 => (key(), ns(), value()).prop_map(|(key, ns, value)| Op::GetMut { key, ns, value }),
        3 => (key(), ns()).prop_map(|(key, ns)| Op::Contains { key, ns }),
        8 => (key(), ns()).prop_map(|(key, ns)| Op::Remove { key, ns }),
        4 => (key(), ns()).prop_map(|(key, ns)| Op::RemoveAndGetOld { key, ns }),
        8 => (key(), ns(), value()).prop_map(|(key, ns, value)| Op::Transform { key, ns, value }),
        2 => (key(), ns()).prop_map(|(key, ns)| Op::TransformPanic { key, ns }),
        1 => Just(Op::Len),
        2 => Just(Op::Iterate),
        2 => ns().prop_map(|ns| Op::SizeOfNamespace { ns }),
        7 => slot().prop_map(|slot| Op::TakeSnapshot { slot }),
        5 => (slot(), any::<bool>()).prop_map(|(slot, explicit)| Op::ReleaseSnapshot { slot, explicit }),
        2 => slot().prop_map(|slot| Op::ReadSnapshot { slot }),
        2 => Just(Op::Reclaim),
        1 => Just(Op::Check),
        1 => (0u8..4).prop_map(|back_off| Op::AdvanceVersion { back_off }),
        1 => Just(Op::DropTable),
        4 => (key(), ns(), value()).prop_map(|(key, ns, value)| Op::EntryUpsert { key, ns, value }),
        2 => (key(), ns(), value()).prop_map(|(key, ns, value)| Op::EntryInsert { key, ns, value }),
        2 => (key(), ns()).prop_map(|(key, ns)| Op::EntryRemove { key, ns }),
        1 => (ns(), 0u8..2).prop_map(|(ns, parity)| Op::Retain { ns, parity }),
        1 => (slot(), key(), ns()).prop_map(|(slot, key, ns)| Op::SnapshotGet { slot, key, ns }),
    ]
}

/// A proptest strategy for one operation of a *drain* phase: mostly removals, with snapshots taken and
/// released on the way, so that the table empties and shrinks (incremental rehash into half the buckets)
/// while snapshots are live.
pub fn drain_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        24 => (key(), ns()).prop_map(|(key, ns)| Op::Remove { key, ns }),
        4 => (key(), ns()).prop_map(|(key, ns)| Op::RemoveAndGetOld { key, ns }),
        2 => (key(), ns(), value()).prop_map(|(key, ns, value)| Op::Put { key, ns, value }),
        2 => (key(), ns(), value()).prop_map(|(key, ns, value)| Op::GetMut { key, ns, value }),
        1 => (key(), ns()).prop_map(|(key, ns)| Op::Get { key, ns }),
        2 => slot().prop_map(|slot| Op::TakeSnapshot { slot }),
        2 => (slot(), any::<bool>()).prop_map(|(slot, explicit)| Op::ReleaseSnapshot { slot, explicit }),
        1 => slot().prop_map(|slot| Op::ReadSnapshot { slot }),
        1 => Just(Op::Iterate),
        3 => (key(), ns()).prop_map(|(key, ns)| Op::EntryRemove { key, ns }),
        2 => (ns(), 0u8..2).prop_map(|(ns, parity)| Op::Retain { ns, parity }),
        1 => Just(Op::Clear),
        1 => Just(Op::Drain),
        1 => (slot(), key(), ns()).prop_map(|(slot, key, ns)| Op::SnapshotGet { slot, key, ns }),
    ]
}

/// A proptest strategy for a sequence of up to `max_len` operations: one to four phases of at most `max_len / 2`
/// operations each (cut at `max_len`), three in four of the general mix ([`op`], which fills the table) and one
/// in four a drain ([`drain_op`], which empties it and makes it shrink). Shrinks by dropping phases and
/// operations.
pub fn ops(max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    let phase_len = (max_len / 2).max(1);
    let phase = prop_oneof![
        3 => prop::collection::vec(op(), 0..=phase_len),
        1 => prop::collection::vec(drain_op(), phase_len / 2..=phase_len),
    ];
    prop::collection::vec(phase, 1..=4).prop_map(move |phases| {
        let mut ops: Vec<Op> = phases.into_iter().flatten().collect();
        ops.truncate(max_len);
        ops
    })
}
