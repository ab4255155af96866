//! The commands of the `cluster_wordcount` example: the windowed word count on timely dataflow with the keyed
//! state backend (`cargo run --release -p cow-state-table-timely --example cluster_wordcount -- <command>`).
//!
//! * `worker` — one process of a cluster: `-n N -p I -h HOSTFILE [-w THREADS] --root DIR --run R …`
//!   (single process: `-n 1 -p 0` without a hostfile).
//! * `demo [--from N] [--to M] [--dir DIR]` — N processes on 127.0.0.1, one killed with SIGKILL in the middle
//!   of a checkpoint, M processes restart from the latest complete checkpoint; outputs and final state are
//!   checked against the single-process model.
//! * `bench [--threads 1,2] [--processes 2] [--reps 3] …` — records per second with `HashMap` state, with the
//!   backend and no checkpoints, and with the backend checkpointing about every second; alignment pauses
//!   (docs/PERFORMANCE.md).
//!
//! See integrations/timely/README.md and docs/CLUSTER.md.

use crate::baseline::run_baseline_worker;
use crate::cluster::{free_addresses, read_hostfile, write_hostfile, LocalCluster};
use crate::wordcount::{model, read_state, run_worker, stitch, RunOptions, WindowResult, WordCount};
use crate::{CheckpointConfig, CheckpointRoot, ClusterError, Restore, StorageWrapper};
use cow_state_table::backend::storage::{CheckpointSink, CheckpointStorage, StorageError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

/// A storage whose `begin` of checkpoint `at` never returns: a worker stuck in the middle of a checkpoint, for
/// the kill test (the worker's driver stops feeding after epoch `at`: `RunOptions::pause_after`).
#[derive(Debug)]
struct StallAt {
    inner: Arc<dyn CheckpointStorage>,
    at: u64,
    worker: usize,
}

impl CheckpointStorage for StallAt {
    fn begin(&self, id: u64) -> Result<Box<dyn CheckpointSink>, StorageError> {
        if id == self.at {
            println!("stalled worker={} checkpoint={id}", self.worker);
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        self.inner.begin(id)
    }
    fn read(&self, id: u64) -> Result<Vec<u8>, StorageError> {
        self.inner.read(id)
    }
    fn list(&self) -> Result<Vec<u64>, StorageError> {
        self.inner.list()
    }
}

struct Args(HashMap<String, String>);

impl Args {
    fn parse(args: &[String]) -> Result<Args, String> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let key = match a.as_str() {
                "-n" => "processes",
                "-p" => "process",
                "-h" => "hostfile",
                "-w" => "threads",
                s if s.starts_with("--") => &s[2..],
                s => return Err(format!("unexpected argument {s:?}")),
            };
            let value = it.next().ok_or_else(|| format!("{a} needs a value"))?;
            map.insert(key.to_owned(), value.clone());
        }
        Ok(Args(map))
    }
    fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: cannot parse {v:?}")),
        }
    }
    fn path(&self, key: &str) -> Option<PathBuf> {
        self.0.get(key).map(PathBuf::from)
    }
}

fn job_of(args: &Args) -> Result<WordCount, String> {
    Ok(WordCount {
        epochs: args.get("epochs", 40)?,
        records_per_epoch: args.get("records", 2000)?,
        vocabulary: args.get("vocab", 50)?,
        window: args.get("window", 3)?,
        seed: args.get("seed", 7)?,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn worker(args: &Args) -> Result<(), String> {
    let processes: usize = args.get("processes", 1)?;
    let process: usize = args.get("process", 0)?;
    let threads: usize = args.get("threads", 1)?;
    let communication = if processes <= 1 {
        timely::CommunicationConfig::Process(threads)
    } else {
        let hostfile = args.path("hostfile").ok_or("-h HOSTFILE is needed with -n > 1")?;
        let addresses = read_hostfile(&hostfile).map_err(|e| format!("{}: {e}", hostfile.display()))?;
        if addresses.len() != processes {
            return Err(format!(
                "{} addresses in the hostfile for -n {processes}",
                addresses.len()
            ));
        }
        timely::CommunicationConfig::Cluster {
            threads,
            process,
            addresses,
            report: false,
            zerocopy: false,
        }
    };
    let stall_at: Option<u64> = args
        .0
        .get("stall-at")
        .map(|s| s.parse())
        .transpose()
        .map_err(|_| "--stall-at")?;
    let wrap: Option<StorageWrapper> = stall_at.map(|at| {
        Arc::new(move |inner: Arc<dyn CheckpointStorage>, worker: usize| {
            Arc::new(StallAt { inner, at, worker }) as Arc<dyn CheckpointStorage>
        }) as StorageWrapper
    });
    let restore = match args.0.get("restore").map(String::as_str) {
        None | Some("latest") => Restore::Latest,
        Some("none") => Restore::Nothing,
        Some(id) => Restore::Checkpoint(id.parse().map_err(|_| format!("--restore {id:?}"))?),
    };
    let checkpoints = match args.path("root") {
        Some(root) if args.get("interval", 4u64)? > 0 => Some(CheckpointConfig {
            root: CheckpointRoot::new(root),
            run: args.get("run", 1)?,
            interval: args.get("interval", 4)?,
            restore,
            wrap,
        }),
        _ => None,
    };
    let options = RunOptions {
        job: job_of(args)?,
        max_parallelism: args.get("max-parallelism", 128)?,
        checkpoints,
        stop_before: args
            .0
            .get("stop-before")
            .map(|s| s.parse())
            .transpose()
            .map_err(|_| "--stop-before")?,
        out_dir: args.path("out"),
        epochs_in_flight: args.get("in-flight", 2)?,
        pause_after: stall_at,
        commit_timeout: Duration::from_secs(args.get("commit-timeout-s", 60)?),
    };
    let config = timely::Config {
        communication,
        worker: timely::WorkerConfig::default(),
    };
    let hashmap = args.0.get("state").is_some_and(|s| s == "hashmap");
    let guards = timely::execute(config, move |w| {
        if hashmap {
            run_baseline_worker(w, &options)
        } else {
            run_worker(w, &options)
        }
    })
    .map_err(|e| format!("timely: {e}"))?;
    let mut failed = None;
    for result in guards.join() {
        match result {
            Ok(Ok(r)) => {
                let mut pauses = r.pauses.clone();
                pauses.sort_unstable();
                let list = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
                println!(
                    "report worker={} resumed={} committed={} durable={} fed={} elapsed_ms={} pause_p50_us={} \
                     pause_p99_us={} pause_max_us={} cpu_ms={}",
                    r.worker,
                    r.resumed_from.map_or("-".to_owned(), |c| c.to_string()),
                    list(&r.committed),
                    list(&r.durable),
                    r.fed,
                    r.elapsed.as_millis(),
                    percentile(&pauses, 0.5).as_micros(),
                    percentile(&pauses, 0.99).as_micros(),
                    pauses.last().copied().unwrap_or_default().as_micros(),
                    crate::cputime::process_cpu().unwrap_or_default().as_millis(),
                );
            }
            Ok(Err(e)) => failed = Some(e.to_string()),
            Err(e) => failed = Some(format!("worker thread: {e}")),
        }
    }
    failed.map_or(Ok(()), Err)
}

/// Reads every `run-<run>-worker-*.txt` under `out`.
pub fn read_outputs(out: &Path, run: u64) -> Result<Vec<WindowResult>, String> {
    let mut all = Vec::new();
    let prefix = format!("run-{run}-worker-");
    for entry in std::fs::read_dir(out).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let text = std::fs::read_to_string(entry.path()).map_err(|e| e.to_string())?;
            for line in text.lines() {
                all.push(WindowResult::parse(line).ok_or_else(|| format!("bad output line {line:?}"))?);
            }
        }
    }
    all.sort();
    Ok(all)
}

fn demo(args: &Args) -> Result<(), String> {
    let from: usize = args.get("from", 2)?;
    let to: usize = args.get("to", 3)?;
    let dir = args
        .path("dir")
        .unwrap_or_else(|| std::env::temp_dir().join(format!("cow-timely-demo-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let job = job_of(args)?;
    let interval: u64 = args.get("interval", 4)?;
    let stall: u64 = args.get("stall-at", 19)?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let root = CheckpointRoot::new(dir.join("checkpoints"));
    let out = dir.join("out");
    let start = |run: u64, processes: usize, stall_at: Option<u64>| -> Result<LocalCluster, String> {
        let addresses = free_addresses(processes).map_err(|e| e.to_string())?;
        let hostfile = write_hostfile(&dir.join(format!("hosts-{run}.txt")), &addresses).map_err(|e| e.to_string())?;
        LocalCluster::spawn(processes, |i| {
            let mut c = Command::new(&exe);
            c.arg("worker")
                .args(["-n", &processes.to_string(), "-p", &i.to_string()]);
            c.arg("-h")
                .arg(&hostfile)
                .arg("--root")
                .arg(root.path())
                .arg("--out")
                .arg(&out);
            c.args(["--run", &run.to_string(), "--interval", &interval.to_string()]);
            job_args(&mut c, &job);
            if let (Some(at), true) = (stall_at, i == processes - 1) {
                c.args(["--stall-at", &at.to_string()]);
            }
            c
        })
        .map_err(|e| e.to_string())
    };
    println!("run 1: {from} processes, the last one stalls in checkpoint {stall}");
    let mut first = start(1, from, Some(stall))?;
    first
        .wait_line(from - 1, Duration::from_secs(120), |l| l.contains("stalled worker="))
        .ok_or("the last process never reached the stalled checkpoint")?;
    let part0 = root.path().join(CheckpointRoot::part_relative(1, 0, stall));
    for _ in 0..2000 {
        if part0.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // The checkpoint before the stalled one has all its parts: wait for its manifest.
    if let Some(previous) = stall.checked_sub(interval) {
        for _ in 0..3000 {
            if root.manifest_path(previous).exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    first.kill(from - 1);
    println!("SIGKILL process {} in the middle of checkpoint {stall}", from - 1);
    for i in 0..from - 1 {
        first.kill(i);
    }
    drop(first);
    let latest = root
        .latest()
        .map_err(|e| e.to_string())?
        .ok_or("no complete checkpoint")?;
    println!(
        "complete checkpoints: {:?}; checkpoint {stall} has worker 0's part: {}, a manifest: {}",
        root.complete_checkpoints().map_err(|e| e.to_string())?,
        part0.exists(),
        root.manifest_path(stall).exists()
    );
    if latest.checkpoint >= stall {
        return Err(format!(
            "checkpoint {} is complete although a part was never written",
            latest.checkpoint
        ));
    }
    println!("run 2: {to} processes restore checkpoint {}", latest.checkpoint);
    let mut second = start(2, to, None)?;
    let statuses = second.wait_all(Duration::from_secs(600));
    if !statuses.iter().all(|s| s.is_some_and(|s| s.success())) {
        return Err(format!("run 2 failed: {statuses:?}"));
    }
    for (p, line) in second.lines() {
        println!("  process {p}: {line}");
    }
    let (expected, expected_state) = model(&job);
    let outputs = stitch(
        &read_outputs(&out, 1)?,
        Some(latest.checkpoint),
        &read_outputs(&out, 2)?,
    );
    let last = root.latest().map_err(|e| e.to_string())?.ok_or("no final checkpoint")?;
    let state = read_state(&root, &last, job.window).map_err(|e: ClusterError| e.to_string())?;
    if outputs != expected {
        return Err(format!(
            "outputs differ from the model: {} vs {} results",
            outputs.len(),
            expected.len()
        ));
    }
    if state != expected_state {
        return Err("final state differs from the model".into());
    }
    println!(
        "OK: {} window results and the state of {} words equal the single-process model",
        outputs.len(),
        state.len()
    );
    Ok(())
}

/// One measured run: records fed over all workers, the slowest worker's time, and the alignment pauses.
#[derive(Default)]
struct Measured {
    records: u64,
    elapsed: Duration,
    /// CPU time of the processes (all threads, the asynchronous parts included).
    cpu: Duration,
    pauses: Vec<Duration>,
    /// The longest pause (processes report their p99 in `pauses` and their longest here).
    pause_max: Duration,
    checkpoints: usize,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn cpu_rate(&self) -> f64 {
        self.records as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    HashMap,
    Backend,
    Checkpointed(u64),
}

fn measure_threads(
    job: WordCount,
    threads: usize,
    variant: Variant,
    root: &Path,
    run: u64,
) -> Result<Measured, String> {
    let options = RunOptions {
        job,
        max_parallelism: 128,
        checkpoints: match variant {
            Variant::Checkpointed(interval) => Some(CheckpointConfig {
                root: CheckpointRoot::new(root),
                run,
                interval,
                restore: Restore::Nothing,
                wrap: None,
            }),
            _ => None,
        },
        stop_before: None,
        out_dir: None,
        epochs_in_flight: 2,
        pause_after: None,
        commit_timeout: Duration::from_secs(60),
    };
    let cpu_before = crate::cputime::process_cpu().unwrap_or_default();
    let guards = timely::execute(timely::Config::process(threads), move |w| {
        if variant == Variant::HashMap {
            run_baseline_worker(w, &options)
        } else {
            run_worker(w, &options)
        }
    })
    .map_err(|e| format!("timely: {e}"))?;
    let mut m = Measured::default();
    for r in guards.join() {
        let r = r.map_err(|e| format!("worker: {e}"))?.map_err(|e| e.to_string())?;
        m.records += r.fed;
        m.elapsed = m.elapsed.max(r.elapsed);
        m.checkpoints = m.checkpoints.max(r.durable.len());
        m.pause_max = m.pause_max.max(r.pauses.iter().copied().max().unwrap_or_default());
        m.pauses.extend(r.pauses);
    }
    m.cpu = crate::cputime::process_cpu()
        .unwrap_or_default()
        .saturating_sub(cpu_before);
    Ok(m)
}

fn measure_processes(
    job: WordCount,
    processes: usize,
    variant: Variant,
    dir: &Path,
    run: u64,
) -> Result<Measured, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let addresses = free_addresses(processes).map_err(|e| e.to_string())?;
    let hostfile = write_hostfile(&dir.join(format!("hosts-{run}.txt")), &addresses).map_err(|e| e.to_string())?;
    let mut cluster = LocalCluster::spawn(processes, |i| {
        let mut c = Command::new(&exe);
        c.arg("worker")
            .args(["-n", &processes.to_string(), "-p", &i.to_string()])
            .arg("-h")
            .arg(&hostfile);
        job_args(&mut c, &job);
        c.args(["--run", &run.to_string(), "--restore", "none"]);
        match variant {
            Variant::HashMap => {
                c.args(["--state", "hashmap"]);
            }
            Variant::Backend => {}
            Variant::Checkpointed(interval) => {
                c.arg("--root")
                    .arg(dir.join("checkpoints"))
                    .args(["--interval", &interval.to_string()]);
            }
        }
        c
    })
    .map_err(|e| e.to_string())?;
    let statuses = cluster.wait_all(Duration::from_secs(600));
    if !statuses.iter().all(|s| s.is_some_and(|s| s.success())) {
        return Err(format!("bench processes failed: {statuses:?}"));
    }
    let mut m = Measured::default();
    for (_, line) in cluster.lines() {
        let field = |name: &str| -> u64 {
            line.split(' ')
                .find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        if line.starts_with("report") {
            m.records += field("fed");
            m.elapsed = m.elapsed.max(Duration::from_millis(field("elapsed_ms")));
            m.pauses.push(Duration::from_micros(field("pause_p99_us")));
            m.pause_max = m.pause_max.max(Duration::from_micros(field("pause_max_us")));
            m.cpu += Duration::from_millis(field("cpu_ms"));
            let durable = line.split(' ').find_map(|f| f.strip_prefix("durable=")).unwrap_or("");
            m.checkpoints = m.checkpoints.max(durable.split(',').filter(|s| !s.is_empty()).count());
        }
    }
    Ok(m)
}

fn bench(args: &Args) -> Result<(), String> {
    let job = WordCount {
        epochs: args.get("epochs", 100)?,
        records_per_epoch: args.get("records", 20_000)?,
        vocabulary: args.get("vocab", 10_000)?,
        window: args.get("window", 5)?,
        seed: args.get("seed", 7)?,
    };
    let reps: usize = args.get("reps", 3)?;
    let threads: Vec<usize> = args
        .0
        .get("threads")
        .map_or("1,2", String::as_str)
        .split(',')
        .map(|t| t.parse().map_err(|_| format!("--threads {t:?}")))
        .collect::<Result<_, _>>()?;
    let processes: usize = args.get("processes", 2)?;
    let dir = args
        .path("dir")
        .unwrap_or_else(|| std::env::temp_dir().join(format!("cow-timely-bench-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    println!(
        "job: {} epochs x {} records, {} words, windows of {} epochs; median of {reps} runs",
        job.epochs, job.records_per_epoch, job.vocabulary, job.window
    );
    println!(
        "{:<13} {:>9} {:>9} {:>9} {:>6} {:>9} | {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9}",
        "workers",
        "hashmap",
        "backend",
        "ckpt",
        "ckpts",
        "ckpt cost",
        "hashmap",
        "backend",
        "ckpt",
        "ckpt cost",
        "pause p99",
        "pause max"
    );
    println!(
        "{:<13} {:>9} {:>9} {:>9} {:>6} {:>9} | {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9}",
        "", "rec/s", "rec/s", "rec/s", "", "(wall)", "rec/CPU-s", "rec/CPU-s", "rec/CPU-s", "(CPU)", "(wall)", "(wall)"
    );
    let mut run = 0u64;
    let mut setups: Vec<(String, Option<usize>, usize)> =
        threads.iter().map(|&t| (format!("{t} thread(s)"), None, t)).collect();
    if processes > 1 {
        setups.push((format!("{processes} processes"), Some(processes), processes));
    }
    for (label, procs, workers) in setups {
        let mut measure = |variant: Variant| -> Result<Vec<Measured>, String> {
            (0..reps)
                .map(|_| {
                    run += 1;
                    let root = dir.join(format!("run-{run}"));
                    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
                    let m = match procs {
                        None => measure_threads(job, workers, variant, &root, run),
                        Some(p) => measure_processes(job, p, variant, &root, run),
                    };
                    let _ = std::fs::remove_dir_all(&root);
                    m
                })
                .collect()
        };
        let median = |ms: &[Measured], f: fn(&Measured) -> f64| -> f64 {
            let mut r: Vec<f64> = ms.iter().map(f).collect();
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        };
        let reference = measure(Variant::HashMap)?;
        let hashmap = median(&reference, Measured::rate);
        let plain = measure(Variant::Backend)?;
        let backend = median(&plain, Measured::rate);
        // About one checkpoint per second: the epochs the backend job completes per second.
        let secs = plain.iter().map(|m| m.elapsed.as_secs_f64()).sum::<f64>() / plain.len() as f64;
        let interval = ((job.epochs as f64 / secs.max(1e-9)).round() as u64).max(1);
        let checkpointed = measure(Variant::Checkpointed(interval))?;
        let ckpt = median(&checkpointed, Measured::rate);
        let (hashmap_cpu, backend_cpu, ckpt_cpu) = (
            median(&reference, Measured::cpu_rate),
            median(&plain, Measured::cpu_rate),
            median(&checkpointed, Measured::cpu_rate),
        );
        let mut pauses: Vec<Duration> = checkpointed.iter().flat_map(|m| m.pauses.iter().copied()).collect();
        pauses.sort_unstable();
        let checkpoints = checkpointed.iter().map(|m| m.checkpoints).max().unwrap_or(0);
        println!(
            "{:<13} {:>9.0} {:>9.0} {:>9.0} {:>6} {:>8.1}% | {:>9.0} {:>9.0} {:>9.0} {:>8.1}% | {:>7}us {:>7}us",
            label,
            hashmap,
            backend,
            ckpt,
            checkpoints,
            100.0 * (1.0 - ckpt / backend),
            hashmap_cpu,
            backend_cpu,
            ckpt_cpu,
            100.0 * (1.0 - ckpt_cpu / backend_cpu),
            percentile(&pauses, 0.99).as_micros(),
            checkpointed
                .iter()
                .map(|m| m.pause_max)
                .max()
                .unwrap_or_default()
                .as_micros(),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Runs one command (`worker`, `demo` or `bench`, then its options); the process exit code.
pub fn main_with_args(args: &[String]) -> ExitCode {
    match run_command(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command (`worker`, `demo` or `bench`, then its options).
///
/// # Errors
/// A message for the user: bad options, a failed run, a mismatch with the model.
pub fn run_command(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("worker") => Args::parse(&args[1..]).and_then(|a| worker(&a)),
        Some("demo") => Args::parse(&args[1..]).and_then(|a| demo(&a)),
        Some("bench") => Args::parse(&args[1..]).and_then(|a| bench(&a)),
        _ => Err("usage: cluster_wordcount worker|demo|bench [options] (see integrations/timely/README.md)".into()),
    }
}

/// The job's arguments of a `worker` command: what every process of one run must be given alike.
fn job_args(c: &mut Command, job: &WordCount) {
    c.args([
        "--epochs",
        &job.epochs.to_string(),
        "--records",
        &job.records_per_epoch.to_string(),
    ]);
    c.args([
        "--vocab",
        &job.vocabulary.to_string(),
        "--window",
        &job.window.to_string(),
    ]);
    c.args(["--seed", &job.seed.to_string()]);
}
