//! The cost of the design beside `std::collections::HashMap` with the same hasher.
//!
//! ```text
//! cargo bench --bench table                  # all groups
//! cargo bench --bench table -- get           # one group
//! ```
//!
//! Groups: `put` (from an empty table: growth included), `put_presized` (into a table created large enough),
//! `get`, `update` (in place, no live snapshot), `remove` at 100k and 1M entries for the table and for
//! `HashMap<(u64, u32), u64>`; `snapshot_pause` (the writer's pause to take a snapshot at 1M entries);
//! `first_update_pass` (one update of every key at 1M entries right after a snapshot, i.e. everything is copied,
//! beside the same pass with no live snapshot). Bytes per entry are printed before the groups run, measured
//! with a counting global allocator (requested bytes, so allocator overhead is not included).

use cow_state_table::{DeterministicState, StateTable};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

type Table = StateTable<u64, u32, u64, DeterministicState>;
type Map = HashMap<(u64, u32), u64, DeterministicState>;

const SIZES: [usize; 2] = [100_000, 1_000_000];

/// Keys in a scrambled order, so lookups do not walk memory sequentially.
fn keys(n: usize) -> Vec<(u64, u32)> {
    let mut v: Vec<(u64, u32)> = (0..n as u64)
        .map(|k| (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20, (k % 4) as u32))
        .collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.swap(i, (x % (i as u64 + 1)) as usize);
    }
    v
}

fn table_with(keys: &[(u64, u32)]) -> Table {
    let mut t = Table::with_buckets_and_hasher(4, DeterministicState::default());
    for &(k, n) in keys {
        t.put(k, n, k);
    }
    t
}

fn map_with(keys: &[(u64, u32)]) -> Map {
    let mut m = Map::default();
    for &(k, n) in keys {
        m.insert((k, n), k);
    }
    m
}

fn report_bytes_per_entry() {
    for &n in &SIZES {
        let ks = keys(n);
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let mut t = table_with(&ks);
        let table_bytes = LIVE_BYTES.load(Ordering::Relaxed) - before;
        let rehashing = t.is_rehashing();
        // Finish an ongoing incremental rehash (each write does a step), to show the memory after it as well.
        let (k0, n0) = ks[0];
        while t.is_rehashing() {
            t.put(k0, n0, k0);
        }
        let settled_bytes = LIVE_BYTES.load(Ordering::Relaxed) - before;
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let m = map_with(&ks);
        let map_bytes = LIVE_BYTES.load(Ordering::Relaxed) - before;
        println!(
            "bytes/entry at {n}: StateTable {:.1} (buckets {}, rehashing: {rehashing}), HashMap {:.1} (capacity {}), \
             ratio {:.2}; after the rehash: StateTable {:.1}, ratio {:.2}",
            table_bytes as f64 / n as f64,
            t.buckets(),
            map_bytes as f64 / n as f64,
            m.capacity(),
            table_bytes as f64 / map_bytes as f64,
            settled_bytes as f64 / n as f64,
            settled_bytes as f64 / map_bytes as f64,
        );
        drop((t, m));
    }
}

fn put(c: &mut Criterion) {
    report_bytes_per_entry();
    let mut g = c.benchmark_group("put");
    g.sample_size(10);
    for &n in &SIZES {
        let ks = keys(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("StateTable", n), &ks, |b, ks| {
            b.iter_batched(|| (), |_| table_with(ks), BatchSize::PerIteration)
        });
        g.bench_with_input(BenchmarkId::new("HashMap", n), &ks, |b, ks| {
            b.iter_batched(|| (), |_| map_with(ks), BatchSize::PerIteration)
        });
    }
    g.finish();
}

/// Puts into tables created large enough for all keys: the insert path without growth (and its rehash).
fn put_presized(c: &mut Criterion) {
    let mut g = c.benchmark_group("put_presized");
    g.sample_size(10);
    for &n in &SIZES {
        let ks = keys(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("StateTable", n), &ks, |b, ks| {
            b.iter_batched(
                || Table::with_capacity_and_hasher(n, DeterministicState::default()),
                |mut t| {
                    for &(k, ns) in ks {
                        t.put(k, ns, k);
                    }
                    t
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_with_input(BenchmarkId::new("HashMap", n), &ks, |b, ks| {
            b.iter_batched(
                || Map::with_capacity_and_hasher(n, DeterministicState::default()),
                |mut m| {
                    for &(k, ns) in ks {
                        m.insert((k, ns), k);
                    }
                    m
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn get(c: &mut Criterion) {
    let mut g = c.benchmark_group("get");
    g.sample_size(10);
    for &n in &SIZES {
        let ks = keys(n);
        let (t, m) = (table_with(&ks), map_with(&ks));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("StateTable", n), |b| {
            b.iter(|| {
                ks.iter()
                    .map(|(k, ns)| *t.get(k, ns).unwrap())
                    .fold(0u64, u64::wrapping_add)
            })
        });
        g.bench_function(BenchmarkId::new("HashMap", n), |b| {
            b.iter(|| {
                ks.iter()
                    .map(|&(k, ns)| *m.get(&(k, ns)).unwrap())
                    .fold(0u64, u64::wrapping_add)
            })
        });
    }
    g.finish();
}

fn update(c: &mut Criterion) {
    let mut g = c.benchmark_group("update");
    g.sample_size(10);
    for &n in &SIZES {
        let ks = keys(n);
        let (mut t, mut m) = (table_with(&ks), map_with(&ks));
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("StateTable", n), |b| {
            b.iter(|| {
                for (k, ns) in &ks {
                    *t.get_mut(k, ns).unwrap() += 1;
                }
            })
        });
        g.bench_function(BenchmarkId::new("HashMap", n), |b| {
            b.iter(|| {
                for &(k, ns) in &ks {
                    *m.get_mut(&(k, ns)).unwrap() += 1;
                }
            })
        });
    }
    g.finish();
}

fn remove(c: &mut Criterion) {
    let mut g = c.benchmark_group("remove");
    g.sample_size(10);
    for &n in &SIZES {
        let ks = keys(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("StateTable", n), |b| {
            b.iter_batched(
                || table_with(&ks),
                |mut t| {
                    for (k, ns) in &ks {
                        black_box(t.remove(k, ns));
                    }
                    t
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(BenchmarkId::new("HashMap", n), |b| {
            b.iter_batched(
                || map_with(&ks),
                |mut m| {
                    for &(k, ns) in &ks {
                        black_box(m.remove(&(k, ns)));
                    }
                    m
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn snapshot_pause(c: &mut Criterion) {
    let mut g = c.benchmark_group("snapshot_pause");
    let n = 1_000_000;
    let ks = keys(n);
    let mut t = table_with(&ks);
    g.bench_function(BenchmarkId::new("StateTable", n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let s = t.snapshot().unwrap();
                total += start.elapsed();
                drop(s);
            }
            total
        })
    });
    // For scale: what the seed's snapshot costs, one copy of the whole bucket array.
    let array: Vec<usize> = vec![0; t.buckets()];
    g.bench_function(BenchmarkId::new("full_bucket_array_copy", n), |b| {
        b.iter(|| black_box(array.clone()))
    });
    g.finish();
}

fn first_update_pass(c: &mut Criterion) {
    let mut g = c.benchmark_group("first_update_pass");
    g.sample_size(10);
    let n = 1_000_000;
    let ks = keys(n);
    let mut t = table_with(&ks);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(BenchmarkId::new("with_live_snapshot", n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                t.reclaim();
                let s = t.snapshot().unwrap();
                let start = Instant::now();
                for (k, ns) in &ks {
                    *t.get_mut(k, ns).unwrap() += 1;
                }
                total += start.elapsed();
                drop(s);
            }
            t.reclaim();
            total
        })
    });
    g.bench_function(BenchmarkId::new("no_snapshot", n), |b| {
        b.iter(|| {
            for (k, ns) in &ks {
                *t.get_mut(k, ns).unwrap() += 1;
            }
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    put,
    put_presized,
    get,
    update,
    remove,
    snapshot_pause,
    first_update_pass
);
criterion_main!(benches);
