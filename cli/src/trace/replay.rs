//! `trace replay FILE`: runs a trace's operations on this crate and reports the first divergence with context.

use super::format::{op_json, short, Header, Level, Line, TRACE_FORMAT, TRACE_MAGIC};
use crate::engine::Engine;
use crate::error::{CliError, Result};
use std::collections::VecDeque;
use std::io::BufRead;
use std::path::Path;

/// Lines of context printed before a divergence.
const CONTEXT: usize = 3;

/// What a successful replay covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The trace's header.
    pub header: Header,
    /// Operations replayed.
    pub ops: u64,
}

/// Replays the trace at `path` at `level`. On a divergence, prints the context (the preceding lines, the
/// operation, expected and actual) to stdout and returns a one-line [`CliError::Diverged`].
pub fn replay(path: &Path, level: Level) -> Result<Replayed> {
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
    if header.hasher != "deterministic" || !(4..=1 << 30).contains(&header.capacity) {
        return Err(bad(
            1,
            format!("unsupported hasher {:?} or capacity {}", header.hasher, header.capacity),
        ));
    }
    let mut engine = Engine::new(header.capacity as usize, None);
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
        let got = engine.apply(&line.op);
        let state = engine.state();
        let what = match got {
            Err(e) => Some(format!("the table failed: {e}")),
            Ok(got) if got != line.result => {
                Some(format!("result: expected {}, got {}", short(&line.result), short(&got)))
            }
            Ok(_) => line
                .state
                .diff(&state, level)
                .map(|(field, e, g)| format!("state.{field}: expected {e}, got {g}"))
                .or_else(|| engine.check().err().map(|e| format!("check_invariants: {e}"))),
        };
        if let Some(what) = what {
            println!("divergence in {shown} at line {lineno} (op #{}):", line.i);
            for c in &context {
                println!("    {c}");
            }
            println!("  > {text}");
            println!("  {what}");
            println!(
                "  table state after the op: {}",
                serde_json::to_string(&state).expect("serializes")
            );
            return Err(CliError::Diverged(format!(
                "{shown}:{lineno}: op #{} {} diverges: {what}",
                line.i,
                op_json(&line.op)
            )));
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
    Ok(Replayed { header, ops: count })
}
