//! Reading one key group's body, V2 or V1, with every count bounded by the bytes that remain.

use crate::format::error::FormatError;
use crate::format::header::BodyFormat;
use crate::keygroup::KeyGroupContext;
use crate::serializer::{
    DecodeError, DecodeErrorKind, Input, KeySerializer, NamespaceSerializer, Serializers, TypeSerializer,
};

/// Reads one key of `key_group`'s body and checks that it belongs to `key_group` (a body holds its key group's
/// keys only): `FormatError::WrongKeyGroup` at the key's offset otherwise.
pub(crate) fn read_key_of_group<KS: KeySerializer>(
    input: &mut Input<'_>,
    key: &KS,
    key_group: u32,
    context: KeyGroupContext,
) -> Result<KS::Value, FormatError> {
    let at = input.offset();
    let value = key
        .deserialize(input)
        .map_err(|source| FormatError::Decode { key_group, source })?;
    let found = context.key_group_of(&value);
    if found != key_group {
        return Err(FormatError::WrongKeyGroup {
            key_group,
            offset: at,
            found,
        });
    }
    Ok(value)
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
    KS: KeySerializer,
    NS: NamespaceSerializer,
    SS: TypeSerializer,
{
    let dec = |source: DecodeError| FormatError::Decode { key_group, source };
    let key_min = serializers.key.min_len();
    let state_min = serializers.state.min_len();
    let namespace_min = serializers.namespace.min_len();
    let read_key = |input: &mut Input<'_>| read_key_of_group(input, &serializers.key, key_group, context);
    match format {
        BodyFormat::V2 => {
            let entry_min = serializers.min_entry_len();
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
                        kind: DecodeErrorKind::InvalidTag(tag),
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

/// Decodes one key group's body from `bytes` (exactly its bytes; the first at absolute offset `base`) and
/// appends its entries to `out` as `(key, namespace, state)`.
///
/// Flink: `StateTableByKeyGroupReaders.readerForVersion(table, version).readMappingsInKeyGroup(in, keyGroupId)`,
/// here without a table: the entries are returned rather than inserted. Every count is bounded by the bytes that
/// remain (docs/FORMAT.md §7); every key must belong to `key_group` under `context`; the body must be consumed
/// exactly. Errors carry absolute offsets (`base` + position). On error, `out` may hold the entries decoded
/// before the failure.
///
/// ```
/// use cow_state_table::format::{decode_body, BodyFormat};
/// use cow_state_table::keygroup::KeyGroupContext;
/// use cow_state_table::serializer::{I64Serializer, I32Serializer, Serializers};
///
/// let ctx = KeyGroupContext::all(128).unwrap();
/// let kg = ctx.key_group_of(&7i64);
/// // count 1, namespace 3 (int), key 7 (long), state 42 (long)
/// let mut body = vec![0, 0, 0, 1, 0, 0, 0, 3];
/// body.extend_from_slice(&7i64.to_be_bytes());
/// body.extend_from_slice(&42i64.to_be_bytes());
/// let serializers = Serializers::new(I64Serializer, I32Serializer, I64Serializer);
/// let mut out = Vec::new();
/// decode_body(BodyFormat::V2, &body, kg, ctx, &serializers, &mut out).unwrap();
/// assert_eq!(out, vec![(7, 3, 42)]);
/// // The same body under another key group is refused.
/// assert!(decode_body(BodyFormat::V2, &body, (kg + 1) % 128, ctx, &serializers, &mut Vec::new()).is_err());
/// ```
pub fn decode_body<KS, NS, SS>(
    format: BodyFormat,
    bytes: &[u8],
    key_group: u32,
    context: KeyGroupContext,
    serializers: &Serializers<KS, NS, SS>,
    out: &mut Vec<(KS::Value, NS::Value, SS::Value)>,
) -> Result<(), FormatError>
where
    KS: KeySerializer,
    NS: NamespaceSerializer,
    SS: TypeSerializer,
{
    decode_body_at(format, bytes, 0, key_group, context, serializers, out)
}

/// [`decode_body`] for a body whose first byte is at absolute offset `base` (offsets in errors are then
/// absolute, e.g. in a checkpoint stream).
pub fn decode_body_at<KS, NS, SS>(
    format: BodyFormat,
    bytes: &[u8],
    base: u64,
    key_group: u32,
    context: KeyGroupContext,
    serializers: &Serializers<KS, NS, SS>,
    out: &mut Vec<(KS::Value, NS::Value, SS::Value)>,
) -> Result<(), FormatError>
where
    KS: KeySerializer,
    NS: NamespaceSerializer,
    SS: TypeSerializer,
{
    let mut input = Input::with_base(bytes, base);
    read_body(format, &mut input, key_group, context, serializers, out)
}
