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
//! * `checkpoint_sync` — the synchronous part with 4 states of 1M entries each (target: ≤ 50 µs in total).
//! * `checkpoint_async` — the asynchronous part writing `(u64, u32) → u64` entries of one 1M-entry state into a
//!   presized `Vec` (target: ≤ 30 ns per entry); criterion reports elements per second.
//!
//! The machine these run on may be shared; compare the ratios within one run, not absolute numbers across runs.

use cow_state_table::backend::{KeyedStateBackend, ValueState, ValueStateDescriptor};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{U32Serializer, U64Serializer};
use cow_state_table::StateTable;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
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
    for s in 0..4 {
        filled(&mut b, &format!("s{s}"), n);
    }
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

fn checkpoint_async(c: &mut Criterion) {
    let n = entries();
    let mut b = backend();
    filled(&mut b, "v", n);
    let pending = b.checkpoint(1).unwrap();
    let mut probe = Vec::new();
    let bytes = pending.write_to(&mut probe).unwrap().bytes as usize;
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
