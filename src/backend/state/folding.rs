//! Folding state (Flink `HeapFoldingState`, deprecated in Flink 1.4 in favour of aggregating state).
#![allow(deprecated)]

use super::{DynSerializer, HandleCore, StateHasher, StateKey, StateType};
use crate::backend::stream::StateKind;
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use core::marker::PhantomData;
use std::sync::Arc;

/// A fold function (Flink `FoldFunction.fold(accumulator, value)`).
pub type FoldFn<T, ACC> = Arc<dyn Fn(ACC, T) -> ACC + Send + Sync>;

/// Describes a folding state: name, namespace and accumulator serializers, the initial accumulator and the fold
/// function.
///
/// Flink: `FoldingStateDescriptor` (deprecated; use [`AggregatingStateDescriptor`](super::AggregatingStateDescriptor)).
#[deprecated(note = "as in Flink: use aggregating state (AggregatingStateDescriptor) instead")]
pub struct FoldingStateDescriptor<NS, T, AS: TypeSerializer> {
    pub(crate) name: String,
    pub(crate) namespace_serializer: NS,
    pub(crate) accumulator_serializer: AS,
    pub(crate) initial: AS::Value,
    pub(crate) fold: FoldFn<T, AS::Value>,
}

impl<NS, T, AS: TypeSerializer> FoldingStateDescriptor<NS, T, AS> {
    /// A folding state named `name` starting at `initial` and folding each value with `fold(acc, value)`.
    pub fn new(
        name: impl Into<String>,
        namespace_serializer: NS,
        accumulator_serializer: AS,
        initial: AS::Value,
        fold: impl Fn(AS::Value, T) -> AS::Value + Send + Sync + 'static,
    ) -> Self {
        FoldingStateDescriptor {
            name: name.into(),
            namespace_serializer,
            accumulator_serializer,
            initial,
            fold: Arc::new(fold),
        }
    }
}

impl<NS: fmt::Debug, T, AS: TypeSerializer + fmt::Debug> fmt::Debug for FoldingStateDescriptor<NS, T, AS> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FoldingStateDescriptor")
            .field("name", &self.name)
            .field("namespace_serializer", &self.namespace_serializer)
            .field("accumulator_serializer", &self.accumulator_serializer)
            .finish_non_exhaustive()
    }
}

pub(crate) struct FoldingExtra<T, ACC> {
    initial: ACC,
    fold: FoldFn<T, ACC>,
    serializer: DynSerializer<ACC>,
}

type Extra<T, ACC> = FoldingExtra<T, ACC>;

/// A handle to a folding state: an accumulator per key and namespace, folded with each added value.
///
/// Flink: `HeapFoldingState` (`get`, `add` through `transform` with its `FoldTransformation`, which starts from
/// the descriptor's initial value when absent; `clear`). Deprecated as in Flink; it cannot merge namespaces.
///
/// ```
/// #![allow(deprecated)]
/// use cow_state_table::backend::{KeyedStateBackend, FoldingStateDescriptor};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{StringSerializer, U64Serializer, VoidNamespaceSerializer};
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 16, KeyGroupRange::of(0, 15).unwrap()).unwrap();
/// let f = b.register_folding(FoldingStateDescriptor::new(
///     "digits", VoidNamespaceSerializer, StringSerializer, ">".to_string(),
///     |mut acc: String, d: u8| { acc.push(char::from(b'0' + d)); acc },
/// )).unwrap();
/// b.set_current_key(1).unwrap();
/// assert_eq!(f.get(&b).unwrap(), None);                     // absent: null, as in the seed
/// for d in [4, 2] { f.add(&mut b, d).unwrap(); }
/// assert_eq!(f.get(&b).unwrap().map(String::as_str), Some(">42"));
/// ```
#[deprecated(note = "as in Flink: use aggregating state (AggregatingState) instead")]
pub struct FoldingState<N, T, ACC> {
    pub(crate) core: HandleCore,
    pub(crate) namespace: N,
    _types: PhantomData<fn() -> (T, ACC)>,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers a folding state, or returns the one already registered under the descriptor's name (B2).
    #[deprecated(note = "as in Flink: use register_aggregating instead")]
    pub fn register_folding<N, T, ACC, NS, AS>(
        &mut self,
        descriptor: FoldingStateDescriptor<NS, T, AS>,
    ) -> Result<FoldingState<N, T, ACC>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        T: 'static,
        ACC: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        AS: TypeSerializer<Value = ACC> + StateType,
    {
        let FoldingStateDescriptor {
            name,
            namespace_serializer,
            accumulator_serializer,
            initial,
            fold,
        } = descriptor;
        let serializer: DynSerializer<ACC> = Arc::new(accumulator_serializer.clone());
        let core = self.register::<N, ACC, NS, AS, Extra<T, ACC>>(
            name,
            StateKind::Folding,
            namespace_serializer,
            accumulator_serializer,
            || FoldingExtra {
                initial,
                fold,
                serializer,
            },
        )?;
        Ok(FoldingState {
            core,
            namespace: N::default(),
            _types: PhantomData,
        })
    }
}

impl<N, T, ACC> FoldingState<N, T, ACC>
where
    N: Hash + Eq + StateType,
    T: 'static,
    ACC: StateType,
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

    /// The accumulator of the current key and namespace, if any (Flink `get()`; no default, as in the seed).
    pub fn get<'b, K, KS, H, P>(
        &self,
        backend: &'b KeyedStateBackend<K, KS, H, P>,
    ) -> Result<Option<&'b ACC>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (key, data) = backend.read::<N, ACC, Extra<T, ACC>>(self.core)?;
        Ok(data.table.get(key, &self.namespace))
    }

    /// Folds `value` into the accumulator (from the initial value when absent); `None` clears.
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
        let (key, data) = backend.write::<N, ACC, Extra<T, ACC>>(self.core)?;
        let Some(value) = value.into() else {
            data.table.remove(key, &self.namespace);
            return Ok(());
        };
        let extra = &data.extra;
        data.table
            .transform(key.clone(), self.namespace.clone(), value, |old, v| {
                (extra.fold)(old.unwrap_or_else(|| extra.initial.clone()), v)
            });
        Ok(())
    }

    /// Removes the accumulator of the current key and namespace (Flink `clear`).
    pub fn clear<K, KS, H, P>(&self, backend: &mut KeyedStateBackend<K, KS, H, P>) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        self.add(backend, None)
    }

    /// The serialized accumulator of `(key, namespace)`, or `None` if absent (the seed's `getSerializedValue`).
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
        let data = backend.data::<N, ACC, Extra<T, ACC>>(self.core)?;
        let Some(v) = data.table.get(key, namespace) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        data.extra.serializer.serialize(v, &mut out)?;
        Ok(Some(out))
    }
}

impl<N: Clone, T, ACC> Clone for FoldingState<N, T, ACC> {
    fn clone(&self) -> Self {
        FoldingState {
            core: self.core,
            namespace: self.namespace.clone(),
            _types: PhantomData,
        }
    }
}

impl<N: fmt::Debug, T, ACC> fmt::Debug for FoldingState<N, T, ACC> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FoldingState")
            .field("index", &self.core.index)
            .field("namespace", &self.namespace)
            .finish()
    }
}
