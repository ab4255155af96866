//! Reading a checkpoint stream: [`StreamCheckpoint`].

use super::delta::{StreamFingerprint, DELTA_STREAM_VERSION};
use super::error::StreamError;
use super::meta::{StateKind, StateMeta};
use super::{MAGIC, MAX_STATES, STREAM_VERSION, TRAILER_END_LEN, TRAILER_ENTRY_FIXED};
use crate::format::{decode_body_at, BodyFormat, SerializerRole};
use crate::keygroup::{KeyGroupContext, KeyGroupRange, UPPER_BOUND_MAX_PARALLELISM};
use crate::serializer::{Input, KeySerializer, NamespaceSerializer, Serializers, TypeSerializer};
use core::fmt;
use core::ops::Range;
use std::collections::HashSet;

/// Fewest bytes of one meta entry: id (2), name length (2), kind (1), two identity lengths (2 + 2).
const META_ENTRY_MIN: usize = 9;

/// A parsed, checksum-verified checkpoint stream over borrowed bytes.
///
/// Flink: the reading side of `HeapKeyedStateBackend.restorePartitionedState` — the serialization proxy's meta
/// infos, then per key group of the `KeyGroupRangeOffsets` a seek, `readInt` (checked against the key group),
/// and per state `readShort` followed by `readMappingsInKeyGroup`. [`parse`](Self::parse) checks the whole
/// stream before anything is decoded: magic, version, header and meta section (CRC32C), the trailer (CRC32C and
/// recorded length), that the key-group sections tile the bytes between header and trailer, each key group's
/// CRC32C, and each section's key-group id and state ids. [`body`](Self::body) then slices a state's V2 body
/// without serializers; [`decode_into`](Self::decode_into) decodes it.
///
/// ```
/// use cow_state_table::backend::stream::{write_stream, StateKind, StateMeta, StreamCheckpoint, StreamError};
/// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupRange};
///
/// let ctx = KeyGroupContext::new(8, KeyGroupRange::of(2, 4).unwrap()).unwrap();
/// let states = [StateMeta::new(0, "a", StateKind::Value, "void", "i64"),
///               StateMeta::new(1, "b", StateKind::List, "i32", "list<i64>")];
/// let mut bytes = Vec::new();
/// // Every body empty: a V2 count of 0.
/// write_stream(1, ctx, "i64", &states, &mut |_, _, buf| { buf.extend_from_slice(&[0; 4]); Ok(()) }, &mut bytes)
///     .unwrap();
/// let stream = StreamCheckpoint::parse(&bytes).unwrap();
/// assert_eq!(stream.states()[1].name, "b");
/// assert_eq!(stream.body(1, 3).unwrap(), &[0, 0, 0, 0]);
/// let offsets: Vec<_> = stream.key_group_offsets().map(|(kg, _)| kg).collect();
/// assert_eq!(offsets, vec![2, 3, 4]);
/// assert!(matches!(stream.body(0, 5), Err(StreamError::KeyGroupNotInStream { .. })));
///
/// let mut corrupt = bytes.clone();
/// let last = corrupt.len() - 20;
/// corrupt[last] ^= 1;
/// assert!(StreamCheckpoint::parse(&corrupt).is_err());
/// ```
#[derive(Clone)]
pub struct StreamCheckpoint<'a> {
    bytes: &'a [u8],
    checkpoint_id: u64,
    /// The base a delta stream names (C7); `None` for a full stream.
    base: Option<StreamFingerprint>,
    context: KeyGroupContext,
    key_serializer: String,
    states: Vec<StateMeta>,
    header_len: u64,
    trailer_start: u64,
    /// Offset of each key group's section (its `int` id), in range order.
    sections: Vec<u64>,
    /// `bodies[g * states + s]`: the byte range of state `s`'s body in the `g`-th key group of the range.
    bodies: Vec<Range<u64>>,
}

fn truncated(what: &'static str) -> impl Fn(crate::serializer::DecodeError) -> StreamError {
    move |source| StreamError::Truncated { what, source }
}

fn utf8(raw: &[u8]) -> Option<String> {
    String::from_utf8(raw.to_vec()).ok()
}

impl<'a> StreamCheckpoint<'a> {
    /// Parses `bytes` (a whole stream) and verifies every checksum and every framing field; decodes no body.
    /// The reader checks, in order, are listed in docs/FORMAT.md ("Checkpoint streams").
    pub fn parse(bytes: &'a [u8]) -> Result<Self, StreamError> {
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC {
            return Err(StreamError::BadMagic {
                found: bytes[..bytes.len().min(MAGIC.len())].to_vec(),
            });
        }
        let t = truncated("header");
        let mut input = Input::new(bytes);
        input.read_bytes(MAGIC.len()).map_err(&t)?;
        let version = input.read_u16().map_err(&t)?;
        if version != STREAM_VERSION && version != DELTA_STREAM_VERSION {
            return Err(StreamError::UnsupportedVersion { version });
        }
        let format = input.read_u16().map_err(&t)?;
        if format != BodyFormat::V2.code() {
            return Err(StreamError::UnsupportedBodyFormat { format });
        }
        let checkpoint_id = input.read_u64().map_err(&t)?;
        // C7: a delta stream names its base after its id; the offsets of the fields below shift by its length.
        let (base, shift) = if version == DELTA_STREAM_VERSION {
            let id = input.read_u64().map_err(&t)?;
            let len = input.read_u64().map_err(&t)?;
            let trailer_crc = input.read_u32().map_err(&t)?;
            (
                Some(StreamFingerprint { id, len, trailer_crc }),
                StreamFingerprint::ENCODED_LEN as u64,
            )
        } else {
            (None, 0)
        };
        let max_parallelism = input.read_u32().map_err(&t)?;
        let start = input.read_u32().map_err(&t)?;
        let count = input.read_u32().map_err(&t)?;
        let read_str = |input: &mut Input<'a>, what| -> Result<(u64, &'a [u8]), StreamError> {
            let len = input.read_u16().map_err(truncated(what))?;
            Ok((
                input.offset(),
                input.read_bytes(usize::from(len)).map_err(truncated(what))?,
            ))
        };
        let key_id = read_str(&mut input, "header")?;
        let m = truncated("meta section");
        let states_at = input.offset();
        let state_count = usize::from(input.read_u16().map_err(&m)?);
        // Bounded before anything is allocated for the entries.
        input.check_count(state_count as u64, META_ENTRY_MIN).map_err(|mut e| {
            e.offset = states_at;
            m(e)
        })?;
        let mut raw_states = Vec::with_capacity(state_count);
        for _ in 0..state_count {
            let id_at = input.offset();
            let id = input.read_u16().map_err(&m)?;
            let name = read_str(&mut input, "meta section")?;
            let kind_at = input.offset();
            let kind = input.read_u8().map_err(&m)?;
            let namespace = read_str(&mut input, "meta section")?;
            let state = read_str(&mut input, "meta section")?;
            raw_states.push((id_at, id, name, kind_at, kind, namespace, state));
        }
        let crc_at = input.offset();
        let computed = crc32c::crc32c(&bytes[..crc_at as usize]);
        let stored = input.read_u32().map_err(&t)?;
        if stored != computed {
            return Err(StreamError::Checksum {
                what: "header",
                offset: crc_at,
                stored,
                computed,
            });
        }
        let header_len = input.offset();

        // The header is trusted from here on; its values are checked.
        let invalid = |offset: u64, reason: String| StreamError::InvalidHeader { offset, reason };
        if count > UPPER_BOUND_MAX_PARALLELISM {
            return Err(invalid(
                28 + shift,
                format!("{count} key groups is more than {UPPER_BOUND_MAX_PARALLELISM}"),
            ));
        }
        if count == 0 && start != 0 {
            return Err(invalid(24 + shift, format!("empty range with first key group {start}")));
        }
        let range =
            KeyGroupRange::with_len(start, count).map_err(|e| invalid(24 + shift, format!("key-group range: {e}")))?;
        let context = KeyGroupContext::new(max_parallelism, range)
            .map_err(|e| invalid(20 + shift, format!("key-group context: {e}")))?;
        let key_serializer =
            utf8(key_id.1).ok_or_else(|| invalid(key_id.0, "key serializer identity is not UTF-8".into()))?;
        if state_count > MAX_STATES {
            return Err(invalid(
                states_at,
                format!("{state_count} states, at most {MAX_STATES}"),
            ));
        }
        let mut states: Vec<StateMeta> = Vec::with_capacity(state_count);
        // Ids and names seen so far: a set each, so that checking 32,767 states stays linear.
        let mut ids_seen = vec![false; MAX_STATES + 1];
        let mut names_seen: HashSet<&[u8]> = HashSet::with_capacity(state_count);
        for (index, (id_at, id, name, kind_at, kind, namespace, state)) in raw_states.into_iter().enumerate() {
            let bad = |offset, reason: String| StreamError::InvalidMeta {
                state: index,
                offset,
                reason,
            };
            if usize::from(id) > MAX_STATES {
                return Err(bad(id_at, format!("state id {id} is above {MAX_STATES}")));
            }
            if std::mem::replace(&mut ids_seen[usize::from(id)], true) {
                return Err(bad(id_at, format!("state id {id} is used twice")));
            }
            let name_s = utf8(name.1).ok_or_else(|| bad(name.0, "state name is not UTF-8".into()))?;
            if !names_seen.insert(name.1) {
                return Err(bad(name.0, format!("state name `{name_s}` is used twice")));
            }
            let kind = StateKind::from_code(kind).ok_or_else(|| bad(kind_at, format!("unknown state kind {kind}")))?;
            let namespace_serializer = utf8(namespace.1)
                .ok_or_else(|| bad(namespace.0, "namespace serializer identity is not UTF-8".into()))?;
            let state_serializer =
                utf8(state.1).ok_or_else(|| bad(state.0, "state serializer identity is not UTF-8".into()))?;
            states.push(StateMeta {
                id,
                name: name_s,
                kind,
                namespace_serializer,
                state_serializer,
            });
        }

        // Trailer: its size follows from the header.
        let groups = count as usize;
        let entry_len = TRAILER_ENTRY_FIXED + 8 * state_count;
        let trailer_len = (groups as u64) * (entry_len as u64) + TRAILER_END_LEN as u64;
        let total = bytes.len() as u64;
        let needed = header_len + trailer_len;
        if total < needed {
            return Err(StreamError::Truncated {
                what: "trailer",
                source: crate::serializer::DecodeError {
                    offset: header_len,
                    kind: crate::serializer::DecodeErrorKind::UnexpectedEnd {
                        needed: trailer_len,
                        remaining: total - header_len,
                    },
                },
            });
        }
        let trailer_start = total - trailer_len;
        let end_at = total - TRAILER_END_LEN as u64;
        let mut end = Input::with_base(&bytes[end_at as usize..], end_at);
        let tt = truncated("trailer");
        let stored_len = end.read_u64().map_err(&tt)?;
        let stored_crc = end.read_u32().map_err(&tt)?;
        if stored_len != total {
            return Err(StreamError::LengthMismatch {
                offset: end_at,
                stored: stored_len,
                actual: total,
            });
        }
        let computed = crc32c::crc32c(&bytes[trailer_start as usize..(total - 4) as usize]);
        if stored_crc != computed {
            return Err(StreamError::Checksum {
                what: "trailer",
                offset: total - 4,
                stored: stored_crc,
                computed,
            });
        }

        // Sections: contiguous from the header to the trailer, each checksummed and framed as Flink writes it.
        let table = &bytes[trailer_start as usize..end_at as usize];
        let mut input = Input::with_base(table, trailer_start);
        let mut sections = Vec::with_capacity(groups);
        let mut bodies = Vec::with_capacity(groups * state_count);
        let mut expected = header_len;
        for key_group in range {
            let at = input.offset();
            let offset = input.read_u64().map_err(&tt)?;
            let crc = input.read_u32().map_err(&tt)?;
            let bad = |reason: String| StreamError::InvalidTrailer {
                key_group,
                offset: at,
                reason,
            };
            if offset != expected {
                return Err(bad(format!(
                    "section offset {offset}, expected {expected} (sections are contiguous)"
                )));
            }
            let mut position = offset + 4;
            let first_body = bodies.len();
            for (index, state) in states.iter().enumerate() {
                let len = input.read_u64().map_err(&tt)?;
                let body_start = position + 2;
                let body_end = body_start
                    .checked_add(len)
                    .filter(|&e| e <= trailer_start)
                    .ok_or_else(|| {
                        bad(format!(
                            "state #{index} (`{}`): body of {len} bytes at {body_start} runs into the trailer at {trailer_start}",
                            state.name
                        ))
                    })?;
                bodies.push(body_start..body_end);
                position = body_end;
            }
            if position > trailer_start {
                return Err(bad(format!(
                    "section {offset}..{position} runs into the trailer at {trailer_start}"
                )));
            }
            let section = &bytes[offset as usize..position as usize];
            // Planted mutant (scripts/mutants.sh): the key group's CRC32C leaves out the section's last byte, in
            // the writer and the reader alike, so round trips pass and a corrupted last byte goes unnoticed.
            #[cfg(cow_mutant = "stream-crc-short")]
            let computed = crc32c::crc32c(&section[..section.len() - 1]);
            #[cfg(not(cow_mutant = "stream-crc-short"))]
            let computed = crc32c::crc32c(section);
            if computed != crc {
                return Err(StreamError::KeyGroupChecksum {
                    key_group,
                    offset,
                    stored: crc,
                    computed,
                });
            }
            let found = i32::from_be_bytes([section[0], section[1], section[2], section[3]]);
            if found as u32 != key_group || found < 0 {
                return Err(StreamError::KeyGroupIdMismatch {
                    offset,
                    expected: key_group,
                    found,
                });
            }
            for (index, state) in states.iter().enumerate() {
                let body = &bodies[first_body + index];
                let id_at = body.start - 2;
                let local = (id_at - offset) as usize;
                let found = i16::from_be_bytes([section[local], section[local + 1]]);
                if found as u16 != state.id || found < 0 {
                    return Err(StreamError::StateIdMismatch {
                        key_group,
                        offset: id_at,
                        expected: state.id,
                        found,
                    });
                }
                let local = (body.start - offset) as usize;
                let len = (body.end - body.start) as usize;
                let not_v2 = |reason| StreamError::NotAV2Body {
                    key_group,
                    state: index,
                    len,
                    reason,
                };
                let count = section
                    .get(local..local + 4)
                    .ok_or_else(|| not_v2("shorter than its 4-byte count"))?;
                if len < 4 {
                    return Err(not_v2("shorter than its 4-byte count"));
                }
                if count[0] & 0x80 != 0 {
                    return Err(not_v2("negative count"));
                }
            }
            sections.push(offset);
            expected = position;
        }
        if expected != trailer_start {
            return Err(StreamError::SectionGap {
                end: expected,
                trailer: trailer_start,
            });
        }
        Ok(StreamCheckpoint {
            bytes,
            checkpoint_id,
            base,
            context,
            key_serializer,
            states,
            header_len,
            trailer_start,
            sections,
            bodies,
        })
    }

    /// The checkpoint id written in the header.
    pub fn checkpoint_id(&self) -> u64 {
        self.checkpoint_id
    }

    /// The base a delta stream names (docs/DESIGN.md C7): `Some` for a delta, whose bodies are delta bodies
    /// ([`decode_delta_body`](super::decode_delta_body)), `None` for a full stream.
    pub fn base(&self) -> Option<StreamFingerprint> {
        self.base
    }

    /// Whether this is a delta stream.
    pub fn is_delta(&self) -> bool {
        self.base.is_some()
    }

    /// This stream's own fingerprint: what a delta on top of it names (C7, C8).
    pub fn fingerprint(&self) -> StreamFingerprint {
        let n = self.bytes.len();
        StreamFingerprint {
            id: self.checkpoint_id,
            len: n as u64,
            // parse checked that the stream ends with its trailer's CRC32C.
            trailer_crc: u32::from_be_bytes([
                self.bytes[n - 4],
                self.bytes[n - 3],
                self.bytes[n - 2],
                self.bytes[n - 1],
            ]),
        }
    }

    /// The max parallelism and the key-group range the stream holds.
    pub fn context(&self) -> KeyGroupContext {
        self.context
    }

    /// The key groups the stream holds.
    pub fn key_groups(&self) -> KeyGroupRange {
        self.context.range()
    }

    /// The identity of the key serializer.
    pub fn key_serializer(&self) -> &str {
        &self.key_serializer
    }

    /// The meta section: one entry per state, in the order of the bodies in each key group.
    pub fn states(&self) -> &[StateMeta] {
        &self.states
    }

    /// The index of the state named `name`.
    pub fn state_index(&self, name: &str) -> Option<usize> {
        self.states.iter().position(|s| s.name == name)
    }

    /// Length of the whole stream in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the stream has no bytes (never true once parsed: it holds at least its header and trailer).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The byte range of the key-group section (from the first key group's `int` id to the trailer): the part
    /// laid out exactly as the backport writes it.
    pub fn key_group_section(&self) -> Range<u64> {
        self.header_len..self.trailer_start
    }

    /// Key-group offsets (Flink `KeyGroupRangeOffsets`): each key group of the range with the absolute offset of
    /// its section (of its `int` key-group id), in key-group order.
    pub fn key_group_offsets(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.key_groups().iter().zip(self.sections.iter().copied())
    }

    /// The absolute byte range of the V2 body of state `state_index` in `key_group`.
    pub fn body_range(&self, state_index: usize, key_group: u32) -> Result<Range<u64>, StreamError> {
        let count = self.states.len();
        if state_index >= count {
            return Err(StreamError::NoSuchState {
                index: state_index,
                count,
            });
        }
        let range = self.key_groups();
        let group = range
            .index_of(key_group)
            .ok_or(StreamError::KeyGroupNotInStream { key_group, range })? as usize;
        Ok(self.bodies[group * count + state_index].clone())
    }

    /// The V2 body bytes of state `state_index` in `key_group` (its key group's checksum was verified by
    /// [`parse`](Self::parse)).
    pub fn body(&self, state_index: usize, key_group: u32) -> Result<&'a [u8], StreamError> {
        let r = self.body_range(state_index, key_group)?;
        // parse checked that every body lies within the input.
        Ok(&self.bytes[r.start as usize..r.end as usize])
    }

    /// Checks that `serializers` have the identities the stream records for state `state_index` (the key
    /// serializer against the header, namespace and state against the meta entry).
    pub fn check_serializers<KS, NS, SS>(
        &self,
        state_index: usize,
        serializers: &Serializers<KS, NS, SS>,
    ) -> Result<(), StreamError>
    where
        KS: TypeSerializer,
        NS: TypeSerializer,
        SS: TypeSerializer,
    {
        let meta = self.states.get(state_index).ok_or(StreamError::NoSuchState {
            index: state_index,
            count: self.states.len(),
        })?;
        let [key, namespace, state] = serializers.identities();
        for (role, stored, expected) in [
            (SerializerRole::Key, &self.key_serializer, key),
            (SerializerRole::Namespace, &meta.namespace_serializer, namespace),
            (SerializerRole::State, &meta.state_serializer, state),
        ] {
            if *stored != expected {
                return Err(StreamError::SerializerMismatch {
                    state: state_index,
                    name: meta.name.clone(),
                    role,
                    stored: stored.clone(),
                    expected,
                });
            }
        }
        Ok(())
    }

    /// Checks the serializers' identities, then decodes the body of state `state_index` in `key_group` and
    /// appends its `(key, namespace, state)` entries to `out` (Flink: `readMappingsInKeyGroup`). Errors carry
    /// absolute offsets in the stream.
    pub fn decode_into<KS, NS, SS>(
        &self,
        state_index: usize,
        key_group: u32,
        serializers: &Serializers<KS, NS, SS>,
        out: &mut Vec<(KS::Value, NS::Value, SS::Value)>,
    ) -> Result<(), StreamError>
    where
        KS: KeySerializer,
        NS: NamespaceSerializer,
        SS: TypeSerializer,
    {
        self.check_serializers(state_index, serializers)?;
        let r = self.body_range(state_index, key_group)?;
        decode_body_at(
            BodyFormat::V2,
            &self.bytes[r.start as usize..r.end as usize],
            r.start,
            key_group,
            self.context,
            serializers,
            out,
        )
        .map_err(|source| StreamError::Decode {
            state: state_index,
            source,
        })
    }
}

impl fmt::Debug for StreamCheckpoint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamCheckpoint")
            .field("len", &self.bytes.len())
            .field("checkpoint_id", &self.checkpoint_id)
            .field("base", &self.base)
            .field("context", &self.context)
            .field("key_serializer", &self.key_serializer)
            .field("states", &self.states)
            .finish()
    }
}
