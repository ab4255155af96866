//! The "state TTL" section of `bench_report` (issue 24's speed targets; docs/DESIGN.md T1–T7): value get and
//! update through the backend with TTL on and off, the incremental cleanup's extra cost per access at the default
//! visit count, and a checkpoint with cleanup at snapshot (10% expired) against one without TTL.
//!
//! The sides of each ratio are timed **interleaved**: pass `i` of every side runs before pass `i + 1` of any (each
//! after an untimed warm-up pass of its own), so a burst of load on the shared machine falls on all sides alike;
//! the fastest round of each side is reported (with the medians beside it: see `low`). Every
//! timed loop is an `#[inline(never)]` `measured_ttl_*` function, so instruction counts separate them:
//! `valgrind --tool=callgrind --toggle-collect='*measured_ttl_get*' target/release/examples/bench_report --only
//! ttl-get --n 100000` (ops `ttl-get`, `ttl-plain-get`, `ttl-inc-get`, `ttl-update`, `ttl-plain-update`,
//! `ttl-checkpoint`).

use super::*;
use cow_state_table::backend::ttl::{IncrementalCleanup, ManualClock, StateTtlConfig, TtlValueState};
use cow_state_table::backend::{KeyedStateBackend, PendingCheckpoint, ValueState, ValueStateDescriptor};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{VoidNamespace, VoidNamespaceSerializer};
use std::cell::Cell;
use std::sync::Arc;

type Backend = KeyedStateBackend<u64, U64Serializer>;
type Plain = ValueState<VoidNamespace, u64>;
type Ttl = TtlValueState<VoidNamespace, u64>;

const HOUR: Duration = Duration::from_secs(3600);

fn backend() -> Backend {
    Backend::new(U64Serializer, 128, KeyGroupRange::of(0, 127).expect("range")).expect("backend")
}

fn desc() -> ValueStateDescriptor<VoidNamespaceSerializer, U64Serializer> {
    ValueStateDescriptor::new("v", VoidNamespaceSerializer, U64Serializer)
}

fn config(clock: &Arc<ManualClock>) -> StateTtlConfig {
    StateTtlConfig::new(HOUR)
        .expect("ttl")
        .with_time_provider(clock.clone())
}

/// `n` keys `fmix64(j + 1)`, and a shuffled order to read and write them in.
fn keys_and_order(n: usize) -> (Vec<u64>, Vec<u64>) {
    let keys: Vec<u64> = (0..n as u64).map(|j| fmix64(j + 1)).collect();
    let order = shuffled(&keys);
    (keys, order)
}

/// The same `n` keys in three backends: a plain value state, a TTL one, and a TTL one with incremental cleanup at
/// the default visit count (nothing expires: the clock stands still).
struct Access {
    plain_b: Backend,
    plain: Plain,
    ttl_b: Backend,
    ttl: Ttl,
    inc_b: Backend,
    inc: Ttl,
}

fn access(keys: &[u64], clock: &Arc<ManualClock>) -> Access {
    let mut plain_b = backend();
    let plain = plain_b.register_value(desc()).expect("register");
    let mut ttl_b = backend();
    let ttl = ttl_b.register_ttl_value(desc(), config(clock)).expect("register");
    let mut inc_b = backend();
    let inc_config = config(clock)
        .cleanup_incrementally(IncrementalCleanup::DEFAULT_VISIT_COUNT, false)
        .expect("visit count");
    let inc = inc_b.register_ttl_value(desc(), inc_config).expect("register");
    for &k in keys {
        plain_b.set_current_key(k).expect("key");
        plain.update(&mut plain_b, k).expect("update");
        ttl_b.set_current_key(k).expect("key");
        ttl.update(&mut ttl_b, k).expect("update");
        inc_b.set_current_key(k).expect("key");
        inc.update(&mut inc_b, k).expect("update");
    }
    Access {
        plain_b,
        plain,
        ttl_b,
        ttl,
        inc_b,
        inc,
    }
}

/// One pass of `set_current_key` and a read of each key of `order` (the plain and the TTL handle's `value` take the
/// backend by `&` and `&mut`, so this is a macro rather than a generic function).
macro_rules! get_pass {
    ($b:expr, $s:expr, $order:expr) => {{
        let mut sum = 0u64;
        for &k in $order {
            $b.set_current_key(k).expect("key");
            sum = sum.wrapping_add(*$s.value($b).expect("get").expect("present"));
        }
        sum
    }};
}

/// One pass of `set_current_key` and an update of each key of `order`.
macro_rules! update_pass {
    ($b:expr, $s:expr, $order:expr) => {
        for &k in $order {
            $b.set_current_key(k).expect("key");
            $s.update($b, k ^ 1).expect("update");
        }
    };
}

#[inline(never)]
fn measured_ttl_plain_get(b: &mut Backend, s: &Plain, order: &[u64]) -> u64 {
    get_pass!(b, s, order)
}

#[inline(never)]
fn measured_ttl_get(b: &mut Backend, s: &Ttl, order: &[u64]) -> u64 {
    get_pass!(b, s, order)
}

#[inline(never)]
fn measured_ttl_inc_get(b: &mut Backend, s: &Ttl, order: &[u64]) -> u64 {
    get_pass!(b, s, order) + black_box(0) // distinct code: not folded with `measured_ttl_get`
}

#[inline(never)]
fn measured_ttl_plain_update(b: &mut Backend, s: &Plain, order: &[u64]) {
    update_pass!(b, s, order);
}

#[inline(never)]
fn measured_ttl_update(b: &mut Backend, s: &Ttl, order: &[u64]) {
    update_pass!(b, s, order);
}

#[inline(always)]
fn write_checkpoint_of(p: &PendingCheckpoint, out: &mut Vec<u8>) -> u64 {
    out.clear();
    p.write_to(out).expect("write").entries
}

#[inline(never)]
fn measured_ttl_plain_checkpoint(p: &PendingCheckpoint, out: &mut Vec<u8>) -> u64 {
    write_checkpoint_of(p, out) + black_box(0) // distinct code: not folded with its twins
}

#[inline(never)]
fn measured_ttl_filtered_checkpoint(p: &PendingCheckpoint, out: &mut Vec<u8>) -> u64 {
    write_checkpoint_of(p, out) ^ black_box(0) // distinct code: not folded with its twins
}

#[inline(never)]
fn measured_ttl_unfiltered_checkpoint(p: &PendingCheckpoint, out: &mut Vec<u8>) -> u64 {
    write_checkpoint_of(p, out) | black_box(0) // distinct code: not folded with its twins
}

/// The same `n` keys without TTL, with TTL and cleanup at snapshot where every tenth key is expired, and with TTL
/// but no filter; the clock is left where the tenth are expired and the rest are not.
struct Checkpoints {
    plain_b: Backend,
    snap_b: Backend,
    nofilter_b: Backend,
}

fn checkpoints(keys: &[u64], clock: &Arc<ManualClock>) -> Checkpoints {
    let mut plain_b = backend();
    let plain = plain_b.register_value(desc()).expect("register");
    let mut snap_b = backend();
    let snap = snap_b
        .register_ttl_value(desc(), config(clock).cleanup_full_snapshot())
        .expect("register");
    let mut nofilter_b = backend();
    let nofilter = nofilter_b.register_ttl_value(desc(), config(clock)).expect("register");
    for (j, &k) in keys.iter().enumerate() {
        plain_b.set_current_key(k).expect("key");
        plain.update(&mut plain_b, k).expect("update");
        nofilter_b.set_current_key(k).expect("key");
        nofilter.update(&mut nofilter_b, k).expect("update");
        clock.set(if j % 10 == 0 { 0 } else { 1_000 });
        snap_b.set_current_key(k).expect("key");
        snap.update(&mut snap_b, k).expect("update");
    }
    clock.set(3_600_500); // the 10% stamped 0 are expired, the rest not
    Checkpoints {
        plain_b,
        snap_b,
        nofilter_b,
    }
}

/// Times one pass of each of `runs` per round, `reps` rounds (each run returns the on-CPU time of its timed part);
/// the times of each run, by round. Each timed pass follows an untimed one of the same run, so every side is
/// measured with its own structure as warm in the caches as in consecutive passes, not evicted by the others.
fn interleaved<const M: usize>(reps: usize, runs: &mut [&mut dyn FnMut() -> Duration; M]) -> [Vec<f64>; M] {
    let mut times: [Vec<f64>; M] = std::array::from_fn(|_| Vec::with_capacity(reps));
    for _ in 0..reps {
        for (run, t) in runs.iter_mut().zip(times.iter_mut()) {
            run();
            t.push(run().as_nanos() as f64);
        }
    }
    times
}

/// The fastest of one side's rounds. Interference on the shared machine only ever adds time (a pass of the same
/// work varies 5× within one process there), so the minimum over many rounds estimates the undisturbed cost
/// (Chen & Revels, "Robust benchmarking in noisy environments", 2016); the medians are given beside it.
fn low(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The median of one side's rounds.
fn mid(v: &[f64]) -> f64 {
    median(v.to_vec())
}

/// A row comparing two sides per operation (`n` of them per pass): their fastest rounds, the check on the ratio of
/// those, the medians in the note.
fn min_ratio_row(section: &str, op: &str, n: usize, sides: [(&str, &[f64]); 2], t: Target) -> Row {
    let [(an, a), (bn, b)] = sides;
    let per = |x: f64| x / n as f64;
    Row {
        section: section.into(),
        op: op.into(),
        n,
        unit: "ns/op".into(),
        values: vec![(an.into(), per(low(a))), (bn.into(), per(low(b)))],
        check: Some((low(a) / low(b), t)),
        note: format!(
            "fastest of {} interleaved rounds; medians {:.1} / {:.1} = {:.2}×",
            a.len(),
            per(mid(a)),
            per(mid(b)),
            mid(a) / mid(b)
        ),
    }
}

/// The on-CPU time of `f`, and what it returned.
fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = cpu_now();
    let r = f();
    (cpu_now() - start, r)
}

pub(crate) fn ttl_section(report: &mut Report, n: usize, reps: usize) {
    eprintln!("[ttl {}]", size_label(n));
    let (keys, order) = keys_and_order(n);
    let clock = Arc::new(ManualClock::new(1_000));
    let mut a = access(&keys, &clock);
    let [plain_get, ttl_get, inc_get] = {
        let Access {
            plain_b,
            plain,
            ttl_b,
            ttl,
            inc_b,
            inc,
        } = &mut a;
        interleaved(
            reps,
            &mut [
                &mut || timed(|| black_box(measured_ttl_plain_get(plain_b, plain, &order))).0,
                &mut || timed(|| black_box(measured_ttl_get(ttl_b, ttl, &order))).0,
                &mut || timed(|| black_box(measured_ttl_inc_get(inc_b, inc, &order))).0,
            ],
        )
    };
    let [plain_update, ttl_update] = {
        let Access {
            plain_b,
            plain,
            ttl_b,
            ttl,
            ..
        } = &mut a;
        interleaved(
            reps,
            &mut [
                &mut || timed(|| measured_ttl_plain_update(plain_b, plain, &order)).0,
                &mut || timed(|| measured_ttl_update(ttl_b, ttl, &order)).0,
            ],
        )
    };
    drop(a);
    let section = "state TTL (backend ValueState, u64 key → u64, VoidNamespace)";
    report.rows.push(min_ratio_row(
        section,
        "get (set_current_key + value), TTL on / off",
        n,
        [("TTL", &ttl_get), ("no TTL", &plain_get)],
        target(1.3, "≤ 1.3×"),
    ));
    report.rows.push(min_ratio_row(
        section,
        "update (set_current_key + update), TTL on / off",
        n,
        [("TTL", &ttl_update), ("no TTL", &plain_update)],
        target(1.3, "≤ 1.3×"),
    ));
    let extra = (low(&inc_get) - low(&ttl_get)) / n as f64;
    report.rows.push(Row {
        section: section.into(),
        op: format!(
            "incremental cleanup, extra per get (visit count {}, nothing expired)",
            IncrementalCleanup::DEFAULT_VISIT_COUNT
        ),
        n,
        unit: "ns/op".into(),
        values: vec![
            ("extra".into(), extra),
            ("get with cleanup".into(), low(&inc_get) / n as f64),
        ],
        check: Some((extra, target(50.0, "≤ 50 ns/access"))),
        note: format!(
            "fastest of {} interleaved rounds; medians {:.1} − {:.1}",
            inc_get.len(),
            mid(&inc_get) / n as f64,
            mid(&ttl_get) / n as f64
        ),
    });

    let mut c = checkpoints(&keys, &clock);
    let written = [Cell::new(0u64), Cell::new(0u64), Cell::new(0u64)];
    // The synchronous part (the snapshot) and the asynchronous write, timed together; each side its own buffer.
    let ckpt = |b: &mut Backend, w: fn(&PendingCheckpoint, &mut Vec<u8>) -> u64, out: &mut Vec<u8>, n: &Cell<u64>| {
        let (t, e) = timed(|| w(&b.checkpoint(1).expect("checkpoint"), out));
        n.set(e);
        t
    };
    let [plain_ckpt, snap_ckpt, nofilter_ckpt] = {
        let Checkpoints {
            plain_b,
            snap_b,
            nofilter_b,
        } = &mut c;
        let (mut o0, mut o1, mut o2) = (Vec::new(), Vec::new(), Vec::new());
        interleaved(
            reps,
            &mut [
                &mut || ckpt(plain_b, measured_ttl_plain_checkpoint, &mut o0, &written[0]),
                &mut || ckpt(snap_b, measured_ttl_filtered_checkpoint, &mut o1, &written[1]),
                &mut || ckpt(nofilter_b, measured_ttl_unfiltered_checkpoint, &mut o2, &written[2]),
            ],
        )
    };
    let written = written.map(Cell::into_inner);
    assert_eq!(written[0], n as u64);
    assert_eq!(
        written[1],
        (n - n.div_ceil(10)) as u64,
        "the filter dropped the expired 10%"
    );
    assert_eq!(written[2], n as u64);
    let per_written = |x: f64, w: u64| x / w as f64;
    let ratio = |f: fn(&[f64]) -> f64| per_written(f(&snap_ckpt), written[1]) / per_written(f(&plain_ckpt), written[0]);
    report.rows.push(Row {
        section: section.into(),
        op: "checkpoint (sync + async), cleanup at snapshot with 10% expired / no TTL, per entry written".into(),
        n,
        unit: "ns/entry".into(),
        values: vec![
            ("TTL filtered".into(), per_written(low(&snap_ckpt), written[1])),
            ("no TTL".into(), per_written(low(&plain_ckpt), written[0])),
            ("TTL, no filter".into(), per_written(low(&nofilter_ckpt), written[2])),
        ],
        check: Some((ratio(low), target(1.1, "≤ 1.1×"))),
        note: format!(
            "fastest of {} interleaved rounds (medians: {:.2}×); the TTL stream also carries an 8-byte stamp per entry",
            snap_ckpt.len(),
            ratio(mid)
        ),
    });
}

/// `--only ttl-*`: one untimed pass of the operation over `n` keys, for instruction counts.
pub(crate) fn only(op: &str, n: usize) -> bool {
    if !op.starts_with("ttl-") {
        return false;
    }
    let (keys, order) = keys_and_order(n);
    let clock = Arc::new(ManualClock::new(1_000));
    match op {
        "ttl-get" | "ttl-plain-get" | "ttl-inc-get" | "ttl-update" | "ttl-plain-update" => {
            let mut a = access(&keys, &clock);
            match op {
                "ttl-get" => drop(black_box(measured_ttl_get(&mut a.ttl_b, &a.ttl, &order))),
                "ttl-plain-get" => drop(black_box(measured_ttl_plain_get(&mut a.plain_b, &a.plain, &order))),
                "ttl-inc-get" => drop(black_box(measured_ttl_inc_get(&mut a.inc_b, &a.inc, &order))),
                "ttl-update" => measured_ttl_update(&mut a.ttl_b, &a.ttl, &order),
                _ => measured_ttl_plain_update(&mut a.plain_b, &a.plain, &order),
            }
        }
        "ttl-checkpoint" => {
            let mut c = checkpoints(&keys, &clock);
            let mut out = Vec::new();
            let p = c.plain_b.checkpoint(1).expect("checkpoint");
            black_box(measured_ttl_plain_checkpoint(&p, &mut out));
            let p = c.snap_b.checkpoint(1).expect("checkpoint");
            black_box(measured_ttl_filtered_checkpoint(&p, &mut out));
            let p = c.nofilter_b.checkpoint(1).expect("checkpoint");
            black_box(measured_ttl_unfiltered_checkpoint(&p, &mut out));
        }
        _ => return false,
    }
    true
}
