//! TTL list state, one timestamp per element (Flink `TtlListState`).

use super::config::StateTtlConfig;
use super::handle::ttl_common;
use super::runtime::TtlRuntime;
use super::value::{TtlSerializer, TtlValue};
use crate::backend::{
    BackendError, KeyedStateBackend, ListState, ListStateDescriptor, StateHasher, StateKey, StateType,
};
use crate::serializer::{ListSerializer, TypeSerializer};
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use std::sync::Arc;

/// A list state whose elements expire one by one (Flink `TtlListState`; docs/DESIGN.md T1–T7). Stored as
/// `Vec<TtlValue<E>>`, each element stamped when added (T3).
///
/// ```
/// use cow_state_table::backend::{KeyedStateBackend, ListStateDescriptor};
/// use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{U64Serializer, VoidNamespaceSerializer};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let clock = Arc::new(ManualClock::new(0));
/// let config = StateTtlConfig::new(Duration::from_millis(10)).unwrap().with_time_provider(clock.clone());
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
/// let events = b
///     .register_ttl_list(ListStateDescriptor::new("events", VoidNamespaceSerializer, U64Serializer), config)
///     .unwrap();
/// b.set_current_key(1).unwrap();
/// events.add(&mut b, 1).unwrap();
/// clock.advance(5);
/// events.add(&mut b, 2).unwrap();
/// clock.advance(5); // the first element is 10 ms old: expired
/// assert_eq!(events.get(&mut b).unwrap().unwrap().copied().collect::<Vec<_>>(), [2]);
/// ```
pub struct TtlListState<N, E> {
    pub(crate) inner: ListState<N, TtlValue<E>>,
    pub(crate) rt: Arc<TtlRuntime>,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers a list state with time-to-live per element, stored with `ListSerializer(TtlSerializer(es))`
    /// (T1; Flink's `TtlListState` over a list of `TtlValue`).
    pub fn register_ttl_list<N, E, NS, ES>(
        &mut self,
        descriptor: ListStateDescriptor<NS, ES>,
        config: StateTtlConfig,
    ) -> Result<TtlListState<N, E>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        E: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        ES: TypeSerializer<Value = E> + StateType,
    {
        let d = descriptor;
        let inner = self.register_list(ListStateDescriptor::new(
            d.name,
            d.namespace_serializer,
            TtlSerializer(d.element_serializer),
        ))?;
        self.install_ttl_filter::<N, Vec<TtlValue<E>>, NS, ListSerializer<TtlSerializer<ES>>>(
            inner.handle.core,
            &config,
        );
        Ok(TtlListState {
            inner,
            rt: Arc::new(TtlRuntime::new(config)),
        })
    }
}

impl<N, E> TtlListState<N, E>
where
    N: Hash + Eq + StateType,
    E: StateType,
{
    ttl_common!(Vec<TtlValue<E>>, ListState<N, TtlValue<E>>);

    /// The unexpired elements of the current key and namespace, oldest first, or `None` if there are none. Under
    /// `NeverReturnExpired` the expired elements are removed first (T4); under `OnReadAndWrite` the returned
    /// elements are stamped (T3).
    pub fn get<'a, K, KS, H, P>(
        &'a self,
        backend: &'a mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<Option<impl Iterator<Item = &'a E> + 'a>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let list = self.read_current(backend)?;
        Ok(list.map(|list| list.iter().map(|e| &e.user_value)))
    }

    /// Appends `element`, stamped now (T3).
    pub fn add<K, KS, H, P>(&self, backend: &mut KeyedStateBackend<K, KS, H, P>, element: E) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        self.add_all(backend, [element])
    }

    /// Appends every element, each stamped now (T3); no element: nothing changes.
    pub fn add_all<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        elements: impl IntoIterator<Item = E>,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (now, _, _) = self.access(backend)?;
        self.inner
            .add_all(backend, elements.into_iter().map(|e| TtlValue::new(e, now)))
    }

    /// Appends the lists of `sources` to `target`'s and removes the sources (T9: the plain merge, B6, by moves;
    /// Flink `TtlListState.mergeNamespaces`): every element keeps its stamp, and an expired one is dropped by the
    /// next read or cleanup.
    ///
    /// ```
    /// # use cow_state_table::backend::{KeyedStateBackend, ListStateDescriptor};
    /// # use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig};
    /// # use cow_state_table::keygroup::KeyGroupRange;
    /// # use cow_state_table::serializer::{U32Serializer, U64Serializer};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// let clock = Arc::new(ManualClock::new(0));
    /// let config = StateTtlConfig::new(Duration::from_millis(10)).unwrap().with_time_provider(clock.clone());
    /// # let mut b: KeyedStateBackend<u64, U64Serializer> =
    /// #     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let mut events = b.register_ttl_list(
    ///     ListStateDescriptor::new("events", U32Serializer, U64Serializer), config,
    /// ).unwrap();
    /// b.set_current_key(1).unwrap();
    /// events.set_current_namespace(1);
    /// events.add(&mut b, 1).unwrap();
    /// clock.advance(5);
    /// events.set_current_namespace(2);
    /// events.add(&mut b, 2).unwrap();
    /// events.merge_namespaces(&mut b, 0, &[1, 2]).unwrap();
    /// events.set_current_namespace(0);
    /// clock.advance(5); // the element of namespace 1 keeps its stamp: expired
    /// assert_eq!(events.get(&mut b).unwrap().unwrap().collect::<Vec<_>>(), [&2]);
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
        self.access(backend)?;
        self.inner.merge_namespaces(backend, target, sources)
    }

    /// Replaces the list by `elements`, each stamped now (T3); an empty list clears (Flink `update`).
    pub fn update<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        elements: Vec<E>,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (now, key, table) = self.access(backend)?;
        let ns = &self.inner.handle.namespace;
        if elements.is_empty() {
            table.remove(key, ns);
        } else {
            let list: Vec<_> = elements.into_iter().map(|e| TtlValue::new(e, now)).collect();
            match table.get_mut(key, ns) {
                Some(slot) => *slot = list,
                None => table.put(key.clone(), ns.clone(), list),
            }
        }
        Ok(())
    }
}

impl<N: Clone, E> Clone for TtlListState<N, E> {
    fn clone(&self) -> Self {
        TtlListState {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
        }
    }
}

impl<N: fmt::Debug, E> fmt::Debug for TtlListState<N, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlListState")
            .field("inner", &self.inner)
            .field("ttl", &self.rt.config)
            .finish()
    }
}
