//! `conform --exec COMMAND`: checks an implementation under test (a port) against the reference model over the
//! line protocol of [`protocol`], and shrinks the first failure — a divergence, an error the port reports, or a
//! child that dies, hangs or answers garbage — to a minimal failing trace of the same kind.

pub mod adapter;
pub mod child;
pub mod differences;
pub mod protocol;
pub mod shrink;
pub mod sim;

use crate::engine::{machine, HashKind, Machine};
use crate::error::{CliError, Result};
use crate::oracle::Oracle;
use crate::trace::diff::{difference, json_type};
use crate::trace::format::Level;
use crate::trace::format::{op_json, Op};
use crate::trace::generate::{generate, Profile};
use child::{Broken, ChildProcess, Reply};
use differences::Differences;
use protocol::{Hello, Request};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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
    /// Most time spent shrinking (a hanging port costs a timeout per run).
    pub shrink_time: Duration,
    /// The level to check; `None`: the level the port declares in the handshake (exact without one).
    pub level: Option<Level>,
}

/// What is compared, and how the structural reference places entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// The level.
    pub level: Level,
    /// The hash the port declared (the structural reference uses it).
    pub hash: HashKind,
    /// The documented differences the port declared: the structural reference keeps them.
    pub differences: Differences,
}

impl Check {
    /// The reference for the structural fields: this crate's table with the port's hash, or — for a port that
    /// declared differences — the structural simulation keeping them (`None` below the structural level).
    pub fn reference(&self, capacity: usize) -> Option<Box<dyn Machine>> {
        (self.level >= Level::Structural).then(|| -> Box<dyn Machine> {
            if self.differences.is_empty() {
                machine(self.hash, capacity, None)
            } else {
                Box::new(sim::Sim::declared(capacity, self.hash, self.differences))
            }
        })
    }

    /// Refuses the `all` level for a port that declared differences (the simulation that keeps them counts no
    /// copies).
    pub fn validate(&self) -> Result<()> {
        if self.level == Level::All && !self.differences.is_empty() {
            return Err(CliError::Usage(format!(
                "the port declares the differences [{}]: its copy counters cannot be compared; check it at \
                 --level structural at most",
                self.differences.names()
            )));
        }
        Ok(())
    }
}

/// What went wrong at an operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The result differs from the model's.
    Mismatch {
        /// The model's result.
        expected: Value,
        /// The port's result.
        got: Value,
    },
    /// The port answered `error`.
    Error(String),
    /// The port died, hung or answered garbage.
    Broken(Broken),
    /// The state after the operation differs (the first differing field of the level).
    State {
        /// The field.
        field: &'static str,
        /// The expected state (the level's fields).
        expected: Value,
        /// The state the port reported.
        got: Value,
    },
}

/// The first failure of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Position of the operation in the case; `None`: the reset that starts the case.
    pub index: Option<usize>,
    /// What went wrong.
    pub fault: Fault,
}

/// What a failure is, for the shrinker: a smaller case counts as failing only if it fails the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// The operation's name.
    pub op: &'static str,
    /// The kind: `result number→null`, `error <message with digits masked, up to its first ':'>`, `died
    /// (exited with exit status: 3)`, `timeout`, `garbage`.
    pub kind: String,
}

/// An error message reduced to its class: up to the first `:` (an exception's class name, typically), digits
/// masked, so `IndexOutOfBounds: 7` and `IndexOutOfBounds: 12` are one class and `NullPointer` another.
fn error_class(message: &str) -> String {
    let head = message.split(':').next().unwrap_or(message).trim();
    let mut out = String::with_capacity(head.len());
    for c in head.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Failure {
    /// The class of this failure at `op`.
    pub fn class(&self, op: &'static str) -> Class {
        let kind = match &self.fault {
            Fault::Mismatch { expected, got } => format!("result {}→{}", json_type(expected), json_type(got)),
            Fault::Error(m) => format!("error {}", error_class(m)),
            Fault::Broken(Broken::Died { status, .. }) => format!("died ({status})"),
            Fault::Broken(Broken::Timeout(_)) => "timeout".into(),
            Fault::Broken(Broken::Garbage(_)) => "garbage".into(),
            Fault::State { field, .. } => format!("state.{field}"),
        };
        Class { op, kind }
    }

    /// One line: the operation and what went wrong (complete: lists are diffed, never cut).
    pub fn describe(&self, ops: &[Op]) -> String {
        let op = match self.index {
            Some(i) => op_json(&ops[i]),
            None => "the reset".to_string(),
        };
        match &self.fault {
            Fault::Mismatch { expected, got } => format!("{op} {}", difference(expected, got)),
            Fault::Error(m) => format!("{op}: the port answered error: {m}"),
            Fault::Broken(b) => format!("{op}: {}", b.message()),
            Fault::State { field, expected, got } => format!(
                "{op}, then state.{field}: expected {}, got {}",
                expected[*field],
                got.get(*field)
                    .map_or_else(|| "nothing (field missing)".to_string(), Value::to_string)
            ),
        }
    }

    /// The word for this failure in the report's first line.
    fn headline(&self) -> &'static str {
        match self.fault {
            Fault::Mismatch { .. } | Fault::State { .. } => "divergence",
            Fault::Error(_) => "error",
            Fault::Broken(Broken::Died { .. }) => "crash",
            Fault::Broken(Broken::Timeout(_)) => "timeout",
            Fault::Broken(Broken::Garbage(_)) => "protocol error",
        }
    }
}

/// Operations a port answered `unsupported`, by name.
pub type Skipped = BTreeMap<&'static str, u64>;

/// The outcome of one case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseRun {
    /// The first failure, if any.
    pub failure: Option<Failure>,
    /// Indices of the operations the port answered `unsupported` (skipped by the model too).
    pub unsupported: Vec<usize>,
}

/// Runs `ops` on a reset child and on a fresh model (and, from the structural level on, on this crate's table
/// with the port's hash); after every operation asks the port's `state` (from the exact level on); stops at the
/// first failure. An operation answered `unsupported` is skipped (the model does not apply it either). `Err` if
/// the command cannot be started, or the port does not answer `state` although the level needs it.
pub fn run_case(child: &mut ChildProcess, check: Check, capacity: u64, ops: &[Op]) -> Result<CaseRun> {
    let mut run = CaseRun::default();
    match child.call(&Request::Reset { capacity })? {
        Ok(Reply::Result(_)) => {}
        Ok(Reply::Unsupported) => {
            run.failure = Some(Failure {
                index: None,
                fault: Fault::Error("the reset was answered `unsupported`; every port must support it".into()),
            });
            return Ok(run);
        }
        Ok(Reply::Error(m)) => {
            run.failure = Some(Failure {
                index: None,
                fault: Fault::Error(m),
            });
            return Ok(run);
        }
        Err(b) => {
            run.failure = Some(Failure {
                index: None,
                fault: Fault::Broken(b),
            });
            return Ok(run);
        }
    }
    let mut oracle = Oracle::default();
    let mut reference = check.reference(capacity.min(1 << 30) as usize);
    for (index, op) in ops.iter().enumerate() {
        let after = |e: CliError| match e {
            CliError::Child(m) => CliError::Child(format!("after op #{index} {}: {m}", op_json(op))),
            other => other,
        };
        let fault = match child.call(&Request::Op(*op))? {
            Ok(Reply::Unsupported) => {
                run.unsupported.push(index);
                state_fault(child, check, &oracle, reference.as_deref()).map_err(after)?
            }
            Ok(Reply::Result(got)) => {
                let expected = oracle.apply(op).map_err(CliError::Diverged)?;
                if let Some(r) = reference.as_mut() {
                    r.apply(op).map_err(CliError::Diverged)?;
                }
                if got == expected {
                    state_fault(child, check, &oracle, reference.as_deref()).map_err(after)?
                } else {
                    Some(Fault::Mismatch { expected, got })
                }
            }
            Ok(Reply::Error(m)) => Some(Fault::Error(m)),
            Err(b) => Some(Fault::Broken(b)),
        };
        let Some(fault) = fault else { continue };
        run.failure = Some(Failure {
            index: Some(index),
            fault,
        });
        return Ok(run);
    }
    Ok(run)
}

/// Asks the port's state (from the exact level on) and compares the level's fields: the exact ones with the
/// model, the others with this crate's table.
fn state_fault(
    child: &mut ChildProcess,
    check: Check,
    oracle: &Oracle,
    reference: Option<&dyn Machine>,
) -> Result<Option<Fault>> {
    if check.level < Level::Exact {
        return Ok(None);
    }
    let got = match child.call(&Request::State)? {
        Ok(Reply::Result(got)) => got,
        Ok(Reply::Unsupported) => {
            return Err(CliError::Child(format!(
                "the port answered `unsupported` to the `state` request, which level {} needs (every field of {:?}); \
                 implement it, or check results only with --level results",
                check.level.name(),
                check.level.fields()
            )))
        }
        Ok(Reply::Error(m)) => return Ok(Some(Fault::Error(format!("(to the state request) {m}")))),
        Err(b) => return Ok(Some(Fault::Broken(b))),
    };
    let (len, version, live) = oracle.exact_state();
    let state = reference.map(Machine::state);
    let mut expected = serde_json::Map::new();
    for &field in check.level.fields() {
        let want = match field {
            "len" => Value::from(len),
            "version" => Value::from(version),
            "live_snapshots" => Value::from(live),
            _ => state.and_then(|s| s.field(field)).unwrap_or(Value::Null),
        };
        expected.insert(field.to_string(), want);
    }
    let field = check.level.fields().iter().find(|&&f| got.get(f) != expected.get(f));
    Ok(field.map(|&field| Fault::State {
        field,
        expected: Value::Object(expected),
        got,
    }))
}

/// What a clean run covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passed {
    /// Cases run.
    pub cases: u64,
    /// Requests sent.
    pub requests: u64,
    /// Operations answered `unsupported`, by name.
    pub skipped: Skipped,
    /// What was compared.
    pub check: Check,
    /// Whether the port answered the handshake.
    pub handshake: bool,
}

/// `put_and_get_old ×12, write_key_group ×3`.
pub fn skipped_list(skipped: &Skipped) -> String {
    skipped
        .iter()
        .map(|(op, n)| format!("{op} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the conformance check; on a failure prints the shrunk failing trace and returns [`CliError::Diverged`]
/// (a divergence) or [`CliError::Child`] (an error answer, a crash, a hang, garbage).
pub fn conform(s: &Settings) -> Result<Passed> {
    let mut child = ChildProcess::spawn(&s.exec, s.timeout)?;
    let (declared, handshake) = handshake(&mut child).map_err(|e| match e {
        CliError::Child(m) => CliError::Child(format!(
            "`{}` failed before case 0 (seed {}, profile {}), op #0: {m}",
            s.exec,
            s.seed,
            s.profile.name()
        )),
        other => other,
    })?;
    let check = Check {
        level: s.level.unwrap_or(declared.level),
        hash: declared.hash,
        differences: declared.differences,
    };
    check.validate()?;
    let capacity = s.profile.capacity() as u64;
    let mut skipped = Skipped::new();
    for case in 0..s.cases {
        let seed = s.seed.wrapping_add(case);
        let ops = generate(s.profile, seed, s.ops);
        let run = run_case(&mut child, check, capacity, &ops).map_err(|e| match e {
            CliError::Child(m) => CliError::Child(format!(
                "`{}` in case {case} (seed {seed}, profile {}), {m}",
                s.exec,
                s.profile.name()
            )),
            other => other,
        })?;
        for &i in &run.unsupported {
            *skipped.entry(ops[i].name()).or_default() += 1;
        }
        let Some(first) = run.failure else {
            continue;
        };
        let place = format!("case {case} (seed {seed}, profile {})", s.profile.name());
        let Some(index) = first.index else {
            // The reset failed: nothing to shrink.
            child.finish();
            return Err(CliError::Child(format!(
                "`{}` failed in {place} at the reset before op #0: {}",
                s.exec,
                first.describe(&ops)
            )));
        };
        let report = shrink_and_report(s, check, &mut child, &place, &ops, (index, &first), &run.unsupported)?;
        child.finish();
        let message = format!(
            "{place} at op #{index} of {}: {}; {report}; rerun with --seed {seed} --cases 1",
            ops.len(),
            first.describe(&ops)
        );
        return Err(match first.fault {
            Fault::Mismatch { .. } | Fault::State { .. } => CliError::Diverged(format!(
                "`{}` diverges from the model at level {} in {message}",
                s.exec,
                check.level.name()
            )),
            _ => CliError::Child(format!("`{}` failed in {message}", s.exec)),
        });
    }
    let requests = child.requests;
    child.finish();
    Ok(Passed {
        cases: s.cases,
        requests,
        skipped,
        check,
        handshake,
    })
}

/// Sends the handshake; the port's declaration and whether it answered one (a port answering `unsupported`,
/// `error` or a `null` result declares the exact level and the deterministic hash).
pub fn handshake(child: &mut ChildProcess) -> Result<(Hello, bool)> {
    match child.call(&Request::Hello)? {
        Ok(Reply::Result(v)) if !v.is_null() => {
            let hello: Hello = serde_json::from_value(v.clone()).map_err(|e| {
                CliError::Child(format!(
                    "the port's handshake answer {v} is not {{\"level\": \"exact\"|\"structural\"|\"all\", \"hash\": \"deterministic\"|\"flink\", \"differences\": [...]}}: {e}"
                ))
            })?;
            Ok((hello, true))
        }
        Ok(Reply::Result(_) | Reply::Unsupported | Reply::Error(_)) => Ok((
            Hello {
                level: Level::Exact,
                hash: HashKind::Deterministic,
                differences: Differences::default(),
            },
            false,
        )),
        Err(b) => Err(CliError::Child(format!("at the handshake: {}", b.message()))),
    }
}

/// Shrinks the failing prefix of `ops` to a minimal sequence that fails the same way (same operation, same class
/// of failure), prints it, and returns a summary for the error line.
fn shrink_and_report(
    s: &Settings,
    check: Check,
    child: &mut ChildProcess,
    place: &str,
    ops: &[Op],
    (index, first): (usize, &Failure),
    first_unsupported: &[usize],
) -> Result<String> {
    let capacity = s.profile.capacity() as u64;
    let class = first.class(ops[index].name());
    let failing = &ops[..=index];
    let started = Instant::now();
    let mut out_of_time = false;
    let (minimal, runs) = shrink::shrink(failing.to_vec(), s.shrink_budget, |c| {
        if started.elapsed() > s.shrink_time {
            out_of_time = true;
            return Ok(false);
        }
        let run = run_case(child, check, capacity, c)?;
        Ok::<_, CliError>(
            run.failure
                .and_then(|f| f.index.map(|i| f.class(c[i].name()) == class))
                .unwrap_or(false),
        )
    })?;
    let last = run_case(child, check, capacity, &minimal)?;
    println!(
        "{} in {place} at op #{index} of {}: {}",
        first.headline(),
        ops.len(),
        first.describe(ops)
    );
    let (trace, failure, shrunk) = match last.failure {
        // The operations after the failing one (left when shrinking stopped early) are dropped.
        Some(f @ Failure { index: Some(i), .. }) if f.class(minimal[i].name()) == class => (&minimal[..=i], f, true),
        // Not reproducible on a rerun (a flaky port): show the original prefix.
        _ => {
            println!("(the shrunk trace did not fail again on a rerun: the port is not deterministic; showing the original failing prefix)");
            (failing, first.clone(), false)
        }
    };
    let at = failure.index.unwrap_or(trace.len() - 1);
    let out_of_budget = runs >= s.shrink_budget;
    let stopped = if out_of_time {
        format!(", shrinking stopped after {:?}: not minimal", s.shrink_time)
    } else if out_of_budget {
        format!(", shrinking stopped after {} runs: not minimal", s.shrink_budget)
    } else {
        String::new()
    };
    if shrunk {
        println!(
            "minimal failing trace ({} operations, found in {runs} shrinking runs{stopped}); expected results from the model:",
            trace.len()
        );
    } else {
        println!(
            "failing trace ({} operations); expected results from the model:",
            trace.len()
        );
    }
    let mut oracle = Oracle::default();
    let unsupported: &[usize] = if shrunk { &last.unsupported } else { first_unsupported };
    for (i, op) in trace.iter().enumerate().take(at + 1) {
        let json = op_json(op);
        let fields = &json[1..json.len() - 1];
        let got = if i == at {
            match &failure.fault {
                Fault::Mismatch { got, .. } => format!(",\"got\":{got}"),
                Fault::Error(m) => format!(",\"error\":{}", Value::String(m.clone())),
                Fault::Broken(b) => format!(",\"failed\":{}", Value::String(b.message().to_string())),
                Fault::State { expected, got, .. } => format!(",\"expected_state\":{expected},\"got_state\":{got}"),
            }
        } else {
            String::new()
        };
        if unsupported.contains(&i) {
            println!("{{\"i\":{i},{fields},\"unsupported\":true{got}}}");
            continue;
        }
        let expected = oracle.apply(op).map_err(CliError::Diverged)?;
        println!("{{\"i\":{i},{fields},\"expected\":{expected}{got}}}");
    }
    if !shrunk {
        return Ok(format!(
            "not reproducible when shrunk: failing trace of {} ops above",
            trace.len()
        ));
    }
    let last = failure.describe(trace);
    Ok(format!(
        "minimal trace of {} ops above{}{}",
        trace.len(),
        if out_of_time {
            " (not minimal: out of shrinking time)"
        } else {
            ""
        },
        if last == first.describe(ops) {
            String::new()
        } else {
            format!(", its last op: {last}")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes_keep_the_exception_and_mask_numbers() {
        assert_eq!(
            error_class("java.lang.IndexOutOfBounds: index 7"),
            "java.lang.IndexOutOfBounds"
        );
        assert_eq!(error_class("bucket 12 overflow"), "bucket # overflow");
        assert_ne!(error_class("NullPointer"), error_class("IllegalState: x"));
    }

    #[test]
    fn classes_distinguish_op_and_kind() {
        let f = |fault| Failure { index: Some(0), fault };
        let m = f(Fault::Mismatch {
            expected: 1.into(),
            got: Value::Null,
        });
        assert_eq!(m.class("len").kind, "result number→null");
        assert_ne!(m.class("len"), m.class("get"));
        assert_ne!(
            f(Fault::Error("A: 1".into())).class("put"),
            f(Fault::Error("B: 1".into())).class("put")
        );
        assert_eq!(
            f(Fault::Error("A: 1".into())).class("put"),
            f(Fault::Error("A: 2".into())).class("put")
        );
    }
}
