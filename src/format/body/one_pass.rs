//! The V2 bodies of every key group of a range, in snapshot order, built in one walk of the snapshot.
//!
//! Byte for byte what [`write_body`](super::write_body) writes for `(BodyFormat::V2, EntryOrder::Snapshot)` from
//! a [`KeyGroupPartition`](crate::keygroup::KeyGroupPartition) — within a key group the entries keep the order
//! in which the snapshot yields them — but each entry is read once and serialized straight into its key
//! group's body: no array of entry references, no scatter, no second visit of every node at a random address.

use crate::format::error::WriteError;
use crate::keygroup::{JavaHashCode, KeyGroupContext, KeyGroupError};
use crate::serializer::{Serializers, TypeSerializer};
use crate::snapshot::Snapshot;
use crate::sync::Primitives;

/// Bytes of a V2 body's entry count (a big-endian Java `int`).
const COUNT_LEN: usize = 4;

/// The bodies of `context`'s key groups, in range order; each starts with its big-endian `i32` entry count.
///
/// Entries are counted as they are seen: the snapshot's recorded length is only a capacity hint.
///
/// # Errors
/// [`WriteError::KeyGroup`] for an entry whose key group is outside the range, [`WriteError::Serialize`] if a
/// serializer fails, [`WriteError::TooManyEntries`] for a key group of more than `i32::MAX` entries. Nothing
/// is returned on error (the caller has written nothing yet).
pub(crate) fn v2_bodies_in_snapshot_order<K, N, S, P, KS, NS, SS>(
    snapshot: &Snapshot<K, N, S, P>,
    context: KeyGroupContext,
    serializers: &Serializers<KS, NS, SS>,
) -> Result<Vec<Vec<u8>>, WriteError>
where
    K: JavaHashCode,
    P: Primitives,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    let range = context.range();
    let groups = range.number_of_key_groups() as usize;
    // Room for the expected share of entries plus an eighth (a key group's count varies by about its square
    // root); below one entry per key group a body grows only if it is used.
    let min_entry = serializers.key.min_len() + serializers.namespace.min_len() + serializers.state.min_len();
    let expected = snapshot.len() / groups.max(1);
    let capacity = if expected == 0 {
        COUNT_LEN
    } else {
        COUNT_LEN + (expected + expected / 8 + 16).saturating_mul(min_entry.max(1))
    };
    // (body, entries in it) per key group of the range.
    let mut bodies: Vec<(Vec<u8>, usize)> = (0..groups)
        .map(|_| {
            let mut body = Vec::with_capacity(capacity);
            body.extend_from_slice(&[0; COUNT_LEN]);
            (body, 0)
        })
        .collect();
    // `for_each` (the walk that prefetches a batch of chains at a time); after an error the rest is only walked.
    let mut failed = None;
    snapshot.iter().for_each(|(key, namespace, state)| {
        if failed.is_some() {
            return;
        }
        let key_group = context.key_group_of(key);
        let Some(index) = range.index_of(key_group) else {
            failed = Some(KeyGroupError::OutOfRange { key_group, range }.into());
            return;
        };
        // `index_of` is below the range's number of key groups, the vector's length.
        let (body, count) = &mut bodies[index as usize];
        let serialized = serializers
            .namespace
            .serialize(namespace, body)
            .and_then(|()| serializers.key.serialize(key, body))
            .and_then(|()| serializers.state.serialize(state, body));
        match serialized {
            Ok(()) => *count += 1,
            Err(source) => failed = Some(WriteError::Serialize { key_group, source }),
        }
    });
    if let Some(error) = failed {
        return Err(error);
    }
    bodies
        .into_iter()
        .zip(range.iter())
        .map(|((mut body, count), key_group)| {
            let count = i32::try_from(count).map_err(|_| WriteError::TooManyEntries { key_group, count })?;
            body[..COUNT_LEN].copy_from_slice(&count.to_be_bytes());
            Ok(body)
        })
        .collect()
}
