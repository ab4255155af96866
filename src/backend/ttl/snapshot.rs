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

/// A filter of a state's entries in a checkpoint (T5). Object safe, so the type-erased codec can hold one.
pub(crate) trait SnapshotFilter<S>: Send + Sync {
    /// The time the filter compares with, read once per state per checkpoint.
    fn now(&self) -> i64;
    /// What to write of `state`: all of it, nothing, or the replacement.
    fn filter(&self, state: &S, now: i64) -> Visit<S>;
}

/// The TTL filter: drops what is expired at the time read when the state's writing starts (T2, T5).
pub(crate) struct TtlSnapshotFilter {
    pub(crate) ttl: i64,
    pub(crate) clock: Arc<dyn TtlTimeProvider>,
}

impl<S: TtlStored> SnapshotFilter<S> for TtlSnapshotFilter {
    fn now(&self) -> i64 {
        self.clock.current_timestamp()
    }

    #[inline]
    fn filter(&self, state: &S, now: i64) -> Visit<S> {
        state.filter_expired(self.ttl, now)
    }
}

/// A [`GroupWriter`] writing the V2 body of a key group through a [`SnapshotFilter`]: the count of the entries
/// written, then `(namespace, key, state)` of each, as the format's own writer does (docs/FORMAT.md).
pub(crate) struct FilteredWriter<'s, K, N, S, P: Primitives, KS, NS, SS> {
    pub(crate) partition: KeyGroupPartition<'s, K, N, S, P>,
    pub(crate) serializers: &'s Serializers<KS, NS, SS>,
    pub(crate) filter: &'s dyn SnapshotFilter<S>,
    pub(crate) now: i64,
}

impl<K, N, S, P, KS, NS, SS> GroupWriter for FilteredWriter<'_, K, N, S, P, KS, NS, SS>
where
    K: JavaHashCode,
    P: Primitives,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    fn write(&self, key_group: u32, out: &mut Vec<u8>) -> Result<usize, WriteError> {
        let entries = self.partition.entries(key_group)?;
        let start = out.len();
        let result = self.write_entries(entries, key_group, start, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

impl<K, N, S, P, KS, NS, SS> FilteredWriter<'_, K, N, S, P, KS, NS, SS>
where
    P: Primitives,
    KS: TypeSerializer<Value = K>,
    NS: TypeSerializer<Value = N>,
    SS: TypeSerializer<Value = S>,
{
    fn write_entries(
        &self,
        entries: &[(&K, &N, &S)],
        key_group: u32,
        start: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, WriteError> {
        let ser = |source| WriteError::Serialize { key_group, source };
        out.extend_from_slice(&[0; 4]);
        let mut written = 0usize;
        for &(k, n, s) in entries {
            let replaced;
            let state = match self.filter.filter(s, self.now) {
                Visit::Keep => s,
                Visit::Remove => continue,
                Visit::Replace(t) => {
                    replaced = t;
                    &replaced
                }
            };
            self.serializers.namespace.serialize(n, out).map_err(ser)?;
            self.serializers.key.serialize(k, out).map_err(ser)?;
            self.serializers.state.serialize(state, out).map_err(ser)?;
            written += 1;
        }
        let count = i32::try_from(written).map_err(|_| WriteError::TooManyEntries {
            key_group,
            count: written,
        })?;
        out[start..start + 4].copy_from_slice(&count.to_be_bytes());
        Ok(written)
    }
}
