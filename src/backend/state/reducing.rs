//! Reducing state (Flink `HeapReducingState`).

use super::{DynSerializer, HandleCore, StateHasher, StateKey, StateType};
use crate::backend::merge::merge_namespaces;
use crate::backend::stream::StateKind;
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use core::marker::PhantomData;
use std::sync::Arc;

/// A reduce function (Flink `ReduceFunction.reduce(value1, value2)`): takes the accumulated value by value so
/// that it can be updated in place.
pub type ReduceFn<V> = Arc<dyn Fn(V, V) -> V + Send + Sync>;

/// Describes a reducing state: its name, namespace and value serializers and its reduce function.
///
/// Flink: `ReducingStateDescriptor`.
pub struct ReducingStateDescriptor<NS, VS: TypeSerializer> {
    pub(crate) name: String,
    pub(crate) namespace_serializer: NS,
    pub(crate) value_serializer: VS,
    pub(crate) reduce: ReduceFn<VS::Value>,
}

impl<NS, VS: TypeSerializer> ReducingStateDescriptor<NS, VS> {
    /// A reducing state named `name` combining values with `reduce(accumulated, new)`.
    pub fn new(
        name: impl Into<String>,
        namespace_serializer: NS,
        value_serializer: VS,
        reduce: impl Fn(VS::Value, VS::Value) -> VS::Value + Send + Sync + 'static,
    ) -> Self {
        ReducingStateDescriptor {
            name: name.into(),
            namespace_serializer,
            value_serializer,
            reduce: Arc::new(reduce),
        }
    }
}

impl<NS: fmt::Debug, VS: TypeSerializer + fmt::Debug> fmt::Debug for ReducingStateDescriptor<NS, VS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReducingStateDescriptor")
            .field("name", &self.name)
            .field("namespace_serializer", &self.namespace_serializer)
            .field("value_serializer", &self.value_serializer)
            .finish_non_exhaustive()
    }
}

pub(crate) struct ReducingExtra<V> {
    reduce: ReduceFn<V>,
    serializer: DynSerializer<V>,
}

type Extra<V> = ReducingExtra<V>;

/// A handle to a reducing state: one value per key and namespace, combined with each added value.
///
/// Flink: `HeapReducingState` (`get`, `add` through `transform` with its `ReduceTransformation`, `clear`,
/// `mergeNamespaces`).
///
/// ```
/// use cow_state_table::backend::{KeyedStateBackend, ReducingStateDescriptor};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{U32Serializer, U64Serializer};
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 16, KeyGroupRange::of(0, 15).unwrap()).unwrap();
/// let max = b.register_reducing(ReducingStateDescriptor::new("max", U32Serializer, U64Serializer, u64::max))
///     .unwrap();
/// b.set_current_key(1).unwrap();
/// assert_eq!(max.get(&b).unwrap(), None);
/// for v in [3, 9, 4] { max.add(&mut b, v).unwrap(); }
/// assert_eq!(max.get(&b).unwrap(), Some(&9));
/// ```
pub struct ReducingState<N, V> {
    pub(crate) core: HandleCore,
    pub(crate) namespace: N,
    _types: PhantomData<fn() -> V>,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers a reducing state, or returns the one already registered under the descriptor's name (B2; the
    /// first registration's reduce function stays).
    pub fn register_reducing<N, V, NS, VS>(
        &mut self,
        descriptor: ReducingStateDescriptor<NS, VS>,
    ) -> Result<ReducingState<N, V>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        V: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        VS: TypeSerializer<Value = V> + StateType,
    {
        let ReducingStateDescriptor {
            name,
            namespace_serializer,
            value_serializer,
            reduce,
        } = descriptor;
        let serializer: DynSerializer<V> = Arc::new(value_serializer.clone());
        let core = self.register::<N, V, NS, VS, Extra<V>>(
            name,
            StateKind::Reducing,
            namespace_serializer,
            value_serializer,
            || ReducingExtra { reduce, serializer },
        )?;
        Ok(ReducingState {
            core,
            namespace: N::default(),
            _types: PhantomData,
        })
    }
}

impl<N, V> ReducingState<N, V>
where
    N: Hash + Eq + StateType,
    V: StateType,
{
    /// Sets the namespace the next operations use (Flink `setCurrentNamespace`).
    #[inline]
    pub fn set_current_namespace(&mut self, namespace: N) {
        self.namespace = namespace;
    }

    /// The current namespace.
    pub fn current_namespace(&self) -> &N {
        &self.namespace
    }

    /// The reduced value of the current key and namespace, if any (Flink `get()`). Never copies (B4).
    #[inline]
    pub fn get<'b, K, KS, H, P>(
        &self,
        backend: &'b KeyedStateBackend<K, KS, H, P>,
    ) -> Result<Option<&'b V>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (key, data) = backend.read::<N, V, Extra<V>>(self.core)?;
        Ok(data.table.get(key, &self.namespace))
    }

    /// Reduces `value` into the state (Flink `add` = `transform` with `ReduceTransformation`: `reduce(old,
    /// value)`, or `value` when absent); `None` clears, as the seed's `null` does.
    #[inline]
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
        let (key, data) = backend.write::<N, V, Extra<V>>(self.core)?;
        let Some(value) = value.into() else {
            data.table.remove(key, &self.namespace);
            return Ok(());
        };
        let reduce = &data.extra.reduce;
        data.table
            .transform(key.clone(), self.namespace.clone(), value, |old, v| match old {
                Some(o) => reduce(o, v),
                None => v,
            });
        Ok(())
    }

    /// Removes the value of the current key and namespace (Flink `clear`).
    pub fn clear<K, KS, H, P>(&self, backend: &mut KeyedStateBackend<K, KS, H, P>) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        self.add(backend, None)
    }

    /// Reduces the values of `sources` into `target` and removes the sources (B6; Flink `mergeNamespaces` with
    /// `mergeState(a, b) = reduce(a, b)`).
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
        let (key, data) = backend.write::<N, V, Extra<V>>(self.core)?;
        let reduce = &data.extra.reduce;
        merge_namespaces(&mut data.table, key, &target, sources, |a, b| reduce(a, b));
        Ok(())
    }

    /// The serialized value of `(key, namespace)`, or `None` if absent (the seed's `getSerializedValue`).
    pub fn serialized_value<K, KS, H, P>(
        &self,
        backend: &KeyedStateBackend<K, KS, H, P>,
        key: &K,
        namespace: &N,
    ) -> Result<Option<Vec<u8>>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let data = backend.data::<N, V, Extra<V>>(self.core)?;
        let Some(v) = data.table.get(key, namespace) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        data.extra.serializer.serialize(v, &mut out)?;
        Ok(Some(out))
    }
}

impl<N: Clone, V> Clone for ReducingState<N, V> {
    fn clone(&self) -> Self {
        ReducingState {
            core: self.core,
            namespace: self.namespace.clone(),
            _types: PhantomData,
        }
    }
}

impl<N: fmt::Debug, V> fmt::Debug for ReducingState<N, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReducingState")
            .field("index", &self.core.index)
            .field("namespace", &self.namespace)
            .finish()
    }
}
