//! The protocol adapter for this crate (the hidden `adapter` subcommand): serves the conform protocol on
//! stdin/stdout with [`Engine`], so the kit is tested end to end. Flags plant misbehaviour on purpose: a wrong
//! answer ([`Bug`]), death after some requests or on an operation, garbage after some requests, an `error`
//! answer to an operation, `unsupported` for some operations.

use super::protocol::{Request, Response};
use crate::engine::{Bug, Engine};
use std::io::{BufRead, Write};

/// Misbehaviour planted in the adapter.
#[derive(Debug, Clone, Default)]
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
    /// Answer `unsupported` to operations of these names.
    pub unsupported: Vec<String>,
}

/// Serves requests from stdin until it closes. Returns the process exit code.
pub fn serve(faults: &Faults) -> i32 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut engine = Engine::new(4, faults.bug);
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
            match Request::decode(&line) {
                Err(e) => Response::err(0, &e),
                Ok((id, Request::Reset { capacity })) => {
                    engine = Engine::new(capacity.min(1 << 30) as usize, faults.bug);
                    Response::ok(id, serde_json::Value::Null)
                }
                Ok((_, Request::Op(op)))
                    if faults
                        .crash_on
                        .as_ref()
                        .is_some_and(|(name, after)| name == op.name() && n >= *after) =>
                {
                    eprintln!("adapter: crashing on {} as asked", op.name());
                    let _ = out.flush();
                    return 4;
                }
                Ok((id, Request::Op(op))) if faults.error_on.as_deref() == Some(op.name()) => {
                    Response::err(id, &format!("PlantedError: {} at request {n}", op.name()))
                }
                Ok((id, Request::Op(op))) if faults.unsupported.iter().any(|u| u == op.name()) => {
                    Response::unsupported(id)
                }
                Ok((id, Request::Op(op))) => match engine.apply(&op) {
                    Ok(v) => Response::ok(id, v),
                    Err(e) => Response::err(id, &e),
                },
            }
        };
        if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() {
            return 2;
        }
    }
    0
}
