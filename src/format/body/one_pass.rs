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

/// Bytes reserved for each key group's body: its count and room for its expected share of `entries` plus an
/// eighth and 16 more (a key group's count varies by about its square root), at `min_entry` bytes each; below
/// one entry per key group only the count (a body that is used grows).
fn body_capacity(entries: usize, groups: usize, min_entry: usize) -> usize {
    let expected = entries / groups.max(1);
    if expected == 0 {
        return COUNT_LEN;
    }
    let room = expected.saturating_add(expected / 8).saturating_add(16);
    COUNT_LEN.saturating_add(room.saturating_mul(min_entry.max(1)))
}

/// The bodies of `context`'s key groups, in range order, each starting with its big-endian `i32` entry count;
/// and the number of entries in all.
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
) -> Result<(Vec<Vec<u8>>, u64), WriteError>
where
    K: JavaHashCode,
    P: Primitives,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    let range = context.range();
    let groups = range.number_of_key_groups() as usize;
    let min_entry = serializers.min_entry_len();
    let capacity = body_capacity(snapshot.len(), groups, min_entry);
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
    let mut entries = 0u64;
    let bodies = bodies
        .into_iter()
        .zip(range.iter())
        .map(|((mut body, count), key_group)| {
            entries += count as u64;
            let count = i32::try_from(count).map_err(|_| WriteError::TooManyEntries { key_group, count })?;
            body[..COUNT_LEN].copy_from_slice(&count.to_be_bytes());
            Ok(body)
        })
        .collect::<Result<_, WriteError>>()?;
    Ok((bodies, entries))
}

#[cfg(test)]
mod tests {
    use super::body_capacity;

    #[test]
    fn bodies_reserve_their_expected_share_and_an_eighth() {
        // 1M entries of 20 bytes in 128 key groups: 7,812 expected, room for 7,812 + 976 + 16.
        assert_eq!(body_capacity(1_000_000, 128, 20), 4 + 8_804 * 20);
        assert_eq!(body_capacity(128, 128, 20), 4 + 17 * 20);
        assert_eq!(body_capacity(2_000, 3, 7), 4 + (666 + 83 + 16) * 7);
        // Fewer entries than key groups: only the count (32,768 key groups must not reserve 32,768 bodies).
        assert_eq!(body_capacity(100, 128, 20), 4);
        assert_eq!(body_capacity(0, 1, 20), 4);
        // Serializers of no minimum length count one byte per entry; a range of no key groups divides by one.
        assert_eq!(body_capacity(1_000, 1, 0), 4 + 1_141);
        assert_eq!(body_capacity(1_000, 0, 1), 4 + 1_141);
        assert_eq!(body_capacity(usize::MAX, 1, 20), usize::MAX);
    }
}
