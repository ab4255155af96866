//! Robustness against panics in user code that the table cannot prevent (docs/DESIGN.md, "Panics in user code"):
//!
//! * a state whose `Drop` panics during `remove`, during reclamation, at teardown (table or orphans): the
//!   node's arena slot is still released, every other value is still dropped exactly once, and the table still
//!   passes `check_invariants`;
//! * a state whose `Clone` panics at the migration cursor of a rehash while a snapshot is live: unrelated writes,
//!   and the removal of that very entry, still succeed; the rehash resumes once clones work again.

use cow_state_table::StateTable;
use cow_state_table_model::CollidingState;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

thread_local! {
    static CREATED: Cell<i64> = const { Cell::new(0) };
    static DROPPED: Cell<i64> = const { Cell::new(0) };
    /// Every clone panics while set.
    static CLONES_PANIC: Cell<bool> = const { Cell::new(false) };
}

fn live() -> i64 {
    CREATED.with(Cell::get) - DROPPED.with(Cell::get)
}

/// A state that counts creations and drops; `Bomb(v, true)` panics when dropped (after counting the drop).
#[derive(Debug, PartialEq, Eq)]
struct Bomb(u64, bool);

impl Bomb {
    fn new(v: u64) -> Self {
        CREATED.with(|c| c.set(c.get() + 1));
        Bomb(v, false)
    }
    fn armed(v: u64) -> Self {
        CREATED.with(|c| c.set(c.get() + 1));
        Bomb(v, true)
    }
}

impl Clone for Bomb {
    fn clone(&self) -> Self {
        if CLONES_PANIC.with(Cell::get) {
            panic!("planted clone panic");
        }
        CREATED.with(|c| c.set(c.get() + 1));
        // A copy is not armed: only the original panics when dropped.
        Bomb(self.0, false)
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        DROPPED.with(|d| d.set(d.get() + 1));
        if self.1 && !std::thread::panicking() {
            panic!("planted drop panic");
        }
    }
}

type Table = StateTable<u64, u32, Bomb, CollidingState>;

fn contents(t: &Table) -> BTreeMap<u64, u64> {
    t.iter().map(|(k, _, s)| (*k, s.0)).collect()
}

/// `n` entries `k → Bomb(k)` (namespace 0) in 4 buckets of a `CollidingState` with `mask` (so the chains are long),
/// the state of key `armed` panicking when dropped.
fn armed_table(n: u64, armed: u64, mask: u64) -> Table {
    let mut t = Table::with_buckets_and_hasher(4, CollidingState::new(mask));
    for k in 0..n {
        t.put(k, 0, if k == armed { Bomb::armed(k) } else { Bomb::new(k) });
    }
    t
}

fn expect_panic(f: impl FnOnce()) {
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "the planted panic did not happen"
    );
}

#[test]
fn drop_panic_during_remove_frees_the_slot() {
    let before = live();
    let mut t = armed_table(6, 3, 1);
    expect_panic(|| {
        t.remove(&3, &0);
    });
    t.check_invariants()
        .expect("invariants after a panicking drop in remove");
    assert_eq!(t.len(), 5);
    assert!(!t.contains(&3, &0));
    assert_eq!(live() - before, 5, "the armed state was dropped once, the others live");
    // The freed slot is usable again.
    t.put(3, 0, Bomb::new(30));
    t.check_invariants().expect("invariants after reusing the slot");
    drop(t);
    assert_eq!(live(), before, "every state dropped exactly once");
}

#[test]
fn drop_panic_during_reclamation_frees_the_slot() {
    let before = live();
    let mut t = armed_table(5, 2, 3);
    let snap = t.snapshot().expect("snapshot");
    // Replaced under the snapshot: the armed state is retired, not dropped.
    t.put(2, 0, Bomb::new(20));
    t.put(4, 0, Bomb::new(40));
    assert!(t.retired_len() >= 2);
    drop(snap);
    // The next write reclaims: the armed state's drop panics in the middle of the queue.
    expect_panic(|| t.put(9, 0, Bomb::new(9)));
    t.check_invariants()
        .expect("invariants after a panicking drop in reclamation");
    // What was left in the queue behind it goes at the next write.
    t.put(9, 0, Bomb::new(9));
    assert_eq!(t.retired_len(), 0);
    t.check_invariants().expect("invariants after the queue drained");
    assert_eq!(
        contents(&t),
        BTreeMap::from([(0, 0), (1, 1), (2, 20), (3, 3), (4, 40), (9, 9)])
    );
    assert_eq!(live() - before, 6);
    drop(t);
    assert_eq!(live(), before, "every state dropped exactly once");
}

#[test]
fn drop_panic_at_teardown_still_drops_everything_else() {
    let before = live();
    let t = armed_table(40, 17, 7);
    expect_panic(move || drop(t));
    assert_eq!(live(), before, "every state dropped exactly once despite the panic");
}

#[test]
fn drop_panic_when_the_last_snapshot_frees_the_orphans() {
    let before = live();
    let mut t = armed_table(20, 5, 7);
    let snap = t.snapshot().expect("snapshot");
    // Retired under the snapshot: an armed state in the retire queue as well as one in the live table.
    t.put(11, 0, Bomb::armed(110));
    drop(t);
    assert_eq!(snap.iter().count(), 20, "the snapshot still reads its contents");
    expect_panic(move || drop(snap));
    assert_eq!(live(), before, "every state dropped exactly once despite the panic");
}

#[test]
fn drop_panic_in_the_retire_queue_at_teardown_still_frees_the_rest() {
    let before = live();
    let mut t = armed_table(10, 2, 7);
    let snap = t.snapshot().expect("snapshot");
    // Overwritten under the snapshot: the old states wait in the retire queue, the armed one first.
    for k in [2, 4, 6, 8] {
        t.put(k, 0, Bomb::new(100 + k));
    }
    assert!(t.stats().retired >= 4, "{:?}", t.stats());
    drop(snap);
    // No write since the release: the queue still holds them when the table is dropped.
    expect_panic(move || drop(t));
    assert_eq!(
        live(),
        before,
        "the states retired after the panicking one are dropped too"
    );
}

/// A table mid-rehash with a chain at the migration cursor that must be copied (shared under a snapshot).
fn mid_rehash_with_snapshot() -> (Table, cow_state_table::Snapshot<u64, u32, Bomb>) {
    // Mask 0: every key in bucket 0, so the migration cursor sits on one long chain whose nodes must be
    // relinked (copied while shared).
    let mut t = Table::with_buckets_and_hasher(4, CollidingState::new(0));
    for k in 0..5 {
        t.put(k, 0, Bomb::new(k));
    }
    assert!(t.is_rehashing(), "a fifth entry in 4 buckets starts the growth");
    let snap = t.snapshot().expect("snapshot");
    (t, snap)
}

#[test]
fn clone_panic_at_the_migration_cursor_does_not_wedge_writes() {
    let before = live();
    let (mut t, snap) = mid_rehash_with_snapshot();
    let frozen: BTreeMap<u64, u64> = snap.iter().map(|(k, _, s)| (*k, s.0)).collect();
    let deferred0 = t.cow_stats().deferred_migration_steps;
    CLONES_PANIC.with(|c| c.set(true));
    // Unrelated inserts need no clone of their own: they must succeed although every step's copy panics.
    for k in 100..104 {
        t.put(k, 0, Bomb::new(k));
    }
    assert!(
        t.is_rehashing(),
        "the rehash cannot progress while the cursor's copy panics"
    );
    assert!(
        t.cow_stats().deferred_migration_steps >= deferred0 + 4,
        "each write's step was deferred"
    );
    t.check_invariants().expect("invariants with deferred steps");
    // The removal of the entry at the cursor (the old chain's head, the last of 0..4 put there; key 4 went to
    // the new table) succeeds too: it needs no clone of its own.
    let head = 3;
    assert!(t.remove(&head, &0));
    t.check_invariants().expect("invariants after removing a stuck entry");
    assert_eq!(
        snap.iter().map(|(k, _, s)| (*k, s.0)).collect::<BTreeMap<_, _>>(),
        frozen
    );
    // Clones work again: the rehash resumes and ends. Updates first (writes that insert nothing): the rehash
    // that had to wait ends over its new threshold, and must start the next growth itself rather than leave the
    // table over-full until some later insert (the checker's I10 load-factor rule).
    CLONES_PANIC.with(|c| c.set(false));
    let first = t.buckets();
    while t.buckets() == first {
        *t.get_mut(&100, &0).expect("present") = Bomb::new(100);
        t.check_invariants()
            .expect("invariants while the rehash resumes under updates");
    }
    assert!(t.is_rehashing(), "the next growth started when the deferred one ended");
    for k in 200..220 {
        t.put(k, 0, Bomb::new(k));
        t.check_invariants().expect("invariants while the rehash resumes");
    }
    assert!(
        t.buckets() >= 16,
        "the rehash finished (and a further growth ran) after the panics stopped"
    );
    assert_eq!(
        snap.iter().map(|(k, _, s)| (*k, s.0)).collect::<BTreeMap<_, _>>(),
        frozen
    );
    let mut expected: BTreeMap<u64, u64> = (0..5).chain(100..104).chain(200..220).map(|k| (k, k)).collect();
    expected.remove(&head);
    assert_eq!(contents(&t), expected);
    drop(snap);
    drop(t);
    assert_eq!(live(), before, "every state dropped exactly once");
}

#[test]
fn clone_panic_at_the_cursor_with_snapshot_released_needs_no_clone() {
    let before = live();
    let (mut t, snap) = mid_rehash_with_snapshot();
    CLONES_PANIC.with(|c| c.set(true));
    t.put(100, 0, Bomb::new(100));
    assert!(t.is_rehashing());
    drop(snap);
    // Without a live snapshot nothing is shared: migration relinks, no clone, no deferral.
    let deferred = t.cow_stats().deferred_migration_steps;
    for k in 101..110 {
        t.put(k, 0, Bomb::new(k));
    }
    CLONES_PANIC.with(|c| c.set(false));
    assert_eq!(t.cow_stats().deferred_migration_steps, deferred);
    assert!(t.buckets() >= 8, "the rehash finished");
    t.check_invariants().expect("invariants");
    drop(t);
    assert_eq!(live(), before);
}
