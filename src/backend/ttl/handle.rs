//! What every TTL handle has: the inner state handle over the stored form (T1), the shared runtime, and the
//! methods common to all TTL kinds (`set_current_namespace`, `clear`, `cleanup_full`, `record_processed`).

use super::config::StateTtlConfig;
use super::snapshot::{SnapshotFilter, TtlSnapshotFilter};
use super::value::TtlStored;
use crate::backend::state::HandleCore;
use crate::backend::{KeyedStateBackend, StateHasher, StateKey, StateType};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use std::sync::Arc;

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// T5: a TTL state with cleanup at snapshot writes its checkpoints through the TTL filter.
    pub(crate) fn install_ttl_filter<S: TtlStored + 'static>(&mut self, core: HandleCore, config: &StateTtlConfig) {
        if config.full_snapshot {
            let filter: Arc<dyn SnapshotFilter<S>> = Arc::new(TtlSnapshotFilter {
                ttl: config.ttl,
                clock: config.clock.clone(),
            });
            self.set_snapshot_filter(core, Box::new(filter));
        }
    }
}

/// The methods every TTL handle has, over its `inner` handle and `rt` runtime; `$stored` is the stored form.
macro_rules! ttl_common {
    ($stored:ty, $inner:ty) => {
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
            let now = self.rt.config.now();
            let (key, data) = self.inner.handle.write(backend)?;
            self.rt.on_access(&mut data.table, now);
            data.table.remove(key, &self.inner.handle.namespace);
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
