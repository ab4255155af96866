//! This crate's [`StateTable`] driven by the operation language of traces and `conform` ([`Op`]): the side that
//! `trace replay` checks and the `adapter` subcommand serves.

use crate::trace::format::{hex, Op, TableState, SLOTS};
use cow_state_table::format::WriteOptions;
use cow_state_table::keygroup::JavaHashCode;
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition};
use cow_state_table::serializer::{Serializers, U32Serializer, U64Serializer};
use cow_state_table::{DeterministicState, Snapshot, StateTable};
use serde_json::{json, Value};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// The table type of traces: `u64` keys, `u32` namespaces, `u64` states, deterministic hashing.
pub type TraceTable<H = DeterministicState> = StateTable<u64, u32, u64, H>;

/// How a port places entries (its handshake's `hash`, docs/PORTING.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashKind {
    /// The deterministic hasher of traces (`DeterministicState`).
    Deterministic,
    /// Flink's composite hash: `bitMix(key.hashCode() ^ namespace.hashCode())` over Java `Long`/`Integer`
    /// hash codes (`FlinkState`).
    Flink,
}

impl HashKind {
    /// The name used in handshakes and trace headers.
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Deterministic => "deterministic",
            HashKind::Flink => "flink",
        }
    }
}

/// Flink's `MathUtils.bitMix` (murmur3's `fmix32`).
pub fn bit_mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The inverse of the golden-ratio multiplier the table applies to a hasher's output before folding it to 32
/// bits (`cow_state_table::hash::composite_hash`): `0x9e3779b97f4a7c15 * INV = 1 (mod 2^64)`.
const GOLDEN_INVERSE: u64 = 0xf1de_83e1_9937_733d;

/// A hasher whose composite hash in this crate's table is Flink's `compositeHash(key, namespace) =
/// bitMix(key.hashCode() ^ namespace.hashCode())` for `u64` keys (Java `Long`) and `u32` namespaces (Java
/// `Integer`): it XORs the Java hash codes of what it is fed and returns `bitMix(h) * GOLDEN_INVERSE`, which the
/// table's fold (`x = h * golden; (x >> 32) ^ (x & 0xffffffff)`) turns back into exactly `bitMix(h)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlinkHasher {
    xor: u32,
}

impl Hasher for FlinkHasher {
    fn finish(&self) -> u64 {
        u64::from(bit_mix(self.xor)).wrapping_mul(GOLDEN_INVERSE)
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys and u32 namespaces are hashed; anything else folds in like a Java byte array.
        let h = bytes
            .iter()
            .fold(1i32, |h, &b| h.wrapping_mul(31).wrapping_add(i32::from(b as i8)));
        self.xor ^= h as u32;
    }
    fn write_u64(&mut self, v: u64) {
        self.xor ^= v.java_hash_code() as u32;
    }
    fn write_u32(&mut self, v: u32) {
        self.xor ^= v.java_hash_code() as u32;
    }
}

/// The `BuildHasher` of [`FlinkHasher`].
pub type FlinkState = BuildHasherDefault<FlinkHasher>;

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
    /// `release` (and `snapshot` into an occupied slot) never unregisters the released snapshot's version: the
    /// results stay right, `live_snapshots` (and what is copied) do not.
    ReleaseKeepsVersion,
}

/// A table, its snapshots in [`SLOTS`] slots, and optionally a planted bug.
pub struct Engine<H = DeterministicState> {
    table: TraceTable<H>,
    slots: [Option<Snapshot<u64, u32, u64>>; SLOTS],
    /// Snapshots "released" by a port with the `release-keeps-version` bug: never dropped.
    leaked: Vec<Snapshot<u64, u32, u64>>,
    bug: Option<Bug>,
}

impl<H> std::fmt::Debug for Engine<H> {
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

/// An [`Engine`] of either hash, behind one interface (the reference of the structural level).
pub trait Machine: Send {
    /// The table's observable state.
    fn state(&self) -> TableState;
    /// Applies `op` (already validated) and returns its result.
    fn apply(&mut self, op: &Op) -> Result<Value, String>;
    /// Runs the table's invariant checker.
    fn check(&self) -> Result<(), String>;
}

impl<H: BuildHasher + Default + Clone + Send + Sync + 'static> Machine for Engine<H> {
    fn state(&self) -> TableState {
        Engine::state(self)
    }
    fn apply(&mut self, op: &Op) -> Result<Value, String> {
        Engine::apply(self, op)
    }
    fn check(&self) -> Result<(), String> {
        Engine::check(self)
    }
}

/// A fresh engine of `capacity` buckets placing entries with `hash`.
pub fn machine(hash: HashKind, capacity: usize, bug: Option<Bug>) -> Box<dyn Machine> {
    match hash {
        HashKind::Deterministic => Box::new(Engine::<DeterministicState>::with_hasher(capacity, bug)),
        HashKind::Flink => Box::new(Engine::<FlinkState>::with_hasher(capacity, bug)),
    }
}

impl<H: BuildHasher + Default + Clone + Send + Sync + 'static> Engine<H> {
    /// A fresh table of `capacity` buckets with the hasher `H::default()`.
    pub fn with_hasher(capacity: usize, bug: Option<Bug>) -> Self {
        Engine {
            table: StateTable::with_buckets_and_hasher(capacity, H::default()),
            slots: Default::default(),
            leaked: Vec::new(),
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
                let old = self.slots[usize::from(slot)].take();
                if self.bug == Some(Bug::ReleaseKeepsVersion) {
                    self.leaked.extend(old);
                }
                let snap = t.snapshot().map_err(|e| e.to_string())?;
                let version = snap.version();
                self.slots[usize::from(slot)] = Some(snap);
                json!(version)
            }
            Op::Release { slot } => {
                let old = self.slots[usize::from(slot)].take();
                let held = old.is_some();
                if self.bug == Some(Bug::ReleaseKeepsVersion) {
                    self.leaked.extend(old);
                }
                json!(held)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use cow_state_table::hash::composite_hash;

    /// Flink's `compositeHash(key, namespace)` written out as the seed's Java does: `Long.hashCode()` is
    /// `(int) (v ^ (v >>> 32))`, `Integer.hashCode()` the value, then `MathUtils.bitMix`.
    fn java_composite(key: u64, ns: u32) -> u32 {
        let long_hash = (key ^ (key >> 32)) as u32;
        let mut h = long_hash ^ ns;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }

    #[test]
    fn the_flink_hasher_gives_flinks_composite_hash_in_the_table() {
        let build = FlinkState::default();
        for (k, n) in [
            (0u64, 0u32),
            (1, 0),
            (42, 7),
            (u64::MAX, u32::MAX),
            (1 << 32, 1),
            (123_456_789_012, 3),
        ] {
            assert_eq!(composite_hash(&build, &k, &n), java_composite(k, n), "({k}, {n})");
        }
        // bitMix(1) is a published fmix32 value.
        assert_eq!(bit_mix(1), 0x514e_28b7);
        assert_eq!(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(GOLDEN_INVERSE), 1);
    }
}
