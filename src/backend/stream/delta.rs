//! Delta streams (docs/DESIGN.md C7, docs/FORMAT.md "Delta streams"): the chain link a delta names, the
//! fingerprint of a stream it is checked against, and the delta body of one state in one key group.
//!
//! Flink has no counterpart for the heap backend (FLIP-151 was never finished); the closest is the chain of
//! `IncrementalRemoteKeyedStateHandle`s of RocksDB's incremental checkpoints, where each checkpoint names the
//! shared files of its predecessors.
//!
//! A delta body is the V2 body of the upserts (count, then `namespace · key · state` per entry, exactly as a full
//! body) followed by the removals: an `int` count, then `namespace · key` per removed entry.

use crate::format::read_key_of_group;
use crate::format::FormatError;
use crate::keygroup::KeyGroupContext;
use crate::serializer::{DecodeError, Input, KeySerializer, NamespaceSerializer, Serializers, TypeSerializer};

/// The stream container version of a delta stream (full streams are version
/// [`STREAM_VERSION`](super::STREAM_VERSION), 1, and stay byte-identical).
pub const DELTA_STREAM_VERSION: u16 = 2;

/// What identifies one checkpoint stream: its id, its length and the CRC32C of its trailer (its last four
/// bytes, which cover every key group's checksum and so every byte of the stream). A delta names its base by
/// this, so a base of the same id but of another lineage (another job, another chain) is refused (C8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamFingerprint {
    /// The checkpoint id of the stream's header.
    pub id: u64,
    /// The stream's length in bytes.
    pub len: u64,
    /// The CRC32C of its trailer (its last four bytes).
    pub trailer_crc: u32,
}

impl StreamFingerprint {
    /// Bytes of a fingerprint in a delta stream's header.
    pub const ENCODED_LEN: usize = 20;

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.len.to_be_bytes());
        out.extend_from_slice(&self.trailer_crc.to_be_bytes());
    }
}

impl core::fmt::Display for StreamFingerprint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "checkpoint {} ({} bytes, trailer CRC32C {:#010x})",
            self.id, self.len, self.trailer_crc
        )
    }
}

/// The base id a stream's first bytes name, without verifying anything: `Some(base id)` for a delta stream's
/// header, `None` for a full stream or anything else. Used by storage retention (C9) to keep the chain a
/// retained delta needs; restore verifies the whole link ([`StreamCheckpoint::base`](super::StreamCheckpoint::base)).
///
/// ```
/// use cow_state_table::backend::stream::peek_base_id;
/// assert_eq!(peek_base_id(b"COWKEYED\0\x01"), None);
/// ```
pub fn peek_base_id(prefix: &[u8]) -> Option<u64> {
    if prefix.get(..8)? != super::MAGIC || prefix.get(8..10)? != DELTA_STREAM_VERSION.to_be_bytes() {
        return None;
    }
    Some(u64::from_be_bytes(prefix.get(20..28)?.try_into().ok()?))
}

/// Bytes of a stream header [`peek_base_id`] needs.
pub const PEEK_LEN: usize = 28;

/// The decoded delta body of one state in one key group: the upserts (as a V2 body's entries) and the removed
/// `(key, namespace)` pairs.
pub type DecodedDelta<K, N, S> = (Vec<(K, N, S)>, Vec<(K, N)>);

/// Decodes one delta body (exactly `bytes`, at absolute offset `base`) of `key_group`: every key is checked to
/// belong to `key_group`, every count bounded by the bytes that remain.
pub fn decode_delta_body<KS, NS, SS>(
    bytes: &[u8],
    base: u64,
    key_group: u32,
    context: KeyGroupContext,
    serializers: &Serializers<KS, NS, SS>,
) -> Result<DecodedDelta<KS::Value, NS::Value, SS::Value>, FormatError>
where
    KS: KeySerializer,
    NS: NamespaceSerializer,
    SS: TypeSerializer,
{
    let dec = |source: DecodeError| FormatError::Decode { key_group, source };
    let mut input = Input::with_base(bytes, base);
    let read_key = |input: &mut Input<'_>| read_key_of_group(input, &serializers.key, key_group, context);
    let entry_min = serializers.min_entry_len();
    let count = input.read_count(entry_min).map_err(dec)?;
    let mut upserts = Vec::with_capacity(input.bounded_capacity(count, entry_min));
    for _ in 0..count {
        let namespace = serializers.namespace.deserialize(&mut input).map_err(dec)?;
        let key = read_key(&mut input)?;
        let state = serializers.state.deserialize(&mut input).map_err(dec)?;
        upserts.push((key, namespace, state));
    }
    let removal_min = serializers
        .key
        .min_len()
        .saturating_add(serializers.namespace.min_len());
    let count = input.read_count(removal_min).map_err(dec)?;
    let mut removals = Vec::with_capacity(input.bounded_capacity(count, removal_min));
    for _ in 0..count {
        let namespace = serializers.namespace.deserialize(&mut input).map_err(dec)?;
        let key = read_key(&mut input)?;
        removals.push((key, namespace));
    }
    if !input.is_empty() {
        return Err(FormatError::TrailingBytes {
            key_group,
            offset: input.offset(),
            count: input.remaining() as u64,
        });
    }
    Ok((upserts, removals))
}
