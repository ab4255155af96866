//! `cow-state-table`: the command line of the crate.
//!
//! * `soak` — the main job: a writer drives a keyed stream through the tables while snapshots and checkpoints
//!   are taken every few milliseconds and verified against a model.
//! * `trace generate` / `trace replay` — golden traces (JSON Lines) of the table's behaviour.
//! * `conform --exec CMD` — checks an implementation (a port) speaking the line protocol of docs/PORTING.md.
//! * `checkpoint inspect PATH` — header, serializers, key groups, sizes and checksums of a checkpoint.
//!
//! Every error is one line on stderr and a non-zero exit: 1 for a finding (divergence, mismatch, corrupt
//! checkpoint), 2 for bad input (options, files, a child process that fails).

mod conform;
mod engine;
mod error;
mod inspect;
mod oracle;
mod soak;
mod trace;

use clap::{Parser, Subcommand};
use error::{CliError, Result};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use trace::format::Level;
use trace::generate::Profile;

/// A copy-on-write keyed-state table (a Rust port of Flink's CopyOnWriteStateTable): verified soak runs,
/// golden traces, a conformance kit for ports, checkpoint inspection.
#[derive(Debug, Parser)]
#[command(name = "cow-state-table", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Every request name of the protocol (the adapter's fault flags take one).
const REQUESTS: [&str; 19] = [
    "reset",
    "hello",
    "state",
    "put",
    "put_and_get_old",
    "get",
    "contains",
    "get_mut",
    "remove",
    "remove_and_get_old",
    "transform",
    "len",
    "size_of_namespace",
    "iterate",
    "snapshot",
    "release",
    "read_snapshot",
    "partition",
    "write_key_group",
];

#[derive(Debug, Subcommand)]
enum Command {
    /// The main job, verified: a writer drives a keyed stream through the tables while snapshots and
    /// checkpoints are taken every few milliseconds; readers verify every snapshot, every checkpoint is restored
    /// (some rescaled) and verified. Exit 1 on any mismatch.
    Soak(SoakArgs),
    /// Checkpoint files: inspect one.
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// Golden traces: generate one, or replay one against this crate.
    #[command(subcommand)]
    Trace(TraceCommand),
    /// Checks an implementation (a port) speaking the line protocol of docs/PORTING.md against the reference
    /// model; shrinks the first divergence to a minimal failing trace.
    Conform {
        /// The command that starts the implementation under test (run with `sh -c`).
        #[arg(long)]
        exec: String,
        /// Seed of the first case (case c uses seed + c).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of generated cases.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
        cases: u64,
        /// Operations per case.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        ops: u64,
        /// Workload profile of the generated cases.
        #[arg(long, value_enum, default_value_t = Profile::Mixed)]
        profile: Profile,
        /// Seconds to wait for one response.
        #[arg(long, default_value_t = 10.0)]
        timeout: f64,
        /// Seconds spent at most shrinking a failure (a hanging port costs a timeout per shrinking run).
        #[arg(long, default_value_t = 60.0)]
        shrink_time: f64,
        /// What to compare after every operation: results only, exact (+ len, version, live snapshots from the
        /// `state` request), structural (+ capacity, rehashing), all (+ copy counters). Default: the level the
        /// port declares in its handshake (exact without a handshake).
        #[arg(long, value_enum)]
        level: Option<Level>,
    },
    /// Serves the conform protocol with this crate (for testing the kit end to end).
    #[command(hide = true)]
    Adapter {
        /// Answer some operation wrongly on purpose.
        #[arg(long, value_enum)]
        bug: Option<engine::Bug>,
        /// Exit without answering request number N (from 0).
        #[arg(long)]
        die_after: Option<u64>,
        /// Answer request number N (from 0) with garbage.
        #[arg(long)]
        garbage_after: Option<u64>,
        /// Exit (status 4) without answering upon receiving this operation.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(REQUESTS))]
        crash_on: Option<String>,
        /// ...only once this many requests were received.
        #[arg(long, default_value_t = 0)]
        crash_after: u64,
        /// Answer `error` to this operation.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(REQUESTS))]
        error_on: Option<String>,
        /// Answer `unsupported` to these requests (repeatable).
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(REQUESTS))]
        unsupported: Vec<String>,
        /// How the table places entries (declared in the handshake).
        #[arg(long, value_enum, default_value_t = engine::HashKind::Deterministic)]
        hash: engine::HashKind,
        /// The level declared in the handshake.
        #[arg(long, value_enum, default_value_t = Level::All)]
        level: Level,
        /// Serve the structural simulation written from docs/PORTING.md instead of this crate's table.
        #[arg(long)]
        sim: bool,
        /// ...with this structural deviation planted (implies --sim).
        #[arg(long, value_enum)]
        deviation: Option<conform::sim::Deviation>,
        /// ...keeping this documented difference of the seed, declared in the handshake (implies --sim;
        /// repeatable).
        #[arg(long, value_enum)]
        keep: Vec<conform::differences::Difference>,
    },
}

#[derive(Debug, clap::Args)]
struct SoakArgs {
    /// What to drive: the keyed state backend, or one StateTable per state (which also reports copy counts).
    #[arg(long, value_enum, default_value_t = soak::TargetKind::Backend)]
    target: soak::TargetKind,
    /// How long the writer runs (e.g. 30s, 500ms, 2m).
    #[arg(long, default_value = "30s", value_parser = soak::parse_duration)]
    duration: std::time::Duration,
    /// Size of the key space (skewed: 70% of the operations hit the hottest 1%).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=1 << 40))]
    keys: u64,
    /// Namespaces per key.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    namespaces: u32,
    /// Named states (one table each).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    states: u64,
    /// Time between snapshots for the readers (e.g. 5ms).
    #[arg(long, default_value = "5ms", value_parser = soak::parse_duration)]
    snapshot_every: std::time::Duration,
    /// Time between asynchronous checkpoints (e.g. 100ms).
    #[arg(long, default_value = "100ms", value_parser = soak::parse_duration)]
    checkpoint_every: std::time::Duration,
    /// Reader threads verifying snapshots.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    readers: u64,
    /// Seed of the generated stream (random if not given; printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// Store checkpoints as files in this directory (default without a value: a directory under the system
    /// temp dir) instead of memory.
    #[arg(long, num_args = 0..=1)]
    dir: Option<Option<PathBuf>>,
    /// Number of key groups (Flink max parallelism).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=32_768))]
    max_parallelism: u32,
    /// Print the summary as JSON (and no progress bar).
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Put an entry behind the model's back after N operations (tests the verification itself).
    #[arg(long, hide = true)]
    inject_fault: Option<u64>,
    /// Drive TTL value, list (per element) and map (per entry) states (one of each per --states) under a manual
    /// clock: reads compared with a model of stamps, checkpoints with cleanup at snapshot verified against their
    /// clock window, incremental cleanup on.
    #[arg(long)]
    ttl: bool,
    /// Checkpoint the backend incrementally (a full checkpoint every --full-every, deltas in between, some
    /// cancelled): every completed checkpoint is restored as its chain (some rescaled) and verified.
    #[arg(long, conflicts_with = "ttl")]
    incremental: bool,
    /// With --incremental: a full checkpoint every this many (a chain holds at most this many minus one deltas).
    #[arg(long, default_value_t = 5, requires = "incremental", value_parser = clap::value_parser!(u32).range(2..=1000))]
    full_every: u32,
}

#[derive(Debug, Subcommand)]
enum CheckpointCommand {
    /// Prints the header, serializers, key-group range, states and per-key-group entry counts and sizes of a
    /// checkpoint (single-table container or keyed state stream) after verifying every checksum.
    Inspect {
        /// The checkpoint file.
        path: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TraceCommand {
    /// Writes a JSON Lines trace: every operation with its expected result and the table's state after it.
    Generate {
        /// Seed of the operation generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of operations.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        ops: u64,
        /// Workload profile.
        #[arg(long, value_enum, default_value_t = Profile::Mixed)]
        profile: Profile,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// How the table places entries: the deterministic hasher, or Flink's composite hash over Java hash
        /// codes (for the structural level of a port that keeps Flink's hashing).
        #[arg(long, value_enum, default_value_t = engine::HashKind::Deterministic)]
        hash: engine::HashKind,
    },
    /// Replays a trace against this crate, or against a port (--exec), and reports the first divergence with
    /// context.
    Replay {
        /// The trace file (JSON Lines).
        file: PathBuf,
        /// Which fields to compare: results only, exact (+ len, version, live snapshots), structural (+ capacity,
        /// rehashing), all (+ copy counts). Default: structural against this crate, the level the port declares
        /// against a port (exact without a handshake).
        #[arg(long, value_enum)]
        level: Option<Level>,
        /// Replay against the port this command starts (run with `sh -c`), over the conform protocol.
        #[arg(long)]
        exec: Option<String>,
        /// Seconds to wait for one response of the port.
        #[arg(long, default_value_t = 10.0, requires = "exec")]
        timeout: f64,
    },
}

fn soak_command(a: SoakArgs) -> Result<()> {
    let seed = a.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
    });
    let storage = match a.dir {
        None => soak::checkpoint::Storage::Memory,
        Some(None) => soak::checkpoint::Storage::Dir(
            std::env::temp_dir().join(format!("cow-state-table-soak-{}", std::process::id())),
        ),
        Some(Some(d)) => soak::checkpoint::Storage::Dir(d),
    };
    let cfg = soak::Config {
        target: a.target,
        duration: a.duration,
        shape: soak::workload::Shape {
            keys: a.keys,
            namespaces: a.namespaces,
            states: a.states as usize,
        },
        snapshot_every: a.snapshot_every,
        checkpoint_every: a.checkpoint_every,
        readers: a.readers as usize,
        seed,
        storage,
        max_parallelism: a.max_parallelism,
        progress: !a.json && !a.no_progress,
        inject_fault: a.inject_fault,
        ttl: a.ttl,
        incremental: a.incremental.then_some(a.full_every),
    };
    if cfg.incremental.is_some() && cfg.target != soak::TargetKind::Backend {
        return Err(CliError::Usage(
            "--incremental checkpoints the keyed state backend (--target backend)".into(),
        ));
    }
    if let soak::checkpoint::Storage::Dir(dir) = &cfg.storage {
        std::fs::create_dir_all(dir).map_err(|e| CliError::io(dir, e))?;
    }
    if let (false, Some(k)) = (a.json, cfg.incremental) {
        eprintln!(
            "soak --incremental: seed {seed}, {:?}, {} keys x {} namespaces x {} states, checkpoints every {:?}, a full one every {k}",
            cfg.duration, a.keys, a.namespaces, a.states, cfg.checkpoint_every
        );
    } else if !a.json && cfg.ttl {
        // `soak --ttl` has no snapshot readers: its checks are the reads against the model and the restores.
        eprintln!(
            "soak --ttl: seed {seed}, {:?}, {} keys x {} namespaces, TTL value, list and map states on a manual clock, checkpoints every {:?}",
            cfg.duration, a.keys, a.namespaces, cfg.checkpoint_every
        );
    } else if !a.json {
        eprintln!(
            "soak: seed {seed}, {:?}, {} keys x {} namespaces x {} states, snapshots every {:?}, checkpoints every {:?}, {} readers",
            cfg.duration, a.keys, a.namespaces, a.states, cfg.snapshot_every, cfg.checkpoint_every, cfg.readers
        );
    }
    let summary = soak::run(&cfg)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).expect("summary serializes")
        );
    } else {
        print!("{}", summary.table());
    }
    match summary.divergence {
        None => Ok(()),
        Some(d) => Err(CliError::Mismatch(format!(
            "soak mismatch (seed {seed}; rerun with --seed {seed}): {d}"
        ))),
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Soak(args) => soak_command(args),
        Command::Checkpoint(CheckpointCommand::Inspect { path, json }) => {
            let report = inspect::inspect(&path)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).expect("report serializes"));
            } else {
                print!("{}", report.text());
            }
            Ok(())
        }
        Command::Trace(TraceCommand::Generate {
            seed,
            ops,
            profile,
            out,
            hash,
        }) => {
            let list = trace::generate::generate(profile, seed, ops as usize);
            match out {
                Some(path) => {
                    let file = std::fs::File::create(&path).map_err(|e| CliError::io(&path, e))?;
                    let mut w = std::io::BufWriter::new(file);
                    trace::write_trace(profile, seed, hash, &list, &mut w)
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut w = std::io::BufWriter::new(stdout.lock());
                    trace::write_trace(profile, seed, hash, &list, &mut w)
                }
            }
        }
        Command::Conform {
            exec,
            seed,
            cases,
            ops,
            profile,
            timeout,
            shrink_time,
            level,
        } => {
            if !(timeout.is_finite() && timeout > 0.0 && timeout <= 86_400.0) {
                return Err(CliError::Usage(format!(
                    "--timeout {timeout}: expected seconds in (0, 86400]"
                )));
            }
            if !(shrink_time.is_finite() && (0.0..=86_400.0).contains(&shrink_time)) {
                return Err(CliError::Usage(format!(
                    "--shrink-time {shrink_time}: expected seconds in [0, 86400]"
                )));
            }
            let settings = conform::Settings {
                exec,
                seed,
                cases,
                ops: ops as usize,
                profile,
                timeout: std::time::Duration::from_secs_f64(timeout),
                shrink_budget: 5000,
                shrink_time: std::time::Duration::from_secs_f64(shrink_time),
                level,
            };
            let passed = conform::conform(&settings)?;
            println!(
                "conform: `{}` agrees with the model on {} cases ({} requests, profile {}, seeds {}..{}) at level {} ({})",
                settings.exec,
                passed.cases,
                passed.requests,
                profile.name(),
                seed,
                seed.wrapping_add(cases),
                passed.check.level.name(),
                if passed.handshake && !passed.check.differences.is_empty() {
                    format!(
                        "declared by the port, hash {}, declared differences not reported: {}",
                        passed.check.hash.name(),
                        passed.check.differences.names()
                    )
                } else if passed.handshake {
                    format!("declared by the port, hash {}", passed.check.hash.name())
                } else {
                    "the port answered no handshake".to_string()
                }
            );
            if !passed.skipped.is_empty() {
                println!(
                    "conform: skipped as unsupported by the port: {} ({} operations not checked)",
                    conform::skipped_list(&passed.skipped),
                    passed.skipped.values().sum::<u64>()
                );
            }
            Ok(())
        }
        Command::Adapter {
            bug,
            die_after,
            garbage_after,
            crash_on,
            crash_after,
            error_on,
            unsupported,
            hash,
            level,
            sim,
            deviation,
            keep,
        } => {
            let code = conform::adapter::serve(&conform::adapter::Faults {
                bug,
                die_after,
                garbage_after,
                crash_on: crash_on.map(|op| (op, crash_after)),
                error_on,
                unsupported,
                hash,
                level,
                sim: (sim || deviation.is_some() || !keep.is_empty()).then_some(deviation),
                keep: keep.into_iter().collect(),
            });
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Trace(TraceCommand::Replay {
            file,
            level,
            exec,
            timeout,
        }) => {
            if !(timeout.is_finite() && timeout > 0.0 && timeout <= 86_400.0) {
                return Err(CliError::Usage(format!(
                    "--timeout {timeout}: expected seconds in (0, 86400]"
                )));
            }
            let against = match &exec {
                None => trace::replay::Against::Crate,
                Some(exec) => trace::replay::Against::Port {
                    exec: exec.clone(),
                    timeout: std::time::Duration::from_secs_f64(timeout),
                },
            };
            let r = trace::replay::replay(&file, level, &against)?;
            let who = exec.map_or_else(String::new, |e| format!(" by `{e}`"));
            println!(
                "{}: {} operations replayed{who} (profile {}, seed {}, hash {}), all match at level {}",
                file.display(),
                r.ops,
                r.header.profile,
                r.header.seed,
                r.header.hasher,
                r.level.name()
            );
            if !r.differences.is_empty() {
                println!(
                    "{}: declared differences not reported (structural fields from the simulation keeping them, with \
                     the port's hash): {}",
                    file.display(),
                    r.differences.names()
                );
            }
            if !r.skipped.is_empty() {
                println!(
                    "{}: reads skipped as unsupported by the port: {}",
                    file.display(),
                    conform::skipped_list(&r.skipped)
                );
            }
            Ok(())
        }
    }
}

/// Prints panics as one line (no backtrace): an internal error, exit code 101.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("error: internal error{at}: {}", msg.lines().next().unwrap_or(""));
    }));
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                let code = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
                return ExitCode::from(code);
            }
            // clap's message is a paragraph, then usage and tips: keep the paragraph, on one line.
            let text = e.render().to_string();
            let paragraph = text.split("\n\n").next().unwrap_or("invalid arguments");
            let words: Vec<&str> = paragraph.split_whitespace().collect();
            let first = words.join(" ");
            eprintln!("error: {} (see --help)", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => {
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
