//! Side-by-side performance report: this crate's `StateTable` beside `std::collections::HashMap` (as a map, and
//! cloned as its "snapshot"), `hashbrown`, the persistent `imbl::HashMap`, and the seed's snapshot cost model
//! (a copy of the whole bucket array), all with `foldhash::fast::FixedState`, in one process.
//!
//! ```text
//! cargo run --release --example bench_report               # 100k and 1M entries
//! cargo run --release --example bench_report -- --10m      # also 10M (about 4 GiB of memory, minutes)
//! cargo run --release --example bench_report -- --quick    # 100k only, fewer repeats (a smoke test)
//! cargo run --release --example bench_report -- --only OP  # one table operation for `valgrind --tool=callgrind`
//! ```
//!
//! Writes `target/bench-report/`: `report.md` (every figure, its ratio to `HashMap` and the target of issue 12,
//! met or not met), `summary.json`, and SVG plots (`growth_latency.svg`, `update_around_snapshot.svg`,
//! `memory_snapshot_lifetime.svg`).
//!
//! How it measures. Keys are `(fmix64(j + 1), j & 3)` (`(u64, u32)`, state `u64`; murmur3's 64-bit finalizer),
//! inserted in `j` order and looked up, updated and removed in a shuffled order. get and update are measured in
//! the steady state (no rehash running): a build of 100k or 1M entries leaves this table in the middle of its
//! last doubling, so every structure gets one untimed update pass first (it also runs before `--only get` and
//! `--only update`). Whole passes are timed with the
//! thread's on-CPU time (`/proc/thread-self/schedstat`: time spent waiting for a CPU on a loaded machine is left
//! out) and the median of the repeats is reported, per operation. The worst put while growing is the largest over
//! all puts of each put's smallest on-CPU time over the repeats (a resize pause recurs at the same put, a
//! hypervisor's or an interrupt's does not); the snapshot pause is a wall-clock median. Bytes are counted by a
//! global allocator (requested bytes).
//! `--only OP` (OP = put, get, update, remove, snapshot-pass, write, restore, or hashmap-put, hashmap-get,
//! hashmap-update, hashmap-remove for std's map) runs one operation on 1M entries (`--n N` for another count)
//! with no timing, for instruction counts: `valgrind --tool=callgrind --toggle-collect='*measured_*'
//! target/release/examples/bench_report --only get`. `--only checkpoint` (`--only incremental`) times the checkpoint
//! (incremental) section alone; `--only remove-phases` times "remove all" by tenths (where a removal's time goes).
//! `--ttl-only` times the state TTL section alone (100k keys, or `--n N`, 21 interleaved rounds) and prints its rows; `--only
//! ttl-get` (`ttl-plain-get`, `ttl-inc-get`, `ttl-update`, `ttl-plain-update`, `ttl-checkpoint`) runs one of its
//! loops untimed (bench_report_parts/ttl.rs).

use cow_state_table::format::{write_checkpoint, WriteOptions};
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition};
use cow_state_table::restore::restore_into;
use cow_state_table::serializer::{Serializers, U32Serializer, U64Serializer};
use cow_state_table::snapshot::Snapshot;
use cow_state_table::sync::StdSync;
use cow_state_table::StateTable;
use foldhash::fast::FixedState;
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::hash::Hash;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

// The "incremental" section (issue 23), in its own file.
#[path = "bench_report_parts/incremental.rs"]
mod incremental;
// Its backend rows (the delta stream and the restore of a chain).
#[path = "bench_report_parts/incremental_backend.rs"]
mod incremental_backend;

#[path = "bench_report_parts/ttl.rs"]
mod ttl;

// ---------------------------------------------------------------------------------------------------------------
// Counting allocator

struct Counting;
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------------------------
// The structures compared

type Hs = FixedState;
type Table<K> = StateTable<K, u32, u64, Hs>;
type StdMap<K> = std::collections::HashMap<(K, u32), u64, Hs>;
type BrownMap<K> = hashbrown::HashMap<(K, u32), u64, Hs>;
type ImMap<K> = imbl::GenericHashMap<(K, u32), u64, Hs, imbl::shared_ptr::DefaultSharedPtr>;

fn hasher() -> Hs {
    FixedState::with_seed(0x243f_6a88_85a3_08d3)
}

/// The operations every structure offers, keyed by `(key, namespace)`.
trait Map<K>: Sized {
    fn empty() -> Self;
    fn put(&mut self, k: &(K, u32), v: u64);
    fn get(&self, k: &(K, u32)) -> Option<&u64>;
    fn get_mut(&mut self, k: &(K, u32)) -> Option<&mut u64>;
    fn remove(&mut self, k: &(K, u32)) -> bool;
    /// What a checkpoint would keep: a snapshot of the table, a clone of the others.
    type Snap;
    fn snap(&mut self) -> Self::Snap;
    /// Whether an incremental rehash is running (only this crate's table has one).
    fn rehashing(&self) -> bool {
        false
    }
}

impl<K: Hash + Eq + Clone> Map<K> for Table<K> {
    type Snap = cow_state_table::Snapshot<K, u32, u64>;
    fn empty() -> Self {
        StateTable::with_hasher(hasher())
    }
    #[inline]
    fn put(&mut self, k: &(K, u32), v: u64) {
        StateTable::put(self, k.0.clone(), k.1, v)
    }
    #[inline]
    fn get(&self, k: &(K, u32)) -> Option<&u64> {
        StateTable::get(self, &k.0, &k.1)
    }
    #[inline]
    fn get_mut(&mut self, k: &(K, u32)) -> Option<&mut u64> {
        StateTable::get_mut(self, &k.0, &k.1)
    }
    #[inline]
    fn remove(&mut self, k: &(K, u32)) -> bool {
        StateTable::remove(self, &k.0, &k.1)
    }
    fn snap(&mut self) -> Self::Snap {
        self.snapshot().expect("snapshot")
    }
    fn rehashing(&self) -> bool {
        self.is_rehashing()
    }
}

macro_rules! plain_map {
    ($ty:ident, $new:expr) => {
        impl<K: Hash + Eq + Clone> Map<K> for $ty<K> {
            type Snap = Self;
            fn empty() -> Self {
                $new
            }
            #[inline]
            fn put(&mut self, k: &(K, u32), v: u64) {
                self.insert(k.clone(), v);
            }
            #[inline]
            fn get(&self, k: &(K, u32)) -> Option<&u64> {
                $ty::get(self, k)
            }
            #[inline]
            fn get_mut(&mut self, k: &(K, u32)) -> Option<&mut u64> {
                $ty::get_mut(self, k)
            }
            #[inline]
            fn remove(&mut self, k: &(K, u32)) -> bool {
                $ty::remove(self, k).is_some()
            }
            fn snap(&mut self) -> Self {
                self.clone()
            }
        }
    };
}
plain_map!(StdMap, StdMap::with_hasher(hasher()));
plain_map!(BrownMap, BrownMap::with_hasher(hasher()));
plain_map!(ImMap, ImMap::with_hasher(hasher()));

// ---------------------------------------------------------------------------------------------------------------
// Keys

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

fn int_keys(n: usize) -> Vec<(u64, u32)> {
    (0..n as u64).map(|j| (fmix64(j + 1), (j & 3) as u32)).collect()
}

/// 16 to 32 bytes: the 16 hex digits of `fmix64(j + 1)` and 0–16 more characters.
fn string_keys(n: usize) -> Vec<(String, u32)> {
    (0..n as u64)
        .map(|j| {
            let h = fmix64(j + 1);
            let mut s = format!("{h:016x}");
            for i in 0..(h >> 59) as usize {
                s.push((b'a' + i as u8) as char);
            }
            (s, (j & 3) as u32)
        })
        .collect()
}

fn shuffled<T: Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

// ---------------------------------------------------------------------------------------------------------------
// Timing

#[cfg(target_os = "linux")]
mod thread_clock {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        // From the C library std links on Linux.
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

    /// Nanoseconds of on-CPU time of this thread, if the clock is available.
    pub fn now() -> Option<u64> {
        let mut ts = Timespec { sec: 0, nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
        let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then(|| ts.sec as u64 * 1_000_000_000 + ts.nsec as u64)
    }
}
#[cfg(not(target_os = "linux"))]
mod thread_clock {
    pub fn now() -> Option<u64> {
        None
    }
}

/// On-CPU time of this thread (`CLOCK_THREAD_CPUTIME_ID`: time spent waiting for a CPU is left out); the wall
/// clock where that clock is not available.
fn cpu_now() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    thread_clock::now()
        .map(Duration::from_nanos)
        .unwrap_or_else(|| START.get_or_init(Instant::now).elapsed())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Median on-CPU nanoseconds of `run` over `reps` fresh `setup`s (setup and drop are not timed).
fn measure<T>(reps: usize, mut setup: impl FnMut() -> T, mut run: impl FnMut(&mut T)) -> f64 {
    let runs = (0..reps)
        .map(|_| {
            let mut t = setup();
            let start = cpu_now();
            run(&mut t);
            let d = cpu_now() - start;
            drop(t);
            d.as_nanos() as f64
        })
        .collect();
    median(runs)
}

// ---------------------------------------------------------------------------------------------------------------
// Results

#[derive(Clone, Debug)]
struct Target {
    /// The figure is met when `value <= limit` (`value >= limit` when `at_least`).
    limit: f64,
    at_least: bool,
    text: String,
}

#[derive(Clone, Debug)]
struct Row {
    section: String,
    op: String,
    n: usize,
    unit: String,
    values: Vec<(String, f64)>,
    /// The checked figure (a ratio, or the table's own value) and its target.
    check: Option<(f64, Target)>,
    note: String,
}

impl Row {
    fn met(&self) -> Option<bool> {
        self.check
            .as_ref()
            .map(|(v, t)| if t.at_least { *v >= t.limit } else { *v <= t.limit })
    }
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    plots: Vec<(String, String)>,
}

fn target(limit: f64, text: &str) -> Target {
    Target {
        limit,
        at_least: false,
        text: text.to_string(),
    }
}

fn ratio_row(section: &str, op: &str, n: usize, unit: &str, values: Vec<(String, f64)>, t: Option<Target>) -> Row {
    let ratio = values[0].1 / values[1].1;
    Row {
        section: section.into(),
        op: op.into(),
        n,
        unit: unit.into(),
        values,
        check: t.map(|t| (ratio, t)),
        note: String::new(),
    }
}

fn size_label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Per-structure measurements

struct Ops {
    put: f64,
    get: f64,
    update: f64,
    remove: f64,
    bytes: f64,
    /// Whether the built structure was still rehashing (then one untimed update pass finished it).
    rehashing_after_build: bool,
}

fn build<K, M: Map<K>>(keys: &[(K, u32)]) -> M {
    let mut m = M::empty();
    for (j, k) in keys.iter().enumerate() {
        m.put(k, j as u64);
    }
    m
}

/// put from empty, get, update, remove (ns per op) and bytes per entry as built.
fn ops<K: Clone, M: Map<K>>(keys: &[(K, u32)], order: &[(K, u32)], reps: usize) -> Ops {
    let n = keys.len() as f64;
    let before = live_bytes();
    let m: M = build(keys);
    let bytes = (live_bytes() - before) as f64 / n;
    drop(m);
    // The built map is stored in the setup's slot, so that its drop is not timed.
    let put = measure(reps, || None, |slot: &mut Option<M>| *slot = Some(build::<K, M>(keys)));
    let (mut m, rehashing_after_build) = settled::<K, M>(keys, order);
    let get = measure(
        reps,
        || (),
        |_| {
            let mut sum = 0u64;
            for k in order {
                sum = sum.wrapping_add(*m.get(k).expect("present"));
            }
            black_box(sum);
        },
    );
    let update = measure(reps, || (), |_| update_pass(&mut m, order));
    drop(m);
    let remove = measure(
        reps,
        || build::<K, M>(keys),
        |m| {
            for k in order {
                black_box(m.remove(k));
            }
        },
    );
    Ops {
        put: put / n,
        get: get / n,
        update: update / n,
        remove: remove / n,
        bytes,
        rehashing_after_build,
    }
}

/// Per-put latency while growing from empty to `keys.len()`, in on-CPU time (a preemption does not count; a page
/// fault does). The same puts are repeated `reps` times and each put's figure is its smallest over the repeats:
/// a structural pause (a resize, a rehash start) happens at the same put in every repeat, while an interrupt or a
/// hypervisor's steal on a busy machine lands on a different one each time. Returns the worst of those per-put
/// minima, the smallest wall-clock worst case of the repeats, and the per-put minima. Each put pays about two
/// clock reads (≈ 0.5 µs each) on top.
fn growth_latency<K, M: Map<K>>(keys: &[(K, u32)], reps: usize) -> (f64, f64, Vec<u32>) {
    let mut lat = vec![u32::MAX; keys.len()];
    let mut wall_best = u128::MAX;
    for _ in 0..reps {
        let mut wall_worst = 0u128;
        let mut m = M::empty();
        for (j, k) in keys.iter().enumerate() {
            let (cpu, wall) = (cpu_now(), Instant::now());
            m.put(k, j as u64);
            wall_worst = wall_worst.max(wall.elapsed().as_nanos());
            let d = (cpu_now() - cpu).as_nanos().min(u32::MAX as u128) as u32;
            lat[j] = lat[j].min(d);
        }
        drop(m);
        wall_best = wall_best.min(wall_worst);
    }
    let worst = *lat.iter().max().unwrap_or(&0) as f64;
    (worst, wall_best as f64, lat)
}

/// ns per update: a pass with no snapshot, and the first pass right after a snapshot (or clone) was taken.
fn update_passes<K, M: Map<K>>(keys: &[(K, u32)], order: &[(K, u32)], reps: usize) -> (f64, f64) {
    let n = keys.len() as f64;
    let mut m: M = build(keys);
    let none = measure(reps, || (), |_| update_pass(&mut m, order));
    let mut runs = Vec::new();
    for _ in 0..reps {
        let snap = m.snap();
        let start = cpu_now();
        update_pass(&mut m, order);
        runs.push((cpu_now() - start).as_nanos() as f64);
        drop(snap);
        // Let the table free what the snapshot kept, outside the timing.
        m.put(&keys[0], 0);
    }
    (none / n, median(runs) / n)
}

/// Median wall-clock pause to take a snapshot (or clone) of a structure holding `keys`.
fn snapshot_pause<K, M: Map<K>>(keys: &[(K, u32)], reps: usize) -> f64 {
    let mut m: M = build(keys);
    let runs = (0..reps)
        .map(|_| {
            let start = Instant::now();
            let s = m.snap();
            let d = start.elapsed().as_nanos() as f64;
            drop(s);
            m.put(&keys[0], 1);
            d
        })
        .collect();
    median(runs)
}

// ---------------------------------------------------------------------------------------------------------------
// Sections

struct Config {
    sizes: Vec<usize>,
    reps: usize,
    string_sizes: Vec<usize>,
}

fn ops_section<K: Hash + Eq + Clone>(
    report: &mut Report,
    section: &str,
    keys: &[(K, u32)],
    reps: usize,
    targets: bool,
) {
    let n = keys.len();
    let order = shuffled(keys);
    eprintln!("[{section} {}] put/get/update/remove/bytes", size_label(n));
    let t = ops::<K, Table<K>>(keys, &order, reps);
    let h = ops::<K, StdMap<K>>(keys, &order, reps);
    let b = ops::<K, BrownMap<K>>(keys, &order, reps);
    let reps_im = reps.min(3);
    let i = ops::<K, ImMap<K>>(keys, &order, reps_im);
    let big = n >= 1_000_000;
    let tg = |small: f64, large: f64, what: &str| {
        targets.then(|| {
            let l = if big { large } else { small };
            target(l, &format!("≤ {l}× {what}"))
        })
    };
    let vals = |f: fn(&Ops) -> f64| {
        vec![
            ("StateTable".to_string(), f(&t)),
            ("HashMap".to_string(), f(&h)),
            ("hashbrown".to_string(), f(&b)),
            ("imbl::HashMap".to_string(), f(&i)),
        ]
    };
    let steady = if t.rehashing_after_build {
        "steady state: the build left a rehash running, one untimed update pass finished it (for every structure)"
    } else {
        "steady state (no rehash running after the build)"
    };
    let mut row = ratio_row(
        section,
        "get, random order",
        n,
        "ns/op",
        vals(|o| o.get),
        tg(1.5, 1.3, ""),
    );
    row.note = steady.into();
    report.rows.push(row);
    let mut row = ratio_row(
        section,
        "update in place (get_mut), no snapshot",
        n,
        "ns/op",
        vals(|o| o.update),
        tg(1.5, 1.3, ""),
    );
    row.note = steady.into();
    report.rows.push(row);
    report.rows.push(ratio_row(
        section,
        "put from empty, growth included",
        n,
        "ns/op",
        vals(|o| o.put),
        tg(2.0, 2.0, ""),
    ));
    report.rows.push(ratio_row(
        section,
        "remove all",
        n,
        "ns/op",
        vals(|o| o.remove),
        tg(2.0, 1.5, ""),
    ));
    report.rows.push(ratio_row(
        section,
        "bytes per entry (as built)",
        n,
        "B/entry",
        vals(|o| o.bytes),
        tg(1.5, 1.25, ""),
    ));
}

fn growth_section(report: &mut Report, keys: &[(u64, u32)], reps: usize, plot: bool) {
    let n = keys.len();
    eprintln!("[growth {}] per-put latency", size_label(n));
    let (tw, tww, tl) = growth_latency::<u64, Table<u64>>(keys, reps);
    let (hw, hww, hl) = growth_latency::<u64, StdMap<u64>>(keys, reps);
    let (bw, _, bl) = growth_latency::<u64, BrownMap<u64>>(keys, reps);
    let mut row = Row {
        section: "growth".into(),
        op: "worst single put while growing to N".into(),
        n,
        unit: "µs".into(),
        values: vec![
            ("StateTable".into(), tw / 1e3),
            ("HashMap".into(), hw / 1e3),
            ("hashbrown".into(), bw / 1e3),
        ],
        check: Some((tw / 1e3, target(100.0, "≤ 100 µs (the table's own figure)"))),
        note: format!(
            "on-CPU time, each put's minimum over {reps} runs (incl. ≈ 1 µs of clock reads); wall-clock worst \
             (smallest of the runs): StateTable {:.0} µs, HashMap {:.0} µs",
            tww / 1e3,
            hww / 1e3
        ),
    };
    let p = |l: &[u32], q: f64| {
        let mut v = l.to_vec();
        v.sort_unstable();
        v[((v.len() - 1) as f64 * q) as usize] as f64 / 1e3
    };
    row.note += &format!(
        "; p99.99: StateTable {:.2} µs, HashMap {:.2} µs",
        p(&tl, 0.9999),
        p(&hl, 0.9999)
    );
    report.rows.push(row);
    if plot {
        let windows = 400;
        let series = |name: &str, color: &str, l: &[u32]| Series {
            name: name.into(),
            color: color.into(),
            points: l
                .chunks(l.len().div_ceil(windows))
                .enumerate()
                .map(|(w, c)| {
                    (
                        (w * l.len().div_ceil(windows)) as f64,
                        (*c.iter().max().unwrap_or(&1)).max(1) as f64 / 1e3,
                    )
                })
                .collect(),
        };
        let svg = line_chart(&Chart {
            title: format!(
                "Per-put on-CPU latency while growing to {} (max per window of {} puts)",
                size_label(n),
                n.div_ceil(windows)
            ),
            x_label: "puts so far".into(),
            y_label: "µs (log scale)".into(),
            log_y: true,
            series: vec![
                series("StateTable", "#d62728", &tl),
                series("HashMap", "#1f77b4", &hl),
                series("hashbrown", "#2ca02c", &bl),
            ],
            markers: vec![],
        });
        report.plots.push(("growth_latency.svg".into(), svg));
    }
}

fn snapshot_section(report: &mut Report, keys: &[(u64, u32)], reps: usize) {
    let n = keys.len();
    let order = shuffled(keys);
    eprintln!("[snapshot {}] pause and first pass", size_label(n));
    let pause_reps = 31;
    let t = snapshot_pause::<u64, Table<u64>>(keys, pause_reps);
    let h = snapshot_pause::<u64, StdMap<u64>>(keys, reps.max(3));
    let i = snapshot_pause::<u64, ImMap<u64>>(keys, pause_reps);
    // The seed's snapshot: one copy of the whole bucket array (a pointer per bucket) of a table this size.
    let table: Table<u64> = build(keys);
    let array: Vec<usize> = vec![0; table.capacity()];
    drop(table);
    let seed = median(
        (0..pause_reps)
            .map(|_| {
                let start = Instant::now();
                black_box(array.clone());
                start.elapsed().as_nanos() as f64
            })
            .collect(),
    );
    drop(array);
    let big = n >= 1_000_000;
    report.rows.push(Row {
        section: "snapshot".into(),
        op: "snapshot pause (writer)".into(),
        n,
        unit: "µs".into(),
        values: vec![
            ("StateTable".into(), t / 1e3),
            ("HashMap::clone".into(), h / 1e3),
            ("imbl clone".into(), i / 1e3),
            ("seed: bucket-array copy".into(), seed / 1e3),
        ],
        check: big.then(|| (t / 1e3, target(50.0, "≤ 50 µs"))),
        note: "median, wall clock".into(),
    });
    report.rows.push(Row {
        section: "snapshot".into(),
        op: "HashMap::clone / snapshot pause".into(),
        n,
        unit: "×".into(),
        values: vec![("StateTable".into(), h / t)],
        check: Some((
            h / t,
            Target {
                limit: 100.0,
                at_least: true,
                text: "≥ 100×".into(),
            },
        )),
        note: String::new(),
    });
    let (tn, ts) = update_passes::<u64, Table<u64>>(keys, &order, reps);
    let (hn, hs) = update_passes::<u64, StdMap<u64>>(keys, &order, reps);
    let (in_, is) = update_passes::<u64, ImMap<u64>>(keys, &order, reps.min(3));
    report.rows.push(Row {
        section: "snapshot".into(),
        op: "update pass: first after a snapshot / clone".into(),
        n,
        unit: "ns/op".into(),
        values: vec![
            ("StateTable".into(), ts),
            ("HashMap".into(), hs),
            ("imbl::HashMap".into(), is),
        ],
        check: None,
        note: String::new(),
    });
    report.rows.push(Row {
        section: "snapshot".into(),
        op: "update pass: no snapshot".into(),
        n,
        unit: "ns/op".into(),
        values: vec![
            ("StateTable".into(), tn),
            ("HashMap".into(), hn),
            ("imbl::HashMap".into(), in_),
        ],
        check: None,
        note: String::new(),
    });
    report.rows.push(Row {
        section: "snapshot".into(),
        op: "first pass after a snapshot / pass with none".into(),
        n,
        unit: "×".into(),
        values: vec![
            ("StateTable".into(), ts / tn),
            ("HashMap".into(), hs / hn),
            ("imbl::HashMap".into(), is / in_),
        ],
        check: Some((ts / tn, target(3.0, "≤ 3× (the table's own ratio)"))),
        note: String::new(),
    });
}

fn checkpoint_section(report: &mut Report, keys: &[(u64, u32)], reps: usize) {
    let n = keys.len();
    eprintln!("[checkpoint {}]", size_label(n));
    let (table, snapshot, ctx, sers) = checkpoint_fixture(keys);
    let write = || measured_write(&snapshot, ctx, &sers);
    let bytes = write();
    let mb = bytes.len() as f64 / 1e6;
    let iterate = measure(
        reps,
        || (),
        |_| {
            black_box(snapshot.iter().count());
        },
    );
    let partition = measure(
        reps,
        || (),
        |_| {
            let p = KeyGroupPartition::new(&snapshot, ctx);
            p.prepare().expect("partition");
            black_box(p.len().expect("len"));
        },
    );
    let write_ns = measure(
        reps,
        || (),
        |_| {
            black_box(write());
        },
    );
    let restore = measure(
        reps,
        || restore_target(n),
        |t| {
            measured_restore(t, ctx, &bytes, &sers);
        },
    );
    drop(snapshot);
    drop(table);
    let per = |ns: f64| ns / n as f64;
    let rate = |ns: f64| mb / (ns / 1e9);
    for (op, ns, t) in [
        ("snapshot iteration", iterate, None),
        ("key-group partitioning", partition, None),
        (
            "body write (V2, snapshot order)",
            write_ns,
            Some(target(30.0, "≤ 30 ns/entry")),
        ),
        (
            "restore (into a presized table)",
            restore,
            Some(target(50.0, "≤ 50 ns/entry")),
        ),
    ] {
        report.rows.push(Row {
            section: "checkpoint".into(),
            op: op.into(),
            n,
            unit: "ns/entry".into(),
            values: vec![("StateTable".into(), per(ns)), ("MB/s".into(), rate(ns))],
            check: t.map(|t| (per(ns), t)),
            note: format!("checkpoint {:.1} MB; the seed wrote about 300 ns/entry", mb),
        });
    }
}

/// Update cost per window of updates: a pass before, two passes during and one after a live snapshot.
fn update_timeline_plot(report: &mut Report, keys: &[(u64, u32)]) {
    let n = keys.len();
    eprintln!("[plot {}] update cost around a snapshot", size_label(n));
    let order = shuffled(keys);
    let windows_per_pass = 20;
    let w = n.div_ceil(windows_per_pass);
    fn timeline<M: Map<u64>>(keys: &[(u64, u32)], order: &[(u64, u32)], w: usize) -> (Vec<f64>, f64) {
        let mut m: M = build(keys);
        let mut out = Vec::new();
        let mut pause = 0.0;
        let mut snap = None;
        for pass in 0..4 {
            if pass == 1 {
                let start = Instant::now();
                snap = Some(m.snap());
                pause = start.elapsed().as_nanos() as f64;
            }
            if pass == 3 {
                drop(snap.take());
            }
            for c in order.chunks(w) {
                let start = Instant::now();
                for k in c {
                    *m.get_mut(k).expect("present") += 1;
                }
                out.push(start.elapsed().as_nanos() as f64 / c.len() as f64);
            }
        }
        (out, pause)
    }
    let (t, tp) = timeline::<Table<u64>>(keys, &order, w);
    let (h, hp) = timeline::<StdMap<u64>>(keys, &order, w);
    let (i, ip) = timeline::<ImMap<u64>>(keys, &order, w);
    let pts = |v: &[f64]| {
        v.iter()
            .enumerate()
            .map(|(x, &y)| (x as f64 * w as f64 / n as f64, y))
            .collect()
    };
    let svg = line_chart(&Chart {
        title: format!(
            "Update cost per window of {} updates at {}: before, during (2 passes) and after a live snapshot",
            w,
            size_label(n)
        ),
        x_label: "update passes over all keys (snapshot taken at 1, released at 3)".into(),
        y_label: "ns per update (wall clock)".into(),
        log_y: false,
        series: vec![
            Series {
                name: format!("StateTable (snapshot pause {:.1} µs)", tp / 1e3),
                color: "#d62728".into(),
                points: pts(&t),
            },
            Series {
                name: format!("HashMap (clone pause {:.1} ms)", hp / 1e6),
                color: "#1f77b4".into(),
                points: pts(&h),
            },
            Series {
                name: format!("imbl::HashMap (clone pause {:.1} µs)", ip / 1e3),
                color: "#9467bd".into(),
                points: pts(&i),
            },
        ],
        markers: vec![(1.0, "snapshot".into()), (3.0, "release".into())],
    });
    report.plots.push(("update_around_snapshot.svg".into(), svg));
}

/// Bytes per entry over a snapshot's lifetime: taken, then 10 % … 100 % of the keys updated, then released.
fn memory_plot(report: &mut Report, keys: &[(u64, u32)]) {
    let n = keys.len();
    eprintln!("[plot {}] memory over a snapshot's lifetime", size_label(n));
    let order = shuffled(keys);
    fn lifetime<M: Map<u64>>(keys: &[(u64, u32)], order: &[(u64, u32)]) -> Vec<(f64, f64)> {
        let n = keys.len();
        let base = live_bytes();
        let mut m: M = build(keys);
        let per = |x: f64| (x, (live_bytes() - base) as f64 / n as f64);
        let mut out = vec![per(0.0)];
        let snap = m.snap();
        out.push(per(1.0));
        for step in 1..=10 {
            for k in &order[(step - 1) * n / 10..step * n / 10] {
                *m.get_mut(k).expect("present") += 1;
            }
            out.push(per(1.0 + step as f64));
        }
        drop(snap);
        // The next write lets the table free what only the snapshot needed.
        m.put(&keys[0], 7);
        out.push(per(12.0));
        out
    }
    let t = lifetime::<Table<u64>>(keys, &order);
    let h = lifetime::<StdMap<u64>>(keys, &order);
    let i = lifetime::<ImMap<u64>>(keys, &order);
    let svg = line_chart(&Chart {
        title: format!("Memory over a snapshot's lifetime at {} entries", size_label(n)),
        x_label: "0: built · 1: snapshot taken · 2–11: 10 % … 100 % of keys updated · 12: released (+1 write)".into(),
        y_label: "bytes per entry (requested)".into(),
        log_y: false,
        series: vec![
            Series {
                name: "StateTable".into(),
                color: "#d62728".into(),
                points: t,
            },
            Series {
                name: "HashMap + clone".into(),
                color: "#1f77b4".into(),
                points: h,
            },
            Series {
                name: "imbl::HashMap + clone".into(),
                color: "#9467bd".into(),
                points: i,
            },
        ],
        markers: vec![],
    });
    report.plots.push(("memory_snapshot_lifetime.svg".into(), svg));
}

// ---------------------------------------------------------------------------------------------------------------
// SVG

struct Series {
    name: String,
    color: String,
    points: Vec<(f64, f64)>,
}

struct Chart {
    title: String,
    x_label: String,
    y_label: String,
    log_y: bool,
    series: Vec<Series>,
    markers: Vec<(f64, String)>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn line_chart(c: &Chart) -> String {
    let (w, h, l, r, t, b) = (900.0, 480.0, 80.0, 20.0, 40.0, 70.0);
    let all = c.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let ty = |y: f64| if c.log_y { y.max(1e-3).log10() } else { y };
    let (ly0, ly1) = if c.log_y {
        (ty(y0).floor(), ty(y1).ceil().max(ty(y0).floor() + 1.0))
    } else {
        (0.0, if y1 > 0.0 { y1 * 1.1 } else { 1.0 })
    };
    let px = |x: f64| l + (x - x0) / (x1 - x0) * (w - l - r);
    let py = |y: f64| h - b - (ty(y) - ly0) / (ly1 - ly0) * (h - t - b);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        w / 2.0,
        esc(&c.title)
    );
    // Axes and grid.
    let ticks: Vec<f64> = if c.log_y {
        (ly0 as i32..=ly1 as i32).map(|e| 10f64.powi(e)).collect()
    } else {
        (0..=5).map(|i| ly1 * i as f64 / 5.0).collect()
    };
    for v in ticks {
        let y = py(v);
        let _ = writeln!(
            s,
            r##"<line x1="{l}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            w - r,
            l - 6.0,
            y + 4.0,
            fmt_num(v)
        );
    }
    for i in 0..=5 {
        let v = x0 + (x1 - x0) * i as f64 / 5.0;
        let x = px(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#bbb"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            h - b,
            h - b + 5.0,
            h - b + 18.0,
            fmt_num(v)
        );
    }
    let _ = writeln!(
        s,
        r##"<line x1="{l}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{l}" y1="{t}" x2="{l}" y2="{}" stroke="black"/>"##,
        h - b,
        w - r,
        h - b,
        h - b
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (l + w - r) / 2.0,
        h - b + 38.0,
        esc(&c.x_label)
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        (t + h - b) / 2.0,
        esc(&c.y_label)
    );
    for (x, label) in &c.markers {
        let x = px(*x);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{t}" x2="{x:.1}" y2="{}" stroke="#555" stroke-dasharray="4 3"/><text x="{:.1}" y="{}">{}</text>"##,
            h - b,
            x + 3.0,
            t + 12.0,
            esc(label)
        );
    }
    for (i, se) in c.series.iter().enumerate() {
        let pts: Vec<String> = se
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
            se.color,
            pts.join(" ")
        );
        let ly = h - 14.0;
        let lx = l + i as f64 * 270.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="{}" width="14" height="4" fill="{}"/><text x="{}" y="{ly}">{}</text>"#,
            ly - 6.0,
            se.color,
            lx + 18.0,
            esc(&se.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Output

fn fmt_val(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn now_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown date".into())
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn markdown(report: &Report, args: &str, date: &str, load: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Benchmark report\n");
    let _ = writeln!(
        s,
        "`cargo run --release --example bench_report{args}` — {date}, commit `{}`, {} CPUs, load average at start: {load}.\n",
        command_output("git", &["rev-parse", "--short", "HEAD"]),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let _ = writeln!(
        s,
        "All structures use `foldhash::fast::FixedState`; keys `(fmix64(j + 1), j & 3)`, `(u64, u32) → u64` unless \
         the section says String. ns/op: median of the repeats' thread on-CPU time per pass divided by the entries. \
         Ratios are StateTable / HashMap in this run. ✓ met, ✗ not met.\n"
    );
    let met = report.rows.iter().filter(|r| r.met() == Some(true)).count();
    let checked = report.rows.iter().filter(|r| r.met().is_some()).count();
    let _ = writeln!(s, "**Targets met: {met} of {checked}.**\n");
    let mut section = String::new();
    let mut width = 0;
    for r in &report.rows {
        if r.section != section {
            section = r.section.clone();
            let _ = writeln!(s, "\n## {section}\n");
            let names: Vec<&str> = r.values.iter().map(|(n, _)| n.as_str()).collect();
            width = names.len();
            let _ = writeln!(
                s,
                "| operation | N | unit | {} | checked | target | met | note |",
                names.join(" | ")
            );
            let _ = writeln!(s, "|---|---|---|{}---|---|---|---|", "---|".repeat(names.len()));
        }
        let mut vals: Vec<String> = r.values.iter().map(|(_, v)| fmt_val(*v)).collect();
        vals.resize(width.max(vals.len()), String::new());
        let (checked, tgt, met) = match (&r.check, r.met()) {
            (Some((v, t)), Some(m)) => (
                if t.text.contains('×') && r.unit != "×" {
                    format!("{v:.2}×")
                } else {
                    fmt_val(*v)
                },
                t.text.clone(),
                if m { "✓" } else { "✗" }.to_string(),
            ),
            _ => (String::new(), String::new(), String::new()),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {checked} | {tgt} | {met} | {} |",
            r.op,
            size_label(r.n),
            r.unit,
            vals.join(" | "),
            r.note
        );
    }
    if !report.plots.is_empty() {
        let _ = writeln!(s, "\n## Plots\n");
        for (name, _) in &report.plots {
            let _ = writeln!(s, "![{name}]({name})\n");
        }
    }
    s
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json(report: &Report, args: &str, date: &str, load: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{{\n  \"command\": {},\n  \"date\": {},\n  \"load_average\": {},\n  \"rows\": [\n",
        json_str(&format!("cargo run --release --example bench_report{args}")),
        json_str(date),
        json_str(load)
    );
    for (i, r) in report.rows.iter().enumerate() {
        let vals: Vec<String> = r
            .values
            .iter()
            .map(|(n, v)| {
                format!(
                    "{}: {}",
                    json_str(n),
                    if v.is_finite() {
                        format!("{v:.4}")
                    } else {
                        "null".into()
                    }
                )
            })
            .collect();
        let (checked, tgt, met) = match (&r.check, r.met()) {
            (Some((v, t)), Some(m)) => (format!("{v:.4}"), json_str(&t.text), m.to_string()),
            _ => ("null".into(), "null".into(), "null".into()),
        };
        let _ = writeln!(
            s,
            "    {{\"section\": {}, \"op\": {}, \"n\": {}, \"unit\": {}, \"values\": {{{}}}, \"checked\": {checked}, \"target\": {tgt}, \"met\": {met}, \"note\": {}}}{}",
            json_str(&r.section),
            json_str(&r.op),
            r.n,
            json_str(&r.unit),
            vals.join(", "),
            json_str(&r.note),
            if i + 1 < report.rows.len() { "," } else { "" }
        );
    }
    s.push_str("  ]\n}\n");
    s
}

// ---------------------------------------------------------------------------------------------------------------
// Instruction-count mode

type IntSerializers = Serializers<U64Serializer, U32Serializer, U64Serializer>;

/// What the checkpoint measurements write: a table of `keys`, a snapshot of it, all 128 key groups, and the
/// serializers of `(u64, u32) → u64`.
fn checkpoint_fixture(
    keys: &[(u64, u32)],
) -> (
    Table<u64>,
    Snapshot<u64, u32, u64, StdSync>,
    KeyGroupContext,
    IntSerializers,
) {
    let mut table: Table<u64> = build(keys);
    let snapshot = table.snapshot().expect("snapshot");
    let ctx = KeyGroupContext::all(128).expect("context");
    (
        table,
        snapshot,
        ctx,
        Serializers::new(U64Serializer, U32Serializer, U64Serializer),
    )
}

/// The table a checkpoint of `n` entries is restored into: presized, so restore measures inserts, not growth.
fn restore_target(n: usize) -> StateTable<u64, u32, u64, Hs> {
    StateTable::with_capacity_and_hasher(n * 4 / 3, hasher())
}

#[inline(never)]
fn measured_write(snapshot: &Snapshot<u64, u32, u64, StdSync>, ctx: KeyGroupContext, sers: &IntSerializers) -> Vec<u8> {
    let mut out = Vec::new();
    write_checkpoint(snapshot, ctx, sers, WriteOptions::default(), &mut out).expect("write");
    out
}

#[inline(never)]
fn measured_restore(t: &mut StateTable<u64, u32, u64, Hs>, ctx: KeyGroupContext, bytes: &[u8], sers: &IntSerializers) {
    restore_into(t, ctx, &[bytes], sers).expect("restore");
}

#[inline(never)]
fn measured_put(keys: &[(u64, u32)]) -> Table<u64> {
    build(keys)
}
#[inline(never)]
fn measured_get(t: &Table<u64>, order: &[(u64, u32)]) -> u64 {
    order
        .iter()
        .fold(0, |a, (k, n)| a.wrapping_add(*t.get(k, n).expect("present")))
}
#[inline(never)]
fn measured_update(t: &mut Table<u64>, order: &[(u64, u32)]) {
    for (k, n) in order {
        *t.get_mut(k, n).expect("present") += 1;
    }
}
#[inline(never)]
fn measured_remove(t: &mut Table<u64>, order: &[(u64, u32)]) {
    for (k, n) in order {
        black_box(t.remove(k, n));
    }
}

#[inline(never)]
fn measured_map_put(keys: &[(u64, u32)]) -> StdMap<u64> {
    build(keys)
}
#[inline(never)]
fn measured_map_get(m: &StdMap<u64>, order: &[(u64, u32)]) -> u64 {
    order.iter().fold(0, |a, k| a.wrapping_add(*m.get(k).expect("present")))
}
#[inline(never)]
fn measured_map_update(m: &mut StdMap<u64>, order: &[(u64, u32)]) {
    for k in order {
        *m.get_mut(k).expect("present") += 1;
    }
}
#[inline(never)]
fn measured_map_remove(m: &mut StdMap<u64>, order: &[(u64, u32)]) {
    for k in order {
        black_box(m.remove(k));
    }
}

/// A structure holding `keys` in the steady state get and update are measured in, and whether the build had left
/// it rehashing. Building 100k or 1M entries leaves this crate's table in the middle of an incremental rehash
/// (the last doubling starts at 3/4 load); write traffic finishes it. So every structure alike gets one update
/// pass here, which is not timed.
fn settled<K, M: Map<K>>(keys: &[(K, u32)], order: &[(K, u32)]) -> (M, bool) {
    let mut m: M = build(keys);
    let rehashing_after_build = m.rehashing();
    update_pass(&mut m, order);
    assert!(!m.rehashing(), "one write per entry finishes a rehash");
    (m, rehashing_after_build)
}

/// One update of every entry in `order` (outside callgrind's `measured_*` window; the report times it where
/// it is the operation measured).
fn update_pass<K, M: Map<K>>(m: &mut M, order: &[(K, u32)]) {
    for k in order {
        *m.get_mut(k).expect("present") += 1;
    }
}

fn only(op: &str, n: usize) {
    if ttl::only(op, n) {
        return; // its own keys and backends (bench_report_parts/ttl.rs)
    }
    let keys = int_keys(n);
    let order = shuffled(&keys);
    match op {
        "put" => drop(black_box(measured_put(&keys))),
        "get" => {
            let t = settled::<u64, Table<u64>>(&keys, &order).0;
            black_box(measured_get(&t, &order));
        }
        "update" => {
            let mut t = settled::<u64, Table<u64>>(&keys, &order).0;
            measured_update(&mut t, &order);
        }
        "remove" => {
            let mut t = build::<u64, Table<u64>>(&keys);
            measured_remove(&mut t, &order);
        }
        "hashmap-put" => drop(black_box(measured_map_put(&keys))),
        "hashmap-get" => {
            let m = settled::<u64, StdMap<u64>>(&keys, &order).0;
            black_box(measured_map_get(&m, &order));
        }
        "hashmap-update" => {
            let mut m = settled::<u64, StdMap<u64>>(&keys, &order).0;
            measured_map_update(&mut m, &order);
        }
        "hashmap-remove" => {
            let mut m = build::<u64, StdMap<u64>>(&keys);
            measured_map_remove(&mut m, &order);
        }
        "snapshot-pass" => {
            // As in the report's "first pass after a snapshot": steady state, and one earlier snapshot pass whose
            // copies have been freed (so the copies reuse freed arena slots, as they do in a running job).
            let mut t = settled::<u64, Table<u64>>(&keys, &order).0;
            let s = t.snapshot().expect("snapshot");
            update_pass(&mut t, &order);
            drop(s);
            t.put(keys[0].0, keys[0].1, 0); // frees the copies' originals
            let s = t.snapshot().expect("snapshot");
            measured_update(&mut t, &order);
            drop(s);
        }
        "remove-phases" => remove_phases(&keys, &order),
        "checkpoint" => {
            // The checkpoint section alone, timed, its rows printed (a quick check of write and restore).
            let mut report = Report::default();
            checkpoint_section(&mut report, &keys, 5);
            for r in &report.rows {
                println!(
                    "{} {}: {:.1} {} ({:.1} MB/s)",
                    r.op,
                    size_label(n),
                    r.values[0].1,
                    r.unit,
                    r.values[1].1
                );
            }
        }
        "incremental" => {
            // The incremental section alone, timed, its rows printed.
            let mut report = Report::default();
            incremental::incremental_section(&mut report, &keys, 3);
            for r in &report.rows {
                match r.values[..] {
                    [(_, a), (_, b)] => println!(
                        "{} {}: {a:.3} {} / {b:.3} = {:.3}× {}",
                        r.op,
                        size_label(n),
                        r.unit,
                        a / b,
                        r.note
                    ),
                    _ => println!(
                        "{} {}: {:.1} {} ({})",
                        r.op,
                        size_label(n),
                        r.values[0].1,
                        r.unit,
                        r.note
                    ),
                }
            }
        }
        "write" | "restore" => {
            let (_table, snapshot, ctx, sers) = checkpoint_fixture(&keys);
            let bytes = measured_write(&snapshot, ctx, &sers);
            if op == "restore" {
                let mut t = restore_target(n);
                measured_restore(&mut t, ctx, &bytes, &sers);
                black_box(t.len());
            }
        }
        other => {
            eprintln!(
                "unknown --only operation {other:?} (put, get, update, remove, snapshot-pass; hashmap-put, \
                 hashmap-get, hashmap-update, hashmap-remove; write, restore; checkpoint, incremental, remove-phases; \
                 ttl-get, ttl-plain-get, ttl-inc-get, ttl-update, ttl-plain-update, ttl-checkpoint)"
            );
            std::process::exit(2);
        }
    }
}

/// `--only remove-phases` (timed): "remove all" by tenths of the shuffled order, for the table and `HashMap`
/// built alike; per tenth the median over three runs of the on-CPU ns per removal, and the table's buckets and
/// whether a rehash runs after it. Shows where a removal's time goes: finishing the growth the build left
/// running, plain removals, and the shrinks of the emptying table.
fn remove_phases(keys: &[(u64, u32)], order: &[(u64, u32)]) {
    const TENTHS: usize = 10;
    const RUNS: usize = 3;
    let tenth = order.len().div_ceil(TENTHS);
    let mut table_ns = vec![Vec::new(); TENTHS];
    let mut map_ns = vec![Vec::new(); TENTHS];
    let mut shape = vec![(0, false); TENTHS];
    for _ in 0..RUNS {
        let mut t = build::<u64, Table<u64>>(keys);
        let mut m = build::<u64, StdMap<u64>>(keys);
        for (i, part) in order.chunks(tenth).enumerate() {
            let start = cpu_now();
            for k in part {
                black_box(Map::remove(&mut t, k));
            }
            table_ns[i].push((cpu_now() - start).as_nanos() as f64 / part.len() as f64);
            shape[i] = (t.buckets(), t.is_rehashing());
            let start = cpu_now();
            for k in part {
                black_box(Map::remove(&mut m, k));
            }
            map_ns[i].push((cpu_now() - start).as_nanos() as f64 / part.len() as f64);
        }
    }
    println!("| removals | StateTable ns/op | HashMap ns/op | ratio | table buckets after | rehash running after |");
    println!("|---|---|---|---|---|---|");
    for (i, ((t, m), (buckets, rehashing))) in table_ns.into_iter().zip(map_ns).zip(shape).enumerate() {
        let (t, m) = (median(t), median(m));
        println!(
            "| {}–{}% | {t:.1} | {m:.1} | {:.2}× | {buckets} | {} |",
            i * 100 / TENTHS,
            (i + 1) * 100 / TENTHS,
            t / m,
            if rehashing { "yes" } else { "no" }
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n_arg = || -> Option<usize> { args.get(args.iter().position(|a| a == "--n")? + 1)?.parse().ok() };
    if let Some(i) = args.iter().position(|a| a == "--only") {
        let op = args.get(i + 1).map_or("get", String::as_str);
        only(op, n_arg().unwrap_or(1_000_000));
        return;
    }
    if args.iter().any(|a| a == "--ttl-only") {
        // The TTL section alone (100k keys, or `--n N`), its rows printed.
        let mut report = Report::default();
        ttl::ttl_section(&mut report, n_arg().unwrap_or(100_000), 21);
        for r in &report.rows {
            let values: Vec<String> = r.values.iter().map(|(k, v)| format!("{k} {v:.1}")).collect();
            let check = r.check.as_ref().map(|(v, t)| format!("{v:.2} (target {})", t.text));
            println!(
                "{} | {} | {} | {:?} | met {:?}",
                r.op,
                r.unit,
                values.join(", "),
                check,
                r.met()
            );
        }
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let mut cfg = Config {
        sizes: vec![100_000, 1_000_000],
        reps: 5,
        string_sizes: vec![100_000, 1_000_000],
    };
    if quick {
        cfg = Config {
            sizes: vec![100_000],
            reps: 3,
            string_sizes: vec![100_000],
        };
    }
    if args.iter().any(|a| a == "--10m") {
        cfg.sizes.push(10_000_000);
    }
    let arg_text: String = args.iter().map(|a| format!(" {a}")).collect();
    let arg_text = if arg_text.is_empty() {
        String::new()
    } else {
        format!(" --{arg_text}")
    };
    let date = now_utc();
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();

    let mut report = Report::default();
    let plot_n = *cfg.sizes.iter().filter(|&&n| n <= 1_000_000).max().unwrap_or(&100_000);
    for &n in &cfg.sizes {
        let keys = int_keys(n);
        let reps = if n >= 10_000_000 {
            1
        } else if n <= 100_000 {
            cfg.reps * 2 - 1
        } else {
            cfg.reps
        };
        ops_section(&mut report, "(u64, u32) → u64", &keys, reps, true);
        growth_section(&mut report, &keys, reps.min(3), n == plot_n);
        snapshot_section(&mut report, &keys, reps.min(3));
        checkpoint_section(&mut report, &keys, reps.min(3));
        incremental::incremental_section(&mut report, &keys, reps.min(3));
        if n == plot_n {
            update_timeline_plot(&mut report, &keys);
            memory_plot(&mut report, &keys);
        }
    }
    ttl::ttl_section(&mut report, 100_000, cfg.reps.min(3) * 2 - 1);
    for &n in &cfg.string_sizes {
        let keys = string_keys(n);
        ops_section(
            &mut report,
            "String keys (16–32 bytes), u32 → u64",
            &keys,
            cfg.reps.min(3),
            false,
        );
    }
    // Group the rows by section for the tables.
    let order: Vec<String> = {
        let mut v: Vec<String> = Vec::new();
        for r in &report.rows {
            if !v.contains(&r.section) {
                v.push(r.section.clone());
            }
        }
        v
    };
    report
        .rows
        .sort_by_key(|r| (order.iter().position(|s| *s == r.section), r.n));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-report");
    std::fs::create_dir_all(&dir).expect("create target/bench-report");
    let md = markdown(&report, &arg_text, &date, &load);
    std::fs::write(dir.join("report.md"), &md).expect("write report.md");
    std::fs::write(dir.join("summary.json"), json(&report, &arg_text, &date, &load)).expect("write summary.json");
    for (name, svg) in &report.plots {
        std::fs::write(dir.join(name), svg).expect("write plot");
    }
    println!("{md}");
    eprintln!("written: {}", dir.display());
}
