//! Drop accounting: keys, namespaces and states count their creations (clones included) and drops; whatever the
//! operations, snapshots, teardown order or panics in user code, every value created is dropped exactly once.

use cow_state_table::{DeterministicState, StateTable};
use cow_state_table_model::{
    install_quiet_panic_hook, ops, CollidingState, Config, HasherChoice, ModelState, Runner, Teardown,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestCaseError, TestRunner};
use std::cell::Cell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;

const KEY: usize = 0;
const NS: usize = 1;
const STATE: usize = 2;
const KINDS: [&str; 3] = ["keys", "namespaces", "states"];

/// Creation and drop counts of one test, per kind.
#[derive(Default)]
struct Counters {
    created: [AtomicU64; 3],
    dropped: [AtomicU64; 3],
}

impl Counters {
    /// A fresh set of counters for the calling test thread (leaked: a few bytes per test, kept reachable
    /// from a static so that leak checkers such as Miri's do not report them).
    fn install() -> &'static Counters {
        static ALL: Mutex<Vec<&'static Counters>> = Mutex::new(Vec::new());
        let c: &'static Counters = Box::leak(Box::default());
        ALL.lock().unwrap_or_else(|e| e.into_inner()).push(c);
        CURRENT.with(|cur| cur.set(Some(c)));
        c
    }

    fn alive(&self, kind: usize) -> u64 {
        self.created[kind].load(SeqCst) - self.dropped[kind].load(SeqCst)
    }

    fn created(&self, kind: usize) -> u64 {
        self.created[kind].load(SeqCst)
    }

    /// Every value created was dropped, and none twice (a double drop would make `dropped > created`).
    fn assert_balanced(&self) {
        for (kind, name) in KINDS.iter().enumerate() {
            let created = self.created[kind].load(SeqCst);
            let dropped = self.dropped[kind].load(SeqCst);
            assert_eq!(created, dropped, "{name}: {created} created, {dropped} dropped");
        }
    }

    fn balanced(&self) -> Result<(), String> {
        for (kind, name) in KINDS.iter().enumerate() {
            let created = self.created[kind].load(SeqCst);
            let dropped = self.dropped[kind].load(SeqCst);
            if created != dropped {
                return Err(format!("{name}: {created} created, {dropped} dropped"));
            }
        }
        Ok(())
    }
}

thread_local! {
    /// The counters that values created on this thread report to.
    static CURRENT: Cell<Option<&'static Counters>> = const { Cell::new(None) };
    /// Clones left before the next clone on this thread panics (`None`: never).
    static CLONES_BEFORE_PANIC: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The payload of a deliberately panicking `clone`.
struct ClonePanic;

/// A value that reports its creation, clones and drop to the counters of the test that created it.
struct Tracked<T, const KIND: usize> {
    value: T,
    counters: &'static Counters,
}

impl<T, const KIND: usize> Tracked<T, KIND> {
    fn new(value: T) -> Self {
        let counters = CURRENT.with(Cell::get).expect("Counters::install first");
        counters.created[KIND].fetch_add(1, SeqCst);
        Tracked { value, counters }
    }
}

impl<T: Clone, const KIND: usize> Clone for Tracked<T, KIND> {
    fn clone(&self) -> Self {
        let fail = CLONES_BEFORE_PANIC.with(|c| match c.get() {
            Some(0) => {
                c.set(None);
                true
            }
            Some(n) => {
                c.set(Some(n - 1));
                false
            }
            None => false,
        });
        if fail {
            panic::panic_any(ClonePanic);
        }
        self.counters.created[KIND].fetch_add(1, SeqCst);
        Tracked {
            value: self.value.clone(),
            counters: self.counters,
        }
    }
}

impl<T, const KIND: usize> Drop for Tracked<T, KIND> {
    fn drop(&mut self) {
        self.counters.dropped[KIND].fetch_add(1, SeqCst);
    }
}

impl<T: PartialEq, const KIND: usize> PartialEq for Tracked<T, KIND> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl<T: Eq, const KIND: usize> Eq for Tracked<T, KIND> {}
impl<T: PartialOrd, const KIND: usize> PartialOrd for Tracked<T, KIND> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.value.partial_cmp(&other.value)
    }
}
impl<T: Ord, const KIND: usize> Ord for Tracked<T, KIND> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}
impl<T: Hash, const KIND: usize> Hash for Tracked<T, KIND> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}
impl<T: fmt::Debug, const KIND: usize> fmt::Debug for Tracked<T, KIND> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

type Key = Tracked<u8, KEY>;
type Ns = Tracked<u8, NS>;
type State = Tracked<Vec<u32>, STATE>;

impl From<u8> for Key {
    fn from(v: u8) -> Self {
        Tracked::new(v)
    }
}
impl From<u8> for Ns {
    fn from(v: u8) -> Self {
        Tracked::new(v)
    }
}

impl ModelState for State {
    fn from_seed(seed: u32) -> Self {
        Tracked::new(Vec::<u32>::from_seed(seed))
    }
    fn modify(&mut self, arg: u32) {
        self.value.modify(arg);
    }
    fn combine(old: Option<Self>, arg: u32) -> Self {
        let mut v = old.map(|mut o| std::mem::take(&mut o.value)).unwrap_or_default();
        v.modify(arg);
        Tracked::new(v)
    }
}

fn key(v: u8) -> Key {
    Tracked::new(v)
}
fn ns(v: u8) -> Ns {
    Tracked::new(v)
}
fn state(v: u32) -> State {
    Tracked::new(vec![v])
}

fn cases() -> u32 {
    std::env::var("COW_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(|n: u32| (n / 10).max(1))
        .unwrap_or(if cfg!(miri) { 2 } else { 400 })
}

#[test]
fn random_operations_drop_everything_exactly_once() {
    let counters = Counters::install();
    let max_ops = if cfg!(miri) { 40 } else { 300 };
    let hasher = prop_oneof![
        Just(HasherChoice::Deterministic),
        prop::sample::select(&HasherChoice::COLLIDING_MASKS[..]).prop_map(|mask| HasherChoice::Colliding { mask }),
    ];
    let teardown = prop_oneof![Just(Teardown::TableFirst), Just(Teardown::SnapshotsFirst)];
    let mut runner = TestRunner::new(PtConfig {
        cases: cases(),
        failure_persistence: None,
        ..PtConfig::default()
    });
    let result = runner.run(&(hasher, teardown, ops(max_ops)), |(hasher, teardown, ops)| {
        // proptest runs the cases on this thread: the counters are installed.
        let config = Config {
            teardown,
            ..Config::default()
        };
        Runner::<Key, Ns, State, _>::with_config(hasher, config)
            .run_ops(&ops)
            .map_err(|d| TestCaseError::fail(d.to_string()))?;
        counters.balanced().map_err(TestCaseError::fail)?;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(counters.created(STATE) > 0);
    counters.assert_balanced();
}

#[test]
fn table_dropped_before_its_snapshots_last_release_frees() {
    let counters = Counters::install();
    let mut t: StateTable<Key, Ns, State, _> = StateTable::with_buckets_and_hasher(4, CollidingState::new(3));
    for k in 0..12 {
        t.put(key(k), ns(k % 2), state(u32::from(k)));
    }
    let s1 = t.snapshot().unwrap();
    for k in 0..12 {
        t.get_mut(&key(k), &ns(k % 2)).unwrap().value.push(1);
    }
    for k in 12..30 {
        t.put(key(k), ns(0), state(0)); // growth and rehash under snapshots
    }
    let s2 = t.snapshot().unwrap();
    for k in 0..30 {
        t.remove(&key(k), &ns(k % 2));
        t.remove(&key(k), &ns(0));
    }
    assert!(t.retired_len() > 0);
    drop(t);
    // The snapshots keep what they can see alive.
    assert!(counters.alive(STATE) >= (s1.len() + s2.len()) as u64);
    assert_eq!(s1.iter().count(), 12);
    assert_eq!(s2.iter().count(), 30);
    drop(s1);
    assert!(counters.alive(STATE) >= s2.len() as u64);
    assert_eq!(s2.iter().count(), 30);
    // The last release, on another thread, frees the table's orphans.
    std::thread::spawn(move || drop(s2)).join().unwrap();
    counters.assert_balanced();
}

#[test]
fn table_dropped_with_no_live_snapshot_frees_at_once() {
    let counters = Counters::install();
    let mut t: StateTable<Key, Ns, State, _> = StateTable::with_buckets_and_hasher(4, DeterministicState::default());
    for k in 0..40 {
        t.put(key(k), ns(0), state(1));
    }
    let s = t.snapshot().unwrap();
    for k in 0..40 {
        t.put(key(k), ns(0), state(2));
    }
    drop(s);
    assert!(t.retired_len() > 0, "nothing retired: the test would prove nothing");
    drop(t);
    counters.assert_balanced();
}

/// Runs `transform` with a panicking closure on `(k, n)`; returns the `old` the closure received.
fn panicking_transform<H: std::hash::BuildHasher>(
    t: &mut StateTable<Key, Ns, State, H>,
    k: u8,
    n: u8,
) -> Option<Vec<u32>> {
    install_quiet_panic_hook();
    let mut seen = None;
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        t.transform(key(k), ns(n), 7u32, |old, _| {
            seen = Some(old.as_ref().map(|s| s.value.clone()));
            panic::panic_any(cow_state_table_model::ModelPanic)
        })
    }));
    assert!(result.is_err(), "the closure panicked");
    seen.expect("the closure ran")
}

fn chain_table() -> StateTable<Key, Ns, State, CollidingState> {
    // Mask 0: one chain, so the panicking entry has nodes in front of and behind it.
    let mut t = StateTable::with_buckets_and_hasher(4, CollidingState::new(0));
    for k in 0..3 {
        t.put(key(k), ns(0), state(u32::from(k)));
    }
    t
}

#[test]
fn panicking_transform_of_a_private_entry_removes_it() {
    let counters = Counters::install();
    let mut t = chain_table();
    let middle = t.iter().nth(1).map(|(k, _, _)| k.value).unwrap();
    let old = panicking_transform(&mut t, middle, 0);
    assert_eq!(old, Some(vec![u32::from(middle)]));
    t.check_invariants().unwrap();
    assert!(!t.contains(&key(middle), &ns(0)), "private entry not removed");
    assert_eq!(t.len(), 2);
    // Its key, namespace and state are gone; the others are intact.
    assert_eq!(counters.alive(STATE), 2);
    assert_eq!(counters.alive(KEY), 2);
    assert_eq!(counters.alive(NS), 2);
    for (k, _, s) in t.iter() {
        assert_eq!(s.value, vec![u32::from(k.value)]);
    }
    // The table keeps working.
    t.put(key(middle), ns(0), state(5));
    assert_eq!(t.len(), 3);
    t.check_invariants().unwrap();
    drop(t);
    counters.assert_balanced();
}

#[test]
fn panicking_transform_of_a_shared_entry_leaves_it_unchanged() {
    let counters = Counters::install();
    let mut t = chain_table();
    let snap = t.snapshot().unwrap();
    let chain: Vec<u8> = t.iter().map(|(k, _, _)| k.value).collect();
    for &k in &chain {
        let old = panicking_transform(&mut t, k, 0);
        assert_eq!(old, Some(vec![u32::from(k)]));
        t.check_invariants().unwrap();
    }
    // Unchanged in the table and in the snapshot.
    assert_eq!(t.len(), 3);
    for &k in &chain {
        assert_eq!(t.get(&key(k), &ns(0)).unwrap().value, vec![u32::from(k)]);
    }
    let seen: Vec<(u8, Vec<u32>)> = snap.iter().map(|(k, _, s)| (k.value, s.value.clone())).collect();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|(k, s)| *s == vec![u32::from(*k)]));
    drop(snap);
    // Private now: the next panicking transform removes the entry.
    panicking_transform(&mut t, chain[2], 0);
    assert!(!t.contains(&key(chain[2]), &ns(0)));
    t.check_invariants().unwrap();
    drop(t);
    counters.assert_balanced();
}

#[test]
fn panicking_transform_of_an_absent_entry_keeps_it_absent() {
    let counters = Counters::install();
    let mut t = chain_table();
    let snap = t.snapshot().unwrap();
    assert_eq!(panicking_transform(&mut t, 9, 0), None);
    assert!(!t.contains(&key(9), &ns(0)));
    assert_eq!(t.len(), 3);
    t.check_invariants().unwrap();
    drop(snap);
    assert_eq!(panicking_transform(&mut t, 9, 1), None);
    assert_eq!(t.len(), 3);
    t.check_invariants().unwrap();
    drop(t);
    counters.assert_balanced();
}

#[test]
fn panicking_clone_leaves_the_table_valid() {
    let counters = Counters::install();
    install_quiet_panic_hook_for_clones();
    // Arm the n-th clone of each write to panic, for every n until a write completes without one.
    let mut panics = 0;
    for op in 0..4 {
        for n in 0.. {
            let mut t: StateTable<Key, Ns, State, _> = StateTable::with_buckets_and_hasher(4, CollidingState::new(0));
            for k in 0..3 {
                t.put(key(k), ns(0), state(u32::from(k)));
            }
            let snap = t.snapshot().unwrap();
            let tail = t.iter().last().map(|(k, _, _)| k.value).unwrap();
            let (k, n0) = (key(tail), ns(0));
            CLONES_BEFORE_PANIC.with(|c| c.set(Some(n)));
            let result = panic::catch_unwind(AssertUnwindSafe(|| match op {
                0 => t.get_mut(&k, &n0).unwrap().value.push(9),
                1 => drop(t.put_and_get_old(k.clone(), n0.clone(), state(9))),
                2 => drop(t.remove_and_get_old(&k, &n0)),
                _ => t.transform(k.clone(), n0.clone(), 9, |old, v| {
                    let mut s = old.unwrap();
                    s.value.push(v);
                    s
                }),
            }));
            let armed = CLONES_BEFORE_PANIC.with(|c| c.replace(None)).is_some();
            t.check_invariants().unwrap();
            // The snapshot never changes.
            let seen: Vec<(u8, Vec<u32>)> = snap.iter().map(|(k, _, s)| (k.value, s.value.clone())).collect();
            assert_eq!(seen.len(), 3);
            assert!(seen.iter().all(|(k, s)| *s == vec![u32::from(*k)]));
            match result {
                Err(payload) => {
                    assert!(payload.is::<ClonePanic>(), "unexpected panic");
                    panics += 1;
                    // The write did not happen: the entry has its old state.
                    assert_eq!(t.get(&k, &n0).unwrap().value, vec![u32::from(tail)]);
                    assert_eq!(t.len(), 3);
                }
                Ok(()) => {
                    assert!(armed, "the clone budget was used up but nothing panicked");
                    drop((k, n0, snap, t));
                    break;
                }
            }
            drop((k, n0, snap, t));
            assert!(n < 20, "a write made more than 20 clones");
        }
    }
    // Each write clones at least the prefix's keys and namespaces (two nodes in front of the tail).
    assert!(panics >= 4 * 4, "only {panics} clones panicked");
    counters.assert_balanced();
}

#[test]
fn panicking_clone_during_a_rehash_step_leaves_the_table_valid() {
    let counters = Counters::install();
    install_quiet_panic_hook_for_clones();
    let mut panics = 0;
    for n in 0.. {
        // Two distinct hashes: old chains hold several nodes, so migrating them relinks (copies) shared nodes.
        let mut t: StateTable<Key, Ns, State, _> = StateTable::with_buckets_and_hasher(4, CollidingState::new(1));
        // The fifth insert finds 4 > 3/4 * 4 entries and starts a rehash.
        for k in 0..5 {
            t.put(key(k), ns(0), state(u32::from(k)));
        }
        assert!(t.is_rehashing());
        let snap = t.snapshot().unwrap();
        let before: Vec<(u8, Vec<u32>)> = {
            let mut v: Vec<_> = t.iter().map(|(k, _, s)| (k.value, s.value.clone())).collect();
            v.sort();
            v
        };
        CLONES_BEFORE_PANIC.with(|c| c.set(Some(n)));
        // A write of an absent key: everything it clones belongs to the rehash step. A panic there is caught
        // by the step, which stops and is retried by the next write (docs/DESIGN.md): the write itself succeeds.
        let deferred_before = t.cow_stats().deferred_migration_steps;
        let result = panic::catch_unwind(AssertUnwindSafe(|| t.remove(&key(200), &ns(0))));
        CLONES_BEFORE_PANIC.with(|c| c.set(None));
        assert!(
            result.is_ok(),
            "clone {n} of a rehash step panicked out of an unrelated write"
        );
        let deferred = t.cow_stats().deferred_migration_steps - deferred_before;
        assert!(deferred <= 1);
        t.check_invariants().unwrap();
        let mut after: Vec<(u8, Vec<u32>)> = t.iter().map(|(k, _, s)| (k.value, s.value.clone())).collect();
        after.sort();
        assert_eq!(
            after,
            before,
            "a rehash step changed the contents (clone {n} panicked: {})",
            deferred == 1
        );
        assert_eq!(t.len(), 5);
        let mut seen: Vec<(u8, Vec<u32>)> = snap.iter().map(|(k, _, s)| (k.value, s.value.clone())).collect();
        seen.sort();
        assert_eq!(seen, before);
        // The table keeps working: finish the rehash.
        while t.is_rehashing() {
            t.remove(&key(201), &ns(0));
        }
        t.check_invariants().unwrap();
        let done = deferred == 0;
        if !done {
            panics += 1;
        }
        drop((snap, t));
        counters.assert_balanced();
        if done {
            break;
        }
        assert!(n < 40, "a rehash step made more than 40 clones");
    }
    assert!(panics >= 3, "only {panics} clones panicked");
}

/// Keeps the deliberate `ClonePanic`s quiet (other panics are reported as usual).
fn install_quiet_panic_hook_for_clones() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    install_quiet_panic_hook();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<ClonePanic>() {
                previous(info);
            }
        }));
    });
}
