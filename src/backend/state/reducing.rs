//! Reducing state (Flink `HeapReducingState`).

use super::handle::{handle_getter, handle_impls, handle_methods, Handle, Kind, Plain};
use super::{StateHasher, StateKey, StateType};
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

/// The reducing kind for a handle: its state type and, as extra data, the reduce function.
pub(crate) struct ReducingKind<V>(PhantomData<fn() -> V>);

impl<V> Kind for ReducingKind<V>
where
    V: StateType,
{
    type State = V;
    type Extra = Plain<V, ReduceFn<V>>;
}

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
    pub(crate) handle: Handle<N, ReducingKind<V>>,
}

impl<N, V> ReducingState<N, V>
where
    N: Hash + Eq + StateType,
    V: StateType,
{
    handle_methods! {
        /// Removes the value of the current key and namespace (Flink `clear`).
        clear;
        /// The serialized value of `(key, namespace)`, or `None` if absent (the seed's `getSerializedValue`).
        serialized_value;
    }

    handle_getter! {
        /// The reduced value of the current key and namespace, if any (Flink `get()`). Never copies (B4).
        #[inline]
        pub fn get -> V;
    }

    /// Reduces `value` into the state (Flink `add` = `transform` with `ReduceTransformation`: `reduce(old,
    /// value)`, or `value` when absent); `None` clears, as the seed's `null` does.
    ///
    /// `reduce` gets a clone of the stored value, which is replaced only once it returns: if it panics, the
    /// state keeps its old value, with or without a checkpoint in flight (B5; Flink leaves the state in place
    /// when the function throws).
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
        self.handle.transform(backend, value.into(), |extra, old, v| match old {
            Some(o) => (extra.own)(o, v),
            None => v,
        })
    }

    /// Reduces the values of `sources` into `target` and removes the sources (B6; Flink `mergeNamespaces` with
    /// `mergeState(a, b) = reduce(a, b)`). `reduce` works on clones and nothing is written before the merged
    /// value is computed: if it panics, every source and the target keep their values.
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
        self.handle
            .merge_namespaces(backend, target, sources, |extra, a, b| (extra.own)(a, b))
    }
}

handle_impls!(ReducingState<N, V>);
