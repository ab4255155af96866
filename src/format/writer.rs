//! Writing a snapshot as a checkpoint: header, key-group table and one body per key group.

use super::body::{v2_bodies_in_snapshot_order, write_body};
use super::error::WriteError;
use super::header::{BodyFormat, Header, KeyGroupBlock};
use super::options::{EntryOrder, WriteOptions};
use crate::keygroup::{JavaHashCode, KeyGroupContext, KeyGroupPartition};
use crate::serializer::{Serializers, TypeSerializer};
use crate::snapshot::Snapshot;
use crate::sync::Primitives;
use std::io::{IoSlice, Write};

/// What [`write_checkpoint`] wrote (Flink: the size and `KeyGroupRangeOffsets` of a `KeyGroupsStateHandle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WriteSummary {
    /// Entries written.
    pub entries: u64,
    /// Key groups written (including empty ones).
    pub key_groups: u32,
    /// Total bytes written.
    pub bytes: u64,
}

impl<K: JavaHashCode, N, S, P: Primitives> KeyGroupPartition<'_, K, N, S, P> {
    /// Appends the V2 body of `key_group` to `out`: a big-endian `i32` count, then `(namespace, key, state)` of
    /// each entry, in snapshot order. Returns the number of entries written.
    ///
    /// Flink: `CopyOnWriteStateTableSnapshot.writeMappingsInKeyGroup`. Partitions the snapshot first if that has
    /// not happened yet; fails if `key_group` is outside the range or an entry's key group is.
    ///
    /// # Errors
    /// [`WriteError::KeyGroup`] if `key_group` is outside the range or an entry's key group is;
    /// [`WriteError::Serialize`] if a serializer fails; [`WriteError::TooManyEntries`] beyond `i32::MAX` entries.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition};
    /// use cow_state_table::serializer::{Serializers, U64Serializer, U32Serializer};
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// table.put(1, 0, 10);
    /// let snap = table.snapshot()?;
    /// let ctx = KeyGroupContext::all(8)?;
    /// let partition = KeyGroupPartition::new(&snap, ctx);
    /// let sers = Serializers::new(U64Serializer, U32Serializer, U64Serializer);
    /// let mut body = Vec::new();
    /// assert_eq!(partition.write_key_group(&mut body, ctx.key_group_of(&1u64), &sers)?, 1);
    /// assert!(partition.write_key_group(&mut body, 8, &sers).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_key_group<KS, NS, SS>(
        &self,
        out: &mut Vec<u8>,
        key_group: u32,
        serializers: &Serializers<KS, NS, SS>,
    ) -> Result<usize, WriteError>
    where
        KS: TypeSerializer<Value = K>,
        NS: TypeSerializer<Value = N>,
        SS: TypeSerializer<Value = S>,
    {
        self.write_key_group_with(out, key_group, serializers, WriteOptions::default())
    }

    /// [`write_key_group`](Self::write_key_group) with a chosen body format and entry order. On error, `out` is
    /// left as it was.
    ///
    /// # Errors
    /// As [`write_key_group`](Self::write_key_group).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::format::{BodyFormat, EntryOrder, WriteOptions};
    /// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition};
    /// use cow_state_table::serializer::{Serializers, U64Serializer, U32Serializer};
    /// let table: StateTable<u64, u32, u64> = (0..10).map(|k| (k, 0, k)).collect();
    /// let mut table = table;
    /// let snap = table.snapshot()?;
    /// let ctx = KeyGroupContext::all(1)?;
    /// let partition = KeyGroupPartition::new(&snap, ctx);
    /// let sers = Serializers::new(U64Serializer, U32Serializer, U64Serializer);
    /// let mut body = Vec::new();
    /// let options = WriteOptions::new(BodyFormat::V2, EntryOrder::Canonical);
    /// assert_eq!(partition.write_key_group_with(&mut body, 0, &sers, options)?, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_key_group_with<KS, NS, SS>(
        &self,
        out: &mut Vec<u8>,
        key_group: u32,
        serializers: &Serializers<KS, NS, SS>,
        options: WriteOptions,
    ) -> Result<usize, WriteError>
    where
        KS: TypeSerializer<Value = K>,
        NS: TypeSerializer<Value = N>,
        SS: TypeSerializer<Value = S>,
    {
        let entries = self.entries(key_group)?;
        let start = out.len();
        write_body(entries, key_group, serializers, options, out).inspect_err(|_| out.truncate(start))?;
        Ok(entries.len())
    }
}

/// Writes `snapshot` as a checkpoint of `context`'s key groups to `out` (the layout of docs/FORMAT.md).
///
/// Flink: `HeapKeyedStateBackend`'s snapshot strategy — per key group of the range, the key-group offset and
/// `writeMappingsInKeyGroup` — inside this crate's versioned container (magic, version, serializer identities,
/// range, per-key-group offsets and CRC32C). Every entry of the snapshot must belong to a key group of the range
/// ([`KeyGroupError::OutOfRange`](crate::keygroup::KeyGroupError::OutOfRange) otherwise). The bodies are built
/// in memory first (the header lists their offsets and checksums), then everything is written to `out` in one
/// vectored write (nothing reaches `out` if building fails). The default layout (V2, snapshot order) is built in
/// one walk of the snapshot, each entry serialized straight into its key group's body; the others go through a
/// [`KeyGroupPartition`] as [`write_partition`] does, with the same bytes for the same layout.
///
/// # Errors
/// [`WriteError::Io`] from `out`; [`WriteError::KeyGroup`] if an entry's key group is outside the context's
/// range; [`WriteError::Serialize`]; [`WriteError::TooManyEntries`]; [`WriteError::IdentityTooLong`].
///
/// ```
/// use cow_state_table::StateTable;
/// use cow_state_table::format::{write_checkpoint, WriteOptions};
/// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupRange};
/// use cow_state_table::restore::restore;
/// use cow_state_table::serializer::{Serializers, U64Serializer, U32Serializer};
///
/// let mut table: StateTable<u64, u32, u64> = StateTable::new();
/// for k in 0..1000u64 { table.put(k, 0, k * k); }
/// let snapshot = table.snapshot().unwrap();
/// table.put(0, 0, 42); // the snapshot keeps the old value
///
/// let serializers = Serializers::new(U64Serializer, U32Serializer, U64Serializer);
/// let all = KeyGroupContext::all(128).unwrap();
/// let mut bytes = Vec::new();
/// write_checkpoint(&snapshot, all, &serializers, WriteOptions::default(), &mut bytes).unwrap();
///
/// // Restore the first half of the key groups (instance 0 of 2).
/// let half = KeyGroupContext::new(128, KeyGroupRange::of(0, 63).unwrap()).unwrap();
/// let restored: StateTable<u64, u32, u64> = restore(half, &[&bytes], &serializers).unwrap();
/// for k in 0..1000u64 {
///     let expected = half.range().contains(half.key_group_of(&k)).then_some(k * k);
///     assert_eq!(restored.get(&k, &0).copied(), expected);
/// }
/// ```
pub fn write_checkpoint<K, N, S, P, KS, NS, SS, W>(
    snapshot: &Snapshot<K, N, S, P>,
    context: KeyGroupContext,
    serializers: &Serializers<KS, NS, SS>,
    options: WriteOptions,
    out: &mut W,
) -> Result<WriteSummary, WriteError>
where
    K: JavaHashCode,
    P: Primitives,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
    W: Write + ?Sized,
{
    if options == WriteOptions::new(BodyFormat::V2, EntryOrder::Snapshot) {
        // The default layout needs no partition: one walk of the snapshot serializes every entry into its key
        // group's body (the same bytes as the partition's path below).
        let (bodies, entries) = v2_bodies_in_snapshot_order(snapshot, context, serializers)?;
        let bodies: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        return emit(header(context, serializers, options.body_format), &bodies, entries, out);
    }
    write_partition(&KeyGroupPartition::new(snapshot, context), serializers, options, out)
}

/// [`write_checkpoint`] for a snapshot already wrapped in a [`KeyGroupPartition`] (Flink: the heap snapshot
/// strategy's loop over the key groups of a `CopyOnWriteStateTableSnapshot`).
///
/// # Errors
/// As [`write_checkpoint`].
///
/// ```
/// use cow_state_table::StateTable;
/// use cow_state_table::format::{write_partition, WriteOptions};
/// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupPartition};
/// use cow_state_table::serializer::{Serializers, U64Serializer, U32Serializer};
/// let mut table: StateTable<u64, u32, u64> = (0..10).map(|k| (k, 0, k)).collect();
/// let snap = table.snapshot()?;
/// let partition = KeyGroupPartition::new(&snap, KeyGroupContext::all(8)?);
/// let sers = Serializers::new(U64Serializer, U32Serializer, U64Serializer);
/// let mut bytes = Vec::new();
/// let summary = write_partition(&partition, &sers, WriteOptions::default(), &mut bytes)?;
/// assert_eq!((summary.entries, summary.key_groups), (10, 8));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_partition<K, N, S, P, KS, NS, SS, W>(
    partition: &KeyGroupPartition<'_, K, N, S, P>,
    serializers: &Serializers<KS, NS, SS>,
    options: WriteOptions,
    out: &mut W,
) -> Result<WriteSummary, WriteError>
where
    K: JavaHashCode,
    P: Primitives,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
    W: Write + ?Sized,
{
    let context = partition.context();
    partition.prepare()?;
    let range = context.range();
    let min_entry = serializers.min_entry_len();
    let mut bodies = Vec::with_capacity(partition.len()?.saturating_mul(min_entry) + 5 * range.iter().len());
    let mut ends = Vec::with_capacity(range.number_of_key_groups() as usize);
    let mut entries = 0u64;
    for key_group in range {
        entries += partition.write_key_group_with(&mut bodies, key_group, serializers, options)? as u64;
        ends.push(bodies.len());
    }
    let bodies: Vec<&[u8]> = ends
        .iter()
        .scan(0, |start, &end| Some(&bodies[core::mem::replace(start, end)..end]))
        .collect();
    emit(header(context, serializers, options.body_format), &bodies, entries, out)
}

/// The header of a checkpoint of `context`'s key groups written with `serializers` in `body_format`.
fn header<KS, NS, SS>(
    context: KeyGroupContext,
    serializers: &Serializers<KS, NS, SS>,
    body_format: BodyFormat,
) -> Header
where
    KS: TypeSerializer,
    NS: TypeSerializer,
    SS: TypeSerializer,
{
    let [key_serializer, namespace_serializer, state_serializer] = serializers.identities();
    Header {
        body_format,
        context,
        key_serializer,
        namespace_serializer,
        state_serializer,
    }
}

/// Writes `header`, the key-group table for `bodies` (one per key group of the header's range, in order) and
/// the bodies to `out`.
fn emit<W: Write + ?Sized>(
    header: Header,
    bodies: &[&[u8]],
    entries: u64,
    out: &mut W,
) -> Result<WriteSummary, WriteError> {
    let range = header.context.range();
    debug_assert_eq!(bodies.len(), range.iter().len());
    let mut offset = header.encoded_len() as u64;
    let blocks: Vec<KeyGroupBlock> = range
        .iter()
        .zip(bodies)
        .map(|(key_group, body)| {
            let block = KeyGroupBlock {
                key_group,
                offset,
                length: body.len() as u64,
                crc32c: crc32c::crc32c(body),
            };
            offset += body.len() as u64;
            block
        })
        .collect();
    let head = header.encode(&blocks)?;
    debug_assert_eq!(head.len() as u64, header.encoded_len() as u64);
    let mut slices: Vec<IoSlice<'_>> = core::iter::once(head.as_slice())
        .chain(bodies.iter().copied())
        .map(IoSlice::new)
        .collect();
    write_all_vectored(out, &mut slices)?;
    Ok(WriteSummary {
        entries,
        key_groups: range.number_of_key_groups(),
        bytes: offset,
    })
}

/// Writes every slice to `out` (std's `Write::write_all_vectored`, not yet stable): one vectored write where `out`
/// takes them all at once (a `Vec<u8>` reserves the total first; a file makes one `writev` per 1024 slices).
fn write_all_vectored<W: Write + ?Sized>(out: &mut W, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
