//! INTERIM adapter until branch `stream` lands (STREAM_API.md shape; not the real format).
#![allow(missing_docs, dead_code)]

#[path = "meta_copy.rs"]
mod meta;
pub use meta::{StateKind, StateMeta};

use crate::format::WriteError;
use crate::keygroup::{KeyGroupContext, KeyGroupRange};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("write: {0}")]
    Write(#[from] WriteError),
    #[error("corrupt at {offset}: {what}")]
    Corrupt { offset: u64, what: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StreamSummary {
    pub bytes: u64,
    pub key_groups: u32,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub fn write_stream<W: std::io::Write + ?Sized>(
    checkpoint_id: u64,
    context: KeyGroupContext,
    key_serializer: &str,
    states: &[StateMeta],
    body: &mut dyn FnMut(usize, u32, &mut Vec<u8>) -> Result<(), WriteError>,
    out: &mut W,
) -> Result<StreamSummary, StreamError> {
    let mut buf = Vec::new();
    buf.extend_from_slice(&checkpoint_id.to_be_bytes());
    buf.extend_from_slice(&context.max_parallelism().to_be_bytes());
    buf.extend_from_slice(&context.range().start().to_be_bytes());
    buf.extend_from_slice(&context.range().number_of_key_groups().to_be_bytes());
    put_str(&mut buf, key_serializer);
    buf.extend_from_slice(&(states.len() as u32).to_be_bytes());
    for s in states {
        buf.extend_from_slice(&s.id.to_be_bytes());
        put_str(&mut buf, &s.name);
        buf.push(s.kind.code());
        put_str(&mut buf, &s.namespace_serializer);
        put_str(&mut buf, &s.state_serializer);
    }
    for kg in context.range() {
        for i in 0..states.len() {
            let mut b = Vec::new();
            body(i, kg, &mut b)?;
            buf.extend_from_slice(&(b.len() as u32).to_be_bytes());
            buf.extend_from_slice(&b);
        }
    }
    let crc = crc32c::crc32c(&buf);
    buf.extend_from_slice(&crc.to_be_bytes());
    out.write_all(&buf)?;
    Ok(StreamSummary {
        bytes: buf.len() as u64,
        key_groups: context.range().number_of_key_groups(),
    })
}

#[derive(Debug)]
pub struct StreamCheckpoint<'a> {
    id: u64,
    context: KeyGroupContext,
    key_serializer: String,
    states: Vec<StateMeta>,
    bodies: Vec<&'a [u8]>,
}

struct R<'a> {
    b: &'a [u8],
    at: usize,
}
impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StreamError> {
        if self.b.len() - self.at < n {
            return Err(StreamError::Corrupt {
                offset: self.at as u64,
                what: "truncated",
            });
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, StreamError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn string(&mut self) -> Result<String, StreamError> {
        let n = self.u32()? as usize;
        let at = self.at as u64;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| StreamError::Corrupt {
            offset: at,
            what: "utf8",
        })
    }
}

impl<'a> StreamCheckpoint<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, StreamError> {
        if bytes.len() < 4 {
            return Err(StreamError::Corrupt {
                offset: 0,
                what: "short",
            });
        }
        let (data, crc) = bytes.split_at(bytes.len() - 4);
        if crc32c::crc32c(data).to_be_bytes() != crc {
            return Err(StreamError::Corrupt {
                offset: data.len() as u64,
                what: "crc",
            });
        }
        let mut r = R { b: data, at: 0 };
        let id = u64::from_be_bytes(r.take(8)?.try_into().unwrap());
        let mp = r.u32()?;
        let start = r.u32()?;
        let count = r.u32()?;
        let bad = |_| StreamError::Corrupt {
            offset: 8,
            what: "context",
        };
        let context = KeyGroupContext::new(mp, KeyGroupRange::with_len(start, count).map_err(bad)?).map_err(bad)?;
        let key_serializer = r.string()?;
        let n = r.u32()? as usize;
        let mut states = Vec::new();
        for _ in 0..n.min(1 << 15) {
            let sid = u16::from_be_bytes(r.take(2)?.try_into().unwrap());
            let name = r.string()?;
            let kind = StateKind::from_code(r.take(1)?[0]).ok_or(StreamError::Corrupt {
                offset: r.at as u64,
                what: "kind",
            })?;
            let ns = r.string()?;
            let ss = r.string()?;
            states.push(StateMeta::new(sid, name, kind, ns, ss));
        }
        let mut bodies = Vec::new();
        for _ in 0..count {
            for _ in 0..n {
                let len = r.u32()? as usize;
                bodies.push(r.take(len)?);
            }
        }
        Ok(StreamCheckpoint {
            id,
            context,
            key_serializer,
            states,
            bodies,
        })
    }
    pub fn checkpoint_id(&self) -> u64 {
        self.id
    }
    pub fn context(&self) -> KeyGroupContext {
        self.context
    }
    pub fn key_serializer(&self) -> &str {
        &self.key_serializer
    }
    pub fn states(&self) -> &[StateMeta] {
        &self.states
    }
    pub fn body(&self, state_index: usize, key_group: u32) -> Result<&'a [u8], StreamError> {
        let i = self
            .context
            .range()
            .index_of(key_group)
            .ok_or(StreamError::Corrupt { offset: 0, what: "kg" })? as usize;
        self.bodies
            .get(i * self.states.len() + state_index)
            .copied()
            .ok_or(StreamError::Corrupt {
                offset: 0,
                what: "state",
            })
    }
}

/// INTERIM: the V2 body decoder (stream's `crate::format::decode_body` replaces it).
pub(crate) fn decode_body<KS, NS, SS>(
    _format: crate::format::BodyFormat,
    bytes: &[u8],
    key_group: u32,
    context: KeyGroupContext,
    serializers: &crate::serializer::Serializers<KS, NS, SS>,
    out: &mut Vec<(KS::Value, NS::Value, SS::Value)>,
) -> Result<(), crate::format::FormatError>
where
    KS: crate::serializer::KeySerializer,
    NS: crate::serializer::TypeSerializer,
    SS: crate::serializer::TypeSerializer,
{
    use crate::format::FormatError;
    use crate::serializer::Input;
    let mut input = Input::new(bytes);
    let dec = |source| FormatError::Decode { key_group, source };
    let count = input.read_count(1).map_err(dec)?;
    for _ in 0..count {
        let n = serializers.namespace.deserialize(&mut input).map_err(dec)?;
        let at = input.offset();
        let k = serializers.key.deserialize(&mut input).map_err(dec)?;
        let found = context.key_group_of(&k);
        if found != key_group {
            return Err(FormatError::WrongKeyGroup {
                key_group,
                offset: at,
                found,
            });
        }
        let s = serializers.state.deserialize(&mut input).map_err(dec)?;
        out.push((k, n, s));
    }
    if !input.is_empty() {
        return Err(FormatError::TrailingBytes {
            key_group,
            offset: input.offset(),
            count: input.remaining() as u64,
        });
    }
    Ok(())
}
