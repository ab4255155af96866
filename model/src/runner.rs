//! The differential runner: applies each [`Op`] to a [`StateTable`] and to the [`Reference`] model, compares
//! every result, and after every operation compares the live table and every live snapshot with the model and
//! runs the table's invariant checker.

use crate::hashers::HasherChoice;
use crate::op::{Op, KEYS, NAMESPACES, SLOTS};
use crate::reference::{Frozen, ModelState, Reference, SnapshotOutcome, MAX_SNAPSHOT_VERSION};
use arbitrary::Arbitrary;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use cow_state_table::table::Entry;
use cow_state_table::{CowStats, Snapshot, SnapshotError, StateTable};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// A key or namespace type the runner can build from a byte.
pub trait ModelKey: From<u8> + Ord + Hash + Clone + Debug {}
impl<T: From<u8> + Ord + Hash + Clone + Debug> ModelKey for T {}

/// The payload of the deliberate panics of [`Op::TransformPanic`]; the runner's panic hook keeps them quiet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPanic;

/// Installs (once per process) a panic hook that stays silent for [`ModelPanic`] payloads and defers to the
/// previous hook for every other panic.
pub fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<ModelPanic>() {
                previous(info);
            }
        }));
    });
}

/// The first difference between the table and the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the operation after which (or during which) the difference showed; `ops.len()` for the
    /// checks at the end of a run.
    pub index: usize,
    /// The operation, or `None` for the end-of-run checks.
    pub op: Option<Op>,
    /// What was expected and what was found.
    pub what: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.op {
            Some(op) => write!(f, "after op #{} {:?}: {}", self.index, op, self.what),
            None => write!(f, "at the end of the run (after {} ops): {}", self.index, self.what),
        }
    }
}

impl std::error::Error for Divergence {}

/// In which order a run tears down the table and its snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Teardown {
    /// Drop the table first (its snapshots must stay readable), then release the snapshots one by one.
    TableFirst,
    /// Release the snapshots first (in reverse slot order), then reclaim and drop the table.
    SnapshotsFirst,
}

/// How a run is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Initial number of buckets (4, the minimum, makes growth and incremental rehash frequent).
    pub capacity: usize,
    /// Version at which the table renormalises (`set_version_limit_for_test`); small values make it happen
    /// within a run.
    pub version_limit: u32,
    /// Compare the whole live table with the model after every operation (not only on `Iterate`/`Check`).
    pub compare_live_every_op: bool,
    /// The end of the run.
    pub teardown: Teardown,
    /// Chunks of at most `2^bits` bucket heads (`set_chunk_bits_for_test`); `None` keeps the table's own size
    /// (512). Small chunks give a table of a few dozen entries many chunks, so its rehashes allocate and give
    /// up chunks in steps and whole-table writes meet empty directory slots (W1).
    pub chunk_bits: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capacity: 4,
            version_limit: 64,
            compare_live_every_op: true,
            teardown: Teardown::SnapshotsFirst,
            chunk_bits: None,
        }
    }
}

/// Counters of what a run exercised (to see that the interesting paths are actually reached).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Operations applied.
    pub ops: u64,
    /// Operations that started while an incremental rehash was in progress.
    pub ops_during_rehash: u64,
    /// Snapshots taken.
    pub snapshots: u64,
    /// Snapshots taken in the middle of an incremental rehash.
    pub snapshots_during_rehash: u64,
    /// Shrinks started (operations after which the table had fewer buckets, `DropTable` aside).
    pub shrinks: u64,
    /// `snapshot()` calls that failed with `VersionsExhausted`.
    pub exhausted: u64,
    /// Renormalisations of the version counter.
    pub renormalisations: u64,
    /// Panicking transforms that removed a (private) entry.
    pub panics_removed: u64,
    /// Panicking transforms that left a (shared) entry unchanged.
    pub panics_kept: u64,
    /// Tables dropped while snapshots of them were live.
    pub tables_dropped_with_snapshots: u64,
    /// Copy-on-write work of all tables of the run.
    pub node_copies: u64,
    /// Copy-on-write chunk copies of all tables of the run.
    pub chunk_copies: u64,
    /// Largest number of entries seen.
    pub max_len: u64,
    /// `clear`, `drain` and `retain` calls (and entry removals) made while a snapshot of the table was live.
    pub bulk_writes_under_snapshots: u64,
    /// `clear`, `drain` and `retain` calls made during an incremental rehash of a table of at least 4 chunks
    /// in one of its directories (W1: whole-table walks over empty directory slots).
    pub bulk_writes_during_multi_chunk_rehash: u64,
    /// Explicitly released snapshot handles kept alive and released again and dropped later, after further
    /// snapshots were taken (the handle lifecycle across renormalisation, I12).
    pub stale_handles: u64,
    /// Of those, handles whose version had been reused by a newer snapshot (renormalisation in between) when
    /// they were released again and dropped.
    pub stale_handles_with_reused_version: u64,
}

impl RunStats {
    /// Adds `other` to `self` (the maximum for `max_len`).
    pub fn merge(&mut self, other: &RunStats) {
        self.ops += other.ops;
        self.ops_during_rehash += other.ops_during_rehash;
        self.snapshots += other.snapshots;
        self.snapshots_during_rehash += other.snapshots_during_rehash;
        self.shrinks += other.shrinks;
        self.exhausted += other.exhausted;
        self.renormalisations += other.renormalisations;
        self.panics_removed += other.panics_removed;
        self.panics_kept += other.panics_kept;
        self.tables_dropped_with_snapshots += other.tables_dropped_with_snapshots;
        self.node_copies += other.node_copies;
        self.chunk_copies += other.chunk_copies;
        self.max_len = self.max_len.max(other.max_len);
        self.bulk_writes_under_snapshots += other.bulk_writes_under_snapshots;
        self.bulk_writes_during_multi_chunk_rehash += other.bulk_writes_during_multi_chunk_rehash;
        self.stale_handles += other.stale_handles;
        self.stale_handles_with_reused_version += other.stale_handles_with_reused_version;
    }
}

/// A whole differential case: hasher, teardown order and operations. `Arbitrary`, for fuzzing.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Case {
    /// The hasher of the table.
    pub hasher: HasherChoice,
    /// The end of the run.
    pub teardown: Teardown,
    /// The operations.
    pub ops: Vec<Op>,
}

impl Case {
    /// Runs the case with `u8` keys and namespaces and `Vec<u32>` states.
    pub fn run(&self) -> Result<RunStats, Divergence> {
        let config = Config {
            teardown: self.teardown,
            ..Config::default()
        };
        Runner::<u8, u8, Vec<u32>, _>::with_config(self.hasher, config).run_ops(&self.ops)
    }
}

/// The differential runner: a table, the reference model, and the snapshots held in [`SLOTS`] slots.
///
/// ```
/// use cow_state_table_model::{Op, Runner};
/// let ops = [
///     Op::Put { key: 1, ns: 0, value: 7 },
///     Op::TakeSnapshot { slot: 0 },
///     Op::GetMut { key: 1, ns: 0, value: 8 },
///     Op::ReadSnapshot { slot: 0 },
/// ];
/// Runner::run(&ops).unwrap();
/// ```
pub struct Runner<K, N, S, H = HasherChoice> {
    table: StateTable<K, N, S, H>,
    hasher: H,
    config: Config,
    model: Reference<K, N, S>,
    snapshots: [Option<Snapshot<K, N, S>>; SLOTS],
    /// Explicitly released handles still alive (oldest first), with the renormalisation count at their release:
    /// each is released again and dropped after the next snapshot is taken.
    released: std::collections::VecDeque<(Snapshot<K, N, S>, u64)>,
    stats: RunStats,
    /// Copy-on-write work of tables already dropped.
    dropped_cow: CowStats,
    index: usize,
    op: Option<Op>,
}

impl Runner<u8, u8, Vec<u32>, HasherChoice> {
    /// Runs `ops` against a fresh table with the deterministic hasher and the default [`Config`] (the teardown
    /// order alternates with the parity of `ops.len()`). The entry point for fuzzing and quick checks.
    pub fn run(ops: &[Op]) -> Result<(), Divergence> {
        Self::run_with(HasherChoice::Deterministic, ops).map(|_| ())
    }

    /// Runs `ops` against a fresh table with the given hasher and the default [`Config`] (the teardown order
    /// alternates with the parity of `ops.len()`); returns what the run exercised.
    pub fn run_with(hasher: HasherChoice, ops: &[Op]) -> Result<RunStats, Divergence> {
        let teardown = if ops.len() % 2 == 1 {
            Teardown::TableFirst
        } else {
            Teardown::SnapshotsFirst
        };
        let config = Config {
            teardown,
            ..Config::default()
        };
        Self::with_config(hasher, config).run_ops(ops)
    }
}

fn sorted<'a, K, N, S>(it: impl Iterator<Item = (&'a K, &'a N, &'a S)>) -> Vec<(&'a K, &'a N, &'a S)>
where
    K: Ord + 'a,
    N: Ord + 'a,
    S: 'a,
{
    let mut v: Vec<_> = it.collect();
    v.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    v
}

/// Compares an iteration (in any order) with the model's contents; describes the first difference.
fn compare_contents<'a, K: Ord + Debug + 'a, N: Ord + Debug + 'a, S: PartialEq + Debug + 'a>(
    actual: impl Iterator<Item = (&'a K, &'a N, &'a S)>,
    expected: &BTreeMap<(K, N), S>,
) -> Result<(), String> {
    let actual = sorted(actual);
    let mut a = actual.iter().peekable();
    let mut e = expected.iter().peekable();
    loop {
        match (a.peek(), e.peek()) {
            (None, None) => return Ok(()),
            (Some((k, n, s)), None) => {
                return Err(format!("unexpected entry ({k:?}, {n:?}) = {s:?}"));
            }
            (None, Some(((k, n), s))) => {
                return Err(format!("missing entry ({k:?}, {n:?}) = {s:?}"));
            }
            (Some(&&(ak, an, as_)), Some(&((ek, en), es))) => match (ak, an).cmp(&(ek, en)) {
                core::cmp::Ordering::Less => {
                    return Err(format!("unexpected entry ({ak:?}, {an:?}) = {as_:?} (or duplicate)"))
                }
                core::cmp::Ordering::Greater => return Err(format!("missing entry ({ek:?}, {en:?}) = {es:?}")),
                core::cmp::Ordering::Equal => {
                    if as_ != es {
                        return Err(format!("entry ({ek:?}, {en:?}): expected {es:?}, got {as_:?}"));
                    }
                    a.next();
                    e.next();
                }
            },
        }
    }
}

impl<K, N, S, H> Runner<K, N, S, H>
where
    K: ModelKey,
    N: ModelKey,
    S: ModelState,
    H: BuildHasher + Clone + Send + Sync + 'static,
{
    /// A runner on a fresh table with `hasher` and the default [`Config`].
    pub fn new(hasher: H) -> Self {
        Self::with_config(hasher, Config::default())
    }

    /// A runner on a fresh table with `hasher` and `config`.
    pub fn with_config(hasher: H, config: Config) -> Self {
        install_quiet_panic_hook();
        let mut table = StateTable::with_buckets_and_hasher(config.capacity, hasher.clone());
        table.set_version_limit_for_test(config.version_limit);
        if let Some(bits) = config.chunk_bits {
            table.set_chunk_bits_for_test(bits);
        }
        Runner {
            table,
            hasher,
            config,
            model: Reference::new(config.version_limit),
            snapshots: Default::default(),
            released: Default::default(),
            stats: RunStats::default(),
            dropped_cow: CowStats::default(),
            index: 0,
            op: None,
        }
    }

    /// The table under test.
    pub fn table(&self) -> &StateTable<K, N, S, H> {
        &self.table
    }

    /// The reference model.
    pub fn model(&self) -> &Reference<K, N, S> {
        &self.model
    }

    /// Applies every operation of `ops` (see [`Runner::apply`]), then tears down (see [`Runner::finish`]).
    pub fn run_ops(mut self, ops: &[Op]) -> Result<RunStats, Divergence> {
        for &op in ops {
            self.apply(op)?;
        }
        self.finish()
    }

    fn fail(&self, what: impl Into<String>) -> Divergence {
        Divergence {
            index: self.index,
            op: self.op,
            what: what.into(),
        }
    }

    fn expect_eq<T: PartialEq + Debug>(&self, what: &str, expected: T, got: T) -> Result<(), Divergence> {
        if expected == got {
            Ok(())
        } else {
            Err(self.fail(format!("{what}: expected {expected:?}, got {got:?}")))
        }
    }

    fn key(raw: u8) -> K {
        K::from(raw % KEYS)
    }

    fn ns(raw: u8) -> N {
        N::from(raw % NAMESPACES)
    }

    fn slot(raw: u8) -> usize {
        usize::from(raw) % SLOTS
    }

    /// Applies `op` to the table and the model, compares the results, then compares everything (see
    /// [`Runner::verify`]).
    pub fn apply(&mut self, op: Op) -> Result<(), Divergence> {
        self.op = Some(op);
        self.stats.ops += 1;
        if self.table.is_rehashing() {
            self.stats.ops_during_rehash += 1;
        }
        let live_before = self.model.live_snapshots();
        let cow_before = self.table.cow_stats();
        let retired_before = self.table.retired_len();
        let capacity_before = self.table.buckets();
        if live_before > 0 && matches!(op, Op::Clear | Op::Drain | Op::Retain { .. } | Op::EntryRemove { .. }) {
            self.stats.bulk_writes_under_snapshots += 1;
        }
        // `buckets()` is the new directory's size: with 4 chunks or more, the old one has them too.
        let chunk_len = 1usize << self.config.chunk_bits.unwrap_or(9).min(9);
        if self.table.is_rehashing()
            && self.table.buckets() >= 4 * chunk_len
            && matches!(op, Op::Clear | Op::Drain | Op::Retain { .. })
        {
            self.stats.bulk_writes_during_multi_chunk_rehash += 1;
        }
        let read_only = self.apply_inner(op)?;
        let cow_after = self.table.cow_stats();
        if self.table.buckets() < capacity_before && !matches!(op, Op::DropTable) {
            self.stats.shrinks += 1;
        }
        if live_before == 0 && !matches!(op, Op::DropTable) {
            // Without a live snapshot nothing is shared: writes are in place, nothing is copied or retired.
            let copies = |c: CowStats| (c.node_copies, c.chunk_copies, c.retired);
            self.expect_eq(
                "copy-on-write work with no live snapshot (node copies, chunk copies, retired)",
                copies(cow_before),
                copies(cow_after),
            )?;
        }
        if read_only {
            self.expect_eq("cow_stats after a read-only operation", cow_before, cow_after)?;
            self.expect_eq(
                "retired_len after a read-only operation",
                retired_before,
                self.table.retired_len(),
            )?;
        }
        self.verify()?;
        self.index += 1;
        Ok(())
    }

    /// Returns whether the operation was read-only.
    fn apply_inner(&mut self, op: Op) -> Result<bool, Divergence> {
        match op {
            Op::Put { key, ns, value } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                self.table.put(k.clone(), n.clone(), S::from_seed(value));
                self.model.put(k, n, S::from_seed(value));
            }
            Op::PutAndGetOld { key, ns, value } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                let got = self.table.put_and_get_old(k.clone(), n.clone(), S::from_seed(value));
                let expected = self.model.put(k, n, S::from_seed(value));
                self.expect_eq("put_and_get_old", expected, got)?;
            }
            Op::Get { key, ns } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                self.expect_eq("get", self.model.get(&k, &n), self.table.get(&k, &n))?;
                return Ok(true);
            }
            Op::GetMut { key, ns, value } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                let expected = self.model.get_mut(&k, &n).map(|s| {
                    s.modify(value);
                    s.clone()
                });
                let got = self.table.get_mut(&k, &n).map(|s| {
                    s.modify(value);
                    s.clone()
                });
                self.expect_eq("get_mut (state after modification)", expected, got)?;
            }
            Op::Contains { key, ns } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                self.expect_eq(
                    "contains",
                    self.model.get(&k, &n).is_some(),
                    self.table.contains(&k, &n),
                )?;
                return Ok(true);
            }
            Op::Remove { key, ns } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                let got = self.table.remove(&k, &n);
                let expected = self.model.remove(&k, &n).is_some();
                self.expect_eq("remove", expected, got)?;
            }
            Op::RemoveAndGetOld { key, ns } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                let got = self.table.remove_and_get_old(&k, &n);
                let expected = self.model.remove(&k, &n);
                self.expect_eq("remove_and_get_old", expected, got)?;
            }
            Op::Transform { key, ns, value } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                let mut seen = None;
                self.table.transform(k.clone(), n.clone(), value, |old, v| {
                    seen = Some(old.clone());
                    S::combine(old, v)
                });
                let expected = self.model.transform(k, n, value);
                self.expect_eq("transform (old state passed to f)", Some(expected), seen)?;
            }
            Op::TransformPanic { key, ns } => self.transform_panic(key, ns)?,
            Op::Len => {
                self.expect_eq("len", self.model.len(), self.table.len())?;
                self.expect_eq("is_empty", self.model.is_empty(), self.table.is_empty())?;
                return Ok(true);
            }
            Op::Iterate => {
                compare_contents(self.table.iter(), &self.model.live).map_err(|e| self.fail(format!("iter: {e}")))?;
                return Ok(true);
            }
            Op::SizeOfNamespace { ns } => {
                let n = Self::ns(ns);
                self.expect_eq(
                    "size_of_namespace",
                    self.model.size_of_namespace(&n),
                    self.table.size_of_namespace(&n),
                )?;
                return Ok(true);
            }
            Op::TakeSnapshot { slot } => self.take_snapshot(Self::slot(slot))?,
            Op::ReleaseSnapshot { slot, explicit } => {
                let slot = Self::slot(slot);
                self.model.release(slot);
                if let Some(mut snap) = self.snapshots[slot].take() {
                    if explicit {
                        snap.release();
                        snap.release();
                        let len = snap.len();
                        if !snap.is_released() || len != 0 || snap.iter().next().is_some() {
                            return Err(self.fail("a released snapshot still reports entries"));
                        }
                        // Kept alive: released again and dropped after the next snapshot, possibly one that
                        // reuses its version after a renormalisation.
                        self.released.push_back((snap, self.stats.renormalisations));
                        self.expect_eq(
                            "live_snapshots after an explicit release",
                            self.model.live_snapshots(),
                            self.table.live_snapshots(),
                        )?;
                    } else {
                        drop(snap);
                    }
                }
            }
            Op::ReadSnapshot { slot } => {
                // Every live snapshot is fully compared after every operation; this also reads through
                // `IntoIterator` and `is_empty`.
                let slot = Self::slot(slot);
                if let (Some(snap), Some(frozen)) = (&self.snapshots[slot], &self.model.snapshots[slot]) {
                    self.expect_eq("snapshot is_empty", frozen.contents.is_empty(), snap.is_empty())?;
                    compare_contents(snap.into_iter(), &frozen.contents)
                        .map_err(|e| self.fail(format!("snapshot in slot {slot} (into_iter): {e}")))?;
                }
                return Ok(true);
            }
            Op::Reclaim => {
                self.table.reclaim();
                if self.model.live_snapshots() == 0 {
                    self.expect_eq(
                        "retired_len after reclaim with no live snapshot",
                        0,
                        self.table.retired_len(),
                    )?;
                }
            }
            Op::Check => {
                compare_contents(self.table.iter(), &self.model.live).map_err(|e| self.fail(format!("iter: {e}")))?;
                return Ok(true);
            }
            Op::AdvanceVersion { back_off } => {
                let to = MAX_SNAPSHOT_VERSION - u32::from(back_off);
                self.table.advance_version_for_test(to);
                self.model.advance_version(to);
            }
            Op::DropTable => self.drop_table(),
            Op::EntryUpsert { key, ns, value } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                let got = self
                    .table
                    .entry(k.clone(), n.clone())
                    .and_modify(|s| s.modify(value))
                    .or_insert_with(|| S::from_seed(value))
                    .clone();
                let expected = self.model.upsert(k, n, value);
                self.expect_eq("entry and_modify / or_insert_with", expected, got)?;
            }
            Op::EntryInsert { key, ns, value } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                let got = match self.table.entry(k.clone(), n.clone()) {
                    Entry::Occupied(mut e) => Some(e.insert(S::from_seed(value))),
                    Entry::Vacant(e) => {
                        e.insert(S::from_seed(value));
                        None
                    }
                };
                let expected = self.model.put(k, n, S::from_seed(value));
                self.expect_eq("entry insert (old state)", expected, got)?;
            }
            Op::EntryRemove { key, ns } => {
                let (k, n) = (Self::key(key), Self::ns(ns));
                let got = match self.table.entry(k.clone(), n.clone()) {
                    Entry::Occupied(e) => Some(e.remove()),
                    Entry::Vacant(e) => {
                        let (vk, vn) = e.into_key();
                        if (&vk, &vn) != (&k, &n) {
                            return Err(self.fail("vacant entry gave back another key"));
                        }
                        None
                    }
                };
                let expected = self.model.remove(&k, &n);
                self.expect_eq("entry remove", expected, got)?;
            }
            Op::Retain { ns, parity } => {
                let (n, parity) = (Self::ns(ns), parity % 2);
                let doomed = |k: &K, kn: &N| *kn == n && (0..KEYS).any(|raw| raw % 2 == parity && Self::key(raw) == *k);
                let mut visited = 0usize;
                self.table.retain(|k, kn, _| {
                    visited += 1;
                    !doomed(k, kn)
                });
                self.expect_eq("retain visits every entry once", self.model.len(), visited)?;
                self.model.retain(|k, kn, _| !doomed(k, kn));
            }
            Op::Clear => {
                self.table.clear();
                self.model.clear();
            }
            Op::Drain => {
                let drained: Vec<(K, N, S)> = self.table.drain().collect();
                let expected = self.model.clear();
                compare_contents(drained.iter().map(|(k, n, s)| (k, n, s)), &expected)
                    .map_err(|e| self.fail(format!("drain: {e}")))?;
            }
            Op::SnapshotGet { slot, key, ns } => {
                let (slot, k, n) = (Self::slot(slot), Self::key(key), Self::ns(ns));
                if let (Some(snap), Some(frozen)) = (&self.snapshots[slot], &self.model.snapshots[slot]) {
                    let expected = frozen.contents.get(&(k.clone(), n.clone()));
                    self.expect_eq("snapshot get", expected, snap.get(&k, &n))?;
                    self.expect_eq("snapshot contains", expected.is_some(), snap.contains(&k, &n))?;
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn take_snapshot(&mut self, slot: usize) -> Result<(), Divergence> {
        let rehashing = self.table.is_rehashing();
        // The snapshot in the slot is dropped before the new one is taken (the model does the same).
        drop(self.snapshots[slot].take());
        let expected = self.model.take_snapshot(slot);
        match (expected, self.table.snapshot()) {
            (SnapshotOutcome::Taken { version, renormalised }, Ok(snap)) => {
                self.expect_eq("snapshot version", version, snap.version())?;
                self.expect_eq("snapshot taken_during_rehash", rehashing, snap.taken_during_rehash())?;
                self.stats.snapshots += 1;
                self.stats.snapshots_during_rehash += u64::from(rehashing);
                self.stats.renormalisations += u64::from(renormalised);
                self.snapshots[slot] = Some(snap);
                // A stale handle released before (possibly before a renormalisation, so that the new snapshot
                // may carry its version): releasing it again and dropping it must not touch the new snapshot's
                // registration.
                if let Some((mut stale, renormalisations_then)) = self.released.pop_front() {
                    let reused = self.stats.renormalisations > renormalisations_then;
                    stale.release();
                    drop(stale);
                    self.stats.stale_handles += 1;
                    self.stats.stale_handles_with_reused_version += u64::from(reused);
                    self.expect_eq(
                        "live_snapshots after a stale handle was released again and dropped",
                        self.model.live_snapshots(),
                        self.table.live_snapshots(),
                    )?;
                }
            }
            (SnapshotOutcome::Exhausted { live }, Err(SnapshotError::VersionsExhausted { live: got })) => {
                self.expect_eq("live snapshots reported by VersionsExhausted", live, got)?;
                self.stats.exhausted += 1;
            }
            (expected, got) => {
                return Err(self.fail(format!("snapshot(): expected {expected:?}, got {got:?}")));
            }
        }
        Ok(())
    }

    /// `transform` with a panicking closure. Documented outcome (docs/DESIGN.md, "Panics in user code"): an
    /// absent entry stays absent; an entry a live snapshot can see stays unchanged; a private entry is removed.
    ///
    /// An entry can be visible to a live snapshot only if the newest live snapshot holds it with the same
    /// state (a node older than that snapshot was in the table when it was taken); otherwise it is private
    /// and must be removed. When the newest snapshot does hold it, the node may still have been copied since
    /// (chain-prefix or rehash copies make it private), so either outcome is accepted and the model follows.
    fn transform_panic(&mut self, key: u8, ns: u8) -> Result<(), Divergence> {
        let (k, n) = (Self::key(key), Self::ns(ns));
        let before = self.model.get(&k, &n).cloned();
        let maybe_shared = match (&before, self.model.newest_live_snapshot()) {
            (Some(state), Some(frozen)) => frozen.contents.get(&(k.clone(), n.clone())) == Some(state),
            _ => false,
        };
        let mut seen = None;
        let table = &mut self.table;
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            table.transform(k.clone(), n.clone(), (), |old, ()| {
                seen = Some(old.clone());
                panic::panic_any(ModelPanic)
            })
        }));
        match result {
            Ok(()) => return Err(self.fail("transform with a panicking closure returned")),
            Err(payload) if payload.is::<ModelPanic>() => {}
            Err(payload) => panic::resume_unwind(payload),
        }
        self.expect_eq(
            "transform (old state passed to the panicking f)",
            Some(before.clone()),
            seen,
        )?;
        let after = self.table.get(&k, &n).cloned();
        match (before, after) {
            (None, None) => {}
            (None, Some(s)) => {
                return Err(self.fail(format!("absent entry present after a panicking transform: {s:?}")))
            }
            (Some(_), None) => {
                self.model.remove(&k, &n);
                self.stats.panics_removed += 1;
            }
            (Some(b), Some(a)) => {
                if !maybe_shared {
                    return Err(self.fail(format!(
                        "private entry not removed by a panicking transform (state {a:?})"
                    )));
                }
                self.expect_eq("shared entry after a panicking transform", b, a)?;
                self.stats.panics_kept += 1;
            }
        }
        Ok(())
    }

    fn new_table(&self) -> StateTable<K, N, S, H> {
        let mut table = StateTable::with_buckets_and_hasher(self.config.capacity, self.hasher.clone());
        table.set_version_limit_for_test(self.config.version_limit);
        if let Some(bits) = self.config.chunk_bits {
            table.set_chunk_bits_for_test(bits);
        }
        table
    }

    fn add_cow(&mut self, c: CowStats) {
        self.dropped_cow.node_copies += c.node_copies;
        self.dropped_cow.chunk_copies += c.chunk_copies;
    }

    /// Drops the table (its snapshots stay live) and replaces it with a new one holding the model's contents.
    fn drop_table(&mut self) {
        let mut table = self.new_table();
        for ((k, n), s) in &self.model.live {
            table.put(k.clone(), n.clone(), s.clone());
        }
        let old = mem::replace(&mut self.table, table);
        self.add_cow(old.cow_stats());
        if old.live_snapshots() > 0 {
            self.stats.tables_dropped_with_snapshots += 1;
        }
        drop(old);
        self.model.restart();
    }

    fn compare_snapshot(&self, slot: usize) -> Result<(), Divergence> {
        match (&self.snapshots[slot], &self.model.snapshots[slot]) {
            (None, None) => Ok(()),
            (Some(snap), Some(frozen)) => self.compare_snapshot_with(slot, snap, frozen),
            (got, expected) => Err(self.fail(format!(
                "slot {slot}: model has {:?}, table side has {:?}",
                expected.as_ref().map(|f| f.version),
                got.as_ref().map(|s| s.version())
            ))),
        }
    }

    fn compare_snapshot_with(
        &self,
        slot: usize,
        snap: &Snapshot<K, N, S>,
        frozen: &Frozen<K, N, S>,
    ) -> Result<(), Divergence> {
        self.expect_eq("snapshot version", frozen.version, snap.version())?;
        self.expect_eq("snapshot len", frozen.contents.len(), snap.len())?;
        // Lock-free lookups: every (key, namespace) of the key space, present or absent.
        for raw_k in 0..KEYS {
            for raw_n in 0..NAMESPACES {
                let (k, n) = (Self::key(raw_k), Self::ns(raw_n));
                let expected = frozen.contents.get(&(k.clone(), n.clone()));
                if snap.get(&k, &n) != expected {
                    return Err(self.fail(format!(
                        "snapshot in slot {slot} (version {}): get({k:?}, {n:?}): expected {expected:?}, got {:?}",
                        frozen.version,
                        snap.get(&k, &n)
                    )));
                }
            }
        }
        compare_contents(snap.iter(), &frozen.contents)
            .map_err(|e| self.fail(format!("snapshot in slot {slot} (version {}): {e}", frozen.version)))
    }

    /// Runs the invariant checker and compares the table's size, version and live-snapshot count, its contents
    /// (if configured) and every live snapshot with the model.
    pub fn verify(&mut self) -> Result<(), Divergence> {
        self.table
            .check_invariants()
            .map_err(|e| self.fail(format!("check_invariants: {e}")))?;
        self.expect_eq("len", self.model.len(), self.table.len())?;
        self.stats.max_len = self.stats.max_len.max(self.table.len() as u64);
        self.expect_eq("table version", self.model.version, self.table.version())?;
        self.expect_eq(
            "live_snapshots",
            self.model.live_snapshots(),
            self.table.live_snapshots(),
        )?;
        if self.config.compare_live_every_op {
            compare_contents(self.table.iter(), &self.model.live).map_err(|e| self.fail(format!("live table: {e}")))?;
        }
        for slot in 0..SLOTS {
            self.compare_snapshot(slot)?;
        }
        Ok(())
    }

    /// Ends the run in the configured [`Teardown`] order, checking the snapshots at every step, and returns
    /// what the run exercised.
    pub fn finish(mut self) -> Result<RunStats, Divergence> {
        self.op = None;
        self.verify()?;
        let cow = self.table.cow_stats();
        self.add_cow(cow);
        self.stats.node_copies = self.dropped_cow.node_copies;
        self.stats.chunk_copies = self.dropped_cow.chunk_copies;
        match self.config.teardown {
            Teardown::TableFirst => {
                let fresh = self.new_table();
                let table = mem::replace(&mut self.table, fresh);
                if table.live_snapshots() > 0 {
                    self.stats.tables_dropped_with_snapshots += 1;
                }
                drop(table);
                self.model.restart();
                self.model.live.clear();
                // Stale (released) handles are released again after their table is gone: a no-op.
                for (mut stale, _) in self.released.drain(..) {
                    stale.release();
                    self.stats.stale_handles += 1;
                }
                for slot in 0..SLOTS {
                    for other in 0..SLOTS {
                        self.compare_snapshot(other)?;
                    }
                    self.model.release(slot);
                    drop(self.snapshots[slot].take());
                }
            }
            Teardown::SnapshotsFirst => {
                while let Some((stale, _)) = self.released.pop_front() {
                    drop(stale);
                    self.stats.stale_handles += 1;
                    self.verify()?;
                }
                for slot in (0..SLOTS).rev() {
                    self.model.release(slot);
                    drop(self.snapshots[slot].take());
                    self.verify()?;
                }
                self.table.reclaim();
                self.expect_eq(
                    "retired_len after the last release and reclaim",
                    0,
                    self.table.retired_len(),
                )?;
                self.expect_eq("live_snapshots at the end", 0, self.table.live_snapshots())?;
            }
        }
        Ok(self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbitrary::Unstructured;

    /// Byte strings decode (as a fuzzer would feed them) into cases that run without divergence.
    #[test]
    fn arbitrary_cases_run_clean() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let rounds = if cfg!(miri) { 2 } else { 200 };
        for round in 0..rounds {
            let len = 64 + round * 16;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let mut u = Unstructured::new(&bytes);
            let mut case = Case {
                hasher: u.arbitrary().unwrap(),
                teardown: u.arbitrary().unwrap(),
                ops: Vec::new(),
            };
            while !u.is_empty() {
                case.ops.push(u.arbitrary().unwrap());
            }
            if let Err(d) = case.run() {
                panic!("{d}\n{case:?}");
            }
        }
    }

    /// A planted difference is reported with the operation that showed it.
    #[test]
    fn divergence_names_the_op() {
        let mut runner = Runner::<u8, u8, u64, _>::new(HasherChoice::Deterministic);
        runner
            .apply(Op::Put {
                key: 1,
                ns: 0,
                value: 5,
            })
            .unwrap();
        // Change the table behind the model's back.
        runner.table.put(1, 0, 6);
        let d = runner.apply(Op::Get { key: 1, ns: 0 }).unwrap_err();
        assert_eq!(d.index, 1);
        assert_eq!(d.op, Some(Op::Get { key: 1, ns: 0 }));
        assert!(d.what.contains("get"), "{d}");
    }
}
