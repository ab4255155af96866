//! The protocol adapter for this crate (the hidden `adapter` subcommand): serves the conform protocol on
//! stdin/stdout with [`Engine`], so the kit is tested end to end. Flags plant misbehaviour on purpose: a wrong
//! answer ([`Bug`]), death after some requests or on an operation, garbage after some requests, an `error`
//! answer to an operation, `unsupported` for some operations.

use super::differences::Differences;
use super::protocol::{Request, Response};
use super::sim::{Deviation, Sim};
use crate::engine::{machine, Bug, HashKind, Machine};
use crate::trace::format::Level;
use std::io::{BufRead, Write};

/// Misbehaviour planted in the adapter.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Answer some operation wrongly.
    pub bug: Option<Bug>,
    /// Exit with status 3 upon receiving request number `n` (from 0), without answering it.
    pub die_after: Option<u64>,
    /// Answer request number `n` (from 0) with a line that is not JSON.
    pub garbage_after: Option<u64>,
    /// Exit with status 4, without answering, upon receiving an operation of this name once `n` requests were
    /// answered (`(name, n)`).
    pub crash_on: Option<(String, u64)>,
    /// Answer `error` to operations of this name (the message names the op and its key group-free fields).
    pub error_on: Option<String>,
    /// Answer `unsupported` to requests of these names (operations, `hello`, `state`).
    pub unsupported: Vec<String>,
    /// How the adapter's table places entries (declared in the handshake).
    pub hash: HashKind,
    /// The level declared in the handshake.
    pub level: Level,
    /// Serve the structural simulation of [`sim`](super::sim) instead of this crate's table (at most the
    /// structural level), with this deviation planted, if any.
    pub sim: Option<Option<Deviation>>,
    /// The seed's documented differences the simulation keeps, declared in the handshake.
    pub keep: Differences,
}

impl Faults {
    fn table(&self, capacity: usize) -> Box<dyn Machine> {
        match self.sim {
            Some(deviation) => Box::new(Sim::with(capacity, deviation, self.hash, self.keep)),
            None => machine(self.hash, capacity, self.bug),
        }
    }

    fn level(&self) -> Level {
        match self.sim {
            Some(_) => self.level.min(Level::Structural),
            None => self.level,
        }
    }
}

/// Serves requests from stdin until it closes. Returns the process exit code.
pub fn serve(faults: &Faults) -> i32 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut engine = faults.table(4);
    for (n, line) in stdin.lock().lines().enumerate() {
        let n = n as u64;
        let Ok(line) = line else { return 2 };
        if faults.die_after == Some(n) {
            eprintln!("adapter: dying on request {n} as asked");
            let _ = out.flush();
            return 3;
        }
        let reply = if faults.garbage_after == Some(n) {
            "this is not JSON".to_string()
        } else {
            let (id, request) = match Request::decode(&line) {
                Ok(decoded) => decoded,
                Err(e) => {
                    if writeln!(out, "{}", Response::err(0, &e))
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        return 2;
                    }
                    continue;
                }
            };
            let name = match &request {
                Request::Reset { .. } => "reset",
                Request::Hello => "hello",
                Request::State => "state",
                Request::Op(op) => op.name(),
            };
            if faults
                .crash_on
                .as_ref()
                .is_some_and(|(op, after)| op == name && n >= *after)
            {
                eprintln!("adapter: crashing on {name} as asked");
                let _ = out.flush();
                return 4;
            }
            if faults.error_on.as_deref() == Some(name) {
                Response::err(id, &format!("PlantedError: {name} at request {n}"))
            } else if faults.unsupported.iter().any(|u| u == name) {
                Response::unsupported(id)
            } else {
                match request {
                    Request::Reset { capacity } => {
                        engine = faults.table(capacity.min(1 << 30) as usize);
                        Response::ok(id, serde_json::Value::Null)
                    }
                    Request::Hello => Response::ok(
                        id,
                        serde_json::json!({"level": faults.level().name(), "hash": faults.hash.name(), "differences": faults.keep}),
                    ),
                    Request::State => Response::ok(id, serde_json::to_value(engine.state()).expect("serializes")),
                    Request::Op(op) => match engine.apply(&op) {
                        Ok(v) => Response::ok(id, v),
                        Err(e) => Response::err(id, &e),
                    },
                }
            }
        };
        if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() {
            return 2;
        }
    }
    0
}
