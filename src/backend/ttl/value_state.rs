//! TTL value state (Flink `TtlValueState`).

use super::config::{StateTtlConfig, UpdateType};
use super::handle::ttl_common;
use super::runtime::TtlRuntime;
use super::value::{TtlSerializer, TtlValue};
use crate::backend::{
    BackendError, KeyedStateBackend, StateHasher, StateKey, StateType, ValueState, ValueStateDescriptor,
};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use std::sync::Arc;

/// A value state whose values expire (Flink `TtlValueState`; docs/DESIGN.md T1–T7). Stored as
/// `TtlValue<V>` with [`TtlSerializer`]; every operation takes the backend mutably, since a read may stamp (T3),
/// remove an expired value (T4) and run the incremental cleanup (T6).
///
/// ```
/// use cow_state_table::backend::{KeyedStateBackend, ValueStateDescriptor};
/// use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{U64Serializer, VoidNamespaceSerializer};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let clock = Arc::new(ManualClock::new(1_000));
/// let config = StateTtlConfig::new(Duration::from_millis(100)).unwrap().with_time_provider(clock.clone());
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
/// let last_seen = b
///     .register_ttl_value(ValueStateDescriptor::new("last", VoidNamespaceSerializer, U64Serializer), config)
///     .unwrap();
/// b.set_current_key(1).unwrap();
/// last_seen.update(&mut b, 5).unwrap();
/// clock.advance(99);
/// assert_eq!(last_seen.value(&mut b).unwrap(), Some(&5));
/// clock.advance(1); // 100 ms after the write: expired (T2)
/// assert_eq!(last_seen.value(&mut b).unwrap(), None);
/// ```
pub struct TtlValueState<N, V> {
    pub(crate) inner: ValueState<N, TtlValue<V>>,
    pub(crate) rt: Arc<TtlRuntime>,
    default: Option<V>,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers a value state with time-to-live (Flink `ValueStateDescriptor.enableTimeToLive`): stored with
    /// [`TtlSerializer`] of the descriptor's value serializer (T1), so its identity differs from the plain
    /// state's. The descriptor's default is what an absent or expired value reads as.
    pub fn register_ttl_value<N, V, NS, VS>(
        &mut self,
        descriptor: ValueStateDescriptor<NS, VS>,
        config: StateTtlConfig,
    ) -> Result<TtlValueState<N, V>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        V: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        VS: TypeSerializer<Value = V> + StateType,
    {
        let d = descriptor;
        let inner = self.register_value(ValueStateDescriptor::new(
            d.name,
            d.namespace_serializer,
            TtlSerializer(d.value_serializer),
        ))?;
        self.install_ttl_filter::<N, TtlValue<V>, NS, TtlSerializer<VS>>(inner.handle.core, &config);
        Ok(TtlValueState {
            inner,
            rt: Arc::new(TtlRuntime::new(config)),
            default: d.default,
        })
    }
}

impl<N, V> TtlValueState<N, V>
where
    N: Hash + Eq + StateType,
    V: StateType,
{
    ttl_common!(TtlValue<V>, ValueState<N, TtlValue<V>>);

    /// The value of the current key and namespace, or the default if it is absent or expired (T4). Under
    /// `OnReadAndWrite` a returned value is stamped (T3).
    #[inline(always)]
    pub fn value<'a, K, KS, H, P>(
        &'a self,
        backend: &'a mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<Option<&'a V>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(match self.read_current(backend)? {
            Some(tv) => Some(&tv.user_value),
            None => self.default.as_ref(),
        })
    }

    /// Sets the value of the current key and namespace, stamped now (T3); `None` clears. Under
    /// `UpdateType::Disabled` an existing unexpired value keeps its stamp.
    pub fn update<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        value: impl Into<Option<V>>,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let config = &self.rt.config;
        let (now, key, table) = self.access(backend)?;
        let ns = &self.inner.handle.namespace;
        match value.into() {
            Some(v) => match table.get_mut(key, ns) {
                Some(tv) => {
                    if config.update_type != UpdateType::Disabled || tv.is_expired(config.ttl, now) {
                        tv.last_access = now;
                    }
                    tv.user_value = v;
                }
                None => table.put(key.clone(), ns.clone(), TtlValue::new(v, now)),
            },
            None => {
                table.remove(key, ns);
            }
        }
        Ok(())
    }
}

impl<N: Clone, V: Clone> Clone for TtlValueState<N, V> {
    fn clone(&self) -> Self {
        TtlValueState {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
            default: self.default.clone(),
        }
    }
}

impl<N: fmt::Debug, V> fmt::Debug for TtlValueState<N, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlValueState")
            .field("inner", &self.inner)
            .field("ttl", &self.rt.config)
            .finish()
    }
}
