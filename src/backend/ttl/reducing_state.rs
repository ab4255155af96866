//! TTL reducing state (Flink `TtlReducingState` with `TtlReduceFunction`).

use super::config::StateTtlConfig;
use super::handle::ttl_common;
use super::runtime::TtlRuntime;
use super::value::{TtlSerializer, TtlValue};
use crate::backend::{
    BackendError, KeyedStateBackend, ReducingState, ReducingStateDescriptor, StateHasher, StateKey, StateType,
};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use std::sync::Arc;

/// A reducing state whose value expires (Flink `TtlReducingState`; docs/DESIGN.md T1–T7). `add` reduces into
/// the stored value only if it is unexpired, else starts over from the added value (T3, Flink
/// `TtlReduceFunction`); the result is stamped now.
///
/// ```
/// use cow_state_table::backend::{KeyedStateBackend, ReducingStateDescriptor};
/// use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{U64Serializer, VoidNamespaceSerializer};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let clock = Arc::new(ManualClock::new(0));
/// let config = StateTtlConfig::new(Duration::from_millis(10)).unwrap().with_time_provider(clock.clone());
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
/// let sum = b.register_ttl_reducing(
///     ReducingStateDescriptor::new("sum", VoidNamespaceSerializer, U64Serializer, |a, b| a + b), config,
/// ).unwrap();
/// b.set_current_key(1).unwrap();
/// sum.add(&mut b, 2).unwrap();
/// sum.add(&mut b, 3).unwrap();
/// assert_eq!(sum.get(&mut b).unwrap(), Some(&5));
/// clock.advance(10);
/// sum.add(&mut b, 7).unwrap(); // the stored 5 expired: starts over
/// assert_eq!(sum.get(&mut b).unwrap(), Some(&7));
/// ```
pub struct TtlReducingState<N, V> {
    pub(crate) inner: ReducingState<N, TtlValue<V>>,
    pub(crate) rt: Arc<TtlRuntime>,
    /// The user's reduce function (for `merge_namespaces`, T9).
    reduce: Arc<dyn Fn(V, V) -> V + Send + Sync>,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers a reducing state with time-to-live, stored with [`TtlSerializer`] (T1).
    pub fn register_ttl_reducing<N, V, NS, VS>(
        &mut self,
        descriptor: ReducingStateDescriptor<NS, VS>,
        config: StateTtlConfig,
    ) -> Result<TtlReducingState<N, V>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        V: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        VS: TypeSerializer<Value = V> + StateType,
    {
        let d = descriptor;
        let reduce = d.reduce;
        let user_reduce = reduce.clone();
        let (ttl, clock) = (config.ttl, config.clock.clone());
        let inner = self.register_reducing(ReducingStateDescriptor::new(
            d.name,
            d.namespace_serializer,
            TtlSerializer(d.value_serializer),
            move |acc: TtlValue<V>, new: TtlValue<V>| {
                // T3: an expired accumulator counts as absent (Flink `TtlReduceFunction`).
                if acc.is_expired(ttl, clock.current_timestamp()) {
                    new
                } else {
                    TtlValue::new(reduce(acc.user_value, new.user_value), new.last_access)
                }
            },
        ))?;
        self.install_ttl_filter::<N, TtlValue<V>, NS, TtlSerializer<VS>>(inner.handle.core, &config);
        Ok(TtlReducingState {
            inner,
            rt: Arc::new(TtlRuntime::new(config)),
            reduce: user_reduce,
        })
    }
}

impl<N, V> TtlReducingState<N, V>
where
    N: Hash + Eq + StateType,
    V: StateType,
{
    ttl_common!(TtlValue<V>, ReducingState<N, TtlValue<V>>);

    /// The reduced value, or `None` if absent or expired (T4); stamped under `OnReadAndWrite` (T3).
    pub fn get<'a, K, KS, H, P>(
        &'a self,
        backend: &'a mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<Option<&'a V>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.read_current(backend)?.map(|tv| &tv.user_value))
    }

    /// Reduces `value` into the state (T3); `None` clears.
    pub fn add<K, KS, H, P>(
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
        let (now, _, _) = self.access(backend)?;
        self.inner.add(backend, value.into().map(|v| TtlValue::new(v, now)))
    }

    /// Reduces the unexpired values of `sources` into `target` and removes the sources (T9 over B6; Flink
    /// `TtlReducingState.mergeNamespaces` with `TtlReduceFunction`): an expired source or target counts as
    /// absent, the result is stamped now. `reduce` works on clones: if it panics, nothing changes.
    ///
    /// ```
    /// # use cow_state_table::backend::{KeyedStateBackend, ReducingStateDescriptor};
    /// # use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig};
    /// # use cow_state_table::keygroup::KeyGroupRange;
    /// # use cow_state_table::serializer::{U32Serializer, U64Serializer};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// let clock = Arc::new(ManualClock::new(0));
    /// let config = StateTtlConfig::new(Duration::from_millis(10)).unwrap().with_time_provider(clock.clone());
    /// # let mut b: KeyedStateBackend<u64, U64Serializer> =
    /// #     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let mut sum = b.register_ttl_reducing(
    ///     ReducingStateDescriptor::new("sum", U32Serializer, U64Serializer, |a, b| a + b), config,
    /// ).unwrap();
    /// b.set_current_key(1).unwrap();
    /// sum.set_current_namespace(1);
    /// sum.add(&mut b, 1).unwrap(); // expires at 10
    /// clock.advance(5);
    /// sum.set_current_namespace(2);
    /// sum.add(&mut b, 2).unwrap();
    /// sum.set_current_namespace(3);
    /// sum.add(&mut b, 3).unwrap();
    /// clock.advance(5);
    /// sum.merge_namespaces(&mut b, 0, &[1, 2, 3]).unwrap(); // window merge: 1 expired
    /// sum.set_current_namespace(0);
    /// assert_eq!(sum.get(&mut b).unwrap(), Some(&5));
    /// ```
    pub fn merge_namespaces<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        target: N,
        sources: &[N],
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (now, key, table) = self.access(backend)?;
        let ttl = self.rt.config.ttl;
        super::merge::merge_unexpired(table, key, &target, sources, (ttl, now), |a, b| (self.reduce)(a, b));
        Ok(())
    }
}

impl<N: Clone, V> Clone for TtlReducingState<N, V> {
    fn clone(&self) -> Self {
        TtlReducingState {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
            reduce: self.reduce.clone(),
        }
    }
}

impl<N: fmt::Debug, V> fmt::Debug for TtlReducingState<N, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlReducingState")
            .field("inner", &self.inner)
            .field("ttl", &self.rt.config)
            .finish()
    }
}
