//! The protocol adapter for this crate (the hidden `adapter` subcommand): serves the conform protocol on
//! stdin/stdout with [`Engine`], so the kit is tested end to end. Flags plant misbehaviour on purpose: a wrong
//! answer ([`Bug`]), death after some requests, garbage after some requests.

use super::protocol::{Request, Response};
use crate::engine::{Bug, Engine};
use std::io::{BufRead, Write};

/// Misbehaviour planted in the adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Answer some operation wrongly.
    pub bug: Option<Bug>,
    /// Exit with status 3 upon receiving request number `n` (from 0), without answering it.
    pub die_after: Option<u64>,
    /// Answer request number `n` (from 0) with a line that is not JSON.
    pub garbage_after: Option<u64>,
}

/// Serves requests from stdin until it closes. Returns the process exit code.
pub fn serve(faults: Faults) -> i32 {
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
