//! `conform --exec COMMAND`: checks an implementation under test (a port) against the reference model over the
//! line protocol of [`protocol`], and shrinks the first divergence to a minimal failing trace.

pub mod adapter;
pub mod child;
pub mod protocol;
pub mod shrink;

use crate::error::{CliError, Result};
use crate::oracle::Oracle;
use crate::trace::format::{short, Op};
use crate::trace::generate::{generate, Profile};
use child::ChildProcess;
use protocol::Request;
use serde_json::Value;
use std::time::Duration;

/// Settings of a conformance run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The command that starts the implementation under test (run by `sh -c`).
    pub exec: String,
    /// Seed of the first case; case `c` uses `seed + c`.
    pub seed: u64,
    /// Number of cases.
    pub cases: u64,
    /// Operations per case.
    pub ops: usize,
    /// Workload profile.
    pub profile: Profile,
    /// How long to wait for one response.
    pub timeout: Duration,
    /// Most runs spent shrinking.
    pub shrink_budget: usize,
}

/// The first operation whose response differs from the model's.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Its position in the case.
    pub index: usize,
    /// The expected result.
    pub expected: Value,
    /// The child's result.
    pub got: Value,
}

/// Runs `ops` on a reset child and on a fresh model; the first difference, if any.
pub fn run_case(child: &mut ChildProcess, capacity: u64, ops: &[Op]) -> Result<Option<Failure>> {
    child.call(&Request::Reset { capacity })?;
    let mut oracle = Oracle::default();
    for (index, op) in ops.iter().enumerate() {
        let expected = oracle.apply(op).map_err(CliError::Diverged)?;
        let got = child.call(&Request::Op(*op))?;
        if got != expected {
            return Ok(Some(Failure { index, expected, got }));
        }
    }
    Ok(None)
}

/// What a clean run covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Passed {
    /// Cases run.
    pub cases: u64,
    /// Requests sent.
    pub requests: u64,
}

/// Runs the conformance check; on a divergence prints the shrunk failing trace and returns
/// [`CliError::Diverged`].
pub fn conform(s: &Settings) -> Result<Passed> {
    let mut child = ChildProcess::spawn(&s.exec, s.timeout)?;
    let capacity = s.profile.capacity() as u64;
    for case in 0..s.cases {
        let seed = s.seed.wrapping_add(case);
        let ops = generate(s.profile, seed, s.ops);
        let Some(first) = run_case(&mut child, capacity, &ops)? else {
            continue;
        };
        let failing = &ops[..=first.index];
        let (minimal, runs) = shrink::shrink(failing.to_vec(), s.shrink_budget, |c| {
            run_case(&mut child, capacity, c).map(|f| f.is_some())
        })?;
        let last = run_case(&mut child, capacity, &minimal)?.expect("the shrunk sequence still fails");
        println!(
            "divergence in case {case} (seed {seed}, profile {}) at op #{} of {}: {}",
            s.profile.name(),
            first.index,
            ops.len(),
            describe(&ops[first.index], &first)
        );
        println!(
            "minimal failing trace ({} operations, found in {runs} shrinking runs); expected results from the model:",
            minimal.len()
        );
        let mut oracle = Oracle::default();
        for (i, op) in minimal.iter().enumerate() {
            let expected = oracle.apply(op).map_err(CliError::Diverged)?;
            let op = crate::trace::format::op_json(op);
            let got = if i == last.index {
                format!(",\"got\":{}", last.got)
            } else {
                String::new()
            };
            println!("{{\"i\":{i},{},\"expected\":{expected}{got}}}", &op[1..op.len() - 1]);
        }
        child.finish();
        return Err(CliError::Diverged(format!(
            "`{}` diverges from the model: {} (minimal trace of {} ops above; rerun with --seed {seed} --cases 1)",
            s.exec,
            describe(&minimal[last.index], &last),
            minimal.len()
        )));
    }
    let requests = child.requests;
    child.finish();
    Ok(Passed {
        cases: s.cases,
        requests,
    })
}

fn describe(op: &Op, f: &Failure) -> String {
    format!(
        "{} expected {}, got {}",
        crate::trace::format::op_json(op),
        short(&f.expected),
        short(&f.got)
    )
}
