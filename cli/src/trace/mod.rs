//! `trace generate` and `trace replay`: golden traces of the table's behaviour, for regression tests here and
//! as an executable specification for ports (docs/PORTING.md, "Traces").

pub mod diff;
pub mod format;
pub mod generate;
pub mod replay;

use crate::engine::{machine, HashKind};
use crate::error::{CliError, Result};
use crate::oracle::Oracle;
use format::{op_json, Header, Line, Op};
use generate::Profile;
use std::io::Write;

/// Runs `ops` on this crate's table and on the reference model, checks that they agree, and writes the trace.
///
/// Every result and exact state field is the model's; a disagreement (a bug in this crate) is an error.
pub fn write_trace(profile: Profile, seed: u64, hash: HashKind, ops: &[Op], out: &mut dyn Write) -> Result<()> {
    let mut engine = machine(hash, profile.capacity(), None);
    let mut oracle = Oracle::default();
    let io = |e| CliError::Io {
        path: "<output>".to_string(),
        source: e,
    };
    let mut header = Header::new(seed, profile.name(), ops.len() as u64, profile.capacity() as u64);
    header.hasher = hash.name().to_string();
    writeln!(out, "{}", serde_json::to_string(&header).expect("header serializes")).map_err(io)?;
    for (i, op) in ops.iter().enumerate() {
        let expected = oracle.apply(op).map_err(CliError::Diverged)?;
        let got = engine.apply(op).map_err(CliError::Diverged)?;
        let state = engine.state();
        let diverged = |what: String| {
            CliError::Diverged(format!(
                "this crate diverges from the model at op #{i} {}: {what}",
                op_json(op)
            ))
        };
        if got != expected {
            return Err(diverged(format!("result: {}", diff::difference(&expected, &got))));
        }
        let (len, version, live) = oracle.exact_state();
        if (state.len, state.version, state.live_snapshots) != (len, version, live) {
            return Err(diverged(format!(
                "(len, version, live snapshots): model {:?}, table {:?}",
                (len, version, live),
                (state.len, state.version, state.live_snapshots)
            )));
        }
        engine.check().map_err(|e| diverged(format!("check_invariants: {e}")))?;
        let line = Line {
            i: i as u64,
            op: *op,
            result: expected,
            state,
        };
        writeln!(out, "{}", serde_json::to_string(&line).expect("line serializes")).map_err(io)?;
    }
    out.flush().map_err(io)
}
