//! What every TTL handle has: the inner state handle over the stored form (T1), the shared runtime, the methods
//! common to all TTL kinds (`set_current_namespace`, `clear`, `cleanup_full`, `record_processed`), and the one
//! read all TTL kinds share ([`read_stored`]: expiry, visibility, stamp on read; T3, T4, T8).

use super::config::{StateTtlConfig, StateVisibility, UpdateType};
use super::snapshot::{SnapshotFilter, TtlSnapshotFilter};
use super::value::TtlStored;
use crate::backend::state::HandleCore;
use crate::backend::{KeyedStateBackend, StateHasher, StateKey, StateType};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use crate::table::visit::Visit;
use crate::StateTable;
use core::hash::{BuildHasher, Hash};
use std::sync::Arc;

/// The read of every TTL kind (Flink `AbstractTtlDecorator.getWrappedWithTtlCheckAndUpdate`, and its per-element
/// and per-entry forms in `TtlListState` / `TtlMapState`): the stored state of `(key, ns)` as a read may return
/// it, or `None`.
///
/// * Under `NeverReturnExpired` what is expired is dropped first: a value, or a list or map with nothing
///   unexpired left, is removed (`None`); a list or map that loses some elements or entries is replaced by the
///   rest (T4). Under `ReturnExpiredIfNotCleanedUp` nothing is dropped (T4).
/// * Under `OnReadAndWrite` what is unexpired is then stamped `now`, through `get_mut` (T3: a checkpoint in
///   flight keeps the old stamps); what is expired keeps its stamp.
/// * A state that needs neither is returned from the first lookup (T8).
#[inline]
pub(crate) fn read_stored<'a, K, N, S, H, P>(
    table: &'a mut StateTable<K, N, S, H, P>,
    key: &K,
    ns: &N,
    config: &StateTtlConfig,
    now: i64,
) -> Option<&'a S>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone + TtlStored,
    H: BuildHasher,
    P: Primitives,
{
    let ttl = config.ttl;
    let found: *const S = table.get(key, ns)?;
    // SAFETY: T8 — `found` comes from the lookup just above through the unique borrow `'a` of the table, and
    // nothing has touched the table since; on the branch that returns it (`Keep`, no stamp) the table is not used
    // again, so the state is neither written nor freed while the returned reference (bound to `'a`) lives (B4: a
    // read never copies). On the other branches `live` is not used after the first write.
    let live: &'a S = unsafe { &*found };
    let action = match config.visibility {
        StateVisibility::ReturnExpiredIfNotCleanedUp => Visit::Keep,
        StateVisibility::NeverReturnExpired => live.filter_expired(ttl, now),
    };
    let stamp = config.update_type == UpdateType::OnReadAndWrite && live.any_unexpired(ttl, now);
    if matches!(action, Visit::Keep) && !stamp {
        return Some(live);
    }
    write_back(table, key, ns, action, stamp.then_some((ttl, now)))
}

/// The writes of a [`read_stored`] that drops or stamps something (T3, T4), then the state as the read returns
/// it. Kept out of line: the read that needs no write (T8) then stays small enough for the lookup to be inlined
/// into it.
#[inline(never)]
fn write_back<'a, K, N, S, H, P>(
    table: &'a mut StateTable<K, N, S, H, P>,
    key: &K,
    ns: &N,
    action: Visit<S>,
    stamp: Option<(i64, i64)>,
) -> Option<&'a S>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone + TtlStored,
    H: BuildHasher,
    P: Primitives,
{
    match action {
        Visit::Keep => {}
        Visit::Remove => {
            table.remove(key, ns);
            return None;
        }
        Visit::Replace(rest) => {
            if let Some(slot) = table.get_mut(key, ns) {
                *slot = rest;
            }
        }
    }
    if let Some((ttl, now)) = stamp {
        if let Some(slot) = table.get_mut(key, ns) {
            slot.stamp_unexpired(ttl, now);
        }
    }
    table.get(key, ns)
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// T5: a TTL state with cleanup at snapshot writes its checkpoints through the TTL filter, built for the
    /// state's types (`N`, the stored form `S`, their serializers `NS`, `SS`) so that it is applied inline.
    pub(crate) fn install_ttl_filter<N, S, NS, SS>(&mut self, core: HandleCore, config: &StateTtlConfig)
    where
        N: Hash + Eq + StateType,
        S: TtlStored + StateType,
        NS: TypeSerializer<Value = N> + StateType,
        SS: TypeSerializer<Value = S> + StateType,
    {
        if config.full_snapshot {
            let filter: Arc<dyn SnapshotFilter<K, N, S, P, KS, NS, SS>> = Arc::new(TtlSnapshotFilter {
                ttl: config.ttl,
                clock: config.clock.clone(),
            });
            let installed = self.set_snapshot_filter(core, Box::new(filter));
            debug_assert!(installed, "the filter's types are the registered state's (T5)");
        }
    }
}

/// The methods every TTL handle has, over its `inner` handle and `rt` runtime; `$stored` is the stored form.
macro_rules! ttl_common {
    ($stored:ty, $inner:ty) => {
        /// The prelude of every operation of the current key: the clock read once (T2), the state's table, and
        /// one step of the incremental cleanup (T6).
        #[inline]
        fn access<'b, K, KS, H, P>(
            &self,
            backend: &'b mut $crate::backend::KeyedStateBackend<K, KS, H, P>,
        ) -> Result<(i64, &'b K, &'b mut $crate::StateTable<K, N, $stored, H, P>), $crate::backend::BackendError>
        where
            K: $crate::backend::StateKey,
            KS: $crate::serializer::TypeSerializer<Value = K> + $crate::backend::StateType,
            H: $crate::backend::StateHasher,
            P: $crate::sync::Primitives,
        {
            let now = self.rt.config.now();
            let (key, data) = self.inner.handle.write(backend)?;
            self.rt.on_access(&mut data.table, now);
            Ok((now, key, &mut data.table))
        }

        /// The stored state of the current key and namespace as a read returns it ([`read_stored`]: T3, T4,
        /// T8), after [`access`](Self::access).
        ///
        /// [`read_stored`]: super::handle::read_stored
        #[inline]
        fn read_current<'a, K, KS, H, P>(
            &'a self,
            backend: &'a mut $crate::backend::KeyedStateBackend<K, KS, H, P>,
        ) -> Result<Option<&'a $stored>, $crate::backend::BackendError>
        where
            K: $crate::backend::StateKey,
            KS: $crate::serializer::TypeSerializer<Value = K> + $crate::backend::StateType,
            H: $crate::backend::StateHasher,
            P: $crate::sync::Primitives,
        {
            let (now, key, table) = self.access(backend)?;
            let ns = &self.inner.handle.namespace;
            Ok(super::handle::read_stored(table, key, ns, &self.rt.config, now))
        }

        /// The underlying state over the stored form (T1): for [`KeyedStateBackend::keys`], `state_table`,
        /// `serialized_value` (which give stored values, expired or not, with their timestamps).
        ///
        /// [`KeyedStateBackend::keys`]: crate::backend::KeyedStateBackend::keys
        pub fn stored(&self) -> &$inner {
            &self.inner
        }

        /// Sets the namespace the next operations use (Flink `setCurrentNamespace`).
        pub fn set_current_namespace(&mut self, namespace: N) {
            self.inner.set_current_namespace(namespace);
        }

        /// The current namespace.
        pub fn current_namespace(&self) -> &N {
            self.inner.current_namespace()
        }

        /// Removes the state of the current key and namespace (Flink `clear`).
        pub fn clear<K, KS, H, P>(
            &self,
            backend: &mut $crate::backend::KeyedStateBackend<K, KS, H, P>,
        ) -> Result<(), $crate::backend::BackendError>
        where
            K: $crate::backend::StateKey,
            KS: $crate::serializer::TypeSerializer<Value = K> + $crate::backend::StateType,
            H: $crate::backend::StateHasher,
            P: $crate::sync::Primitives,
        {
            let (_, key, table) = self.access(backend)?;
            table.remove(key, &self.inner.handle.namespace);
            Ok(())
        }

        /// Removes (or trims) every expired entry of the state, for all keys and namespaces, through ordinary
        /// writes (docs/DESIGN.md T7); returns how many entries were removed or trimmed. Meant for tests.
        pub fn cleanup_full<K, KS, H, P>(
            &self,
            backend: &mut $crate::backend::KeyedStateBackend<K, KS, H, P>,
        ) -> Result<usize, $crate::backend::BackendError>
        where
            K: $crate::backend::StateKey,
            KS: $crate::serializer::TypeSerializer<Value = K> + $crate::backend::StateType,
            H: $crate::backend::StateHasher,
            P: $crate::sync::Primitives,
        {
            let now = self.rt.config.now();
            let data = self.inner.handle.write_any_key(backend)?;
            Ok(self.rt.cleanup_full(&mut data.table, now))
        }

        /// Tells the state a record was processed: with `cleanup_incrementally(_, true)` this runs one step of
        /// the incremental cleanup (Flink `runCleanupForEveryRecord`, T6); otherwise it does nothing.
        pub fn record_processed<K, KS, H, P>(
            &self,
            backend: &mut $crate::backend::KeyedStateBackend<K, KS, H, P>,
        ) -> Result<(), $crate::backend::BackendError>
        where
            K: $crate::backend::StateKey,
            KS: $crate::serializer::TypeSerializer<Value = K> + $crate::backend::StateType,
            H: $crate::backend::StateHasher,
            P: $crate::sync::Primitives,
        {
            let now = self.rt.config.now();
            let data = self.inner.handle.write_any_key(backend)?;
            self.rt.on_record(&mut data.table, now);
            Ok(())
        }

        /// Completed rounds of the incremental cleanup over the whole table (T6).
        pub fn cleanup_rounds(&self) -> u64 {
            self.rt.rounds()
        }

        /// The state's TTL configuration.
        pub fn ttl_config(&self) -> &$crate::backend::ttl::StateTtlConfig {
            &self.rt.config
        }
    };
}

pub(crate) use ttl_common;
