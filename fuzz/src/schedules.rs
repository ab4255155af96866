//! `schedules`: the input's bytes choose the interleaving of a writer and two snapshot threads running the real
//! core on shuttle's primitives ([`ShuttleSync`]).
//!
//! The input is split into a workload — a hasher, a version limit and up to [`MAX_SCHEDULE_OPS`] of the model's
//! [`Op`]s — and the rest, which drives a [`ByteScheduler`]: at every scheduling point one byte picks the next
//! task among the runnable ones. The writer (shuttle's main thread) applies the ops to the table and to the
//! reference model; `TakeSnapshot` hands a snapshot, with the model's contents at that moment, to snapshot
//! thread `slot % 2`; `ReadSnapshot` / `ReleaseSnapshot` ask that thread to read / release one of the snapshots
//! it holds; `DropTable` drops the table while the threads still hold its snapshots (I13). The snapshot threads
//! yield between entries while they iterate, so the writer runs in the middle of their reads.
//!
//! Assertions (as in the shuttle models): every snapshot reads exactly the contents captured when it was taken,
//! whenever it is read; after every writer op the table passes `check_invariants()` and reads like the model;
//! at the end, with every snapshot released, reclamation leaves nothing retired.

use arbitrary::{Arbitrary, Unstructured};
use cow_state_table::sync::ShuttleSync;
use cow_state_table::{Snapshot, StateTable};
use cow_state_table_model::{HasherChoice, ModelState, Op, Reference, KEYS, NAMESPACES};
use shuttle::scheduler::{Schedule, Scheduler, Task, TaskId};
use shuttle::sync::mpsc;
use shuttle::thread;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most writer ops per input.
pub const MAX_SCHEDULE_OPS: usize = 64;

type Table = StateTable<u8, u8, Vec<u32>, HasherChoice, ShuttleSync>;
type Snap = Snapshot<u8, u8, Vec<u32>, ShuttleSync>;
type Contents = BTreeMap<(u8, u8), Vec<u32>>;

/// A shuttle scheduler that runs exactly one execution, whose every scheduling decision is the next input byte
/// (modulo the number of runnable tasks). When the bytes run out it keeps running the current task while it can,
/// then the lowest-numbered runnable one.
#[derive(Debug, Clone)]
pub struct ByteScheduler {
    bytes: Vec<u8>,
    pos: usize,
    started: bool,
}

impl ByteScheduler {
    /// A scheduler whose decisions are `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        ByteScheduler {
            bytes,
            pos: 0,
            started: false,
        }
    }
}

impl Scheduler for ByteScheduler {
    fn new_execution(&mut self) -> Option<Schedule> {
        if self.started {
            return None;
        }
        self.started = true;
        self.pos = 0;
        Some(Schedule::new(0))
    }

    fn next_task(&mut self, runnable: &[&Task], current: Option<TaskId>, is_yielding: bool) -> Option<TaskId> {
        if let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            return Some(runnable[usize::from(b) % runnable.len()].id());
        }
        if let Some(cur) = current {
            if !is_yielding && runnable.iter().any(|t| t.id() == cur) {
                return Some(cur);
            }
            if let Some(t) = runnable.iter().find(|t| t.id() > cur) {
                return Some(t.id());
            }
        }
        Some(runnable[0].id())
    }

    fn next_u64(&mut self) -> u64 {
        0
    }
}

/// The workload part of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Hasher of the table.
    pub hasher: HasherChoice,
    /// Version at which the table renormalises (`2 + raw % 15`), so renormalisation races releases.
    pub version_limit: u32,
    /// The writer's ops.
    pub ops: Vec<Op>,
}

/// Splits the input into the workload and the schedule bytes.
pub fn split(data: &[u8]) -> (Workload, Vec<u8>) {
    let mut u = Unstructured::new(data);
    let hasher = HasherChoice::arbitrary(&mut u).unwrap_or_default();
    let version_limit = 2 + u32::from(u8::arbitrary(&mut u).unwrap_or(0) % 15);
    let n = u.int_in_range(0..=MAX_SCHEDULE_OPS).unwrap_or(0);
    let mut ops = Vec::with_capacity(n);
    for _ in 0..n {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    let rest = u.take_rest().to_vec();
    (
        Workload {
            hasher,
            version_limit,
            ops,
        },
        rest,
    )
}

/// Runs one execution of the workload under the schedule chosen by `schedule`.
pub fn run(workload: Workload, schedule: Vec<u8>) {
    let mut config = shuttle::Config::new();
    config.stack_size = 1 << 20;
    config.max_steps = shuttle::MaxSteps::FailAfter(200_000);
    config.silence_warnings = true;
    let workload = Arc::new(workload);
    shuttle::Runner::new(ByteScheduler::new(schedule), config).run(move || writer(&workload));
}

/// The fuzz target's body.
pub fn fuzz(data: &[u8]) {
    let (workload, schedule) = split(data);
    run(workload, schedule);
}

enum Msg {
    /// Hold and check this snapshot, taken when the table held `expected`.
    Snap(Snap, Arc<Contents>),
    /// Read again the held snapshot `index` (modulo the number held).
    Read(usize),
    /// Release the held snapshot `index` (with `release()` twice first if `explicit`).
    Release(usize, bool),
}

/// Reads `snap` entry by entry, yielding between entries, and compares with `expected`.
fn verify(snap: &Snap, expected: &Contents) {
    assert_eq!(snap.len(), expected.len(), "snapshot v{} len", snap.version());
    let mut seen = Contents::new();
    for (k, n, s) in snap.iter() {
        thread::yield_now();
        assert!(
            seen.insert((*k, *n), s.clone()).is_none(),
            "snapshot v{}: ({k}, {n}) twice",
            snap.version()
        );
    }
    assert_eq!(
        &seen,
        expected,
        "snapshot v{} contents differ from the table at snapshot time",
        snap.version()
    );
}

fn reader(rx: mpsc::Receiver<Msg>) {
    let mut held: Vec<(Snap, Arc<Contents>)> = Vec::new();
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Snap(snap, expected) => {
                verify(&snap, &expected);
                held.push((snap, expected));
            }
            Msg::Read(i) if !held.is_empty() => {
                let (snap, expected) = &held[i % held.len()];
                verify(snap, expected);
            }
            Msg::Release(i, explicit) if !held.is_empty() => {
                let (mut snap, expected) = held.remove(i % held.len());
                verify(&snap, &expected);
                if explicit {
                    snap.release();
                    assert!(snap.is_released());
                    snap.release();
                }
                drop(snap);
            }
            Msg::Read(_) | Msg::Release(..) => {}
        }
    }
    for (snap, expected) in held.drain(..) {
        verify(&snap, &expected);
        drop(snap);
        thread::yield_now();
    }
}

fn new_table(w: &Workload) -> Table {
    let mut t = Table::with_buckets_and_hasher(4, w.hasher);
    t.set_version_limit_for_test(w.version_limit);
    t
}

fn compare_live(table: &Table, model: &Reference<u8, u8, Vec<u32>>, what: &str) {
    let mut seen = Contents::new();
    for (k, n, s) in table.iter() {
        assert!(
            seen.insert((*k, *n), s.clone()).is_none(),
            "{what}: ({k}, {n}) twice in the table"
        );
    }
    assert_eq!(seen, model.live, "{what}: live table differs from the model");
}

fn writer(w: &Workload) {
    let mut table = new_table(w);
    let mut model: Reference<u8, u8, Vec<u32>> = Reference::new(w.version_limit);
    let (tx0, rx0) = mpsc::channel::<Msg>();
    let (tx1, rx1) = mpsc::channel::<Msg>();
    let handles = [thread::spawn(move || reader(rx0)), thread::spawn(move || reader(rx1))];
    let txs = [tx0, tx1];
    let key = |raw: u8| raw % KEYS;
    let ns = |raw: u8| raw % NAMESPACES;
    for (i, &op) in w.ops.iter().enumerate() {
        let what = format!("after op #{i} {op:?}");
        match op {
            Op::Put { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                table.put(k, n, Vec::from_seed(value));
                model.put(k, n, Vec::from_seed(value));
            }
            Op::PutAndGetOld { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                let old = table.put_and_get_old(k, n, Vec::from_seed(value));
                assert_eq!(old, model.put(k, n, Vec::from_seed(value)), "{what}");
            }
            Op::Get { key: k, ns: n } | Op::Contains { key: k, ns: n } => {
                let (k, n) = (key(k), ns(n));
                assert_eq!(table.get(&k, &n), model.get(&k, &n), "{what}");
                assert_eq!(table.contains(&k, &n), model.get(&k, &n).is_some(), "{what}");
            }
            Op::GetMut { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                let got = table.get_mut(&k, &n).map(|s| {
                    s.modify(value);
                    s.clone()
                });
                let want = model.get_mut(&k, &n).map(|s| {
                    s.modify(value);
                    s.clone()
                });
                assert_eq!(got, want, "{what}");
            }
            Op::Remove { key: k, ns: n } => {
                let (k, n) = (key(k), ns(n));
                assert_eq!(table.remove(&k, &n), model.remove(&k, &n).is_some(), "{what}");
            }
            Op::RemoveAndGetOld { key: k, ns: n } => {
                let (k, n) = (key(k), ns(n));
                assert_eq!(table.remove_and_get_old(&k, &n), model.remove(&k, &n), "{what}");
            }
            Op::Transform { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                let mut seen = None;
                table.transform(k, n, value, |old, v| {
                    seen = Some(old.clone());
                    Vec::combine(old, v)
                });
                let old = model.transform(k, n, value);
                assert_eq!(seen, Some(old), "{what}: transform's old state");
            }
            Op::Len => assert_eq!(table.len(), model.len(), "{what}"),
            Op::Iterate => compare_live(&table, &model, &what),
            Op::SizeOfNamespace { ns: n } => {
                let n = ns(n);
                assert_eq!(table.size_of_namespace(&n), model.size_of_namespace(&n), "{what}");
            }
            Op::TakeSnapshot { slot } => {
                let snap = table.snapshot().expect("snapshot (versions cannot run out here)");
                let expected = Arc::new(model.live.clone());
                let _ = txs[usize::from(slot) % 2].send(Msg::Snap(snap, expected));
            }
            Op::ReleaseSnapshot { slot, explicit } => {
                let _ = txs[usize::from(slot) % 2].send(Msg::Release(usize::from(slot / 2), explicit));
            }
            Op::ReadSnapshot { slot } => {
                let _ = txs[usize::from(slot) % 2].send(Msg::Read(usize::from(slot / 2)));
            }
            Op::Reclaim => table.reclaim(),
            Op::DropTable => {
                let mut fresh = new_table(w);
                for ((k, n), s) in &model.live {
                    fresh.put(*k, *n, s.clone());
                }
                drop(std::mem::replace(&mut table, fresh));
                model.restart();
            }
            Op::EntryUpsert { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                let got = table
                    .entry(k, n)
                    .and_modify(|s| s.modify(value))
                    .or_insert_with(|| Vec::from_seed(value))
                    .clone();
                assert_eq!(got, model.upsert(k, n, value), "{what}");
            }
            Op::EntryInsert { key: k, ns: n, value } => {
                let (k, n) = (key(k), ns(n));
                let old = match table.entry(k, n) {
                    cow_state_table::table::Entry::Occupied(mut e) => Some(e.insert(Vec::from_seed(value))),
                    cow_state_table::table::Entry::Vacant(e) => {
                        e.insert(Vec::from_seed(value));
                        None
                    }
                };
                assert_eq!(old, model.put(k, n, Vec::from_seed(value)), "{what}");
            }
            Op::EntryRemove { key: k, ns: n } => {
                let (k, n) = (key(k), ns(n));
                let old = match table.entry(k, n) {
                    cow_state_table::table::Entry::Occupied(e) => Some(e.remove()),
                    cow_state_table::table::Entry::Vacant(_) => None,
                };
                assert_eq!(old, model.remove(&k, &n), "{what}");
            }
            Op::Retain { ns: n, parity } => {
                let (n, parity) = (ns(n), parity % 2);
                table.retain(|k, kn, _| !(*kn == n && k % 2 == parity));
                model.retain(|k, kn, _| !(*kn == n && k % 2 == parity));
            }
            Op::Clear => {
                table.clear();
                model.clear();
            }
            Op::Drain => {
                let mut got: Vec<_> = table.drain().map(|(k, n, s)| ((k, n), s)).collect();
                got.sort();
                let want: Vec<_> = model.clear().into_iter().collect();
                assert_eq!(got, want, "{what}");
            }
            Op::SnapshotGet { .. } => {}
            // A panicking closure would go through shuttle's panic hook; versions cannot be advanced while
            // the model cannot know how many snapshots the other threads still hold.
            Op::TransformPanic { .. } | Op::AdvanceVersion { .. } | Op::Check => {}
        }
        table
            .check_invariants()
            .unwrap_or_else(|e| panic!("{what}: check_invariants: {e}"));
        assert_eq!(table.len(), model.len(), "{what}: len");
    }
    compare_live(&table, &model, "after the last op");
    drop(txs);
    for h in handles {
        h.join().expect("snapshot thread");
    }
    // Every snapshot is released: one write frees everything retired, and reclaim leaves nothing.
    assert_eq!(table.live_snapshots(), 0, "live snapshots after every thread ended");
    table.put(0, 0, vec![7]);
    model.put(0, 0, vec![7]);
    table.reclaim();
    assert_eq!(table.retired_len(), 0, "retired objects kept with no live snapshot");
    table.check_invariants().expect("check_invariants at the end");
    compare_live(&table, &model, "at the end");
}
