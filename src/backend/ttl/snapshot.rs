//! Cleanup at snapshot: the filter the checkpoint's asynchronous part applies to a TTL state's entries while it
//! writes them (Flink `TtlStateSnapshotTransformer` through `StateSnapshotTransformer`; docs/DESIGN.md T5).

use super::clock::TtlTimeProvider;
use super::value::TtlStored;
use crate::backend::state::GroupWriter;
use crate::format::WriteError;
use crate::keygroup::{JavaHashCode, KeyGroupPartition};
use crate::serializer::{Serializers, TypeSerializer};
use crate::sync::Primitives;
use crate::table::visit::Visit;
use std::sync::Arc;

/// A filter of a state's entries in a checkpoint (T5), with every type of the state's checkpoint known: it writes
/// a whole key group's body, with the filter applied inline to each entry, so the asynchronous part makes one
/// virtual call per key group rather than one per entry. Object safe, so the type-erased codec can hold one.
pub(crate) trait SnapshotFilter<K, N, S, P: Primitives, KS, NS, SS>: Send + Sync {
    /// The time the filter compares with, read once per state per checkpoint.
    fn now(&self) -> i64;

    /// Appends the V2 body of `key_group` of `partition` to `out`, as the format's own writer does (docs/FORMAT.md:
    /// the count of the entries written, then `(namespace, key, state)` of each), with each state kept, dropped or
    /// replaced as the filter decides at `now`; returns the entries written. On error `out` is left as it was.
    fn write_group(
        &self,
        partition: &KeyGroupPartition<'_, K, N, S, P>,
        serializers: &Serializers<KS, NS, SS>,
        key_group: u32,
        now: i64,
        out: &mut Vec<u8>,
    ) -> Result<usize, WriteError>;
}

/// The TTL filter: drops what is expired at the time read when the state's writing starts (T2, T5).
pub(crate) struct TtlSnapshotFilter {
    pub(crate) ttl: i64,
    pub(crate) clock: Arc<dyn TtlTimeProvider>,
}

impl<K, N, S, P, KS, NS, SS> SnapshotFilter<K, N, S, P, KS, NS, SS> for TtlSnapshotFilter
where
    K: JavaHashCode,
    S: TtlStored,
    P: Primitives,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    fn now(&self) -> i64 {
        self.clock.current_timestamp()
    }

    fn write_group(
        &self,
        partition: &KeyGroupPartition<'_, K, N, S, P>,
        serializers: &Serializers<KS, NS, SS>,
        key_group: u32,
        now: i64,
        out: &mut Vec<u8>,
    ) -> Result<usize, WriteError> {
        let entries = partition.entries(key_group)?;
        let start = out.len();
        let ttl = self.ttl;
        let result = write_filtered(entries, key_group, serializers, |s| s.filter_expired(ttl, now), out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

/// The body of one key group with `filter` applied to each entry (T5): the count of the entries written, then
/// `(namespace, key, state)` of each.
#[inline]
fn write_filtered<K, N, S, KS, NS, SS>(
    entries: &[(&K, &N, &S)],
    key_group: u32,
    serializers: &Serializers<KS, NS, SS>,
    filter: impl Fn(&S) -> Visit<S>,
    out: &mut Vec<u8>,
) -> Result<usize, WriteError>
where
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    let ser = |source| WriteError::Serialize { key_group, source };
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut written = 0usize;
    for &(k, n, s) in entries {
        let replaced;
        let state = match filter(s) {
            Visit::Keep => s,
            Visit::Remove => continue,
            Visit::Replace(t) => {
                replaced = t;
                &replaced
            }
        };
        serializers.namespace.serialize(n, out).map_err(ser)?;
        serializers.key.serialize(k, out).map_err(ser)?;
        serializers.state.serialize(state, out).map_err(ser)?;
        written += 1;
    }
    let count = i32::try_from(written).map_err(|_| WriteError::TooManyEntries {
        key_group,
        count: written,
    })?;
    out[start..start + 4].copy_from_slice(&count.to_be_bytes());
    Ok(written)
}

/// A [`GroupWriter`] writing the V2 bodies of a state's key groups through its [`SnapshotFilter`].
pub(crate) struct FilteredWriter<'s, K, N, S, P: Primitives, KS, NS, SS> {
    pub(crate) partition: KeyGroupPartition<'s, K, N, S, P>,
    pub(crate) serializers: &'s Serializers<KS, NS, SS>,
    pub(crate) filter: &'s dyn SnapshotFilter<K, N, S, P, KS, NS, SS>,
    pub(crate) now: i64,
}

impl<K, N, S, P, KS, NS, SS> GroupWriter for FilteredWriter<'_, K, N, S, P, KS, NS, SS>
where
    P: Primitives,
{
    fn write(&self, key_group: u32, out: &mut Vec<u8>) -> Result<usize, WriteError> {
        self.filter
            .write_group(&self.partition, self.serializers, key_group, self.now, out)
    }
}
