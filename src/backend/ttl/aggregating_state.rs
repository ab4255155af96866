//! TTL aggregating state (Flink `TtlAggregatingState` with `TtlAggregateFunction`).

use super::clock::TtlTimeProvider;
use super::config::StateTtlConfig;
use super::handle::ttl_common;
use super::runtime::TtlRuntime;
use super::value::{TtlSerializer, TtlValue};
use crate::backend::{
    AggregateFunction, AggregatingState, AggregatingStateDescriptor, BackendError, KeyedStateBackend, StateHasher,
    StateKey, StateType,
};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use std::sync::Arc;

/// The user's aggregate function over stamped accumulators (Flink `TtlAggregateFunction`): an expired
/// accumulator counts as absent (T3), every result is stamped now.
struct TtlAggregate<IN, ACC, OUT> {
    function: Arc<dyn AggregateFunction<IN, ACC, OUT>>,
    ttl: i64,
    clock: Arc<dyn TtlTimeProvider>,
}

impl<IN, ACC, OUT> AggregateFunction<IN, TtlValue<ACC>, OUT> for TtlAggregate<IN, ACC, OUT> {
    fn create_accumulator(&self) -> TtlValue<ACC> {
        TtlValue::new(self.function.create_accumulator(), self.clock.current_timestamp())
    }

    fn add(&self, value: IN, accumulator: TtlValue<ACC>) -> TtlValue<ACC> {
        let now = self.clock.current_timestamp();
        let acc = if accumulator.is_expired(self.ttl, now) {
            self.function.create_accumulator()
        } else {
            accumulator.user_value
        };
        TtlValue::new(self.function.add(value, acc), now)
    }

    fn get_result(&self, accumulator: &TtlValue<ACC>) -> OUT {
        self.function.get_result(&accumulator.user_value)
    }

    fn merge(&self, a: TtlValue<ACC>, b: TtlValue<ACC>) -> TtlValue<ACC> {
        let now = self.clock.current_timestamp();
        match (a.is_expired(self.ttl, now), b.is_expired(self.ttl, now)) {
            (true, _) => b,
            (false, true) => a,
            (false, false) => TtlValue::new(self.function.merge(a.user_value, b.user_value), now),
        }
    }
}

/// An aggregating state whose accumulator expires (Flink `TtlAggregatingState`; docs/DESIGN.md T1–T7).
///
/// ```
/// use cow_state_table::backend::{AggregateFunction, AggregatingStateDescriptor, KeyedStateBackend};
/// use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{U64Serializer, VoidNamespaceSerializer};
/// use std::sync::Arc;
/// use std::time::Duration;
/// struct Count;
/// impl AggregateFunction<u64, u64, u64> for Count {
///     fn create_accumulator(&self) -> u64 { 0 }
///     fn add(&self, _: u64, acc: u64) -> u64 { acc + 1 }
///     fn get_result(&self, acc: &u64) -> u64 { *acc }
///     fn merge(&self, a: u64, b: u64) -> u64 { a + b }
/// }
/// let clock = Arc::new(ManualClock::new(0));
/// let config = StateTtlConfig::new(Duration::from_millis(10)).unwrap().with_time_provider(clock.clone());
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
/// let count = b.register_ttl_aggregating(
///     AggregatingStateDescriptor::new("n", VoidNamespaceSerializer, U64Serializer, Count), config,
/// ).unwrap();
/// b.set_current_key(1).unwrap();
/// count.add(&mut b, 9).unwrap();
/// count.add(&mut b, 9).unwrap();
/// assert_eq!(count.get(&mut b).unwrap(), Some(2));
/// clock.advance(10);
/// assert_eq!(count.get(&mut b).unwrap(), None);
/// ```
pub struct TtlAggregatingState<N, IN, ACC, OUT> {
    pub(crate) inner: AggregatingState<N, IN, TtlValue<ACC>, OUT>,
    pub(crate) rt: Arc<TtlRuntime>,
    /// The user's function (for `get_result` and `merge`, T9).
    function: Arc<dyn AggregateFunction<IN, ACC, OUT>>,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers an aggregating state with time-to-live, its accumulator stored with [`TtlSerializer`] (T1).
    pub fn register_ttl_aggregating<N, IN, ACC, OUT, NS, AS>(
        &mut self,
        descriptor: AggregatingStateDescriptor<NS, IN, AS, OUT>,
        config: StateTtlConfig,
    ) -> Result<TtlAggregatingState<N, IN, ACC, OUT>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        IN: 'static,
        ACC: StateType,
        OUT: 'static,
        NS: TypeSerializer<Value = N> + StateType,
        AS: TypeSerializer<Value = ACC> + StateType,
    {
        let d = descriptor;
        let user_function = d.function.clone();
        let function = TtlAggregate {
            function: d.function,
            ttl: config.ttl,
            clock: config.clock.clone(),
        };
        let inner = self.register_aggregating(AggregatingStateDescriptor::new(
            d.name,
            d.namespace_serializer,
            TtlSerializer(d.accumulator_serializer),
            function,
        ))?;
        self.install_ttl_filter::<N, TtlValue<ACC>, NS, TtlSerializer<AS>>(inner.handle.core, &config);
        Ok(TtlAggregatingState {
            inner,
            rt: Arc::new(TtlRuntime::new(config)),
            function: user_function,
        })
    }
}

impl<N, IN, ACC, OUT> TtlAggregatingState<N, IN, ACC, OUT>
where
    N: Hash + Eq + StateType,
    IN: 'static,
    ACC: StateType,
    OUT: 'static,
{
    ttl_common!(TtlValue<ACC>, AggregatingState<N, IN, TtlValue<ACC>, OUT>);

    /// The result of the accumulator, or `None` if absent or expired (T4).
    pub fn get<K, KS, H, P>(&self, backend: &mut KeyedStateBackend<K, KS, H, P>) -> Result<Option<OUT>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let acc = self.read_current(backend)?;
        Ok(acc.map(|tv| self.function.get_result(&tv.user_value)))
    }

    /// Adds `value` to the accumulator (T3); `None` clears.
    pub fn add<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        value: impl Into<Option<IN>>,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        self.access(backend)?;
        self.inner.add(backend, value)
    }

    /// Merges the unexpired accumulators of `sources` into `target` and removes the sources (T9 over B6; Flink
    /// `TtlAggregatingState.mergeNamespaces` with `TtlAggregateFunction.merge`): an expired source or target
    /// counts as absent, the result is stamped now. The function's `merge` works on clones: if it panics,
    /// nothing changes.
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
        super::merge::merge_unexpired(table, key, &target, sources, (ttl, now), |a, b| {
            self.function.merge(a, b)
        });
        Ok(())
    }
}

impl<N: Clone, IN, ACC, OUT> Clone for TtlAggregatingState<N, IN, ACC, OUT> {
    fn clone(&self) -> Self {
        TtlAggregatingState {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
            function: self.function.clone(),
        }
    }
}

impl<N: fmt::Debug, IN, ACC, OUT> fmt::Debug for TtlAggregatingState<N, IN, ACC, OUT> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlAggregatingState")
            .field("inner", &self.inner)
            .field("ttl", &self.rt.config)
            .finish()
    }
}
