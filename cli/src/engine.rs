//! This crate's [`StateTable`] driven by the operation language of traces and `conform` ([`Op`]): the side that
//! `trace replay` checks and the `adapter` subcommand serves.

use crate::trace::format::{hex, Op, TableState, SLOTS};
use cow_state_table::format::WriteOptions;
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition};
use cow_state_table::serializer::{Serializers, U32Serializer, U64Serializer};
use cow_state_table::{DeterministicState, Snapshot, StateTable};
use serde_json::{json, Value};

/// The table type of traces: `u64` keys, `u32` namespaces, `u64` states, deterministic hashing.
pub type TraceTable = StateTable<u64, u32, u64, DeterministicState>;

/// The serializers of trace bodies.
pub const SERIALIZERS: Serializers<U64Serializer, U32Serializer, U64Serializer> = Serializers {
    key: U64Serializer,
    namespace: U32Serializer,
    state: U64Serializer,
};

/// `get_mut`'s modification: `s * 31 + v + 1`, wrapping.
pub fn modify(s: u64, v: u64) -> u64 {
    s.wrapping_mul(31).wrapping_add(v).wrapping_add(1)
}

/// `transform`'s function: `v << 8` for an absent entry, `o + v + 1` otherwise, wrapping.
pub fn combine(old: Option<u64>, v: u64) -> u64 {
    old.map_or(v.wrapping_shl(8), |o| o.wrapping_add(v).wrapping_add(1))
}

/// A planted bug for showing that `conform` catches a divergent implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bug {
    /// `read_snapshot` answers with the live table's contents (no snapshot isolation).
    SnapshotSeesWrites,
    /// `len` answers one less while a snapshot is live.
    LenUnderSnapshot,
}

/// A table, its snapshots in [`SLOTS`] slots, and optionally a planted bug.
pub struct Engine {
    table: TraceTable,
    slots: [Option<Snapshot<u64, u32, u64>>; SLOTS],
    bug: Option<Bug>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("table", &self.table)
            .field("bug", &self.bug)
            .finish()
    }
}

fn sorted(entries: impl Iterator<Item = (u64, u32, u64)>) -> Value {
    let mut v: Vec<(u64, u32, u64)> = entries.collect();
    v.sort_unstable();
    json!(v)
}

impl Engine {
    /// A fresh table of `capacity` buckets with the deterministic hasher.
    pub fn new(capacity: usize, bug: Option<Bug>) -> Self {
        Engine {
            table: StateTable::with_buckets_and_hasher(capacity, DeterministicState::default()),
            slots: Default::default(),
            bug,
        }
    }

    /// The table's observable state.
    pub fn state(&self) -> TableState {
        let cow = self.table.cow_stats();
        TableState {
            len: self.table.len() as u64,
            version: self.table.version(),
            live_snapshots: self.table.live_snapshots() as u32,
            capacity: self.table.buckets() as u64,
            rehashing: self.table.is_rehashing(),
            node_copies: cow.node_copies,
            chunk_copies: cow.chunk_copies,
        }
    }

    /// Runs the table's invariant checker.
    pub fn check(&self) -> Result<(), String> {
        self.table.check_invariants().map_err(|e| e.to_string())
    }

    /// Applies `op` (already validated) and returns its result.
    pub fn apply(&mut self, op: &Op) -> Result<Value, String> {
        let t = &mut self.table;
        Ok(match *op {
            Op::Put { key, ns, value } => {
                t.put(key, ns, value);
                Value::Null
            }
            Op::PutAndGetOld { key, ns, value } => json!(t.put_and_get_old(key, ns, value)),
            Op::Get { key, ns } => json!(t.get(&key, &ns)),
            Op::Contains { key, ns } => json!(t.contains(&key, &ns)),
            Op::GetMut { key, ns, value } => json!(t.get_mut(&key, &ns).map(|s| {
                *s = modify(*s, value);
                *s
            })),
            Op::Remove { key, ns } => json!(t.remove(&key, &ns)),
            Op::RemoveAndGetOld { key, ns } => json!(t.remove_and_get_old(&key, &ns)),
            Op::Transform { key, ns, value } => {
                let mut seen = None;
                t.transform(key, ns, value, |old, v| {
                    seen = old;
                    combine(old, v)
                });
                json!(seen)
            }
            Op::Len => {
                let live = self.slots.iter().any(Option::is_some);
                let len = t.len() as u64;
                json!(if self.bug == Some(Bug::LenUnderSnapshot) && live {
                    len.saturating_sub(1)
                } else {
                    len
                })
            }
            Op::SizeOfNamespace { ns } => json!(t.size_of_namespace(&ns)),
            Op::Iterate => sorted(t.iter().map(|(k, n, s)| (*k, *n, *s))),
            Op::Snapshot { slot } => {
                drop(self.slots[usize::from(slot)].take());
                let snap = t.snapshot().map_err(|e| e.to_string())?;
                let version = snap.version();
                self.slots[usize::from(slot)] = Some(snap);
                json!(version)
            }
            Op::Release { slot } => json!(self.slots[usize::from(slot)].take().is_some()),
            Op::ReadSnapshot { slot } => match &self.slots[usize::from(slot)] {
                None => Value::Null,
                Some(_) if self.bug == Some(Bug::SnapshotSeesWrites) => sorted(t.iter().map(|(k, n, s)| (*k, *n, *s))),
                Some(s) => sorted(s.iter().map(|(k, n, s)| (*k, *n, *s))),
            },
            Op::Partition { slot, max_parallelism } => match &self.slots[usize::from(slot)] {
                None => Value::Null,
                Some(s) => {
                    let ctx = KeyGroupContext::all(max_parallelism).map_err(|e| e.to_string())?;
                    let partition = KeyGroupPartition::new(s, ctx);
                    let mut counts = Vec::new();
                    for kg in ctx.range() {
                        let n = partition.entries(kg).map_err(|e| e.to_string())?.len();
                        if n > 0 {
                            counts.push((kg, n));
                        }
                    }
                    json!(counts)
                }
            },
            Op::WriteKeyGroup {
                slot,
                max_parallelism,
                key_group,
            } => match &self.slots[usize::from(slot)] {
                None => Value::Null,
                Some(s) => {
                    let ctx = KeyGroupContext::all(max_parallelism).map_err(|e| e.to_string())?;
                    let partition = KeyGroupPartition::new(s, ctx);
                    let mut out = Vec::new();
                    partition
                        .write_key_group_with(&mut out, key_group, &SERIALIZERS, WriteOptions::canonical())
                        .map_err(|e| e.to_string())?;
                    json!(hex(&out))
                }
            },
        })
    }
}
