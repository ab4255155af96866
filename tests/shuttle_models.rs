//! Shuttle models of writer-versus-snapshot races (see docs/DESIGN.md and docs/MODEL_CHECKING.md).
//!
//! The loom scenarios scaled up: hundreds of operations by the writer, up to four snapshot threads, snapshots
//! taken and released throughout, explored with shuttle's random scheduler and its PCT scheduler. Every model
//! runs the real core on `ShuttleSync`. Shuttle does not detect data races and runs atomics as `SeqCst`
//! (ordering bugs are loom's job); what it checks here is behaviour under many schedules: every snapshot reads
//! exactly the model contents captured when it was taken (checked twice, with scheduling points between entries),
//! the live table always equals the model and passes `check_invariants`, no state a live snapshot can reach is
//! dropped, reclamation is not late, and every state is dropped exactly once.
//!
//! Run: `CARGO_TARGET_DIR=target/shuttle cargo test --release --features shuttle --test shuttle_models`.
//! `SHUTTLE_ITERATIONS=<n>` sets the schedules per scheduler and scenario (default [`DEFAULT_ITERATIONS`]);
//! the `#[ignore]`d `soak_*` tests run far more. A failure prints the schedule; replay it with
//! `SHUTTLE_SCENARIO=<scenario> SHUTTLE_SCHEDULE='<schedule>' cargo test ... -- --ignored replay`.

mod common;

use common::{Collide, FewBuckets, Held, Ns, Tracked, Tracker, Writer, K};
use cow_state_table::sync::ShuttleSync;
use cow_state_table::{DeterministicState, Snapshot};
use shuttle::rand::RngCore;
use shuttle::sync::mpsc;
use shuttle::thread;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Snapshots taken, over all executions of the test binary (reported, to show the workload's reach).
static SNAPSHOTS: AtomicUsize = AtomicUsize::new(0);
/// Of those, snapshots taken during an incremental rehash.
static MID_REHASH: AtomicUsize = AtomicUsize::new(0);
/// Shrinks started, over all executions of this binary.
static SHRINKS: AtomicUsize = AtomicUsize::new(0);
/// Renormalisations seen (a snapshot with a lower version than the previous one), scenario `renormalise`.
static RENORMALISED: AtomicUsize = AtomicUsize::new(0);
/// Stale (released) handles released again and dropped by the writer after later snapshots.
static STALE: AtomicUsize = AtomicUsize::new(0);

/// Schedules per scheduler (random, PCT) and scenario in the default run.
const DEFAULT_ITERATIONS: usize = 10_000;
/// Schedules per scheduler and scenario in the soak run.
const SOAK_ITERATIONS: usize = 200_000;
/// PCT depth (number of priority change points + 1).
const PCT_DEPTH: usize = 3;

/// One scenario's parameters.
#[derive(Clone, Copy)]
struct Scenario {
    /// Initial bucket count (rounded to a power of two, at least 4).
    buckets: usize,
    /// Keys are drawn from `0..keys`.
    keys: u64,
    /// Namespaces are drawn from `0..namespaces`.
    namespaces: u32,
    /// Entries put before the first operation.
    prefill: u64,
    /// Writer operations.
    ops: usize,
    /// A snapshot is taken with probability 1/`snapshot_every` per operation (when fewer than `readers`
    /// snapshot threads are running).
    snapshot_every: u64,
    /// Maximum number of snapshot threads alive at once.
    readers: usize,
    /// Percent of operations that are puts of new keys beyond `keys` (growth, i.e. rehashes).
    grow_percent: u64,
    /// Drop the table while the last snapshot threads are still reading (I13).
    drop_table_early: bool,
    /// Check after some operations that reclamation is not late (I7).
    check_reclaim: bool,
    /// Mostly removals (7 in 10 operations), so the prefilled table empties and shrinks.
    drain: bool,
    /// Version limit 2 (renormalise whenever no snapshot is live, I12), and readers release explicitly and
    /// keep the released handle: half of them hand it back to the writer, which releases it again and drops
    /// it after further snapshots (possibly reusing its version), the others drop it on their own thread.
    renormalise: bool,
}

/// Scenario 1: one bucket chain (every key collides), puts, `get_mut`, `transform` and removes while up to four
/// snapshots are read on other threads.
const CHAIN: Scenario = Scenario {
    buckets: 4,
    keys: 16,
    namespaces: 2,
    prefill: 8,
    ops: 200,
    snapshot_every: 12,
    readers: 4,
    grow_percent: 0,
    drop_table_early: false,
    check_reclaim: false,
    drain: false,
    renormalise: false,
};

/// Scenario 2: many snapshots of many versions, two at a time handed to one thread that releases them in a
/// random order, while the writer keeps writing (hand-off of the highest required and oldest live versions).
const RELEASE_ORDER: Scenario = Scenario {
    buckets: 8,
    keys: 24,
    namespaces: 2,
    prefill: 12,
    ops: 240,
    snapshot_every: 6,
    readers: 4,
    grow_percent: 0,
    drop_table_early: false,
    check_reclaim: false,
    drain: false,
    renormalise: false,
};

/// Scenario 3: growth from 4 buckets through several incremental rehashes, snapshots taken throughout (many of
/// them mid-rehash) and read while the writer migrates.
const REHASH: Scenario = Scenario {
    buckets: 4,
    keys: 8,
    namespaces: 1,
    prefill: 3,
    ops: 240,
    snapshot_every: 8,
    readers: 3,
    grow_percent: 60,
    drop_table_early: false,
    check_reclaim: false,
    drain: false,
    renormalise: false,
};

/// Scenario 4: the table is dropped while snapshot threads are still reading; the last release frees (I13).
const DROP_TABLE: Scenario = Scenario {
    buckets: 4,
    keys: 16,
    namespaces: 2,
    prefill: 8,
    ops: 160,
    snapshot_every: 10,
    readers: 4,
    grow_percent: 10,
    drop_table_early: true,
    check_reclaim: false,
    drain: false,
    renormalise: false,
};

/// Scenario 5: reclamation racing release: retired nodes freed exactly when no live snapshot can see them
/// (never early: pins; not late: checked whenever the live set is known).
const RECLAIM: Scenario = Scenario {
    buckets: 4,
    keys: 12,
    namespaces: 1,
    prefill: 6,
    ops: 160,
    snapshot_every: 8,
    readers: 3,
    grow_percent: 0,
    drop_table_early: false,
    check_reclaim: true,
    drain: false,
    renormalise: false,
};

/// Scenario 6: a prefilled table drained by removals while snapshots are read: it shrinks (incremental rehash
/// into half the buckets) several times, with snapshots taken before and during each shrink.
const SHRINK: Scenario = Scenario {
    buckets: 4,
    keys: 48,
    namespaces: 1,
    prefill: 48,
    ops: 200,
    snapshot_every: 8,
    readers: 3,
    grow_percent: 0,
    drop_table_early: false,
    check_reclaim: false,
    drain: true,
    renormalise: false,
};

/// Scenario 7: the handle lifecycle across renormalisation (I12). Version limit 2, so versions are reset
/// whenever the writer finds no snapshot live; readers release explicitly (twice) and keep their handles, half
/// of which come back to the writer to be released again and dropped after later snapshots — which may carry
/// the same version — were taken and handed to other readers.
const RENORMALISE: Scenario = Scenario {
    buckets: 4,
    keys: 12,
    namespaces: 2,
    prefill: 6,
    ops: 160,
    snapshot_every: 4,
    readers: 2,
    grow_percent: 0,
    drop_table_early: false,
    check_reclaim: false,
    drain: false,
    renormalise: true,
};

/// xorshift64*: the workload's operation stream, seeded from shuttle's (recorded, replayable) randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A released handle on its way back to the writer (scenario `renormalise`).
type Stale = Snapshot<K, Ns, Tracked, ShuttleSync>;

/// A snapshot thread: reads its snapshots (with scheduling points between entries), reads them again, and
/// releases them in an order chosen by the scheduler's randomness.
fn reader<H: Send + 'static>(snaps: Vec<Held<H, ShuttleSync>>) -> thread::JoinHandle<()> {
    reader_with(snaps, None)
}

/// As [`reader`]; with `stale`, each snapshot is released explicitly and its handle kept: sent back to the
/// writer or released again and dropped here.
fn reader_with<H: Send + 'static>(
    mut snaps: Vec<Held<H, ShuttleSync>>,
    stale: Option<mpsc::Sender<Stale>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut n = 0u32;
        for s in &snaps {
            s.verify_with(|| {
                n += 1;
                if n % 3 == 0 {
                    thread::yield_now();
                }
            });
        }
        thread::yield_now();
        if shuttle::rand::thread_rng().next_u32() % 2 == 0 {
            snaps.reverse();
        }
        while let Some(s) = snaps.pop() {
            s.verify();
            match &stale {
                None => s.release(),
                Some(tx) => {
                    let mut h = s.release_keep_handle();
                    thread::yield_now();
                    if shuttle::rand::thread_rng().next_u32() % 2 == 0 {
                        let _ = tx.send(h);
                    } else {
                        h.release();
                        drop(h);
                    }
                }
            }
            thread::yield_now();
        }
    })
}

/// One execution of a scenario.
fn run<H>(sc: Scenario, hasher: H)
where
    H: BuildHasher + Clone + Send + Sync + 'static,
{
    let mut rng = Rng(shuttle::rand::thread_rng().next_u64() | 1);
    let tracker = Tracker::new();
    let mut w: Writer<H, ShuttleSync> = Writer::new(sc.buckets, hasher, &tracker);
    w.track_left = sc.check_reclaim;
    let (stale_tx, stale_rx) = mpsc::channel::<Stale>();
    if sc.renormalise {
        w.table.set_version_limit_for_test(2);
    }
    let mut last_version = w.table.version();
    for k in 0..sc.prefill {
        w.put(k, (k % u64::from(sc.namespaces)) as Ns, k);
    }
    let mut handles: Vec<thread::JoinHandle<()>> = Vec::new();
    // Readers report their end, so the writer knows how many are still running without joining.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let mut running = 0usize;
    let mut pending: Vec<Held<H, ShuttleSync>> = Vec::new();
    let mut fresh_key: K = sc.keys;
    let mut mid_rehash_snapshots = 0usize;
    let mut snapshots = 0usize;
    let mut shrinks = 0usize;

    for op in 0..sc.ops {
        while done_rx.try_recv().is_ok() {
            running -= 1;
        }
        // Stale handles from readers: released again and dropped here, after the snapshots taken since.
        while let Ok(mut h) = stale_rx.try_recv() {
            h.release();
            drop(h);
            STALE.fetch_add(1, Relaxed);
        }
        if running < sc.readers && rng.below(sc.snapshot_every) == 0 {
            let held = w.snapshot();
            snapshots += 1;
            if held.version() < last_version {
                RENORMALISED.fetch_add(1, Relaxed);
            }
            last_version = held.version();
            if held.taken_during_rehash() {
                mid_rehash_snapshots += 1;
            }
            pending.push(held);
            // Hand over one or two snapshots (of different versions) to a new thread.
            if pending.len() == 2 || rng.below(2) == 0 {
                let snaps = std::mem::take(&mut pending);
                let tx = done_tx.clone();
                running += 1;
                let stale = sc.renormalise.then(|| stale_tx.clone());
                handles.push(thread::spawn({
                    let inner = reader_with(snaps, stale);
                    move || {
                        inner.join().unwrap();
                        let _ = tx.send(());
                    }
                }));
            }
        }
        let k = if rng.below(100) < sc.grow_percent {
            fresh_key += 1;
            fresh_key
        } else {
            rng.below(sc.keys)
        };
        let n = rng.below(u64::from(sc.namespaces)) as Ns;
        let capacity = w.table.buckets();
        match (sc.drain, rng.below(10)) {
            (true, 0..=6) => w.remove(k, n),
            (true, 7) | (false, 0..=3) => w.put(k, n, rng.below(1000)),
            (true, 8) | (false, 4..=5) => w.add(k, n, 1 + rng.below(9)),
            (true, _) | (false, 6..=7) => w.transform(k, n, rng.below(9)),
            (false, _) => w.remove(k, n),
        }
        if w.table.buckets() < capacity {
            shrinks += 1;
        }
        if sc.check_reclaim && op % 4 == 0 {
            w.reclaim_and_check();
        }
        if op % 16 == 15 {
            w.check();
        }
    }
    w.check();
    drop(pending);
    SNAPSHOTS.fetch_add(snapshots, Relaxed);
    MID_REHASH.fetch_add(mid_rehash_snapshots, Relaxed);
    SHRINKS.fetch_add(shrinks, Relaxed);
    if sc.drop_table_early {
        // Take one more snapshot for a fresh thread, then drop the table while readers run (I13).
        let held = w.snapshot();
        handles.push(reader(vec![held]));
        drop(w);
        for h in handles {
            h.join().unwrap();
        }
        tracker.assert_all_dropped();
        return;
    }
    for h in handles {
        h.join().unwrap();
    }
    drop(stale_tx);
    while let Ok(mut h) = stale_rx.try_recv() {
        h.release();
        drop(h);
        STALE.fetch_add(1, Relaxed);
    }
    // Every snapshot is released and joined: the next write frees everything retired and writes in place.
    w.put(0, 0, 7);
    assert_eq!(w.table.retired_len(), 0, "retired objects kept with no live snapshot");
    let before = w.table.cow_stats();
    for k in 0..sc.keys {
        w.add(k, 0, 1);
    }
    let after = w.table.cow_stats();
    assert_eq!(before.node_copies, after.node_copies, "copied with no live snapshot");
    assert_eq!(
        before.chunk_copies, after.chunk_copies,
        "chunk copied with no live snapshot"
    );
    if sc.check_reclaim {
        w.reclaim_and_check();
    }
    w.check();
    drop(w);
    tracker.assert_all_dropped();
}

fn chain() {
    run(CHAIN, Collide)
}
fn release_order() {
    run(RELEASE_ORDER, FewBuckets(5))
}
fn rehash() {
    run(REHASH, DeterministicState::default())
}
fn rehash_chains() {
    run(REHASH, FewBuckets(3))
}
fn drop_table() {
    run(DROP_TABLE, FewBuckets(4))
}
fn reclaim() {
    run(RECLAIM, Collide)
}

fn shrink() {
    run(SHRINK, DeterministicState::default())
}

fn renormalise() {
    run(RENORMALISE, FewBuckets(3))
}

fn scenario(name: &str) -> fn() {
    match name {
        "renormalise" => renormalise,
        "shrink" => shrink,
        "chain" => chain,
        "release_order" => release_order,
        "rehash" => rehash,
        "rehash_chains" => rehash_chains,
        "drop_table" => drop_table,
        "reclaim" => reclaim,
        other => panic!("unknown scenario {other}"),
    }
}

fn iterations() -> usize {
    std::env::var("SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS)
}

/// Runs scenario `name` under the random scheduler and under PCT. The scenario's name is printed first: a
/// failing test's captured output then says which scenario to pass to `replay`.
fn random_and_pct(name: &str, iterations: usize) {
    let f = scenario(name);
    println!("scenario: {name} (replay with SHUTTLE_SCENARIO={name})");
    let start = std::time::Instant::now();
    shuttle::check_random(f, iterations);
    shuttle::check_pct(f, iterations, PCT_DEPTH);
    println!(
        "{name}: {iterations} random + {iterations} PCT schedules in {:.1?}; snapshots so far in this binary: {} \
         ({} mid-rehash)",
        start.elapsed(),
        SNAPSHOTS.load(Relaxed),
        MID_REHASH.load(Relaxed)
    );
}

#[test]
fn chain_writes_race_snapshot_readers() {
    random_and_pct("chain", iterations());
}

#[test]
fn snapshots_released_in_any_order() {
    random_and_pct("release_order", iterations());
}

#[test]
fn snapshots_mid_rehash() {
    random_and_pct("rehash", iterations() / 2);
    random_and_pct("rehash_chains", iterations() - iterations() / 2);
}

#[test]
fn table_dropped_while_snapshots_are_read() {
    random_and_pct("drop_table", iterations());
}

#[test]
fn reclamation_races_release() {
    random_and_pct("reclaim", iterations());
}

#[test]
fn stale_handles_across_renormalisation() {
    random_and_pct("renormalise", iterations());
    assert!(RENORMALISED.load(Relaxed) > 0, "no renormalisation happened");
    assert!(STALE.load(Relaxed) > 0, "no stale handle came back to the writer");
}

#[test]
fn snapshots_while_the_table_shrinks() {
    random_and_pct("shrink", iterations());
    assert!(SHRINKS.load(Relaxed) > 0, "the drain scenario never shrank the table");
}

#[test]
#[ignore]
fn soak_chain() {
    random_and_pct("chain", SOAK_ITERATIONS);
}

#[test]
#[ignore]
fn soak_release_order() {
    random_and_pct("release_order", SOAK_ITERATIONS);
}

#[test]
#[ignore]
fn soak_rehash() {
    random_and_pct("rehash", SOAK_ITERATIONS);
    random_and_pct("rehash_chains", SOAK_ITERATIONS);
}

#[test]
#[ignore]
fn soak_drop_table() {
    random_and_pct("drop_table", SOAK_ITERATIONS);
}

#[test]
#[ignore]
fn soak_reclaim() {
    random_and_pct("reclaim", SOAK_ITERATIONS);
}

/// Replays a failing schedule: `SHUTTLE_SCENARIO=<chain|release_order|rehash|rehash_chains|drop_table|reclaim|shrink>`
/// and `SHUTTLE_SCHEDULE=<the string shuttle printed>` (or `SHUTTLE_SCHEDULE_FILE=<path>`).
#[test]
#[ignore]
fn replay() {
    let name = std::env::var("SHUTTLE_SCENARIO").expect("set SHUTTLE_SCENARIO");
    let f = scenario(&name);
    if let Ok(path) = std::env::var("SHUTTLE_SCHEDULE_FILE") {
        shuttle::replay_from_file(f, path);
    } else {
        let schedule = std::env::var("SHUTTLE_SCHEDULE").expect("set SHUTTLE_SCHEDULE or SHUTTLE_SCHEDULE_FILE");
        shuttle::replay(f, schedule.trim());
    }
}
