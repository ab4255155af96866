//! TTL folding state (Flink `TtlFoldingState` with `TtlFoldFunction`; deprecated as the plain folding state).
#![allow(deprecated)]

use super::config::StateTtlConfig;
use super::handle::ttl_common;
use super::runtime::TtlRuntime;
use super::value::{TtlSerializer, TtlValue};
use crate::backend::{
    BackendError, FoldingState, FoldingStateDescriptor, KeyedStateBackend, StateHasher, StateKey, StateType,
};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use std::sync::Arc;

/// A folding state whose accumulator expires (Flink `TtlFoldingState`; docs/DESIGN.md T1–T8). `add` folds into
/// the stored accumulator only if it is unexpired, else into the descriptor's initial accumulator (T3, Flink
/// `TtlFoldFunction`: `getUnexpired`, else the default); the result is stamped now.
///
/// ```
/// # #![allow(deprecated)]
/// use cow_state_table::backend::{FoldingStateDescriptor, KeyedStateBackend};
/// use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{StringSerializer, U64Serializer, VoidNamespaceSerializer};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let clock = Arc::new(ManualClock::new(0));
/// let config = StateTtlConfig::new(Duration::from_millis(10)).unwrap().with_time_provider(clock.clone());
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
/// let trail = b.register_ttl_folding(
///     FoldingStateDescriptor::new("trail", VoidNamespaceSerializer, StringSerializer, ">".to_string(),
///         |acc: String, step: u64| format!("{acc}{step}")),
///     config,
/// ).unwrap();
/// b.set_current_key(1).unwrap();
/// trail.add(&mut b, 1).unwrap();
/// trail.add(&mut b, 2).unwrap();
/// assert_eq!(trail.get(&mut b).unwrap().map(String::as_str), Some(">12"));
/// clock.advance(10);
/// assert_eq!(trail.get(&mut b).unwrap(), None);
/// trail.add(&mut b, 3).unwrap(); // starts over from the initial accumulator
/// assert_eq!(trail.get(&mut b).unwrap().map(String::as_str), Some(">3"));
/// ```
#[deprecated(note = "as in Flink: use aggregating state (register_ttl_aggregating) instead")]
pub struct TtlFoldingState<N, T, ACC> {
    pub(crate) inner: FoldingState<N, T, TtlValue<ACC>>,
    pub(crate) rt: Arc<TtlRuntime>,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers a folding state with time-to-live, its accumulator stored with [`TtlSerializer`] (T1; Flink
    /// `TtlStateFactory.createFoldingState`, whose initial accumulator never expires).
    #[deprecated(note = "as in Flink: use aggregating state (register_ttl_aggregating) instead")]
    pub fn register_ttl_folding<N, T, ACC, NS, AS>(
        &mut self,
        descriptor: FoldingStateDescriptor<NS, T, AS>,
        config: StateTtlConfig,
    ) -> Result<TtlFoldingState<N, T, ACC>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        T: 'static,
        ACC: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        AS: TypeSerializer<Value = ACC> + StateType,
    {
        let d = descriptor;
        let (fold, initial) = (d.fold, d.initial.clone());
        let (ttl, clock) = (config.ttl, config.clock.clone());
        let inner = self.register_folding(FoldingStateDescriptor::new(
            d.name,
            d.namespace_serializer,
            TtlSerializer(d.accumulator_serializer),
            // Stamped `i64::MAX`: never expired (T2), as Flink's `Long.MAX_VALUE`.
            TtlValue::new(d.initial, i64::MAX),
            move |acc: TtlValue<ACC>, value: T| {
                // T3: an expired accumulator counts as absent (Flink `TtlFoldFunction`).
                let now = clock.current_timestamp();
                let acc = if acc.is_expired(ttl, now) {
                    initial.clone()
                } else {
                    acc.user_value
                };
                TtlValue::new(fold(acc, value), now)
            },
        ))?;
        self.install_ttl_filter::<N, TtlValue<ACC>, NS, TtlSerializer<AS>>(inner.handle.core, &config);
        Ok(TtlFoldingState {
            inner,
            rt: Arc::new(TtlRuntime::new(config)),
        })
    }
}

impl<N, T, ACC> TtlFoldingState<N, T, ACC>
where
    N: Hash + Eq + StateType,
    T: 'static,
    ACC: StateType,
{
    ttl_common!(TtlValue<ACC>, FoldingState<N, T, TtlValue<ACC>>);

    /// The folded accumulator, or `None` if absent or expired (T4); stamped under `OnReadAndWrite` (T3).
    pub fn get<'a, K, KS, H, P>(
        &'a self,
        backend: &'a mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<Option<&'a ACC>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.read_current(backend)?.map(|tv| &tv.user_value))
    }

    /// Folds `value` into the accumulator (T3); `None` clears.
    pub fn add<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        value: impl Into<Option<T>>,
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
}

impl<N: Clone, T, ACC> Clone for TtlFoldingState<N, T, ACC> {
    fn clone(&self) -> Self {
        TtlFoldingState {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
        }
    }
}

impl<N: fmt::Debug, T, ACC> fmt::Debug for TtlFoldingState<N, T, ACC> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlFoldingState")
            .field("inner", &self.inner)
            .field("ttl", &self.rt.config)
            .finish()
    }
}
