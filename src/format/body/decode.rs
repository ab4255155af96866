//! Reading one key group's body, V2 or V1, with every count bounded by the bytes that remain.

use crate::format::error::FormatError;
use crate::format::header::BodyFormat;
use crate::keygroup::KeyGroupContext;
use crate::serializer::{
    DecodeError, DecodeErrorKind, Input, KeySerializer, NamespaceSerializer, Serializers, TypeSerializer,
};

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
