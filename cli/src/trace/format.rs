//! The trace format: JSON Lines, one header line, then one line per operation with its expected result and the
//! table's observable state after it. docs/PORTING.md ("Traces") is the specification; this module is its
//! reading and writing.
//!
//! ```text
//! {"trace":"cow-state-table","format":1,"seed":7,"profile":"rehash","ops":3,"capacity":4,...}
//! {"i":0,"op":"put","key":3,"ns":1,"value":9,"result":null,"state":{"len":1,"version":0,...}}
//! {"i":1,"op":"snapshot","slot":0,"result":1,"state":{...}}
//! {"i":2,"op":"read_snapshot","slot":0,"result":[[3,1,9]],"state":{...}}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `trace` field of every header.
pub const TRACE_MAGIC: &str = "cow-state-table";
/// The version of the trace format.
pub const TRACE_FORMAT: u32 = 1;

/// One operation of the language shared by traces and the `conform` protocol (docs/PORTING.md, "Operations").
///
/// Keys are `u64`, namespaces `u32`, states `u64`; `slot` names one of four snapshot slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// `put(key, ns, value)`; result `null`.
    Put {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
        /// The new state.
        value: u64,
    },
    /// `put_and_get_old(key, ns, value)`; result: the old state or `null`.
    PutAndGetOld {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
        /// The new state.
        value: u64,
    },
    /// `get(key, ns)`; result: the state or `null`.
    Get {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
    },
    /// `contains(key, ns)`; result: a boolean.
    Contains {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
    },
    /// `get_mut(key, ns)` and, if present, `s = s * 31 + value + 1` (wrapping); result: the new state or `null`.
    GetMut {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
        /// Argument of the modification.
        value: u64,
    },
    /// `remove(key, ns)`; result: whether it was present.
    Remove {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
    },
    /// `remove_and_get_old(key, ns)`; result: the removed state or `null`.
    RemoveAndGetOld {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
    },
    /// `transform(key, ns, value, f)` with `f(None, v) = v << 8`, `f(Some(o), v) = o + v + 1` (wrapping);
    /// result: the `old` argument `f` received, or `null`.
    Transform {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
        /// Argument of `f`.
        value: u64,
    },
    /// `len()`; result: a number.
    Len,
    /// `size_of_namespace(ns)`; result: a number.
    SizeOfNamespace {
        /// Namespace.
        ns: u32,
    },
    /// A full iteration of the live table; result: `[[key, ns, state], ...]` sorted.
    Iterate,
    /// Releases the snapshot in `slot` (if any), then takes a snapshot into it; result: its version.
    Snapshot {
        /// Slot `0..4`.
        slot: u8,
    },
    /// Releases the snapshot in `slot`; result: whether there was one.
    Release {
        /// Slot `0..4`.
        slot: u8,
    },
    /// Iterates the snapshot in `slot`; result: `[[key, ns, state], ...]` sorted, or `null` for an empty slot.
    ReadSnapshot {
        /// Slot `0..4`.
        slot: u8,
    },
    /// Partitions the snapshot in `slot` by key group (all key groups of `max_parallelism`); result:
    /// `[[key_group, entries], ...]` for the non-empty key groups in ascending order, or `null`.
    Partition {
        /// Slot `0..4`.
        slot: u8,
        /// Maximum parallelism (number of key groups).
        max_parallelism: u32,
    },
    /// Writes the V2 body of `key_group` of the snapshot in `slot`, in canonical order (docs/FORMAT.md);
    /// result: the body bytes in lowercase hex, or `null`.
    WriteKeyGroup {
        /// Slot `0..4`.
        slot: u8,
        /// Maximum parallelism (number of key groups).
        max_parallelism: u32,
        /// The key group, `< max_parallelism`.
        key_group: u32,
    },
}

/// Number of snapshot slots.
pub const SLOTS: usize = cow_state_table_model::SLOTS;

impl Op {
    /// The operation's name: its `op` field.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Put { .. } => "put",
            Op::PutAndGetOld { .. } => "put_and_get_old",
            Op::Get { .. } => "get",
            Op::Contains { .. } => "contains",
            Op::GetMut { .. } => "get_mut",
            Op::Remove { .. } => "remove",
            Op::RemoveAndGetOld { .. } => "remove_and_get_old",
            Op::Transform { .. } => "transform",
            Op::Len => "len",
            Op::SizeOfNamespace { .. } => "size_of_namespace",
            Op::Iterate => "iterate",
            Op::Snapshot { .. } => "snapshot",
            Op::Release { .. } => "release",
            Op::ReadSnapshot { .. } => "read_snapshot",
            Op::Partition { .. } => "partition",
            Op::WriteKeyGroup { .. } => "write_key_group",
        }
    }

    /// The slot this operation names, if any.
    pub fn slot(&self) -> Option<u8> {
        match *self {
            Op::Snapshot { slot }
            | Op::Release { slot }
            | Op::ReadSnapshot { slot }
            | Op::Partition { slot, .. }
            | Op::WriteKeyGroup { slot, .. } => Some(slot),
            _ => None,
        }
    }

    /// Checks the ranges the JSON types cannot express: slots `< 4`, `1 <= max_parallelism <= 32768`,
    /// `key_group < max_parallelism`.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(slot) = self.slot() {
            if usize::from(slot) >= SLOTS {
                return Err(format!("slot {slot} is not below {SLOTS}"));
            }
        }
        match *self {
            Op::Partition { max_parallelism, .. } | Op::WriteKeyGroup { max_parallelism, .. }
                if !(1..=32768).contains(&max_parallelism) =>
            {
                Err(format!("max_parallelism {max_parallelism} is not in 1..=32768"))
            }
            Op::WriteKeyGroup {
                max_parallelism,
                key_group,
                ..
            } if key_group >= max_parallelism => Err(format!(
                "key_group {key_group} is not below max_parallelism {max_parallelism}"
            )),
            _ => Ok(()),
        }
    }
}

/// The table's observable state after an operation.
///
/// `len`, `version` and `live_snapshots` are **exact** (every port must match); `capacity` and `rehashing` are
/// **structural** (a port of this algorithm with the deterministic hasher matches them; docs/PORTING.md);
/// `node_copies` and `chunk_copies` are **informative** (they depend on the chunk size and on optimisations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableState {
    /// Number of entries (exact).
    pub len: u64,
    /// The table version: the version of the newest snapshot taken (exact).
    pub version: u32,
    /// Live snapshots (exact).
    pub live_snapshots: u32,
    /// Number of buckets, of the new directory during a rehash (structural).
    pub capacity: u64,
    /// Whether an incremental rehash is in progress (structural).
    pub rehashing: bool,
    /// Nodes copied so far because a live snapshot could see them (informative).
    pub node_copies: u64,
    /// Directory chunks copied so far (informative).
    pub chunk_copies: u64,
}

/// How strictly a replay (or `conform`) compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Operations' results only (a port that does not answer the `state` request).
    Results,
    /// Results, `len`, `version`, `live_snapshots`.
    Exact,
    /// Also `capacity` and `rehashing`.
    Structural,
    /// Also the copy counters.
    All,
}

impl Level {
    /// The level's name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Results => "results",
            Level::Exact => "exact",
            Level::Structural => "structural",
            Level::All => "all",
        }
    }

    /// The state fields a port must report at this level.
    pub fn fields(self) -> &'static [&'static str] {
        const ALL: [&str; 7] = [
            "len",
            "version",
            "live_snapshots",
            "capacity",
            "rehashing",
            "node_copies",
            "chunk_copies",
        ];
        match self {
            Level::Results => &[],
            Level::Exact => &ALL[..3],
            Level::Structural => &ALL[..5],
            Level::All => &ALL,
        }
    }
}

impl TableState {
    /// The value of field `name` (one of [`Level::fields`]) as JSON.
    pub fn field(&self, name: &str) -> Option<Value> {
        Some(match name {
            "len" => self.len.into(),
            "version" => self.version.into(),
            "live_snapshots" => self.live_snapshots.into(),
            "capacity" => self.capacity.into(),
            "rehashing" => self.rehashing.into(),
            "node_copies" => self.node_copies.into(),
            "chunk_copies" => self.chunk_copies.into(),
            _ => return None,
        })
    }
}

/// The first line of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`TRACE_MAGIC`].
    pub trace: String,
    /// Always [`TRACE_FORMAT`].
    pub format: u32,
    /// The generator's seed.
    pub seed: u64,
    /// The generator's profile.
    pub profile: String,
    /// Number of operation lines that follow.
    pub ops: u64,
    /// Initial number of buckets of the table.
    pub capacity: u64,
    /// The hasher: always `"deterministic"` (docs/PORTING.md, "Hashing").
    pub hasher: String,
    /// Key, namespace and state types and serializers: `["u64", "u32", "u64"]`.
    pub types: [String; 3],
    /// Fields every port must match.
    pub exact: Vec<String>,
    /// Fields a port of the same algorithm with the deterministic hasher matches.
    pub structural: Vec<String>,
    /// Fields recorded for information.
    pub informative: Vec<String>,
}

impl Header {
    /// The header of a trace generated with `seed` and `profile`.
    pub fn new(seed: u64, profile: &str, ops: u64, capacity: u64) -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Header {
            trace: TRACE_MAGIC.to_string(),
            format: TRACE_FORMAT,
            seed,
            profile: profile.to_string(),
            ops,
            capacity,
            hasher: "deterministic".to_string(),
            types: ["u64".to_string(), "u32".to_string(), "u64".to_string()],
            exact: s(&["result", "state.len", "state.version", "state.live_snapshots"]),
            structural: s(&["state.capacity", "state.rehashing"]),
            informative: s(&["state.node_copies", "state.chunk_copies"]),
        }
    }
}

/// One operation line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Position of the operation, from 0.
    pub i: u64,
    /// The operation.
    #[serde(flatten)]
    pub op: Op,
    /// The expected result.
    pub result: Value,
    /// The table's state after the operation.
    pub state: TableState,
}

/// Renders `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// An operation as one JSON object (its request form).
pub fn op_json(op: &Op) -> String {
    serde_json::to_string(op).expect("an Op always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trips_with_flattened_op() {
        let line = Line {
            i: 3,
            op: Op::WriteKeyGroup {
                slot: 1,
                max_parallelism: 16,
                key_group: 4,
            },
            result: Value::String("00000000".into()),
            state: TableState {
                len: 1,
                version: 2,
                live_snapshots: 1,
                capacity: 4,
                rehashing: false,
                node_copies: 0,
                chunk_copies: 0,
            },
        };
        let text = serde_json::to_string(&line).unwrap();
        assert!(text.starts_with(r#"{"i":3,"op":"write_key_group","slot":1,"#), "{text}");
        assert_eq!(serde_json::from_str::<Line>(&text).unwrap(), line);
    }

    #[test]
    fn validate_rejects_out_of_range_fields() {
        assert!(Op::Snapshot { slot: 4 }.validate().is_err());
        assert!(Op::Partition {
            slot: 0,
            max_parallelism: 0
        }
        .validate()
        .is_err());
        assert!(Op::WriteKeyGroup {
            slot: 0,
            max_parallelism: 8,
            key_group: 8
        }
        .validate()
        .is_err());
        assert!(Op::Len.validate().is_ok());
    }

    #[test]
    fn names_are_the_op_fields() {
        let ops = [
            Op::Put {
                key: 1,
                ns: 0,
                value: 2,
            },
            Op::Len,
            Op::WriteKeyGroup {
                slot: 0,
                max_parallelism: 8,
                key_group: 1,
            },
        ];
        for op in ops {
            let v: Value = serde_json::from_str(&op_json(&op)).unwrap();
            assert_eq!(v["op"], op.name());
        }
    }
}
