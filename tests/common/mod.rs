//! Helpers shared by the loom and shuttle models: a drop-tracking state type, hashers, a writer that keeps a
//! reference model next to the real table, and a snapshot holder that checks what the snapshot reads.
//!
//! Everything here is plain std (no scheduling points of its own), so it adds no interleavings to a model;
//! the table, its snapshots and their hand-offs run on the backend's primitives.
#![allow(dead_code)]

use cow_state_table::sync::Primitives;
use cow_state_table::{Snapshot, StateTable};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex};

/// Key type of every model.
pub type K = u64;
/// Namespace type of every model.
pub type Ns = u32;
/// The reference model: `(key, namespace) -> value`.
pub type Model = BTreeMap<(K, Ns), u64>;

// ---------------------------------------------------------------------------------------------------------
// Drop tracking
// ---------------------------------------------------------------------------------------------------------

#[derive(Default)]
struct TrackerInner {
    next_id: u64,
    /// Ids of `Tracked` values created (new or cloned) and not yet dropped.
    live: HashSet<u64>,
    /// Ids reachable from a live snapshot, with the number of snapshots that reach them.
    pinned: HashMap<u64, usize>,
    /// Versions of the snapshots whose pins are held (pinned right after `snapshot()`, unpinned right before
    /// the release).
    held: BTreeMap<u32, usize>,
    created: u64,
    dropped: u64,
    /// Violations seen while already panicking (a second panic would abort).
    violations: Vec<String>,
}

/// Per-iteration bookkeeping of every [`Tracked`] state: which are alive, which a live snapshot can reach.
///
/// A fresh tracker is made inside each model iteration; it is plain std and invisible to the schedulers.
#[derive(Clone, Default)]
pub struct Tracker(Arc<Mutex<TrackerInner>>);

impl Tracker {
    pub fn new() -> Self {
        Tracker::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerInner> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new state with `value`.
    pub fn state(&self, value: u64) -> Tracked {
        let mut t = self.lock();
        let id = t.next_id;
        t.next_id += 1;
        t.live.insert(id);
        t.created += 1;
        Tracked {
            value,
            id,
            tracker: self.clone(),
        }
    }

    /// Whether the state with `id` has not been dropped.
    pub fn is_alive(&self, id: u64) -> bool {
        self.lock().live.contains(&id)
    }

    /// Number of states alive.
    pub fn alive(&self) -> usize {
        self.lock().live.len()
    }

    /// Versions of the snapshots currently pinned.
    pub fn held_versions(&self) -> Vec<u32> {
        self.lock().held.keys().copied().collect()
    }

    fn pin(&self, version: u32, ids: &[u64]) {
        let mut t = self.lock();
        *t.held.entry(version).or_insert(0) += 1;
        for id in ids {
            *t.pinned.entry(*id).or_insert(0) += 1;
        }
    }

    fn unpin(&self, version: u32, ids: &[u64]) {
        let mut t = self.lock();
        let n = t.held.get_mut(&version).expect("held");
        *n -= 1;
        if *n == 0 {
            t.held.remove(&version);
        }
        for id in ids {
            let n = t.pinned.get_mut(id).expect("pinned");
            *n -= 1;
            if *n == 0 {
                t.pinned.remove(id);
            }
        }
    }

    /// Asserts that no violation was recorded and that every state ever created was dropped exactly once
    /// (call when the table and all snapshots are gone).
    pub fn assert_all_dropped(&self) {
        let t = self.lock();
        assert!(t.violations.is_empty(), "violations: {:?}", t.violations);
        assert!(
            t.live.is_empty() && t.created == t.dropped,
            "leak: {} states created, {} dropped, alive ids {:?}",
            t.created,
            t.dropped,
            t.live
        );
    }

    /// Asserts that no violation was recorded so far.
    pub fn assert_no_violation(&self) {
        let t = self.lock();
        assert!(t.violations.is_empty(), "violations: {:?}", t.violations);
    }
}

/// A state that knows when it is dropped: dropping one twice, or dropping one a live snapshot can still reach
/// (I7), panics at the drop (before a reader could touch freed memory); [`Tracker::assert_all_dropped`] finds
/// leaks.
pub struct Tracked {
    pub value: u64,
    pub id: u64,
    tracker: Tracker,
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        self.tracker.state(self.value)
    }
}

impl std::fmt::Debug for Tracked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tracked({}#{})", self.value, self.id)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let msg = {
            let mut t = self.tracker.lock();
            t.dropped += 1;
            if !t.live.remove(&self.id) {
                Some(format!("state #{} dropped twice (I5)", self.id))
            } else if t.pinned.contains_key(&self.id) {
                Some(format!(
                    "state #{} (value {}) freed while a live snapshot can reach it (I7)",
                    self.id, self.value
                ))
            } else {
                None
            }
        };
        if let Some(msg) = msg {
            if std::thread::panicking() {
                self.tracker.lock().violations.push(msg);
            } else {
                panic!("{msg}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Hashers
// ---------------------------------------------------------------------------------------------------------

/// A hasher whose output ignores its input: every `(key, namespace)` lands in the same bucket, so every write
/// works on one shared chain (prefix copies, relinking, migration of a long chain).
#[derive(Clone, Copy, Default)]
pub struct Collide;

/// The hasher of [`Collide`].
pub struct ConstHasher;

impl Hasher for ConstHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, _bytes: &[u8]) {}
}

impl BuildHasher for Collide {
    type Hasher = ConstHasher;
    fn build_hasher(&self) -> ConstHasher {
        ConstHasher
    }
}

/// Hashes only the key, modulo `buckets_hint`: keys `k` and `k + buckets_hint` always collide, while
/// small keys spread. Lets a workload mix chains and single-entry buckets.
#[derive(Clone, Copy)]
pub struct FewBuckets(pub u64);

/// The hasher of [`FewBuckets`].
pub struct FewHasher {
    modulus: u64,
    h: u64,
    first: bool,
}

impl Hasher for FewHasher {
    fn finish(&self) -> u64 {
        self.h
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only the first write (the key) counts; the namespace is ignored.
        if self.first {
            let mut buf = [0u8; 8];
            let n = bytes.len().min(8);
            buf[..n].copy_from_slice(&bytes[..n]);
            self.h = u64::from_le_bytes(buf) % self.modulus;
            self.first = false;
        }
    }
}

impl BuildHasher for FewBuckets {
    type Hasher = FewHasher;
    fn build_hasher(&self) -> FewHasher {
        FewHasher {
            modulus: self.0.max(1),
            h: 0,
            first: true,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Writer and snapshot holder
// ---------------------------------------------------------------------------------------------------------

/// A snapshot together with what it must read (the model when it was taken) and the states it pins.
pub struct Held<H, P: Primitives> {
    expected: Vec<(K, Ns, u64)>,
    pins: Vec<u64>,
    tracker: Tracker,
    // Dropped after `Drop::drop` unpinned: the unpin happens before the release makes frees possible.
    snap: Option<Snapshot<K, Ns, Tracked, P>>,
    _h: std::marker::PhantomData<fn() -> H>,
}

impl<H, P: Primitives> Held<H, P> {
    /// Iterates the snapshot and asserts it yields exactly the model contents captured when it was taken (I9),
    /// each state alive.
    pub fn verify(&self) {
        self.verify_with(|| {})
    }

    /// As [`Held::verify`], calling `between` after each entry read (a scheduling point for shuttle).
    pub fn verify_with(&self, mut between: impl FnMut()) {
        let snap = self.snap.as_ref().expect("held");
        let mut seen: Vec<(K, Ns, u64)> = Vec::with_capacity(self.expected.len());
        for (k, n, s) in snap.iter() {
            assert!(
                self.tracker.is_alive(s.id),
                "snapshot {} reads freed state #{} (I7)",
                snap.version(),
                s.id
            );
            seen.push((*k, *n, s.value));
            between();
        }
        seen.sort_unstable();
        assert_eq!(
            seen,
            self.expected,
            "snapshot {} does not read what the table held when it was taken (I9)",
            snap.version()
        );
        assert_eq!(snap.len(), self.expected.len());
    }

    /// The snapshot's version.
    pub fn version(&self) -> u32 {
        self.snap.as_ref().expect("held").version()
    }

    /// Whether the snapshot was taken mid-rehash.
    pub fn taken_during_rehash(&self) -> bool {
        self.snap.as_ref().expect("held").taken_during_rehash()
    }

    /// Releases the snapshot (unpinning first).
    pub fn release(self) {
        drop(self);
    }

    /// Releases the snapshot explicitly, twice (unpinning first), and hands back the released handle, which
    /// the caller releases again and drops later — e.g. after a renormalisation let a newer snapshot reuse its
    /// version (I12).
    #[allow(dead_code)]
    pub fn release_keep_handle(mut self) -> Snapshot<K, Ns, Tracked, P> {
        let version = self.version();
        self.tracker.unpin(version, &self.pins);
        let mut snap = self.snap.take().expect("held");
        snap.release();
        snap.release();
        assert!(
            snap.is_released() && snap.is_empty(),
            "a released handle still reads entries"
        );
        snap
    }
}

impl<H, P: Primitives> Drop for Held<H, P> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A check already failed: leak the snapshot rather than call into the scheduler while unwinding
            // (loom and shuttle abort on a second panic), so the failure is reported, not a crash.
            std::mem::forget(self.snap.take());
            return;
        }
        if self.snap.is_none() {
            return; // released by `release_keep_handle`
        }
        let version = self.version();
        self.tracker.unpin(version, &self.pins);
        drop(self.snap.take());
    }
}

/// The writer: the real table plus the reference model it must agree with.
pub struct Writer<H, P: Primitives> {
    /// Dropped by `Drop for Writer`, except while unwinding from a failed check (then leaked, see `Held`).
    pub table: ManuallyDrop<StateTable<K, Ns, Tracked, H, P>>,
    pub model: Model,
    pub tracker: Tracker,
    /// Record which states leave the table at which table version (for [`Writer::reclaim_and_check`]).
    pub track_left: bool,
    left: Vec<(u64, u32)>,
}

impl<H, P> Writer<H, P>
where
    H: BuildHasher + Clone + Send + Sync + 'static,
    P: Primitives,
{
    pub fn new(buckets: usize, hasher: H, tracker: &Tracker) -> Self {
        Writer {
            table: ManuallyDrop::new(StateTable::with_buckets_and_hasher(buckets, hasher)),
            model: Model::new(),
            tracker: tracker.clone(),
            track_left: false,
            left: Vec::new(),
        }
    }

    fn ids(&self) -> HashSet<u64> {
        self.table.iter().map(|(_, _, s)| s.id).collect()
    }

    /// Runs a write operation, noting the states it takes out of the table and the table version then (the
    /// tag under which they are retired if a snapshot can see them, I6).
    fn tracked<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        if !self.track_left {
            return f(self);
        }
        let before = self.ids();
        let tag = self.table.version();
        let r = f(self);
        let after = self.ids();
        self.left.extend(before.difference(&after).map(|&id| (id, tag)));
        r
    }

    /// Reclaims, then checks reclamation is not late (I7): when the live set is known (no release in flight),
    /// every state that left the table at a version below the oldest live snapshot must be dropped by now, and
    /// with no snapshot live nothing retired is left. (Not early is checked by the pins at every drop.)
    pub fn reclaim_and_check(&mut self) {
        // Pinned implies registered (pinned after `snapshot()`, unpinned before the release). A set of snapshots
        // pinned both before and after the registry is read was registered when it was read; if the registry
        // then held as many snapshots, it held exactly those.
        let held = self.tracker.held_versions();
        let live = self.table.live_snapshots();
        let held_after = self.tracker.held_versions();
        self.table.reclaim();
        if live != held.len() || held != held_after {
            return; // a release is in flight: the live set is not known exactly
        }
        let oldest = held.first().copied().unwrap_or(u32::MAX);
        let tracker = self.tracker.clone();
        self.left.retain(|&(id, tag)| {
            if tag < oldest {
                assert!(
                    !tracker.is_alive(id),
                    "state #{id} retired at version {tag} still alive with oldest live snapshot {oldest} (I7)"
                );
                false
            } else {
                true
            }
        });
        if live == 0 {
            assert_eq!(
                self.table.retired_len(),
                0,
                "retired objects kept with no live snapshot"
            );
            assert_eq!(
                self.tracker.alive(),
                self.table.len(),
                "states alive beyond the table's with no live snapshot"
            );
        }
    }

    /// `put`: insert or replace.
    pub fn put(&mut self, k: K, n: Ns, v: u64) {
        self.tracked(|w| {
            let s = w.tracker.state(v);
            w.table.put(k, n, s);
            w.model.insert((k, n), v);
        })
    }

    /// `get_mut` then add: copy-on-write of a state handed out mutably.
    pub fn add(&mut self, k: K, n: Ns, d: u64) {
        self.tracked(|w| w.add_inner(k, n, d))
    }

    fn add_inner(&mut self, k: K, n: Ns, d: u64) {
        match self.table.get_mut(&k, &n) {
            Some(s) => {
                s.value = s.value.wrapping_add(d);
                let m = self.model.get_mut(&(k, n)).expect("model has it");
                *m = m.wrapping_add(d);
            }
            None => assert!(!self.model.contains_key(&(k, n)), "get_mut lost {k}/{n}"),
        }
    }

    /// `transform`: value becomes `old * 3 + d` (or `d` when absent).
    pub fn transform(&mut self, k: K, n: Ns, d: u64) {
        self.tracked(|w| w.transform_inner(k, n, d))
    }

    fn transform_inner(&mut self, k: K, n: Ns, d: u64) {
        let tracker = self.tracker.clone();
        self.table.transform(k, n, d, |old, d| match old {
            Some(mut s) => {
                s.value = s.value.wrapping_mul(3).wrapping_add(d);
                s
            }
            None => tracker.state(d),
        });
        let v = match self.model.get(&(k, n)) {
            Some(&old) => old.wrapping_mul(3).wrapping_add(d),
            None => d,
        };
        self.model.insert((k, n), v);
    }

    /// `remove`.
    pub fn remove(&mut self, k: K, n: Ns) {
        self.tracked(|w| w.remove_inner(k, n))
    }

    fn remove_inner(&mut self, k: K, n: Ns) {
        let had = self.table.remove(&k, &n);
        assert_eq!(had, self.model.remove(&(k, n)).is_some(), "remove {k}/{n}");
    }

    /// Takes a snapshot, pinning every state it can reach.
    pub fn snapshot(&mut self) -> Held<H, P> {
        let snap = self.table.snapshot().expect("snapshot");
        let pins: Vec<u64> = self.table.iter().map(|(_, _, s)| s.id).collect();
        self.tracker.pin(snap.version(), &pins);
        Held {
            expected: self.model.iter().map(|(&(k, n), &v)| (k, n, v)).collect(),
            pins,
            tracker: self.tracker.clone(),
            snap: Some(snap),
            _h: std::marker::PhantomData,
        }
    }

    /// Asserts the table agrees with the model and passes the invariant checker.
    pub fn check(&self) {
        let mut seen: Vec<(K, Ns, u64)> = self.table.iter().map(|(k, n, s)| (*k, *n, s.value)).collect();
        seen.sort_unstable();
        let expected: Vec<(K, Ns, u64)> = self.model.iter().map(|(&(k, n), &v)| (k, n, v)).collect();
        assert_eq!(seen, expected, "table differs from the model");
        assert_eq!(self.table.len(), self.model.len());
        if let Err(e) = self.table.check_invariants() {
            panic!("invariant violated: {e:?}");
        }
        for (k, n, v) in expected {
            assert_eq!(self.table.get(&k, &n).map(|s| s.value), Some(v));
        }
    }
}

impl<H, P: Primitives> Drop for Writer<H, P> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            // SAFETY: dropped once, here; the field is not used afterwards.
            unsafe { ManuallyDrop::drop(&mut self.table) };
        }
    }
}
