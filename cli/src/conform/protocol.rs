//! The line protocol between `conform` and an implementation under test (docs/PORTING.md, "The conform
//! protocol").
//!
//! The kit writes one JSON object per line to the child's stdin and reads one JSON object per line from its
//! stdout, strictly alternating:
//!
//! ```text
//! -> {"id":0,"op":"reset","capacity":4}          a fresh, empty table with this many initial buckets
//! <- {"id":0,"result":null}
//! -> {"id":1,"op":"put","key":3,"ns":1,"value":9}
//! <- {"id":1,"result":null}
//! -> {"id":2,"op":"snapshot","slot":0}
//! <- {"id":2,"result":1}
//! ```
//!
//! Every response echoes the request's `id` and carries `result` (the operation's result, [`Op`]), `unsupported`
//! (the port does not implement the operation and did nothing: the kit skips it and counts it) or `error` (a
//! message; a failure of the port, shrunk like a divergence). Unknown fields are ignored. End of input means the
//! kit is done.

use super::child::Reply;
use super::differences::Differences;
use crate::engine::HashKind;
use crate::trace::format::Level;
use crate::trace::format::Op;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request: a reset or an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Start over with an empty table of `capacity` initial buckets and empty snapshot slots.
    Reset {
        /// Initial number of buckets.
        capacity: u64,
    },
    /// An operation.
    Op(Op),
    /// The handshake, sent once before anything else: the port answers with its level and hash
    /// ([`Hello`]), or `unsupported` (then it is checked at the exact level with the deterministic hash).
    Hello,
    /// The table's observable state now: the port answers a [`TableState`](crate::trace::format::TableState)
    /// object with the fields of its level.
    State,
}

/// The version of the protocol the kit speaks, sent in the handshake.
pub const PROTOCOL_VERSION: u32 = 2;

/// A port's answer to the handshake: `{"level": "exact"|"structural"|"all", "hash": "deterministic"|"flink"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The highest level the port matches.
    pub level: Level,
    /// How it places entries (needed from the structural level on).
    #[serde(default = "deterministic")]
    pub hash: HashKind,
    /// The documented differences of this crate's structure the port keeps (`differences`; none by default):
    /// declared, they are not reported ([`differences`](super::differences)).
    #[serde(default)]
    pub differences: Differences,
}

fn deterministic() -> HashKind {
    HashKind::Deterministic
}

/// The wire form of a reset.
#[derive(Serialize, Deserialize)]
struct ResetWire {
    id: u64,
    op: String,
    capacity: u64,
}

#[derive(Serialize)]
struct OpWire<'a> {
    id: u64,
    #[serde(flatten)]
    op: &'a Op,
}

impl Request {
    /// The request as one line (without the newline).
    pub fn encode(&self, id: u64) -> String {
        match self {
            Request::Reset { capacity } => serde_json::to_string(&ResetWire {
                id,
                op: "reset".into(),
                capacity: *capacity,
            }),
            Request::Op(op) => serde_json::to_string(&OpWire { id, op }),
            Request::Hello => {
                serde_json::to_string(&serde_json::json!({"id": id, "op": "hello", "protocol": PROTOCOL_VERSION}))
            }
            Request::State => serde_json::to_string(&serde_json::json!({"id": id, "op": "state"})),
        }
        .expect("requests serialize")
    }

    /// Parses one request line into its id and request.
    pub fn decode(line: &str) -> Result<(u64, Request), String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let id = v.get("id").and_then(Value::as_u64).ok_or("missing numeric \"id\"")?;
        match v.get("op").and_then(Value::as_str) {
            Some("reset") => {
                let capacity = v.get("capacity").and_then(Value::as_u64).unwrap_or(4);
                return Ok((id, Request::Reset { capacity }));
            }
            Some("hello") => return Ok((id, Request::Hello)),
            Some("state") => return Ok((id, Request::State)),
            _ => {}
        }
        let op: Op = serde_json::from_value(v).map_err(|e| format!("bad request: {e}"))?;
        op.validate()?;
        Ok((id, Request::Op(op)))
    }
}

/// One response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The request's id.
    pub id: u64,
    /// What the implementation answered.
    pub reply: Reply,
}

impl Response {
    /// A successful response; `null` results are written as `"result":null`.
    pub fn ok(id: u64, result: Value) -> String {
        serde_json::to_string(&serde_json::json!({"id": id, "result": result})).expect("serializes")
    }

    /// An error response.
    pub fn err(id: u64, message: &str) -> String {
        serde_json::to_string(&serde_json::json!({"id": id, "error": message})).expect("serializes")
    }

    /// An `unsupported` response: the implementation does not implement this request and did nothing.
    pub fn unsupported(id: u64) -> String {
        serde_json::to_string(&serde_json::json!({"id": id, "unsupported": true})).expect("serializes")
    }

    /// Parses a response line. A present `"result": null` counts as a result; `"error"` wins over
    /// `"unsupported"`, which wins over `"result"`.
    pub fn decode(line: &str) -> Result<Response, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
        let obj = v.as_object().ok_or("not a JSON object")?;
        let id = obj.get("id").and_then(Value::as_u64).ok_or("no numeric \"id\"")?;
        let reply = if let Some(e) = obj.get("error") {
            Reply::Error(e.as_str().map_or_else(|| e.to_string(), str::to_string))
        } else if obj
            .get("unsupported")
            .is_some_and(|u| u != &Value::Bool(false) && !u.is_null())
        {
            Reply::Unsupported
        } else {
            Reply::Result(
                obj.get("result")
                    .cloned()
                    .ok_or("neither \"result\" nor \"error\" nor \"unsupported\"")?,
            )
        };
        Ok(Response { id, reply })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for r in [
            Request::Reset { capacity: 4 },
            Request::Op(Op::Put {
                key: 1,
                ns: 2,
                value: 3,
            }),
            Request::Op(Op::Len),
            Request::Hello,
            Request::State,
        ] {
            assert_eq!(Request::decode(&r.encode(9)).unwrap(), (9, r));
        }
        assert_eq!(
            Request::Op(Op::Snapshot { slot: 1 }).encode(3),
            r#"{"id":3,"op":"snapshot","slot":1}"#
        );
        assert_eq!(Request::Hello.encode(0), r#"{"id":0,"op":"hello","protocol":2}"#);
        assert_eq!(Request::State.encode(5), r#"{"id":5,"op":"state"}"#);
        let hello: Hello = serde_json::from_str(r#"{"level":"structural","hash":"flink"}"#).unwrap();
        assert_eq!((hello.level, hello.hash), (Level::Structural, HashKind::Flink));
        let hello: Hello = serde_json::from_str(r#"{"level":"exact"}"#).unwrap();
        assert_eq!(hello.hash, HashKind::Deterministic);
    }

    #[test]
    fn responses_decode_null_results_and_errors() {
        assert_eq!(
            Response::decode(&Response::ok(1, Value::Null)).unwrap().reply,
            Reply::Result(Value::Null)
        );
        assert_eq!(
            Response::decode(&Response::err(1, "x")).unwrap().reply,
            Reply::Error("x".into())
        );
        assert_eq!(
            Response::decode(&Response::unsupported(2)).unwrap(),
            Response {
                id: 2,
                reply: Reply::Unsupported
            }
        );
        assert_eq!(
            Response::decode(r#"{"id":1,"unsupported":"no snapshots here"}"#)
                .unwrap()
                .reply,
            Reply::Unsupported
        );
        assert_eq!(
            Response::decode(r#"{"id":1,"unsupported":false,"result":3}"#)
                .unwrap()
                .reply,
            Reply::Result(3.into())
        );
        assert!(Response::decode(r#"{"id":1}"#).is_err());
        assert!(Response::decode("garbage").is_err());
    }
}
