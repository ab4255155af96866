//! The keyed state backend's costs (issue 10's speed targets), ratios within one run.
//!
//! ```text
//! cargo bench --bench backend                          # full run
//! cargo bench --bench backend -- --quick               # a quick estimate
//! BACKEND_BENCH_ENTRIES=100000 cargo bench --bench backend -- --quick
//! ```
//!
//! * `value_update` — a value-state update through the backend against the table's own `get_mut` on the same
//!   keys, namespaces and hasher (`u64` key, `u32` namespace, `u64` value, 100k entries, the default keyed
//!   hasher): `fixed_key/*` with the current key set once (the issue's target: backend ≤ 1.3× table),
//!   `key_stream/*` with `set_current_key` (key group computed) before each update over all keys.
//! * `checkpoint_sync` — the synchronous part with 4 states of 1M entries each (target: ≤ 50 µs in total); also
//!   printed, directly timed: the synchronous part of an incremental checkpoint with a base (C6, C7).
//! * `checkpoint_async` — the asynchronous part writing `(u64, u32) → u64` entries of one 1M-entry state into a
//!   presized `Vec` (target: ≤ 30 ns per entry); criterion reports elements per second.
//!
//! The machine these run on may be shared; compare the ratios within one run, not absolute numbers across runs.

use cow_state_table::backend::storage::MemoryStorage;
use cow_state_table::backend::{
    CheckpointMode, IncrementalPolicy, KeyedStateBackend, ValueState, ValueStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{U32Serializer, U64Serializer};
use cow_state_table::StateTable;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const MAX_PARALLELISM: u32 = 128;

fn entries() -> usize {
    std::env::var("BACKEND_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

type Backend = KeyedStateBackend<u64, U64Serializer>;

fn backend() -> Backend {
    KeyedStateBackend::new(
        U64Serializer,
        MAX_PARALLELISM,
        KeyGroupRange::of(0, MAX_PARALLELISM - 1).unwrap(),
    )
    .unwrap()
}

fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn filled(b: &mut Backend, name: &str, n: usize) -> ValueState<u32, u64> {
    let v = b
        .register_value(ValueStateDescriptor::new(name, U32Serializer, U64Serializer))
        .unwrap();
    for i in 0..n as u64 {
        b.set_current_key(key(i)).unwrap();
        v.update(b, i).unwrap();
    }
    v
}

/// Interleaved direct timing of the fixed-key case, robust to a loaded machine: 200 rounds of 20,000 table
/// `get_mut` updates then 20,000 backend updates; the minimum per round of each (the rounds least disturbed by
/// other processes) and their ratio are printed.
fn value_update_interleaved(table: &mut StateTable<u64, u32, u64>, b: &mut Backend, v: &ValueState<u32, u64>, k: u64) {
    const OPS: u64 = 20_000;
    let (mut best_table, mut best_backend) = (Duration::MAX, Duration::MAX);
    for _ in 0..200 {
        let t = std::time::Instant::now();
        for x in 0..OPS {
            *table.get_mut(black_box(&k), black_box(&0)).unwrap() = x;
        }
        best_table = best_table.min(t.elapsed());
        let t = std::time::Instant::now();
        for x in 0..OPS {
            v.update(b, black_box(x)).unwrap();
        }
        best_backend = best_backend.min(t.elapsed());
    }
    let per = |d: Duration| d.as_nanos() as f64 / OPS as f64;
    println!(
        "value_update interleaved (min of 200 rounds): table get_mut {:.2} ns, backend update {:.2} ns, ratio {:.2}",
        per(best_table),
        per(best_backend),
        per(best_backend) / per(best_table)
    );
}

fn value_update(c: &mut Criterion) {
    const N: usize = 100_000;
    let mut g = c.benchmark_group("value_update");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    let mut table: StateTable<u64, u32, u64> = StateTable::new();
    for i in 0..N as u64 {
        table.put(key(i), 0, i);
    }
    let mut b = backend();
    let v = filled(&mut b, "v", N);

    // The current key set once; one namespace.
    let k = key(17);
    g.bench_function("fixed_key/table_get_mut", |bench| {
        let mut x = 0u64;
        bench.iter(|| {
            x += 1;
            *table.get_mut(black_box(&k), black_box(&0)).unwrap() = x;
        })
    });
    b.set_current_key(k).unwrap();
    value_update_interleaved(&mut table, &mut b, &v, k);
    g.bench_function("fixed_key/backend_update", |bench| {
        let mut x = 0u64;
        bench.iter(|| {
            x += 1;
            v.update(&mut b, black_box(x)).unwrap();
        })
    });

    // Over all keys: the table's get_mut against set_current_key + update.
    g.bench_function("key_stream/table_get_mut", |bench| {
        let mut i = 0u64;
        bench.iter(|| {
            i = (i + 1) % N as u64;
            *table.get_mut(black_box(&key(i)), black_box(&0)).unwrap() = i;
        })
    });
    g.bench_function("key_stream/backend_set_key_update", |bench| {
        let mut i = 0u64;
        bench.iter(|| {
            i = (i + 1) % N as u64;
            b.set_current_key(black_box(key(i))).unwrap();
            v.update(&mut b, i).unwrap();
        })
    });
    g.finish();
}

fn checkpoint_sync(c: &mut Criterion) {
    let n = entries();
    let mut b = backend();
    let states: Vec<_> = (0..4).map(|s| filled(&mut b, &format!("s{s}"), n)).collect();
    let mut best = Duration::MAX;
    for id in 0..200 {
        let t = std::time::Instant::now();
        let pending = b.checkpoint(1_000_000 + id).unwrap();
        best = best.min(t.elapsed());
        drop(pending);
    }
    println!("checkpoint_sync direct (min of 200): {best:.2?} for 4 states x {n}");
    incremental_sync(&mut b, &states, n);
    let mut g = c.benchmark_group("checkpoint_sync");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let mut id = 0;
    g.bench_function(format!("4_states_x_{n}"), |bench| {
        bench.iter_with_large_drop(|| {
            id += 1;
            b.checkpoint(id).unwrap()
        })
    });
    g.finish();
}

/// The synchronous part of an incremental checkpoint with a base (docs/DESIGN.md C6, C7): one snapshot and one
/// diff construction per state (O(directory), no entry visited), on the same 4 states once settled (an update of
/// every entry finishes the growth's rehash, so the delta takes the bucket walk) and checkpointed once as the base.
fn incremental_sync(b: &mut Backend, states: &[ValueState<u32, u64>], n: usize) {
    for v in states {
        for i in 0..n as u64 {
            b.set_current_key(key(i)).unwrap();
            v.update(b, i + 1).unwrap();
        }
    }
    let policy = IncrementalPolicy::every(u32::MAX).with_max_delta_fraction(1.0);
    let storage = MemoryStorage::with_max_size(u64::MAX);
    b.checkpoint_with(1, CheckpointMode::Incremental(policy))
        .unwrap()
        .run(&storage)
        .unwrap();
    let mut best = Duration::MAX;
    for id in 0..200 {
        let t = std::time::Instant::now();
        let pending = b
            .checkpoint_with(2_000_000 + id, CheckpointMode::Incremental(policy))
            .unwrap();
        best = best.min(t.elapsed());
        assert_eq!(pending.base_id(), Some(1), "a delta of the base");
        drop(pending);
    }
    println!("checkpoint_sync incremental direct (min of 200): {best:.2?} for 4 states x {n}, a delta of a base");
}

/// On-CPU time of the current thread (Linux `/proc/thread-self/schedstat`; zero elsewhere), which leaves out
/// time spent waiting for a CPU on a loaded machine.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn checkpoint_async(c: &mut Criterion) {
    let n = entries();
    let mut b = backend();
    filled(&mut b, "v", n);
    let pending = b.checkpoint(1).unwrap();
    let mut probe = Vec::new();
    let bytes = pending.write_to(&mut probe).unwrap().bytes as usize;
    let (mut wall, mut cpu) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let mut out = Vec::with_capacity(bytes);
        let (t, c0) = (std::time::Instant::now(), thread_cpu());
        pending.write_to(&mut out).unwrap();
        wall = wall.min(t.elapsed());
        cpu = cpu.min(thread_cpu().saturating_sub(c0));
    }
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    println!(
        "checkpoint_async direct (best of 3): wall {:.0} ns/entry, on-CPU {:.0} ns/entry ({n} entries, {bytes} bytes)",
        per(wall),
        per(cpu)
    );
    let mut g = c.benchmark_group("checkpoint_async");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(n as u64));
    g.bench_function(format!("write_u64_u32_u64_x_{n}"), |bench| {
        bench.iter_batched_ref(
            || Vec::with_capacity(bytes),
            |out| pending.write_to(out).unwrap(),
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, value_update, checkpoint_sync, checkpoint_async);
criterion_main!(benches);
