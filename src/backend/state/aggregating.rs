//! Aggregating state (Flink `HeapAggregatingState`, later than the seed).

use super::handle::{handle_getter, handle_impls, handle_methods, Handle, Kind, Plain};
use super::{StateHasher, StateKey, StateType};
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use core::marker::PhantomData;
use std::sync::Arc;

/// An aggregation with an accumulator type apart from its input and output.
///
/// Flink: `AggregateFunction<IN, ACC, OUT>` (`createAccumulator`, `add`, `getResult`, `merge`). `add` and
/// `merge` take the accumulator by value so that it can be updated in place.
pub trait AggregateFunction<IN, ACC, OUT>: Send + Sync {
    /// A new, empty accumulator.
    fn create_accumulator(&self) -> ACC;
    /// Adds `value` to `accumulator`.
    fn add(&self, value: IN, accumulator: ACC) -> ACC;
    /// The result of an accumulator.
    fn get_result(&self, accumulator: &ACC) -> OUT;
    /// Merges two accumulators (window merging).
    fn merge(&self, a: ACC, b: ACC) -> ACC;
}

/// Describes an aggregating state: name, namespace and accumulator serializers and the aggregate function.
///
/// Flink: `AggregatingStateDescriptor`.
pub struct AggregatingStateDescriptor<NS, IN, AS: TypeSerializer, OUT> {
    pub(crate) name: String,
    pub(crate) namespace_serializer: NS,
    pub(crate) accumulator_serializer: AS,
    pub(crate) function: Arc<dyn AggregateFunction<IN, AS::Value, OUT>>,
}

impl<NS, IN, AS: TypeSerializer, OUT> AggregatingStateDescriptor<NS, IN, AS, OUT> {
    /// An aggregating state named `name`.
    pub fn new(
        name: impl Into<String>,
        namespace_serializer: NS,
        accumulator_serializer: AS,
        function: impl AggregateFunction<IN, AS::Value, OUT> + 'static,
    ) -> Self {
        AggregatingStateDescriptor {
            name: name.into(),
            namespace_serializer,
            accumulator_serializer,
            function: Arc::new(function),
        }
    }
}

impl<NS: fmt::Debug, IN, AS: TypeSerializer + fmt::Debug, OUT> fmt::Debug
    for AggregatingStateDescriptor<NS, IN, AS, OUT>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AggregatingStateDescriptor")
            .field("name", &self.name)
            .field("namespace_serializer", &self.namespace_serializer)
            .field("accumulator_serializer", &self.accumulator_serializer)
            .finish_non_exhaustive()
    }
}

/// The aggregating kind for a handle: its state type and, as extra data, the aggregate function.
pub(crate) struct AggregatingKind<IN, ACC, OUT>(PhantomData<fn() -> (IN, ACC, OUT)>);

impl<IN, ACC, OUT> Kind for AggregatingKind<IN, ACC, OUT>
where
    IN: 'static,
    ACC: StateType,
    OUT: 'static,
{
    type State = ACC;
    type Extra = Plain<ACC, Arc<dyn AggregateFunction<IN, ACC, OUT>>>;
}

/// A handle to an aggregating state: an accumulator per key and namespace.
///
/// Flink: `HeapAggregatingState` (`get` = `getResult` of the accumulator, `add`, `clear`, `mergeNamespaces` with
/// the function's `merge`).
///
/// ```
/// use cow_state_table::backend::{AggregateFunction, AggregatingStateDescriptor, KeyedStateBackend};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{U64Serializer, U32Serializer};
/// struct Mean;
/// impl AggregateFunction<u64, (u64, u64), f64> for Mean {
///     fn create_accumulator(&self) -> (u64, u64) { (0, 0) }
///     fn add(&self, v: u64, (s, n): (u64, u64)) -> (u64, u64) { (s + v, n + 1) }
///     fn get_result(&self, &(s, n): &(u64, u64)) -> f64 { s as f64 / n as f64 }
///     fn merge(&self, a: (u64, u64), b: (u64, u64)) -> (u64, u64) { (a.0 + b.0, a.1 + b.1) }
/// }
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 16, KeyGroupRange::of(0, 15).unwrap()).unwrap();
/// let mean = b.register_aggregating(
///     AggregatingStateDescriptor::new("mean", U32Serializer, (U64Serializer, U64Serializer), Mean),
/// ).unwrap();
/// b.set_current_key(1).unwrap();
/// for v in [1, 2, 6] { mean.add(&mut b, v).unwrap(); }
/// assert_eq!(mean.get(&b).unwrap(), Some(3.0));
/// ```
#[allow(clippy::type_complexity)]
pub struct AggregatingState<N, IN, ACC, OUT> {
    pub(crate) handle: Handle<N, AggregatingKind<IN, ACC, OUT>>,
}

impl<N, IN, ACC, OUT> AggregatingState<N, IN, ACC, OUT>
where
    N: Hash + Eq + StateType,
    IN: 'static,
    ACC: StateType,
    OUT: 'static,
{
    handle_methods! {
        /// Removes the accumulator of the current key and namespace (Flink `clear`).
        clear;
        /// The serialized accumulator of `(key, namespace)`, or `None` if absent (`getSerializedValue`).
        serialized_value;
    }

    /// The result of the accumulator of the current key and namespace, if any (Flink `get()`). The accumulator
    /// is read in place (B4); only the result is built.
    pub fn get<K, KS, H, P>(&self, backend: &KeyedStateBackend<K, KS, H, P>) -> Result<Option<OUT>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (acc, extra) = self.handle.current(backend)?;
        Ok(acc.map(|acc| extra.own.get_result(acc)))
    }

    handle_getter! {
        /// The accumulator itself, if any.
        pub fn accumulator -> ACC;
    }

    /// Adds `value` (Flink `add` = `transform` with `AggregateTransformation`: `add(value, acc)`, from a new
    /// accumulator when absent); `None` clears.
    ///
    /// The function's `add` gets a clone of the stored accumulator, which is replaced only once it returns: if
    /// `add` (or `create_accumulator`) panics, the state keeps its old accumulator, with or without a checkpoint
    /// in flight (B5; Flink leaves the state in place when the function throws).
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
        self.handle.transform(backend, value.into(), |extra, old, v| {
            let f = &extra.own;
            f.add(v, old.unwrap_or_else(|| f.create_accumulator()))
        })
    }

    /// Merges the accumulators of `sources` into `target` and removes the sources (B6; Flink `mergeNamespaces`
    /// with `mergeState(a, b) = merge(a, b)`). `merge` works on clones and nothing is written before the merged
    /// accumulator is computed: if it panics, every source and the target keep their accumulators.
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
            .merge_namespaces(backend, target, sources, |extra, a, b| extra.own.merge(a, b))
    }
}

handle_impls!(AggregatingState<N, IN, ACC, OUT>);
