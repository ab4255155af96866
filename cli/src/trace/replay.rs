//! `trace replay FILE [--exec CMD]`: runs a trace's operations on this crate, or on a port speaking the conform
//! protocol, and reports the first divergence with context.

use super::diff::difference;
use super::format::{op_json, Header, Level, Line, Op, TRACE_FORMAT, TRACE_MAGIC};
use crate::conform::child::{ChildProcess, Reply};
use crate::conform::differences::Differences;
use crate::conform::protocol::Request;
use crate::conform::{handshake, Check, Skipped};
use crate::engine::{machine, HashKind, Machine};
use crate::error::{CliError, Result};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

/// What a trace is replayed against.
#[derive(Debug, Clone, PartialEq)]
pub enum Against {
    /// This crate's table.
    Crate,
    /// A port started with `sh -c exec`, spoken to over the conform protocol.
    Port {
        /// The command.
        exec: String,
        /// How long to wait for one response.
        timeout: Duration,
    },
}

/// The implementation under replay.
enum Target {
    Crate(Box<dyn Machine>),
    Port(ChildProcess),
}

/// One operation's outcome on the target.
enum Step {
    Result(Value),
    /// A read the port does not support: skipped.
    Skipped,
    Failed(String),
}

/// Whether `op` changes nothing (a port may skip it in a replay).
fn is_read(op: &Op) -> bool {
    matches!(
        op,
        Op::Get { .. }
            | Op::Contains { .. }
            | Op::Len
            | Op::SizeOfNamespace { .. }
            | Op::Iterate
            | Op::ReadSnapshot { .. }
            | Op::Partition { .. }
            | Op::WriteKeyGroup { .. }
    )
}

impl Target {
    fn apply(&mut self, op: &Op, lineno: usize) -> Result<Step> {
        match self {
            Target::Crate(m) => Ok(match m.apply(op) {
                Ok(v) => Step::Result(v),
                Err(e) => Step::Failed(format!("the table failed: {e}")),
            }),
            Target::Port(child) => Ok(match child.call(&Request::Op(*op))? {
                Ok(Reply::Result(v)) => Step::Result(v),
                Ok(Reply::Unsupported) if is_read(op) => Step::Skipped,
                Ok(Reply::Unsupported) => {
                    return Err(CliError::Child(format!(
                        "line {lineno}: the port answered `unsupported` to {}, which changes the table: the rest of \
                         the trace depends on it",
                        op_json(op)
                    )))
                }
                Ok(Reply::Error(m)) => Step::Failed(format!("the port answered error: {m}")),
                Err(b) => Step::Failed(b.message().to_string()),
            }),
        }
    }

    /// The state object after the operation, or why there is none.
    fn state(&mut self, level: Level) -> Result<Result<Value, String>> {
        match self {
            Target::Crate(m) => Ok(Ok(serde_json::to_value(m.state()).expect("serializes"))),
            Target::Port(child) => Ok(match child.call(&Request::State)? {
                Ok(Reply::Result(v)) => Ok(v),
                Ok(Reply::Unsupported) => {
                    return Err(CliError::Child(format!(
                        "the port answered `unsupported` to the `state` request, which level {} needs; implement \
                         it, or compare results only with --level results",
                        level.name()
                    )))
                }
                Ok(Reply::Error(m)) => Err(format!("the port answered error to the state request: {m}")),
                Err(b) => Err(b.message().to_string()),
            }),
        }
    }

    fn check(&self) -> Option<String> {
        match self {
            Target::Crate(m) => m.check().err().map(|e| format!("check_invariants: {e}")),
            Target::Port(_) => None,
        }
    }
}

/// Lines of context printed before a divergence.
const CONTEXT: usize = 3;

/// What a successful replay covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The trace's header.
    pub header: Header,
    /// Operations replayed.
    pub ops: u64,
    /// The level compared.
    pub level: Level,
    /// Reads the port answered `unsupported` (skipped), by name.
    pub skipped: Skipped,
    /// The differences the port declared (their structural fields came from the simulation keeping them).
    pub differences: Differences,
}

/// Replays the trace at `path` against `against` at `level` (default: structural for this crate, the port's
/// declared level for a port). On a divergence, prints the context (the preceding lines, the operation,
/// expected and actual) to stdout and returns a one-line [`CliError::Diverged`]; a port that fails (an error
/// answer, a crash, a hang) is a [`CliError::Child`] naming the line.
pub fn replay(path: &Path, level: Option<Level>, against: &Against) -> Result<Replayed> {
    let file = std::fs::File::open(path).map_err(|e| CliError::io(path, e))?;
    let shown = path.display().to_string();
    let bad = |line: usize, reason: String| CliError::BadTrace {
        path: shown.clone(),
        line,
        reason,
    };
    let mut lines = std::io::BufReader::new(file).lines();
    let first = lines
        .next()
        .ok_or_else(|| bad(1, "empty file, expected a trace header".into()))?
        .map_err(|e| CliError::io(path, e))?;
    let header: Header = serde_json::from_str(&first).map_err(|e| bad(1, format!("not a trace header: {e}")))?;
    if header.trace != TRACE_MAGIC || header.format != TRACE_FORMAT {
        return Err(bad(
            1,
            format!(
                "not a {TRACE_MAGIC} trace of format {TRACE_FORMAT} (found {:?} format {})",
                header.trace, header.format
            ),
        ));
    }
    let hash = match header.hasher.as_str() {
        "deterministic" => HashKind::Deterministic,
        "flink" => HashKind::Flink,
        _ => HashKind::Deterministic,
    };
    if hash.name() != header.hasher || !(4..=1 << 30).contains(&header.capacity) {
        return Err(bad(
            1,
            format!("unsupported hasher {:?} or capacity {}", header.hasher, header.capacity),
        ));
    }
    // For a port that declared differences (conform::differences): the structural fields come from the
    // simulation keeping them, run alongside with the port's hash, instead of from the trace's lines.
    let mut reference: Option<Box<dyn Machine>> = None;
    let mut differences = Differences::default();
    let (mut target, level) = match against {
        Against::Crate => (
            Target::Crate(machine(hash, header.capacity as usize, None)),
            level.unwrap_or(Level::Structural),
        ),
        Against::Port { exec, timeout } => {
            let mut child = ChildProcess::spawn(exec, *timeout)?;
            let (declared, _) = handshake(&mut child)?;
            let level = level.unwrap_or(declared.level);
            let check = Check {
                level,
                hash: declared.hash,
                differences: declared.differences,
            };
            check.validate()?;
            if !declared.differences.is_empty() {
                differences = declared.differences;
                reference = check.reference(header.capacity as usize);
            } else if level >= Level::Structural && declared.hash != hash {
                return Err(CliError::Usage(format!(
                    "{shown} was recorded with the {} hash and the port places entries with the {} hash: the \
                     structural fields cannot match; replay at --level exact, or generate a trace with --hash {}",
                    hash.name(),
                    declared.hash.name(),
                    declared.hash.name()
                )));
            }
            match child.call(&Request::Reset {
                capacity: header.capacity,
            })? {
                Ok(Reply::Result(_)) => {}
                Ok(Reply::Unsupported) => {
                    return Err(CliError::Child("the port answered `unsupported` to the reset".into()))
                }
                Ok(Reply::Error(m)) => {
                    return Err(CliError::Child(format!("the port answered error to the reset: {m}")))
                }
                Err(b) => return Err(CliError::Child(format!("at the reset: {}", b.message()))),
            }
            (Target::Port(child), level)
        }
    };
    let mut skipped = Skipped::new();
    let mut context: VecDeque<String> = VecDeque::with_capacity(CONTEXT);
    let mut count = 0u64;
    for (n, text) in lines.enumerate() {
        let lineno = n + 2;
        let text = text.map_err(|e| CliError::io(path, e))?;
        if text.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(&text).map_err(|e| bad(lineno, format!("invalid trace line: {e}")))?;
        line.op.validate().map_err(|e| bad(lineno, e))?;
        if line.i != count {
            return Err(bad(
                lineno,
                format!("operation index {} out of sequence (expected {count})", line.i),
            ));
        }
        let step = target.apply(&line.op, lineno)?;
        if let (Some(r), Step::Result(_)) = (reference.as_mut(), &step) {
            r.apply(&line.op).map_err(CliError::Diverged)?;
        }
        let expected_state = match &reference {
            Some(r) => {
                let mut s = r.state();
                (s.len, s.version, s.live_snapshots) = (line.state.len, line.state.version, line.state.live_snapshots);
                s
            }
            None => line.state,
        };
        let mut state = None;
        let mut failed = false;
        let what = match step {
            Step::Failed(e) => {
                failed = true;
                Some(e)
            }
            Step::Result(got) if level >= Level::Results && got != line.result => {
                Some(format!("result: {}", difference(&line.result, &got)))
            }
            Step::Result(_) | Step::Skipped => {
                if let Step::Skipped = step {
                    *skipped.entry(line.op.name()).or_default() += 1;
                }
                if level >= Level::Exact {
                    match target.state(level)? {
                        Err(e) => {
                            failed = true;
                            Some(e)
                        }
                        Ok(got) => {
                            let what = level.fields().iter().find_map(|&f| {
                                let e = expected_state.field(f).unwrap_or(Value::Null);
                                let g = got.get(f).cloned().unwrap_or(Value::Null);
                                (e != g).then(|| format!("state.{f}: expected {e}, got {g}"))
                            });
                            state = Some(got);
                            what.or_else(|| target.check())
                        }
                    }
                } else {
                    None
                }
            }
        };
        if let Some(what) = what {
            println!("divergence in {shown} at line {lineno} (op #{}):", line.i);
            for c in &context {
                println!("    {c}");
            }
            println!("  > {text}");
            println!("  {what}");
            if let Some(state) = state {
                println!("  state after the op: {state}");
            }
            let message = format!(
                "{shown}:{lineno}: op #{} {} diverges: {what}",
                line.i,
                op_json(&line.op)
            );
            if let Target::Port(child) = target {
                child.finish();
            }
            return Err(if failed {
                CliError::Child(message)
            } else {
                CliError::Diverged(message)
            });
        }
        if context.len() == CONTEXT {
            context.pop_front();
        }
        context.push_back(if text.len() > 200 {
            format!(
                "{}…",
                &text[..text.char_indices().nth(190).map_or(text.len(), |(i, _)| i)]
            )
        } else {
            text
        });
        count += 1;
    }
    if count != header.ops {
        return Err(bad(
            count as usize + 2,
            format!(
                "truncated trace: the header announces {} operations, found {count}",
                header.ops
            ),
        ));
    }
    if let Target::Port(child) = target {
        child.finish();
    }
    Ok(Replayed {
        header,
        ops: count,
        level,
        skipped,
        differences,
    })
}
