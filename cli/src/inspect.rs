//! `checkpoint inspect PATH`: what a checkpoint file holds — header, serializers, key-group range, states,
//! per-key-group entry counts and sizes — after verifying every checksum. Reads both the single-table
//! container (`COWSTATE`, `format::Checkpoint`) and the multi-state stream of the keyed state backend
//! (`COWKEYED`, `backend::stream::StreamCheckpoint`). Bodies whose serializers are known by identity are
//! walked entry by entry, so a body that does not decode to exactly its bytes is reported too.

use crate::error::{CliError, Result};
use cow_state_table::backend::stream::StreamCheckpoint;
use cow_state_table::format::{BodyFormat, Checkpoint, CONTAINER_VERSION, MAGIC};
use serde::Serialize;
use std::path::Path;

/// One state of a checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct StateInfo {
    /// Its name (`table` for the single-table container).
    pub name: String,
    /// Its kind (value, list, …; `table` for the single-table container).
    pub kind: String,
    /// Namespace serializer identity.
    pub namespace_serializer: String,
    /// State serializer identity.
    pub state_serializer: String,
    /// Entries over all key groups.
    pub entries: u64,
    /// Body bytes over all key groups.
    pub bytes: u64,
}

/// One key group of one state.
#[derive(Debug, Clone, Serialize)]
pub struct GroupInfo {
    /// The key group.
    pub key_group: u32,
    /// Index of the state.
    pub state: usize,
    /// Entries in its body.
    pub entries: u64,
    /// Bytes of its body.
    pub bytes: u64,
    /// Absolute offset of its body.
    pub offset: u64,
}

/// What `inspect` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The file.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// `"single-table container"` or `"keyed state stream"`.
    pub layout: String,
    /// Container or stream version.
    pub version: u16,
    /// Body format.
    pub body_format: String,
    /// The checkpoint id (streams only).
    pub checkpoint_id: Option<u64>,
    /// Maximum parallelism.
    pub max_parallelism: u32,
    /// First key group of the range (none if empty).
    pub first_key_group: Option<u32>,
    /// Last key group of the range.
    pub last_key_group: Option<u32>,
    /// Key serializer identity.
    pub key_serializer: String,
    /// The states.
    pub states: Vec<StateInfo>,
    /// Every key group of every state.
    pub key_groups: Vec<GroupInfo>,
    /// Checksums verified.
    pub checksums_verified: u64,
    /// Whether every body was walked entry by entry (all serializers known).
    pub bodies_walked: bool,
    /// A delta stream's link to its base (docs/FORMAT.md §11); absent for a full stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<DeltaInfo>,
}

/// What a delta stream names and holds (docs/FORMAT.md §11).
#[derive(Debug, Clone, Serialize)]
pub struct DeltaInfo {
    /// The base checkpoint's id.
    pub base: u64,
    /// The base stream's length.
    pub base_bytes: u64,
    /// The base stream's trailer CRC32C.
    pub base_trailer_crc: u32,
    /// Upserts over every state and key group (the `entries` of the states and key groups count these).
    pub upserts: u64,
    /// Removals over every state and key group (0 when a serializer is unknown: they cannot be reached).
    pub removals: u64,
}

/// The shape of a serialized value, from a serializer identity (docs/FORMAT.md §3).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Fixed(usize),
    Void,
    Bool,
    /// `i32` length, then that many bytes.
    Bytes,
    List(Box<Shape>),
    Option(Box<Shape>),
    /// Count, then `key, 0, value` per entry.
    Map(Box<Shape>, Box<Shape>),
    Tuple(Vec<Shape>),
}

fn split_args(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The deepest nesting of `list<…>`, `option<…>`, `map<…>` and `tuple<…>` in a serializer identity that
/// `inspect` parses (docs/FORMAT.md §3). The parser, the body walker and the shapes' drop recurse once per level,
/// so a deeper identity (a 64 KiB identity can nest over 10,000 levels) is refused with
/// [`CliError::IdentityTooDeep`] instead of overflowing the stack.
pub const MAX_IDENTITY_DEPTH: usize = 64;

/// An identity nesting deeper than [`MAX_IDENTITY_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TooDeep;

/// The shape of the values of the serializer `id`: `Ok(None)` if `inspect` does not know it, an error if it nests
/// deeper than [`MAX_IDENTITY_DEPTH`].
fn shape(id: &str) -> std::result::Result<Option<Shape>, TooDeep> {
    shape_at(id, 0)
}

/// [`shape`] of an identity nested `depth` levels inside another (the recursion is at most
/// [`MAX_IDENTITY_DEPTH`] deep).
fn shape_at(id: &str, depth: usize) -> std::result::Result<Option<Shape>, TooDeep> {
    Ok(Some(match id {
        "u8" | "i8" => Shape::Fixed(1),
        "u16" | "i16" => Shape::Fixed(2),
        "u32" | "i32" | "f32" => Shape::Fixed(4),
        "u64" | "i64" | "f64" => Shape::Fixed(8),
        "bool" => Shape::Bool,
        "void" => Shape::Void,
        "string" | "bytes" => Shape::Bytes,
        _ => {
            let Some((head, inner)) = id.split_once('<').and_then(|(h, r)| Some((h, r.strip_suffix('>')?))) else {
                return Ok(None);
            };
            if !matches!(head, "list" | "option" | "map" | "tuple") {
                return Ok(None);
            }
            if depth >= MAX_IDENTITY_DEPTH {
                return Err(TooDeep);
            }
            let args = split_args(inner);
            let mut inner = Vec::with_capacity(args.len());
            for a in &args {
                match shape_at(a, depth + 1)? {
                    Some(s) => inner.push(s),
                    None => return Ok(None),
                }
            }
            match (head, <[Shape; 1]>::try_from(inner)) {
                ("list", Ok([a])) => Shape::List(Box::new(a)),
                ("option", Ok([a])) => Shape::Option(Box::new(a)),
                ("tuple", Ok(fields)) => Shape::Tuple(fields.into()),
                ("tuple", Err(fields)) => Shape::Tuple(fields),
                ("map", Err(kv)) => match <[Shape; 2]>::try_from(kv) {
                    Ok([k, v]) => Shape::Map(Box::new(k), Box::new(v)),
                    Err(_) => return Ok(None),
                },
                _ => return Ok(None),
            }
        }
    }))
}

/// A cursor over one body, reporting absolute offsets.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    base: u64,
}

impl Cursor<'_> {
    fn fail(&self, what: &str) -> String {
        format!("{what} at byte offset {}", self.base + self.at as u64)
    }
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        if self.bytes.len() - self.at < n {
            return Err(self.fail(&format!(
                "body ends early ({n} byte(s) needed, {} remain)",
                self.bytes.len() - self.at
            )));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn count(&mut self) -> std::result::Result<usize, String> {
        let at = self.at;
        let v = i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes"));
        if v < 0 {
            self.at = at;
            return Err(self.fail(&format!("negative count {v}")));
        }
        if v as usize > self.bytes.len() - self.at {
            self.at = at;
            return Err(self.fail(&format!("count {v} exceeds the bytes that remain")));
        }
        Ok(v as usize)
    }
    fn tag(&mut self, what: &str) -> std::result::Result<u8, String> {
        let b = self.take(1)?[0];
        if b > 1 {
            self.at -= 1;
            return Err(self.fail(&format!("invalid {what} byte {b:#04x}")));
        }
        Ok(b)
    }
    fn skip(&mut self, s: &Shape) -> std::result::Result<(), String> {
        match s {
            Shape::Fixed(n) => self.take(*n).map(|_| ()),
            Shape::Bool => self.tag("boolean").map(|_| ()),
            Shape::Void => {
                if self.take(1)?[0] != 0 {
                    self.at -= 1;
                    return Err(self.fail("invalid void-namespace byte"));
                }
                Ok(())
            }
            Shape::Bytes => {
                let n = self.count()?;
                self.take(n).map(|_| ())
            }
            Shape::List(e) => (0..self.count()?).try_for_each(|_| self.skip(e)),
            Shape::Option(e) => {
                if self.tag("option tag")? == 1 {
                    self.skip(e)?;
                }
                Ok(())
            }
            Shape::Map(k, v) => (0..self.count()?).try_for_each(|_| {
                self.skip(k)?;
                // A null value is the flag `01` with no value bytes (Flink's MapSerializer); the crate's reader
                // refuses it (docs/FORMAT.md §3), so the walk does too, at the flag.
                if self.tag("map entry flag")? == 1 {
                    self.at -= 1;
                    return Err(self.fail("a null map value cannot be represented"));
                }
                self.skip(v)
            }),
            Shape::Tuple(fields) => fields.iter().try_for_each(|f| self.skip(f)),
        }
    }
}

/// Upserts and removals of one delta body (docs/FORMAT.md §11): walked when the shapes are known, otherwise the
/// upserts' count field (the removals cannot be reached then: 0).
fn delta_entries(body: &[u8], base: u64, shapes: Option<&[Shape; 3]>) -> std::result::Result<(u64, u64), String> {
    let mut c = Cursor {
        bytes: body,
        at: 0,
        base,
    };
    let Some([k, n, s]) = shapes else {
        return Ok((c.count()? as u64, 0));
    };
    let upserts = c.count()?;
    for _ in 0..upserts {
        c.skip(n)?;
        c.skip(k)?;
        c.skip(s)?;
    }
    let removals = c.count()?;
    for _ in 0..removals {
        c.skip(n)?;
        c.skip(k)?;
    }
    if c.at != body.len() {
        return Err(c.fail(&format!("{} unread byte(s) after the last removal", body.len() - c.at)));
    }
    Ok((upserts as u64, removals as u64))
}

/// Entries of one body: walked when the shapes are known, otherwise the V2 count field.
fn entries(
    body: &[u8],
    base: u64,
    format: BodyFormat,
    shapes: Option<&[Shape; 3]>,
) -> std::result::Result<u64, String> {
    let mut c = Cursor {
        bytes: body,
        at: 0,
        base,
    };
    let n = match (format, shapes) {
        (BodyFormat::V2, None) => return Ok(c.count()? as u64),
        (BodyFormat::V2, Some([k, n, s])) => {
            let count = c.count()?;
            for _ in 0..count {
                c.skip(n)?;
                c.skip(k)?;
                c.skip(s)?;
            }
            count as u64
        }
        (BodyFormat::V1, None) => return Err("a V1 body with unknown serializers cannot be counted".into()),
        (BodyFormat::V1, Some([k, n, s])) => {
            let mut total = 0u64;
            if c.tag("presence")? == 1 {
                for _ in 0..c.count()? {
                    c.skip(n)?;
                    let entries = c.count()?;
                    for _ in 0..entries {
                        c.skip(k)?;
                        c.skip(s)?;
                    }
                    total += entries as u64;
                }
            }
            total
        }
    };
    if c.at != body.len() {
        return Err(c.fail(&format!("{} unread byte(s) after the last entry", body.len() - c.at)));
    }
    Ok(n)
}

/// Inspects the checkpoint at `path`.
pub fn inspect(path: &Path) -> Result<Report> {
    let bytes = std::fs::read(path).map_err(|e| CliError::io(path, e))?;
    let shown = path.display().to_string();
    let corrupt = |reason: String| CliError::Corrupt {
        path: shown.clone(),
        reason,
    };
    let failed = |failure: Failure| match failure {
        Failure::Corrupt(reason) => corrupt(reason),
        Failure::TooDeep { serializer } => CliError::IdentityTooDeep {
            path: shown.clone(),
            serializer,
            limit: MAX_IDENTITY_DEPTH,
        },
    };
    if bytes.starts_with(&MAGIC) {
        container(&shown, &bytes).map_err(failed)
    } else if bytes.starts_with(&cow_state_table::backend::stream::MAGIC) {
        stream(&shown, &bytes).map_err(failed)
    } else {
        let head: Vec<u8> = bytes.iter().take(8).copied().collect();
        Err(corrupt(format!(
            "not a cow-state-table checkpoint: bad magic at byte offset 0: {head:02x?} is neither \"COWSTATE\" nor \"COWKEYED\""
        )))
    }
}

/// Why [`container`] or [`stream`] failed.
enum Failure {
    /// A corrupt or truncated checkpoint: what is wrong and where.
    Corrupt(String),
    /// A serializer identity nesting deeper than [`MAX_IDENTITY_DEPTH`]: which serializer.
    TooDeep { serializer: String },
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure::Corrupt(reason)
    }
}

/// [`shape`] of the identity of the serializer described by `serializer` (for the error).
fn shape_of(id: &str, serializer: impl FnOnce() -> String) -> std::result::Result<Option<Shape>, Failure> {
    shape(id).map_err(|TooDeep| Failure::TooDeep {
        serializer: serializer(),
    })
}

fn container(path: &str, bytes: &[u8]) -> std::result::Result<Report, Failure> {
    let cp = Checkpoint::parse(bytes).map_err(|e| e.to_string())?;
    let h = cp.header();
    let shapes = [
        shape_of(&h.key_serializer, || "key".into())?,
        shape_of(&h.namespace_serializer, || "namespace".into())?,
        shape_of(&h.state_serializer, || "state".into())?,
    ];
    let shapes = match shapes {
        [Some(k), Some(n), Some(s)] => Some([k, n, s]),
        _ => None,
    };
    let mut groups = Vec::new();
    let (mut total, mut total_bytes) = (0u64, 0u64);
    for block in cp.blocks() {
        let body = &bytes[block.offset as usize..(block.offset + block.length) as usize];
        let computed = crc32c::crc32c(body);
        if computed != block.crc32c {
            return Err(Failure::Corrupt(format!(
                "key group {}: checksum mismatch of the body at byte offset {}: stored {:#010x}, computed {computed:#010x}",
                block.key_group, block.offset, block.crc32c
            )));
        }
        let n = entries(body, block.offset, h.body_format, shapes.as_ref())
            .map_err(|e| format!("key group {}: {e}", block.key_group))?;
        total += n;
        total_bytes += block.length;
        groups.push(GroupInfo {
            key_group: block.key_group,
            state: 0,
            entries: n,
            bytes: block.length,
            offset: block.offset,
        });
    }
    let range = cp.key_groups();
    Ok(Report {
        path: path.to_string(),
        size: bytes.len() as u64,
        layout: "single-table container (COWSTATE)".into(),
        version: CONTAINER_VERSION,
        body_format: format!("{:?}", h.body_format),
        checkpoint_id: None,
        max_parallelism: cp.context().max_parallelism(),
        first_key_group: range.end().map(|_| range.start()),
        last_key_group: range.end(),
        key_serializer: h.key_serializer.clone(),
        states: vec![StateInfo {
            name: "table".into(),
            kind: "table".into(),
            namespace_serializer: h.namespace_serializer.clone(),
            state_serializer: h.state_serializer.clone(),
            entries: total,
            bytes: total_bytes,
        }],
        key_groups: groups,
        checksums_verified: 1 + cp.blocks().len() as u64,
        bodies_walked: shapes.is_some(),
        delta: None,
    })
}

fn stream(path: &str, bytes: &[u8]) -> std::result::Result<Report, Failure> {
    let s = StreamCheckpoint::parse(bytes).map_err(|e| e.to_string())?;
    let key = shape_of(s.key_serializer(), || "key".into())?;
    let mut states: Vec<StateInfo> = s
        .states()
        .iter()
        .map(|m| StateInfo {
            name: m.name.clone(),
            kind: m.kind.as_str().to_string(),
            namespace_serializer: m.namespace_serializer.clone(),
            state_serializer: m.state_serializer.clone(),
            entries: 0,
            bytes: 0,
        })
        .collect();
    let mut groups = Vec::new();
    let mut walked = true;
    let mut removals = 0u64;
    for (i, info) in states.iter_mut().enumerate() {
        let namespace = shape_of(&info.namespace_serializer, || {
            format!("state {i} ({}) namespace", info.name)
        })?;
        let state = shape_of(&info.state_serializer, || format!("state {i} ({}) state", info.name))?;
        let shapes = match (&key, namespace, state) {
            (Some(k), Some(n), Some(st)) => Some([k.clone(), n, st]),
            _ => None,
        };
        walked &= shapes.is_some();
        for kg in s.key_groups() {
            let r = s.body_range(i, kg).map_err(|e| e.to_string())?;
            let body = &bytes[r.start as usize..r.end as usize];
            let at = |e| format!("state {i} ({}), key group {kg}: {e}", info.name);
            let n = if s.is_delta() {
                let (upserts, removed) = delta_entries(body, r.start, shapes.as_ref()).map_err(at)?;
                removals += removed;
                upserts
            } else {
                entries(body, r.start, BodyFormat::V2, shapes.as_ref()).map_err(at)?
            };
            info.entries += n;
            info.bytes += body.len() as u64;
            groups.push(GroupInfo {
                key_group: kg,
                state: i,
                entries: n,
                bytes: body.len() as u64,
                offset: r.start,
            });
        }
    }
    groups.sort_by_key(|g| (g.key_group, g.state));
    let range = s.key_groups();
    let delta = s.base().map(|b| DeltaInfo {
        base: b.id,
        base_bytes: b.len,
        base_trailer_crc: b.trailer_crc,
        upserts: states.iter().map(|st| st.entries).sum(),
        removals,
    });
    Ok(Report {
        path: path.to_string(),
        size: bytes.len() as u64,
        layout: "keyed state stream (COWKEYED)".into(),
        version: if delta.is_some() {
            cow_state_table::backend::stream::DELTA_STREAM_VERSION
        } else {
            cow_state_table::backend::stream::STREAM_VERSION
        },
        body_format: "V2".into(),
        checkpoint_id: Some(s.checkpoint_id()),
        max_parallelism: s.context().max_parallelism(),
        first_key_group: range.end().map(|_| range.start()),
        last_key_group: range.end(),
        key_serializer: s.key_serializer().to_string(),
        states,
        key_groups: groups,
        // Header and meta section, trailer, one per key-group section (StreamCheckpoint::parse checks them all).
        checksums_verified: 2 + u64::from(range.number_of_key_groups()),
        bodies_walked: walked,
        delta,
    })
}

impl Report {
    /// The report for people.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let range = match (self.first_key_group, self.last_key_group) {
            (Some(a), Some(b)) => format!("{a}..={b} ({} key groups)", b - a + 1),
            _ => "empty".to_string(),
        };
        o.push_str(&format!("{}: {}, {} bytes\n", self.path, self.layout, self.size));
        o.push_str(&format!(
            "  version {}, body format {}{}\n",
            self.version,
            self.body_format,
            self.checkpoint_id
                .map(|id| format!(", checkpoint id {id}"))
                .unwrap_or_default()
        ));
        if let Some(d) = &self.delta {
            o.push_str(&format!(
                "  delta of checkpoint {} ({} bytes, trailer CRC32C {:#010x}): {} upserts, {} removals; restore it after its base\n",
                d.base, d.base_bytes, d.base_trailer_crc, d.upserts, d.removals
            ));
        }
        o.push_str(&format!(
            "  max parallelism {}, key groups {range}\n",
            self.max_parallelism
        ));
        o.push_str(&format!("  key serializer {}\n", self.key_serializer));
        o.push_str(&format!("  states ({}):\n", self.states.len()));
        for (i, s) in self.states.iter().enumerate() {
            o.push_str(&format!(
                "    #{i} {:<16} {:<10} namespace {:<12} state {:<16} {:>10} entries {:>12} bytes\n",
                s.name, s.kind, s.namespace_serializer, s.state_serializer, s.entries, s.bytes
            ));
        }
        o.push_str("  key group  state    entries        bytes       offset\n");
        for g in &self.key_groups {
            o.push_str(&format!(
                "  {:>9}  {:>5}  {:>9}  {:>11}  {:>11}\n",
                g.key_group, g.state, g.entries, g.bytes, g.offset
            ));
        }
        o.push_str(&format!(
            "  checksums: {} verified, all match; bodies {}\n",
            self.checksums_verified,
            if self.bodies_walked {
                "walked entry by entry, all decode to exactly their bytes"
            } else {
                "counted from their headers (a serializer is unknown to inspect)"
            }
        ));
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_from_identities() {
        let shape = |id: &str| super::shape(id).unwrap();
        assert_eq!(shape("u64"), Some(Shape::Fixed(8)));
        assert_eq!(
            shape("map<string,list<i32>>"),
            Some(Shape::Map(
                Box::new(Shape::Bytes),
                Box::new(Shape::List(Box::new(Shape::Fixed(4))))
            ))
        );
        assert_eq!(
            shape("tuple<u8,option<void>>"),
            Some(Shape::Tuple(vec![
                Shape::Fixed(1),
                Shape::Option(Box::new(Shape::Void))
            ]))
        );
        assert_eq!(shape("bincode1:foo"), None);
        // A null map value is refused at its flag, whatever follows it.
        let map = shape("map<u8,i64>").unwrap();
        for after in [0usize, 1, 4, 100] {
            let mut body = vec![0, 0, 0, 1, 42, 1];
            body.extend(std::iter::repeat_n(5u8, after));
            let mut c = Cursor {
                bytes: &body,
                at: 0,
                base: 100,
            };
            assert_eq!(
                c.skip(&map).unwrap_err(),
                "a null map value cannot be represented at byte offset 105"
            );
        }
        assert_eq!(shape("list<u64"), None);
    }

    /// An identity nesting [`MAX_IDENTITY_DEPTH`] levels is parsed; one level more, or the 10,000 levels a 64 KiB
    /// identity allows, is refused (without recursing that deep).
    #[test]
    fn identity_nesting_is_bounded() {
        let nested = |depth: usize, leaf: &str| format!("{}{leaf}{}", "list<".repeat(depth), ">".repeat(depth));
        let mut expected = Shape::Fixed(8);
        for _ in 0..MAX_IDENTITY_DEPTH {
            expected = Shape::List(Box::new(expected));
        }
        assert_eq!(shape(&nested(MAX_IDENTITY_DEPTH, "u64")), Ok(Some(expected)));
        assert_eq!(shape(&nested(MAX_IDENTITY_DEPTH + 1, "u64")), Err(TooDeep));
        let deep = nested(10_000, "u64");
        assert!(deep.len() < 1 << 16, "fits an identity's u16 length");
        assert_eq!(shape(&deep), Err(TooDeep));
        assert_eq!(shape(&format!("tuple<u8,{}>", nested(10_000, "u8"))), Err(TooDeep));
        assert_eq!(shape(&nested(10_000, "postcard1:x")), Err(TooDeep));
        // A user-chosen name is not descended: no error, just an unknown shape.
        assert_eq!(shape(&format!("postcard1:{}", nested(10_000, "u8"))), Ok(None));
    }
}
