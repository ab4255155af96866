//! Writing a checkpoint stream: [`write_stream`].

use super::delta::{StreamFingerprint, DELTA_STREAM_VERSION};
use super::error::StreamError;
use super::meta::StateMeta;
use super::{MAGIC, MAX_STATES, STREAM_VERSION, TRAILER_END_LEN, TRAILER_ENTRY_FIXED};
use crate::format::{BodyFormat, WriteError};
use crate::keygroup::KeyGroupContext;
use std::collections::HashSet;
use std::io::Write;

/// The body callback of [`write_stream`]: `body(state_index, key_group, buf)` appends the V2 body of state
/// `state_index` for `key_group` to `buf`.
///
/// Flink: `StateTableSnapshot.writeMappingsInKeyGroup(out, keyGroupId)` of each state's snapshot (here usually
/// [`KeyGroupPartition::write_key_group`](crate::keygroup::KeyGroupPartition::write_key_group)).
pub type BodyWriter<'a> = dyn FnMut(usize, u32, &mut Vec<u8>) -> Result<(), WriteError> + 'a;

/// What [`write_stream`] wrote (Flink: the size and `KeyGroupRangeOffsets` of the `KeyGroupsStateHandle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StreamSummary {
    /// Total bytes written.
    pub bytes: u64,
    /// Bytes of the header (with the meta section): the key-group section starts here.
    pub header_bytes: u64,
    /// Bytes of the key-group section (every key group's id, state ids and bodies).
    pub key_group_bytes: u64,
    /// Entries written, summed over states and key groups (the counts of the V2 bodies).
    pub entries: u64,
    /// Key groups written (including empty ones).
    pub key_groups: u32,
    /// States written per key group.
    pub states: usize,
    /// The CRC32C of the trailer (the stream's last four bytes): with the id and `bytes`, the stream's
    /// [`StreamFingerprint`], which a delta on top of it names (C7).
    pub trailer_crc: u32,
}

impl StreamSummary {
    /// The fingerprint of the stream written as checkpoint `id` (C7, C8).
    pub fn fingerprint(&self, id: u64) -> StreamFingerprint {
        StreamFingerprint {
            id,
            len: self.bytes,
            trailer_crc: self.trailer_crc,
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str, what: &str) -> Result<(), StreamError> {
    let len = u16::try_from(s.len())
        .map_err(|_| StreamError::InvalidInput(format!("{what} of {} bytes is longer than 65535", s.len())))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Encodes the header and meta section with its checksum (docs/FORMAT.md, "Checkpoint streams").
pub(super) fn encode_header(
    checkpoint_id: u64,
    context: KeyGroupContext,
    key_serializer: &str,
    states: &[StateMeta],
    base: Option<&StreamFingerprint>,
) -> Result<Vec<u8>, StreamError> {
    if states.len() > MAX_STATES {
        return Err(StreamError::InvalidInput(format!(
            "{} states, at most {MAX_STATES} fit in a Java short",
            states.len()
        )));
    }
    let mut ids = HashSet::with_capacity(states.len());
    let mut names = HashSet::with_capacity(states.len());
    for s in states {
        if usize::from(s.id) > MAX_STATES {
            return Err(StreamError::InvalidInput(format!(
                "state `{}` has id {}, above {MAX_STATES} (a non-negative Java short)",
                s.name, s.id
            )));
        }
        if !ids.insert(s.id) {
            return Err(StreamError::InvalidInput(format!("state id {} is used twice", s.id)));
        }
        if !names.insert(s.name.as_str()) {
            return Err(StreamError::InvalidInput(format!(
                "state name `{}` is used twice",
                s.name
            )));
        }
    }
    let range = context.range();
    let mut out = Vec::with_capacity(64 + states.len() * 32);
    out.extend_from_slice(&MAGIC);
    let version = if base.is_some() {
        DELTA_STREAM_VERSION
    } else {
        STREAM_VERSION
    };
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&BodyFormat::V2.code().to_be_bytes());
    out.extend_from_slice(&checkpoint_id.to_be_bytes());
    // C7: a delta names its base right after its own id (docs/FORMAT.md, "Delta streams").
    if let Some(base) = base {
        base.encode(&mut out);
    }
    out.extend_from_slice(&context.max_parallelism().to_be_bytes());
    out.extend_from_slice(&range.start().to_be_bytes());
    out.extend_from_slice(&range.number_of_key_groups().to_be_bytes());
    put_str(&mut out, key_serializer, "key serializer identity")?;
    out.extend_from_slice(&(states.len() as u16).to_be_bytes());
    for s in states {
        out.extend_from_slice(&s.id.to_be_bytes());
        put_str(&mut out, &s.name, "state name")?;
        out.push(s.kind.code());
        put_str(&mut out, &s.namespace_serializer, "namespace serializer identity")?;
        put_str(&mut out, &s.state_serializer, "state serializer identity")?;
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// Writes one checkpoint stream of `states` over `context`'s key groups to `out`.
///
/// Flink: the asynchronous part of `HeapKeyedStateBackend.snapshot` — per key group of the range, in order, the
/// key-group id (`writeInt`), then for every state its id (`writeShort`) followed by the state's key-group body
/// (`writeMappingsInKeyGroup`, the V2 layout) — inside this crate's container: a header with magic, version,
/// checkpoint id, key-group context, key serializer identity and the meta section (each state's id, name, kind,
/// namespace and state serializer identities) with a CRC32C, and a trailer with the key-group offsets (Flink
/// `KeyGroupRangeOffsets`: the offset of each key group's `int` id), each body's length, a CRC32C per key
/// group, the stream length and the trailer's CRC32C. docs/FORMAT.md specifies every byte.
///
/// `body(state_index, key_group, buf)` must append the V2 body of `states[state_index]` for `key_group` to
/// `buf` (the backend passes `KeyGroupPartition::write_key_group`). The stream is written as it is produced:
/// one key group's section is buffered at a time (to checksum it), then written to `out`; only the trailer's
/// numbers (12 + 8 × states bytes per key group) are kept until the end. On error nothing more is written and
/// `out` holds a prefix that no reader accepts (a storage sink discards it: it is never committed).
///
/// States are written in the order of `states`; their ids must be unique and at most 32767, their names
/// unique, and at most 32767 states (Flink: "Too many KV-States").
///
/// ```
/// use cow_state_table::StateTable;
/// use cow_state_table::backend::stream::{write_stream, StateKind, StateMeta, StreamCheckpoint};
/// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition};
/// use cow_state_table::serializer::{I32Serializer, I64Serializer, Serializers, TypeSerializer};
///
/// let mut table: StateTable<i64, i32, i64> = StateTable::new();
/// for k in 0..100 { table.put(k, 0, k * 2); }
/// let snapshot = table.snapshot().unwrap();
/// let ctx = KeyGroupContext::all(128).unwrap();
/// let partition = KeyGroupPartition::new(&snapshot, ctx);
/// let ser = Serializers::new(I64Serializer, I32Serializer, I64Serializer);
/// let states = [StateMeta::new(0, "doubled", StateKind::Value, "i32", "i64")];
///
/// let mut bytes = Vec::new();
/// let summary = write_stream(7, ctx, "i64", &states, &mut |_, kg, buf| {
///     partition.write_key_group(buf, kg, &ser).map(|_| ())
/// }, &mut bytes).unwrap();
/// assert_eq!((summary.entries, summary.bytes), (100, bytes.len() as u64));
///
/// let stream = StreamCheckpoint::parse(&bytes).unwrap();
/// assert_eq!(stream.checkpoint_id(), 7);
/// let kg = ctx.key_group_of(&5i64);
/// let mut entries = Vec::new();
/// stream.decode_into(0, kg, &ser, &mut entries).unwrap();
/// assert!(entries.contains(&(5, 0, 10)));
/// ```
pub fn write_stream<W: Write + ?Sized>(
    checkpoint_id: u64,
    context: KeyGroupContext,
    key_serializer: &str,
    states: &[StateMeta],
    body: &mut BodyWriter<'_>,
    out: &mut W,
) -> Result<StreamSummary, StreamError> {
    write_stream_with(checkpoint_id, None, context, key_serializer, states, body, out)
}

/// [`write_stream`] of a delta stream on top of `base` (docs/DESIGN.md C7, docs/FORMAT.md "Delta streams"): the
/// header is version 2 and names `base` after the checkpoint id; `body(state_index, key_group, buf)` must append
/// a delta body (a V2 body of the upserts, then the removals, see
/// [`decode_delta_body`](super::decode_delta_body)). Everything else is laid out as in a full stream.
pub fn write_delta_stream<W: Write + ?Sized>(
    checkpoint_id: u64,
    base: StreamFingerprint,
    context: KeyGroupContext,
    key_serializer: &str,
    states: &[StateMeta],
    body: &mut BodyWriter<'_>,
    out: &mut W,
) -> Result<StreamSummary, StreamError> {
    write_stream_with(checkpoint_id, Some(&base), context, key_serializer, states, body, out)
}

fn write_stream_with<W: Write + ?Sized>(
    checkpoint_id: u64,
    base: Option<&StreamFingerprint>,
    context: KeyGroupContext,
    key_serializer: &str,
    states: &[StateMeta],
    body: &mut BodyWriter<'_>,
    out: &mut W,
) -> Result<StreamSummary, StreamError> {
    let header = encode_header(checkpoint_id, context, key_serializer, states, base)?;
    out.write_all(&header)?;
    let range = context.range();
    let groups = range.number_of_key_groups() as usize;
    let entry_len = TRAILER_ENTRY_FIXED + 8 * states.len();
    let mut trailer = Vec::with_capacity(groups * entry_len + TRAILER_END_LEN);
    let mut position = header.len() as u64;
    let mut section = Vec::new();
    let mut entries = 0u64;
    for key_group in range {
        section.clear();
        // Flink: keyGroupRangeOffsets[pos] = stream.getPos(); outView.writeInt(keyGroupId);
        section.extend_from_slice(&(key_group as i32).to_be_bytes());
        trailer.extend_from_slice(&position.to_be_bytes());
        let crc_at = trailer.len();
        trailer.extend_from_slice(&[0; 4]);
        for (index, state) in states.iter().enumerate() {
            // Flink: writeShort(kVStateToId.get(name)); snapshot.writeMappingsInKeyGroup(out, keyGroupId);
            section.extend_from_slice(&(state.id as i16).to_be_bytes());
            let start = section.len();
            body(index, key_group, &mut section).map_err(|source| StreamError::Body {
                key_group,
                state: index,
                source,
            })?;
            let len = section.len() - start;
            let not_v2 = |reason| StreamError::NotAV2Body {
                key_group,
                state: index,
                len,
                reason,
            };
            let count = section
                .get(start..start + 4)
                .ok_or_else(|| not_v2("shorter than its 4-byte count"))?;
            let count = i32::from_be_bytes([count[0], count[1], count[2], count[3]]);
            if count < 0 {
                return Err(not_v2("negative count"));
            }
            entries += count as u64;
            trailer.extend_from_slice(&(len as u64).to_be_bytes());
        }
        // Planted mutant (scripts/mutants.sh): the key group's CRC32C leaves out the section's last byte, in
        // the writer and the reader alike, so round trips pass and a corrupted last byte goes unnoticed.
        #[cfg(cow_mutant = "stream-crc-short")]
        let crc = crc32c::crc32c(&section[..section.len() - 1]);
        #[cfg(not(cow_mutant = "stream-crc-short"))]
        let crc = crc32c::crc32c(&section);
        trailer[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
        out.write_all(&section)?;
        position += section.len() as u64;
    }
    let key_group_bytes = position - header.len() as u64;
    let total = position + trailer.len() as u64 + TRAILER_END_LEN as u64;
    trailer.extend_from_slice(&total.to_be_bytes());
    let crc = crc32c::crc32c(&trailer);
    trailer.extend_from_slice(&crc.to_be_bytes());
    out.write_all(&trailer)?;
    out.flush()?;
    Ok(StreamSummary {
        bytes: total,
        header_bytes: header.len() as u64,
        key_group_bytes,
        entries,
        key_groups: range.number_of_key_groups(),
        states: states.len(),
        trailer_crc: crc,
    })
}
