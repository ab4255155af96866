//! `soak`: the crate's main job, verified. A writer thread drives a generated keyed stream through the target
//! (one table per state) while snapshots are taken every few milliseconds and verified by reader threads
//! against the model captured at the same instant, and asynchronous checkpoints are written, stored, restored
//! (some rescaled) and verified. Any mismatch stops the run with the seed and the first divergence.

pub mod backend;
pub mod checkpoint;
pub mod incremental;
pub mod model;
pub mod report;
pub mod tables;
pub mod target;
pub mod ttl;
pub mod verify;
pub mod workload;

use crate::error::{CliError, Result};
use checkpoint::{mb_per_sec, CheckpointStats, Storage};
use cow_state_table::keygroup::{KeyGroupContext, KeyGroupRange};
use model::{Capture, Model};
use report::{memory, percentile, Summary};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use target::KeyedTarget;
use workload::{Shape, Workload, WriteOp};

/// What a soak run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// The keyed state backend: value and reducing states, backend checkpoints and restores.
    Backend,
    /// One StateTable per state, single-table checkpoints; reports copy-on-write counts.
    Tables,
}

/// Settings of a soak run.
#[derive(Debug, Clone)]
pub struct Config {
    /// What is driven.
    pub target: TargetKind,
    /// How long the writer runs.
    pub duration: Duration,
    /// Shape of the stream.
    pub shape: Shape,
    /// Time between snapshots for the readers.
    pub snapshot_every: Duration,
    /// Time between checkpoints.
    pub checkpoint_every: Duration,
    /// Reader threads.
    pub readers: usize,
    /// Seed of the stream.
    pub seed: u64,
    /// Where checkpoints go.
    pub storage: Storage,
    /// Key groups.
    pub max_parallelism: u32,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Put an entry behind the model's back after this many operations (tests the verification itself).
    pub inject_fault: Option<u64>,
    /// Drive TTL value, list and map states with a manual clock instead (`soak --ttl`, docs/DESIGN.md T1–T8).
    pub ttl: bool,
    /// Checkpoint incrementally with a full checkpoint every this many, restoring every chain (`soak
    /// --incremental`, docs/DESIGN.md C6–C9).
    pub incremental: Option<u32>,
}

/// Counters shared by the threads.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    failure: Mutex<Option<String>>,
    ops: AtomicU64,
    entries: AtomicU64,
    node_copies: AtomicU64,
    snapshots: AtomicU64,
    snapshots_verified: AtomicU64,
    entries_verified: AtomicU64,
    snapshots_in_flight: AtomicUsize,
    checkpoints: AtomicU64,
    checkpoints_verified: AtomicU64,
    checkpoints_in_flight: AtomicUsize,
}

impl Shared {
    fn fail(&self, what: String) {
        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(what);
        }
        self.stop.store(true, Relaxed);
    }
}

/// A snapshot set handed to a reader or the checkpointer.
struct Job<S> {
    id: u64,
    op: u64,
    snapshots: Arc<S>,
    capture: Arc<Capture>,
}

/// What the writer measured.
#[derive(Debug, Default)]
struct WriterStats {
    pauses_ns: Vec<u64>,
    copies: Option<(u64, u64)>,
    entries: u64,
}

/// Applies `op` to the target and the model; a target error or a result that differs from the model's is
/// returned as a message.
fn apply<T: KeyedTarget>(
    target: &mut T,
    model: &mut Model,
    state: usize,
    op: WriteOp,
) -> std::result::Result<(), String> {
    let check = |what: &str, got: Option<u64>, expected: Option<u64>| {
        if got == expected {
            Ok(())
        } else {
            Err(format!("{what} saw {got:?} in the target, the model {expected:?}"))
        }
    };
    match op {
        WriteOp::Put { key, ns, value } => {
            target.put(state, key, ns, value)?;
            model.set(state, key, ns, Some(value));
        }
        WriteOp::Update { key, ns, delta } => {
            let f = |s: u64| s.wrapping_mul(31).wrapping_add(delta);
            let got = target.update(state, key, ns, f)?;
            let expected = model.get(state, key, ns);
            check("update", got, expected)?;
            if let Some(old) = expected {
                model.set(state, key, ns, Some(f(old)));
            }
        }
        WriteOp::Transform { key, ns, delta } => {
            let got = target.add(state, key, ns, delta)?;
            let expected = model.get(state, key, ns);
            check("add", got, expected)?;
            model.set(state, key, ns, Some(expected.map_or(delta, |o| o.wrapping_add(delta))));
        }
        WriteOp::Remove { key, ns } => {
            let got = target.remove(state, key, ns)?;
            check("remove", got, model.set(state, key, ns, None))?;
        }
        WriteOp::Merge {
            key,
            target: into,
            sources,
        } => {
            let got = target.merge(state, key, into, sources)?;
            let mut merged = model.get(state, key, into);
            for source in sources {
                if let Some(v) = model.set(state, key, source, None) {
                    merged = Some(merged.map_or(v, |o| o.wrapping_add(v)));
                }
            }
            model.set(state, key, into, merged);
            check("merge_namespaces (merged state)", got, merged)?;
        }
    }
    Ok(())
}

fn writer<T: KeyedTarget>(
    cfg: Config,
    ctx: KeyGroupContext,
    shared: Arc<Shared>,
    to_readers: mpsc::Sender<Job<T::Snap>>,
    to_checkpointer: mpsc::Sender<Job<T::Snap>>,
) -> WriterStats {
    let mut target = match T::new(cfg.shape.states, ctx) {
        Ok(t) => t,
        Err(e) => {
            shared.fail(format!("cannot create the target: {e}"));
            return WriterStats::default();
        }
    };
    let mut model = Model::new(cfg.shape.states, ctx);
    let mut stream = Workload::new(cfg.seed, cfg.shape);
    let mut stats = WriterStats::default();
    let mut ops = 0u64;
    let started = Instant::now();
    let (mut next_snapshot, mut next_checkpoint) = (started, started + cfg.checkpoint_every);
    let (mut snapshot_id, mut checkpoint_id) = (0u64, 0u64);
    let max_in_flight = cfg.readers * 2;
    'run: while !shared.stop.load(Relaxed) {
        for _ in 0..64 {
            let (state, op) = stream.next_op();
            if let Err(e) = apply(&mut target, &mut model, state, op) {
                shared.fail(format!("op {ops} on state {state}: {op:?}: {e}"));
                break 'run;
            }
            ops += 1;
            if cfg.inject_fault == Some(ops) {
                if let Err(e) = target.inject(0, cfg.shape.keys + 7, 0, 42) {
                    shared.fail(format!("fault injection: {e}"));
                }
            }
        }
        shared.ops.store(ops, Relaxed);
        let now = Instant::now();
        let snap_due = now >= next_snapshot && shared.snapshots_in_flight.load(Relaxed) < max_in_flight;
        let chk_due = now >= next_checkpoint && shared.checkpoints_in_flight.load(Relaxed) < 2;
        if !(snap_due || chk_due) {
            continue;
        }
        let t = Instant::now();
        let snapshots = match target.snapshot(if chk_due { checkpoint_id } else { snapshot_id }) {
            Ok(s) => s,
            Err(e) => {
                shared.fail(format!("snapshot after op {ops}: {e}"));
                break;
            }
        };
        let capture = Arc::new(model.capture());
        stats.pauses_ns.push(t.elapsed().as_nanos() as u64);
        if let Some((nodes, _)) = target.copies() {
            shared.node_copies.store(nodes, Relaxed);
        }
        shared.entries.store(target.entries(), Relaxed);
        let snapshots = Arc::new(snapshots);
        if snap_due {
            next_snapshot = now + cfg.snapshot_every;
            shared.snapshots_in_flight.fetch_add(1, Relaxed);
            shared.snapshots.fetch_add(1, Relaxed);
            let job = Job {
                id: snapshot_id,
                op: ops,
                snapshots: snapshots.clone(),
                capture: capture.clone(),
            };
            snapshot_id += 1;
            if to_readers.send(job).is_err() {
                break;
            }
        }
        if chk_due {
            next_checkpoint = now + cfg.checkpoint_every;
            shared.checkpoints_in_flight.fetch_add(1, Relaxed);
            shared.checkpoints.fetch_add(1, Relaxed);
            let job = Job {
                id: checkpoint_id,
                op: ops,
                snapshots,
                capture,
            };
            checkpoint_id += 1;
            if to_checkpointer.send(job).is_err() {
                break;
            }
        }
    }
    shared.ops.store(ops, Relaxed);
    stats.copies = target.copies();
    stats.entries = target.entries();
    shared.entries.store(stats.entries, Relaxed);
    // The keyed backend cancels the checkpoints still in flight when it is dropped (B22), and the readers and the
    // checkpointer of the backend target read through them: the target lives until every job sent is done.
    // (Bounded: a reader or the checkpointer that died leaves its job counted; the run's join reports it.)
    drop((to_readers, to_checkpointer));
    let deadline = Instant::now() + Duration::from_secs(60);
    while (shared.snapshots_in_flight.load(Relaxed) > 0 || shared.checkpoints_in_flight.load(Relaxed) > 0)
        && Instant::now() < deadline
    {
        thread::sleep(Duration::from_millis(1));
    }
    stats
}

fn reader<T: KeyedTarget>(ctx: KeyGroupContext, shared: Arc<Shared>, jobs: Arc<Mutex<Receiver<Job<T::Snap>>>>) {
    let all = KeyGroupRange::of(0, ctx.max_parallelism() - 1).expect("a valid context");
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(job) = job else { return };
        if shared.failure.lock().map(|f| f.is_none()).unwrap_or(false) {
            let what = |state: usize| format!("state {state}, snapshot {} (taken after op {})", job.id, job.op);
            match T::read(&job.snapshots, ctx) {
                Err(e) => shared.fail(format!("snapshot {} (taken after op {}): {e}", job.id, job.op)),
                Ok((cells, entries)) => {
                    for (state, got) in cells.iter().enumerate() {
                        if let Err(e) = verify::compare(&what(state), &job.capture[state], got, all) {
                            shared.fail(e);
                        }
                    }
                    shared.entries_verified.fetch_add(entries, Relaxed);
                    shared.snapshots_verified.fetch_add(1, Relaxed);
                }
            }
        }
        drop(job.snapshots);
        shared.snapshots_in_flight.fetch_sub(1, Relaxed);
    }
}

fn checkpointer<T: KeyedTarget>(
    ctx: KeyGroupContext,
    storage: Storage,
    shared: Arc<Shared>,
    jobs: Receiver<Job<T::Snap>>,
) -> Vec<CheckpointStats> {
    let mut all = Vec::new();
    let mut store = match T::open_store(&storage) {
        Ok(s) => Some(s),
        Err(e) => {
            shared.fail(format!("checkpoint storage: {e}"));
            None
        }
    };
    for job in jobs {
        if let Some(store) = store
            .as_mut()
            .filter(|_| shared.failure.lock().map(|f| f.is_none()).unwrap_or(false))
        {
            // Every third checkpoint is also restored rescaled, to 2, 3 or 4 instances.
            let rescale = (job.id % 3 == 2).then(|| 2 + (job.id / 3 % 3) as u32);
            match T::checkpoint(&job.snapshots, job.id, job.op, &job.capture, ctx, store, rescale) {
                Ok(s) => {
                    all.push(s);
                    shared.checkpoints_verified.fetch_add(1, Relaxed);
                }
                Err(e) => shared.fail(e),
            }
        }
        drop(job.snapshots);
        shared.checkpoints_in_flight.fetch_sub(1, Relaxed);
    }
    all
}

fn progress_bar(cfg: &Config) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !cfg.progress || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(cfg.duration.as_millis() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:24.cyan/blue} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Runs the soak on the configured target; returns the summary (with `result = "mismatch"` on a divergence).
pub fn run(cfg: &Config) -> Result<Summary> {
    if cfg.ttl {
        return ttl::run(cfg);
    }
    if let Some(full_every) = cfg.incremental {
        return incremental::run(cfg, full_every);
    }
    match cfg.target {
        TargetKind::Backend => run_on::<backend::BackendSet>(cfg),
        TargetKind::Tables => run_on::<tables::TableSet>(cfg),
    }
}

fn run_on<T: KeyedTarget>(cfg: &Config) -> Result<Summary> {
    let ctx = KeyGroupContext::all(cfg.max_parallelism).map_err(|e| CliError::Usage(e.to_string()))?;
    if let Storage::Dir(dir) = &cfg.storage {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
    }
    let shared = Arc::new(Shared::default());
    let (to_readers, reader_jobs) = mpsc::channel::<Job<T::Snap>>();
    let (to_checkpointer, checkpoint_jobs) = mpsc::channel::<Job<T::Snap>>();
    let reader_jobs = Arc::new(Mutex::new(reader_jobs));
    let readers: Vec<_> = (0..cfg.readers)
        .map(|i| {
            let (shared, jobs) = (shared.clone(), reader_jobs.clone());
            thread::Builder::new()
                .name(format!("soak-reader-{i}"))
                .spawn(move || reader::<T>(ctx, shared, jobs))
                .expect("spawn a reader")
        })
        .collect();
    let chk = {
        let (shared, storage) = (shared.clone(), cfg.storage.clone());
        thread::Builder::new()
            .name("soak-checkpointer".into())
            .spawn(move || checkpointer::<T>(ctx, storage, shared, checkpoint_jobs))
            .expect("spawn the checkpointer")
    };
    let started = Instant::now();
    let w = {
        let (cfg, shared) = (cfg.clone(), shared.clone());
        thread::Builder::new()
            .name("soak-writer".into())
            .spawn(move || writer::<T>(cfg, ctx, shared, to_readers, to_checkpointer))
            .expect("spawn the writer")
    };
    let bar = progress_bar(cfg);
    let mut last = (Instant::now(), 0u64);
    while started.elapsed() < cfg.duration && !shared.stop.load(Relaxed) {
        thread::sleep(Duration::from_millis(100).min(cfg.duration.saturating_sub(started.elapsed())));
        let ops = shared.ops.load(Relaxed);
        let rate = (ops - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-9);
        last = (Instant::now(), ops);
        bar.set_position(started.elapsed().as_millis() as u64);
        bar.set_message(format!(
            "{:.2} M ops/s | snapshots {} verified | checkpoints {} verified | copies {} | {:.0} MB",
            rate / 1e6,
            shared.snapshots_verified.load(Relaxed),
            shared.checkpoints_verified.load(Relaxed),
            shared.node_copies.load(Relaxed),
            memory().0 as f64 / 1e6
        ));
    }
    shared.stop.store(true, Relaxed);
    let ws = w
        .join()
        .map_err(|_| CliError::Mismatch("the writer thread panicked".into()))?;
    let seconds = started.elapsed().as_secs_f64();
    for r in readers {
        r.join()
            .map_err(|_| CliError::Mismatch("a reader thread panicked".into()))?;
    }
    let cs = chk
        .join()
        .map_err(|_| CliError::Mismatch("the checkpointer thread panicked".into()))?;
    bar.finish_and_clear();

    let mut pauses = ws.pauses_ns.clone();
    pauses.sort_unstable();
    let us = |ns: u64| ns as f64 / 1e3;
    let snapshot_sets = pauses.len().max(1) as f64;
    let (bytes, write, restore, restored) = cs.iter().fold((0, Duration::ZERO, Duration::ZERO, 0), |a, c| {
        (a.0 + c.bytes, a.1 + c.write, a.2 + c.restore, a.3 + c.restored_bytes)
    });
    let failure = shared.failure.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ops = shared.ops.load(Relaxed);
    Ok(Summary {
        seed: cfg.seed,
        target: T::NAME.to_string(),
        seconds,
        keys: cfg.shape.keys,
        namespaces: cfg.shape.namespaces,
        states: cfg.shape.states,
        readers: cfg.readers,
        ops,
        ops_per_sec: ops as f64 / seconds.max(1e-9),
        entries: ws.entries,
        snapshots: shared.snapshots.load(Relaxed),
        snapshots_verified: shared.snapshots_verified.load(Relaxed),
        entries_verified: shared.entries_verified.load(Relaxed),
        pause_p50_us: us(percentile(&pauses, 50.0)),
        pause_p99_us: us(percentile(&pauses, 99.0)),
        pause_max_us: us(pauses.last().copied().unwrap_or(0)),
        node_copies_per_snapshot: ws.copies.map(|(n, _)| n as f64 / snapshot_sets),
        chunk_copies_per_snapshot: ws.copies.map(|(_, c)| c as f64 / snapshot_sets),
        checkpoints: shared.checkpoints.load(Relaxed),
        checkpoints_verified: shared.checkpoints_verified.load(Relaxed),
        checkpoints_rescaled: cs.iter().filter(|c| c.rescaled).count() as u64,
        checkpoint_bytes_avg: if cs.is_empty() { 0 } else { bytes / cs.len() as u64 },
        checkpoint_bytes_max: cs.iter().map(|c| c.bytes).max().unwrap_or(0),
        write_mb_per_sec: mb_per_sec((bytes, write)),
        restore_mb_per_sec: mb_per_sec((restored, restore)),
        storage: match &cfg.storage {
            Storage::Memory => "memory".to_string(),
            Storage::Dir(d) => d.display().to_string(),
        },
        peak_memory_bytes: memory().1,
        incremental: None,
        result: if failure.is_some() { "mismatch" } else { "ok" }.to_string(),
        divergence: failure,
    })
}

/// Parses a duration: `30s`, `500ms`, `2m`, `1.5s`, or plain seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = t
        .find(|c: char| c.is_ascii_alphabetic())
        .map_or((t, "s"), |i| t.split_at(i));
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration `{s}` (use e.g. 30s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => v / 1e3,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("invalid duration unit in `{s}` (use ms, s, m or h)")),
    };
    if !(secs.is_finite() && secs > 0.0 && secs <= 7.0 * 86_400.0) {
        return Err(format!("duration `{s}` must be positive and at most a week"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }
}
