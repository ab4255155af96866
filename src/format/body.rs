//! Key-group bodies: the V2 layout (count, then `(namespace, key, state)` triples) and the V1 layout
//! (namespace-compressed), written in a chosen entry order and read back with every count bounded.

use super::error::{FormatError, WriteError};
use super::header::BodyFormat;
use crate::keygroup::{EntryRef, JavaHashCode, KeyGroupContext};
use crate::serializer::{DecodeError, Input, Serializers, TypeSerializer};
use core::ops::Range;

/// The order of the entries inside one key group's body (Flink always writes the table's order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum EntryOrder {
    /// The snapshot's iteration order (bucket order; depends on the table's hasher and history). Fastest.
    #[default]
    Snapshot,
    /// Sorted by the serialized namespace, then the serialized key (then the serialized state), each compared as
    /// unsigned bytes, shorter first on a common prefix. The bytes then depend only on the contents.
    Canonical,
}

/// Options of [`write_checkpoint`](super::write_checkpoint) (Flink: the state-table serialization version).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct WriteOptions {
    /// Body layout; [`BodyFormat::V2`] by default.
    pub body_format: BodyFormat,
    /// Entry order within a key group; ignored for [`BodyFormat::V1`], which is always canonical.
    pub order: EntryOrder,
}

impl WriteOptions {
    /// V2 bodies in canonical order: reproducible bytes.
    pub fn canonical() -> Self {
        WriteOptions {
            body_format: BodyFormat::V2,
            order: EntryOrder::Canonical,
        }
    }
}

fn count_i32(count: usize, key_group: u32) -> Result<[u8; 4], WriteError> {
    i32::try_from(count)
        .map(i32::to_be_bytes)
        .map_err(|_| WriteError::TooManyEntries { key_group, count })
}

/// Appends the body of `key_group` holding `entries` to `out`.
pub(crate) fn write_body<K, N, S, KS, NS, SS>(
    entries: &[EntryRef<'_, K, N, S>],
    key_group: u32,
    serializers: &Serializers<KS, NS, SS>,
    options: WriteOptions,
    out: &mut Vec<u8>,
) -> Result<(), WriteError>
where
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    let ser = |e| WriteError::Serialize { key_group, source: e };
    match (options.body_format, options.order) {
        (BodyFormat::V2, EntryOrder::Snapshot) => {
            out.extend_from_slice(&count_i32(entries.len(), key_group)?);
            for &(k, n, s) in entries {
                serializers.namespace.serialize(n, out).map_err(ser)?;
                serializers.key.serialize(k, out).map_err(ser)?;
                serializers.state.serialize(s, out).map_err(ser)?;
            }
        }
        (BodyFormat::V2, EntryOrder::Canonical) => {
            let encoded = Encoded::sorted(entries, serializers).map_err(ser)?;
            out.extend_from_slice(&count_i32(entries.len(), key_group)?);
            for e in &encoded.spans {
                out.extend_from_slice(&encoded.buf[e.start..e.end]);
            }
        }
        (BodyFormat::V1, _) => {
            if entries.is_empty() {
                out.push(0);
                return Ok(());
            }
            let encoded = Encoded::sorted(entries, serializers).map_err(ser)?;
            let groups = encoded.namespace_runs();
            out.push(1);
            out.extend_from_slice(&count_i32(groups.len(), key_group)?);
            for run in groups {
                let first = &encoded.spans[run.start];
                out.extend_from_slice(encoded.namespace(first));
                out.extend_from_slice(&count_i32(run.len(), key_group)?);
                for e in &encoded.spans[run] {
                    out.extend_from_slice(&encoded.buf[e.namespace_end..e.end]);
                }
            }
        }
    }
    Ok(())
}

/// One serialized entry in [`Encoded::buf`]: namespace, key and state bytes back to back.
struct Span {
    start: usize,
    namespace_end: usize,
    key_end: usize,
    end: usize,
}

/// The entries of one key group, serialized once and sorted canonically.
struct Encoded {
    buf: Vec<u8>,
    spans: Vec<Span>,
}

impl Encoded {
    fn sorted<K, N, S, KS, NS, SS>(
        entries: &[EntryRef<'_, K, N, S>],
        serializers: &Serializers<KS, NS, SS>,
    ) -> Result<Self, crate::serializer::SerializeError>
    where
        KS: TypeSerializer<Value = K>,
        NS: TypeSerializer<Value = N>,
        SS: TypeSerializer<Value = S>,
    {
        let mut buf = Vec::new();
        let mut spans = Vec::with_capacity(entries.len());
        for &(k, n, s) in entries {
            let start = buf.len();
            serializers.namespace.serialize(n, &mut buf)?;
            let namespace_end = buf.len();
            serializers.key.serialize(k, &mut buf)?;
            let key_end = buf.len();
            serializers.state.serialize(s, &mut buf)?;
            spans.push(Span {
                start,
                namespace_end,
                key_end,
                end: buf.len(),
            });
        }
        let mut encoded = Encoded { buf, spans };
        let mut spans = core::mem::take(&mut encoded.spans);
        spans.sort_unstable_by(|a, b| {
            let buf = &encoded.buf;
            let parts = |e: &Span| {
                (
                    &buf[e.start..e.namespace_end],
                    &buf[e.namespace_end..e.key_end],
                    &buf[e.key_end..e.end],
                )
            };
            parts(a).cmp(&parts(b))
        });
        encoded.spans = spans;
        Ok(encoded)
    }

    fn namespace(&self, e: &Span) -> &[u8] {
        &self.buf[e.start..e.namespace_end]
    }

    /// Index ranges of consecutive entries with equal namespace bytes.
    fn namespace_runs(&self) -> Vec<Range<usize>> {
        let mut runs = Vec::new();
        let mut start = 0;
        for i in 1..=self.spans.len() {
            if i == self.spans.len() || self.namespace(&self.spans[i]) != self.namespace(&self.spans[start]) {
                runs.push(start..i);
                start = i;
            }
        }
        runs
    }
}

/// Decodes the body of `key_group` (exactly `input`'s bytes) and appends its entries to `out`.
pub(crate) fn read_body<KS, NS, SS>(
    format: BodyFormat,
    input: &mut Input<'_>,
    key_group: u32,
    context: KeyGroupContext,
    serializers: &Serializers<KS, NS, SS>,
    out: &mut Vec<(KS::Value, NS::Value, SS::Value)>,
) -> Result<(), FormatError>
where
    KS: TypeSerializer,
    KS::Value: JavaHashCode,
    NS: TypeSerializer,
    NS::Value: Clone,
    SS: TypeSerializer,
{
    let dec = |source: DecodeError| FormatError::Decode { key_group, source };
    let key_min = serializers.key.min_len();
    let state_min = serializers.state.min_len();
    let namespace_min = serializers.namespace.min_len();
    let read_key = |input: &mut Input<'_>| {
        let at = input.offset();
        let key = serializers.key.deserialize(input).map_err(dec)?;
        let found = context.key_group_of(&key);
        if found != key_group {
            return Err(FormatError::WrongKeyGroup {
                key_group,
                offset: at,
                found,
            });
        }
        Ok(key)
    };
    match format {
        BodyFormat::V2 => {
            let entry_min = namespace_min.saturating_add(key_min).saturating_add(state_min);
            let count = input.read_count(entry_min).map_err(dec)?;
            out.reserve(input.bounded_capacity(count, entry_min));
            for _ in 0..count {
                let namespace = serializers.namespace.deserialize(input).map_err(dec)?;
                let key = read_key(input)?;
                let state = serializers.state.deserialize(input).map_err(dec)?;
                out.push((key, namespace, state));
            }
        }
        BodyFormat::V1 => {
            let at = input.offset();
            match input.read_u8().map_err(dec)? {
                0 => {}
                1 => {
                    let namespaces = input.read_count(namespace_min.saturating_add(4)).map_err(dec)?;
                    for _ in 0..namespaces {
                        let namespace = serializers.namespace.deserialize(input).map_err(dec)?;
                        let pair_min = key_min.saturating_add(state_min);
                        let count = input.read_count(pair_min).map_err(dec)?;
                        out.reserve(input.bounded_capacity(count, pair_min));
                        for _ in 0..count {
                            let key = read_key(input)?;
                            let state = serializers.state.deserialize(input).map_err(dec)?;
                            out.push((key, namespace.clone(), state));
                        }
                    }
                }
                tag => {
                    return Err(dec(DecodeError {
                        offset: at,
                        kind: crate::serializer::DecodeErrorKind::InvalidTag(tag),
                    }))
                }
            }
        }
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
