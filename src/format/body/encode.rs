//! Writing one key group's body, V2 or V1.

use super::canonical::Encoded;
use crate::format::error::WriteError;
use crate::format::header::BodyFormat;
use crate::format::options::{EntryOrder, WriteOptions};
use crate::keygroup::EntryRef;
use crate::serializer::{Serializers, TypeSerializer};

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
