//! Folding state (Flink `HeapFoldingState`, deprecated in Flink 1.4 in favour of aggregating state).
#![allow(deprecated)]

use super::handle::{handle_getter, handle_impls, handle_methods, Handle, Kind, Plain};
use super::{StateHasher, StateKey, StateType};
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

/// The folding kind for a handle: its state type and, as extra data, the initial accumulator and the fold function.
pub(crate) struct FoldingKind<T, ACC>(PhantomData<fn() -> (T, ACC)>);

impl<T, ACC> Kind for FoldingKind<T, ACC>
where
    T: 'static,
    ACC: StateType,
{
    type State = ACC;
    type Extra = Plain<ACC, (ACC, FoldFn<T, ACC>)>;
}

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
    pub(crate) handle: Handle<N, FoldingKind<T, ACC>>,
}

impl<N, T, ACC> FoldingState<N, T, ACC>
where
    N: Hash + Eq + StateType,
    T: 'static,
    ACC: StateType,
{
    handle_methods! {
        /// Removes the accumulator of the current key and namespace (Flink `clear`).
        clear;
        /// The serialized accumulator of `(key, namespace)`, or `None` if absent (the seed's `getSerializedValue`).
        serialized_value;
    }

    handle_getter! {
        /// The accumulator of the current key and namespace, if any (Flink `get()`; no default, as in the seed).
        pub fn get -> ACC;
    }

    /// Folds `value` into the accumulator (from the initial value when absent); `None` clears.
    ///
    /// `fold` gets a clone of the stored accumulator (or of the initial value), which is replaced only once it
    /// returns: if it panics, the state keeps its old accumulator, with or without a checkpoint in flight (B5;
    /// Flink leaves the state in place when the function throws).
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
        self.handle.transform(backend, value.into(), |extra, old, v| {
            let (initial, fold) = &extra.own;
            fold(old.unwrap_or_else(|| initial.clone()), v)
        })
    }
}

handle_impls!(FoldingState<N, T, ACC>);
