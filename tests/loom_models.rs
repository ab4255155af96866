//! Loom models of writer-versus-snapshot races (see docs/DESIGN.md and docs/MODEL_CHECKING.md).
//!
//! Each model runs the real table core on `LoomSync`: node and chunk fields are loom `UnsafeCell`s (a write
//! not ordered after a snapshot's read of the same field is reported as a data race), the shared bounds word is
//! a loom atomic (every permitted value of each load is explored), the registry is a loom mutex and the shared
//! state a loom `Arc` (leaks are reported). The states are [`Tracked`]: dropping one a live snapshot can reach,
//! or dropping one twice, panics at the drop; every model ends by checking that each state was dropped exactly
//! once. Every snapshot is checked to read exactly the model contents captured when it was taken.
//!
//! Run: `CARGO_TARGET_DIR=target/loom cargo test --release --features loom --test loom_models`.
//! The preemption bound is [`PREEMPTION_BOUND`] unless `LOOM_MAX_PREEMPTIONS` is set.

mod common;

use common::{Collide, Tracker, Writer};
use cow_state_table::sync::LoomSync;
use cow_state_table::DeterministicState;
use loom::thread;

/// Default preemption bound: every interleaving with at most this many preemptions is explored.
const PREEMPTION_BOUND: usize = 3;

fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = Some(PREEMPTION_BOUND);
    }
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = iterations.clone();
    builder.check(move || {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f()
    });
    println!(
        "explored {} interleavings (preemption bound {:?})",
        iterations.load(std::sync::atomic::Ordering::Relaxed),
        builder.preemption_bound
    );
}

type W<H> = Writer<H, LoomSync>;

/// Scenario 1: the writer puts, updates (`get_mut`, `transform`) and removes keys of one bucket chain while a
/// snapshot taken before is iterated on another thread and then dropped. Whatever the interleaving, the
/// snapshot reads its contents and the writer's copy-on-write never races with the reader. Writes the writer
/// makes after the release become visible to it through the bounds word only (I8): a write in place after a
/// release that did not synchronise with the reader's reads is a reported race. After the join, writes are in
/// place (no copy) and nothing stays retired.
#[test]
fn chain_writes_race_snapshot_reader() {
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<Collide> = Writer::new(4, Collide, &tracker);
        // One chain: 3 -> 2 -> 1.
        w.put(1, 0, 10);
        w.put(2, 0, 20);
        w.put(3, 0, 30);
        let s = w.snapshot();
        let reader = thread::spawn(move || {
            s.verify();
            s.release();
        });
        w.put(2, 0, 21); // middle node: prefix {3} and 2 copied (or in place once released)
        w.add(1, 0, 5); // tail, through get_mut
        w.transform(3, 0, 7); // head, through transform
        w.remove(2, 0);
        w.put(4, 0, 40);
        w.check();
        reader.join().unwrap();

        // The release happened-before (join): in place from now on.
        w.put(1, 0, 11); // frees whatever is still retired first
        assert_eq!(w.table.retired_len(), 0);
        let before = w.table.cow_stats();
        w.add(3, 0, 1);
        w.transform(4, 0, 2);
        w.put(1, 0, 12);
        w.remove(1, 0);
        w.put(5, 0, 50);
        let after = w.table.cow_stats();
        assert_eq!(after.node_copies, before.node_copies, "copied with no snapshot live");
        assert_eq!(
            after.chunk_copies, before.chunk_copies,
            "chunk copied with no snapshot live"
        );
        assert_eq!(w.table.retired_len(), 0);
        w.check();
        drop(w);
        tracker.assert_all_dropped();
    });
}

/// Scenario 1b: the release -> in-place write hand-off alone (I8). A reader reads a snapshot and releases it;
/// the writer, concurrently, updates the entries the reader read. In the interleavings where the writer's load
/// of the bounds sees the release, it writes in place (no copy); that write must be ordered after the reader's
/// reads by the release/acquire pair, or loom reports a race. The model asserts that the in-place path was
/// taken in at least one interleaving, so the hand-off is exercised, not just the copying path.
#[test]
fn release_then_in_place_write() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static IN_PLACE: AtomicUsize = AtomicUsize::new(0);
    static COPIED: AtomicUsize = AtomicUsize::new(0);
    IN_PLACE.store(0, Relaxed);
    COPIED.store(0, Relaxed);
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<Collide> = Writer::new(4, Collide, &tracker);
        w.put(1, 0, 10);
        w.put(2, 0, 20);
        let s = w.snapshot();
        let reader = thread::spawn(move || {
            s.verify();
            s.release();
        });
        let before = w.table.cow_stats();
        w.add(2, 0, 1); // head: `get_mut` hands out the state in place or a copy
        w.put(1, 0, 11); // tail: state, `next` of the prefix and the bucket head, in place or copied
        let after = w.table.cow_stats();
        if after.node_copies == before.node_copies && after.chunk_copies == before.chunk_copies {
            IN_PLACE.fetch_add(1, Relaxed);
        } else {
            COPIED.fetch_add(1, Relaxed);
        }
        w.check();
        reader.join().unwrap();
        drop(w);
        tracker.assert_all_dropped();
    });
    let (in_place, copied) = (IN_PLACE.load(Relaxed), COPIED.load(Relaxed));
    println!("in place after release: {in_place} interleavings, copied: {copied}");
    assert!(in_place > 0, "no interleaving wrote in place after the release");
    assert!(copied > 0, "no interleaving copied for the live snapshot");
}

/// Scenario 2: two snapshots of different versions, released from two threads in either order while the
/// writer keeps writing: the highest required version `R` and the oldest live version `O` are handed off
/// through the mutex and the bounds word; the writer must keep copying for the older snapshot when the newer
/// one goes first, and must not free what the remaining one can see.
#[test]
fn two_snapshots_released_in_either_order() {
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<Collide> = Writer::new(4, Collide, &tracker);
        w.put(1, 0, 10);
        w.put(2, 0, 20);
        let s1 = w.snapshot();
        w.put(1, 0, 11); // copies 2 (prefix) and 1; both retired at version 1
        let s2 = w.snapshot();
        let t1 = thread::spawn(move || {
            s1.verify();
            s1.release();
        });
        let t2 = thread::spawn(move || {
            s2.verify();
            s2.release();
        });
        w.put(2, 0, 21); // head, shared with s2 (and, through the retired original, nothing else)
        w.add(1, 0, 1); // tail, shared with s2
        w.remove(2, 0);
        w.check();
        t1.join().unwrap();
        t2.join().unwrap();
        w.put(3, 0, 30);
        assert_eq!(w.table.retired_len(), 0);
        w.check();
        drop(w);
        tracker.assert_all_dropped();
    });
}

/// Scenario 3: a snapshot taken in the middle of an incremental rehash (both directories and the rehash index
/// copied) is iterated on another thread while the writer's next writes migrate the rest of the old table and
/// finish the rehash. With one bucket chain, every migrated node must change its `next`, so each one the
/// snapshot can see is copied, never relinked.
#[test]
fn snapshot_mid_rehash_while_writer_finishes_it() {
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<Collide> = Writer::new(4, Collide, &tracker);
        for k in 1..=5 {
            w.put(k, 0, k * 10);
        }
        assert!(w.table.is_rehashing());
        let s = w.snapshot();
        assert!(s.taken_during_rehash());
        let reader = thread::spawn(move || {
            s.verify();
            s.release();
        });
        w.put(6, 0, 60); // migrates the old chain (4 entries)
        w.add(3, 0, 1);
        w.put(7, 0, 70); // finishes the rehash
        assert!(!w.table.is_rehashing());
        w.check();
        reader.join().unwrap();
        w.remove(5, 0);
        w.check();
        drop(w);
        tracker.assert_all_dropped();
    });
}

/// Scenario 3b: the same with spread placement (several buckets, single-node migrations that need no copy).
#[test]
fn snapshot_mid_rehash_spread_buckets() {
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<DeterministicState> = Writer::new(4, DeterministicState::default(), &tracker);
        for k in 1..=5 {
            w.put(k, 0, k * 10);
        }
        assert!(w.table.is_rehashing());
        let s = w.snapshot();
        let reader = thread::spawn(move || {
            s.verify();
            s.release();
        });
        w.put(6, 0, 60);
        w.remove(2, 0);
        w.put(7, 0, 70);
        w.add(1, 0, 1);
        w.check();
        reader.join().unwrap();
        w.check();
        drop(w);
        tracker.assert_all_dropped();
    });
}

/// Scenario 3c: a snapshot taken in the middle of a *shrink* (the incremental rehash into half the buckets that
/// starts below 1/8 load), read on another thread while the writer finishes the shrink through shared chains.
#[test]
fn snapshot_mid_shrink_while_writer_finishes_it() {
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<Collide> = Writer::new(4, Collide, &tracker);
        // Grow to 16 buckets (two growths), and let the last rehash finish.
        let mut next = 1;
        while w.table.buckets() < 16 || w.table.is_rehashing() {
            if w.table.buckets() < 16 {
                w.put(next, 0, next * 10);
                next += 1;
            } else {
                w.add(1, 0, 1);
            }
        }
        for k in 2..next {
            w.remove(k, 0); // the last one leaves 1 entry in 16 buckets: the shrink to 8 starts
        }
        assert!(w.table.is_rehashing() && w.table.buckets() == 8);
        let s = w.snapshot();
        assert!(s.taken_during_rehash());
        let reader = thread::spawn(move || {
            s.verify();
            s.release();
        });
        w.put(90, 0, 90); // its rehash step migrates the shared entry (the old chunk is copied), ending the shrink
        w.add(1, 0, 1); // a shared node in the new directory: copied
        assert!(!w.table.is_rehashing());
        w.check();
        reader.join().unwrap();
        w.remove(1, 0);
        w.check();
        drop(w);
        tracker.assert_all_dropped();
    });
}

/// Scenario 4: the table is dropped on the writer thread while a snapshot is still read on another. Whichever
/// of the table's drop and the snapshot's release comes last frees the structure and the retire queue (I13):
/// nothing is freed under the reader, nothing leaks, nothing is freed twice.
#[test]
fn table_dropped_while_snapshot_is_read() {
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<Collide> = Writer::new(4, Collide, &tracker);
        w.put(1, 0, 10);
        w.put(2, 0, 20);
        w.put(3, 0, 30);
        let s = w.snapshot();
        let reader = thread::spawn(move || {
            s.verify();
            s.release();
        });
        w.put(2, 0, 21); // retires shared nodes: the orphans include a retire queue
        w.remove(1, 0);
        drop(w);
        reader.join().unwrap();
        tracker.assert_all_dropped();
    });
}

/// Scenario 4b: two snapshots on two threads outlive the table; the last release frees.
#[test]
fn table_dropped_two_snapshots_outlive_it() {
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<Collide> = Writer::new(4, Collide, &tracker);
        w.put(1, 0, 10);
        w.put(2, 0, 20);
        let s1 = w.snapshot();
        w.remove(2, 0);
        let s2 = w.snapshot();
        let t1 = thread::spawn(move || {
            s1.verify();
            s1.release();
        });
        let t2 = thread::spawn(move || {
            s2.verify();
            s2.release();
        });
        w.put(1, 0, 11);
        drop(w);
        t1.join().unwrap();
        t2.join().unwrap();
        tracker.assert_all_dropped();
    });
}

/// Scenario 5: reclamation racing release. Nodes retired under two snapshots (tags 1 and 2) are freed by the
/// writer's reclamation while the snapshots are released on other threads. Never early: a state a live snapshot
/// can reach panics when dropped. Never late: whenever the writer knows the live set exactly, everything
/// retired below the oldest live version is gone after `reclaim()`, and with no snapshot live nothing stays
/// retired.
#[test]
fn reclamation_races_release() {
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<Collide> = Writer::new(4, Collide, &tracker);
        w.track_left = true;
        w.put(1, 0, 10);
        w.put(2, 0, 20);
        let s1 = w.snapshot();
        w.put(1, 0, 11); // retires 2 and 1 at tag 1 (seen by s1 only)
        let s2 = w.snapshot();
        w.remove(2, 0); // retires 2' at tag 2 (seen by s2 only)
        let t1 = thread::spawn(move || {
            s1.verify();
            s1.release();
        });
        let t2 = thread::spawn(move || {
            s2.verify();
            s2.release();
        });
        w.reclaim_and_check();
        w.put(3, 0, 30);
        w.reclaim_and_check();
        t1.join().unwrap();
        t2.join().unwrap();
        w.reclaim_and_check();
        assert_eq!(w.table.retired_len(), 0);
        w.check();
        drop(w);
        tracker.assert_all_dropped();
    });
}

/// Scenario 2b: a snapshot taken while another is being released on a second thread (the writer's registration
/// and the reader's release contend for the registry mutex and both publish bounds); the writer then updates
/// entries both snapshots share. Whatever the order, the new snapshot reads its contents, the old one read
/// its own, and no copy-on-write is skipped or freed early.
#[test]
fn snapshot_taken_while_another_is_released() {
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<Collide> = Writer::new(4, Collide, &tracker);
        w.put(1, 0, 10);
        w.put(2, 0, 20);
        let s1 = w.snapshot();
        let t1 = thread::spawn(move || {
            s1.verify();
            s1.release();
        });
        w.put(1, 0, 11); // copies (prefix 2, node 1) if s1 is live as the writer saw it
        let s2 = w.snapshot(); // registered while s1's release may be under way
        w.add(2, 0, 1); // shared with s2
        w.remove(1, 0);
        w.check();
        t1.join().unwrap();
        s2.verify();
        s2.release();
        w.put(3, 0, 30);
        assert_eq!(w.table.retired_len(), 0);
        w.check();
        drop(w);
        tracker.assert_all_dropped();
    });
}

/// Scenario 2c: renormalisation with a stale handle around (I12). Version limit 1: the snapshot after s1's
/// release renormalises (every version back to 0) and reuses s1's version 1. s1 is released twice on its
/// thread and its handle is released again and dropped there while s2 — possibly of the same version — is
/// live and read on the main thread. s2 must stay registered (a stale release must not unregister it) and
/// read its contents; writes under it must copy.
#[test]
fn renormalisation_with_a_stale_handle_released_again() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static RENORMALISED: AtomicUsize = AtomicUsize::new(0);
    static NOT_RENORMALISED: AtomicUsize = AtomicUsize::new(0);
    model(|| {
        let tracker = Tracker::new();
        let mut w: W<Collide> = Writer::new(4, Collide, &tracker);
        w.table.set_version_limit_for_test(1);
        w.put(1, 0, 10);
        w.put(2, 0, 20);
        let s1 = w.snapshot();
        assert_eq!(s1.version(), 1);
        let (tx, rx) = loom::sync::mpsc::channel::<()>();
        let t1 = thread::spawn(move || {
            s1.verify();
            let mut stale = s1.release_keep_handle();
            // Wait until the writer has taken s2 (which may reuse version 1), then release again and drop.
            rx.recv().unwrap();
            stale.release();
            drop(stale);
        });
        w.put(1, 0, 11);
        let s2 = w.snapshot(); // renormalised (version 1 again) iff s1 was released by then
        if s2.version() == 1 {
            RENORMALISED.fetch_add(1, Relaxed);
        } else {
            NOT_RENORMALISED.fetch_add(1, Relaxed);
        }
        tx.send(()).unwrap();
        w.add(2, 0, 1);
        w.check();
        t1.join().unwrap();
        assert_eq!(w.table.live_snapshots(), 1, "the stale handle unregistered s2");
        w.check();
        s2.verify();
        s2.release();
        w.put(3, 0, 30);
        assert_eq!(w.table.retired_len(), 0);
        w.check();
        drop(w);
        tracker.assert_all_dropped();
    });
    // Both outcomes were explored: s2 reusing version 1 after a renormalisation, and s2 = 2 with s1 live.
    assert!(RENORMALISED.load(Relaxed) > 0, "no interleaving renormalised");
    assert!(NOT_RENORMALISED.load(Relaxed) > 0, "every interleaving renormalised");
}
