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
mod oracle;
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

#[derive(Debug, Subcommand)]
enum Command {
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
    },
    /// Replays a trace against this crate and reports the first divergence with context.
    Replay {
        /// The trace file (JSON Lines).
        file: PathBuf,
        /// Which fields to compare: exact (every port), structural (+ capacity, rehashing), all (+ copy counts).
        #[arg(long, value_enum, default_value_t = Level::Structural)]
        level: Level,
    },
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Trace(TraceCommand::Generate {
            seed,
            ops,
            profile,
            out,
        }) => {
            let list = trace::generate::generate(profile, seed, ops as usize);
            match out {
                Some(path) => {
                    let file = std::fs::File::create(&path).map_err(|e| CliError::io(&path, e))?;
                    let mut w = std::io::BufWriter::new(file);
                    trace::write_trace(profile, seed, &list, &mut w)
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut w = std::io::BufWriter::new(stdout.lock());
                    trace::write_trace(profile, seed, &list, &mut w)
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
        } => {
            if !(timeout.is_finite() && timeout > 0.0 && timeout <= 86_400.0) {
                return Err(CliError::Usage(format!(
                    "--timeout {timeout}: expected seconds in (0, 86400]"
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
            };
            let passed = conform::conform(&settings)?;
            println!(
                "conform: `{}` agrees with the model on {} cases ({} requests, profile {}, seeds {}..{})",
                settings.exec,
                passed.cases,
                passed.requests,
                profile.name(),
                seed,
                seed.wrapping_add(cases)
            );
            Ok(())
        }
        Command::Adapter {
            bug,
            die_after,
            garbage_after,
        } => {
            let code = conform::adapter::serve(conform::adapter::Faults {
                bug,
                die_after,
                garbage_after,
            });
            if code != 0 {
                std::process::exit(code);
            }
            Ok(())
        }
        Command::Trace(TraceCommand::Replay { file, level }) => {
            let r = trace::replay::replay(&file, level)?;
            println!(
                "{}: {} operations replayed (profile {}, seed {}), all match at level {:?}",
                file.display(),
                r.ops,
                r.header.profile,
                r.header.seed,
                level
            );
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
