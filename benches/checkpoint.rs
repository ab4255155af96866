//! Checkpoint write and restore throughput.
//!
//! ```text
//! cargo bench --bench checkpoint                      # full run
//! cargo bench --bench checkpoint -- --quick           # a quick estimate
//! CHECKPOINT_BENCH_ONLY=stream cargo bench --bench checkpoint -- stream   # only write_stream (keyed backend)
//! CHECKPOINT_BENCH_ENTRIES=100000 cargo bench --bench checkpoint -- --quick
//! ```
//!
//! A table of 1M entries (`u64` key, `u32` or `VoidNamespace` namespace, `u64` state; override the count with
//! `CHECKPOINT_BENCH_ENTRIES`) over max parallelism 128. Groups: `write` (partition by key group, serialize,
//! checksum; V2 in snapshot order and in canonical order; V1) and `restore` (parse, checksum, decode, insert
//! into a new presized table with the deterministic hasher). Criterion reports bytes per second of checkpoint;
//! a summary with MB/s and ns/entry from a direct timing (best of 3) is printed before the groups run, with the
//! cost of iterating the snapshot, of partitioning it and of decoding alone (no inserts) for comparison.

use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::stream::{write_stream, StateKind, StateMeta, StreamCheckpoint};
use cow_state_table::format::{write_checkpoint, BodyFormat, Checkpoint, EntryOrder, WriteOptions};
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition};
use cow_state_table::restore::restore_into;
use cow_state_table::serializer::{
    Serializers, TypeSerializer, U32Serializer, U64Serializer, VoidNamespace, VoidNamespaceSerializer,
};
use cow_state_table::{DeterministicState, StateTable};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::hash::Hash;
use std::time::{Duration, Instant};

const MAX_PARALLELISM: u32 = 128;

fn entries() -> usize {
    std::env::var("CHECKPOINT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn table<N: Hash + Eq + Clone>(n: usize, namespace: impl Fn(u64) -> N) -> StateTable<u64, N, u64, DeterministicState> {
    let mut t = StateTable::with_capacity_and_hasher(n * 4 / 3, DeterministicState::default());
    for k in 0..n as u64 {
        let key = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        t.put(key, namespace(k), k);
    }
    t
}

fn v1() -> WriteOptions {
    WriteOptions {
        body_format: BodyFormat::V1,
        order: EntryOrder::Canonical,
    }
}

/// On-CPU time of the current thread (Linux `/proc/thread-self/schedstat`), which leaves out the time spent
/// waiting for a CPU on a loaded machine.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

/// Best of three direct timings: wall-clock and, where available, on-CPU time.
fn time<R>(mut f: impl FnMut() -> R) -> (Duration, Option<Duration>) {
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (cpu, start) = (thread_cpu(), Instant::now());
            black_box(f());
            let wall = start.elapsed();
            (wall, cpu.zip(thread_cpu()).map(|(a, b)| b.saturating_sub(a)))
        })
        .collect();
    let wall = runs.iter().map(|r| r.0).min().expect("three runs");
    let cpu = runs.iter().filter_map(|r| r.1).min();
    (wall, cpu)
}

fn report(what: &str, bytes: usize, n: usize, (wall, cpu): (Duration, Option<Duration>)) {
    let rate = |d: Duration| {
        if bytes == 0 {
            "        -".to_string()
        } else {
            format!("{:>9.1}", bytes as f64 / d.as_secs_f64() / 1e6)
        }
    };
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    let cpu = cpu.map_or(String::new(), |c| {
        format!(" | on-CPU {} MB/s {:>7.1} ns/entry", rate(c), per(c))
    });
    println!(
        "{what:<48} wall {} MB/s {:>7.1} ns/entry{cpu} | {:.1} bytes/entry",
        rate(wall),
        per(wall),
        bytes as f64 / n as f64
    );
}

/// Restores `bytes` into a new table sized for `n` entries with the deterministic hasher; returns its length.
fn restore_table<N, NS>(
    ctx: KeyGroupContext,
    bytes: &[u8],
    sers: &Serializers<U64Serializer, NS, U64Serializer>,
) -> usize
where
    N: Hash + Eq + Clone,
    NS: TypeSerializer<Value = N>,
{
    let mut table: StateTable<u64, N, u64, DeterministicState> =
        StateTable::with_capacity_and_hasher(entries() * 4 / 3, DeterministicState::default());
    restore_into(&mut table, ctx, &[bytes], sers).expect("restore");
    table.len()
}

fn bench_case<N, NS>(c: &mut Criterion, label: &str, namespace: impl Fn(u64) -> N, ns: NS)
where
    N: Hash + Eq + Clone + Send + Sync + 'static,
    NS: TypeSerializer<Value = N> + Copy,
{
    let n = entries();
    let mut t = table(n, namespace);
    let snapshot = t.snapshot().expect("snapshot");
    let sers = Serializers::new(U64Serializer, ns, U64Serializer);
    let ctx = KeyGroupContext::all(MAX_PARALLELISM).expect("context");
    let write = |options| {
        let mut out = Vec::new();
        write_checkpoint(&snapshot, ctx, &sers, options, &mut out).expect("write");
        out
    };
    report(
        &format!("iterate snapshot {label}"),
        0,
        n,
        time(|| snapshot.iter().count()),
    );
    report(
        &format!("partition by key group {label}"),
        0,
        n,
        time(|| {
            let p = KeyGroupPartition::new(&snapshot, ctx);
            p.prepare().expect("partition");
            p.len()
        }),
    );
    let cases = [
        ("v2 snapshot order", WriteOptions::default()),
        ("v2 canonical order", WriteOptions::canonical()),
        ("v1", v1()),
    ];
    for (name, options) in cases {
        let bytes = write(options);
        report(
            &format!("write {label} {name}"),
            bytes.len(),
            n,
            time(|| write(options)),
        );
        report(
            &format!("read (decode only) {label} {name}"),
            bytes.len(),
            n,
            time(|| {
                Checkpoint::parse(&bytes)
                    .expect("parse")
                    .read_all(&sers)
                    .expect("read")
                    .len()
            }),
        );
        let back = |bytes: &[u8]| restore_table(ctx, bytes, &sers);
        assert_eq!(back(&bytes), n);
        report(
            &format!("restore {label} {name}"),
            bytes.len(),
            n,
            time(|| back(&bytes)),
        );
    }

    let mut group = c.benchmark_group(format!("checkpoint/{label}/{n}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for (name, options) in cases {
        let bytes = write(options);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("write {name}"), |b| b.iter(|| write(options)));
        group.bench_function(format!("restore {name}"), |b| {
            b.iter(|| restore_table(ctx, &bytes, &sers))
        });
    }
    group.finish();
}

/// `write_stream` (the keyed backend's checkpoint stream, docs/FORMAT.md §10) of one state of `(u64, u32) → u64`
/// entries: partition the snapshot by key group, serialize each key group's V2 body into the section buffer,
/// checksum it, write it out; into a `Vec` and into a `MemoryStorage` sink (64 MiB cap). Also parse (all
/// checksums) and decode every body.
fn bench_stream(c: &mut Criterion) {
    let n = entries();
    let mut t = table(n, |k| (k % 4) as u32);
    let snapshot = t.snapshot().expect("snapshot");
    let sers = Serializers::new(U64Serializer, U32Serializer, U64Serializer);
    let ctx = KeyGroupContext::all(MAX_PARALLELISM).expect("context");
    let states = [StateMeta::new(0, "state", StateKind::Value, "u32", "u64")];
    let write_to = |out: &mut dyn std::io::Write| {
        let partition = KeyGroupPartition::new(&snapshot, ctx);
        write_stream(
            1,
            ctx,
            "u64",
            &states,
            &mut |_, kg, buf| partition.write_key_group(buf, kg, &sers).map(|_| ()),
            out,
        )
        .expect("write_stream")
    };
    let write = || {
        let mut out = Vec::new();
        write_to(&mut out);
        out
    };
    let storage = MemoryStorage::with_max_size(64 << 20);
    let mut id = 0u64;
    let mut to_storage = || {
        id += 1;
        let mut sink = storage.begin(id).expect("begin");
        write_to(&mut sink);
        let bytes = sink.commit().expect("commit").bytes;
        storage.remove(id);
        bytes
    };
    let bytes = write();
    assert_eq!(write_to(&mut std::io::sink()).entries, n as u64);
    // References in the same run: partitioning alone, and the single-state container of `format`.
    report(
        "partition by key group (reference)",
        0,
        n,
        time(|| {
            let p = KeyGroupPartition::new(&snapshot, ctx);
            p.prepare().expect("partition");
            p.len()
        }),
    );
    let mut single = Vec::new();
    write_checkpoint(&snapshot, ctx, &sers, WriteOptions::default(), &mut single).expect("write");
    report(
        "write_checkpoint v2 (reference)",
        single.len(),
        n,
        time(|| {
            let mut out = Vec::new();
            write_checkpoint(&snapshot, ctx, &sers, WriteOptions::default(), &mut out).expect("write");
            out
        }),
    );
    report("write_stream 1 state u32-namespace -> Vec", bytes.len(), n, time(write));
    report(
        "write_stream 1 state u32-namespace -> MemoryStorage",
        bytes.len(),
        n,
        time(&mut to_storage),
    );
    let decode = || {
        let stream = StreamCheckpoint::parse(&bytes).expect("parse");
        let mut out = Vec::with_capacity(n);
        for kg in stream.key_groups() {
            stream.decode_into(0, kg, &sers, &mut out).expect("decode");
        }
        out.len()
    };
    assert_eq!(decode(), n);
    report("parse + decode stream u32-namespace", bytes.len(), n, time(decode));

    let mut group = c.benchmark_group(format!("stream/u32-namespace/{n}"));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("write_stream", |b| b.iter(write));
    group.bench_function("write_stream to MemoryStorage", |b| b.iter(&mut to_storage));
    group.bench_function("parse + decode", |b| b.iter(decode));
    group.finish();
}

fn benches(c: &mut Criterion) {
    // CHECKPOINT_BENCH_ONLY=stream runs only the stream benchmark.
    if std::env::var("CHECKPOINT_BENCH_ONLY").as_deref() != Ok("stream") {
        bench_case(c, "u32-namespace", |k| (k % 4) as u32, U32Serializer);
        bench_case(c, "void-namespace", |_| VoidNamespace, VoidNamespaceSerializer);
    }
    bench_stream(c);
}

criterion_group!(checkpoint, benches);
criterion_main!(checkpoint);
