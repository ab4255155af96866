//! [`StateHandle`]: what the backend's key iteration (B20) needs of a handle of any kind — its namespace and
//! state types and the way to its table — without naming the kind's private parts.
#![allow(deprecated)]

use super::aggregating::AggregatingKind;
use super::folding::FoldingKind;
use super::handle::{Handle, Kind};
use super::list::ListKind;
use super::map::MapKind;
use super::reducing::ReducingKind;
use super::value::ValueKind;
use super::{
    AggregatingState, FoldingState, ListState, MapState, ReducingState, StateHasher, StateKey, StateType, ValueState,
};
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use crate::StateTable;
use core::hash::Hash;
use std::collections::HashMap;

mod sealed {
    /// Only the crate's handle types are [`StateHandle`](super::StateHandle)s.
    pub trait Sealed {}
}

/// A handle of a registered state of any kind ([`ValueState`], [`ListState`], [`ReducingState`],
/// [`FoldingState`], [`AggregatingState`], [`MapState`]): names the state for
/// [`KeyedStateBackend::keys`], [`keys_and_namespaces`](KeyedStateBackend::keys_and_namespaces) and
/// [`state_table`](KeyedStateBackend::state_table) (B20). Sealed: only this crate's handles implement it.
///
/// Flink names the state by its name (`getKeys(String state, N namespace)`); a handle carries the namespace and
/// state types, so the keys come typed and no name is looked up (B3).
///
/// ```
/// use cow_state_table::backend::{KeyedStateBackend, StateHandle, ValueStateDescriptor};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{U32Serializer, U64Serializer};
/// fn key_count<S: StateHandle>(b: &KeyedStateBackend<u64, U64Serializer>, s: &S) -> usize {
///     b.keys_and_namespaces(s).unwrap().count()
/// }
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
/// let v = b.register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer)).unwrap();
/// b.set_current_key(5).unwrap();
/// v.update(&mut b, 1).unwrap();
/// assert_eq!(key_count(&b, &v), 1);
/// ```
pub trait StateHandle: sealed::Sealed {
    /// The state's namespace type.
    type Namespace: Hash + Eq + StateType;
    /// What the state's table stores per key and namespace (a value, a list, an accumulator, a map).
    type State: StateType;

    /// The state's table in `backend`; a handle of another backend (or type) is
    /// [`BackendError::ForeignHandle`] (B3). Use [`KeyedStateBackend::state_table`].
    #[doc(hidden)]
    fn table_in<'b, K, KS, H, P>(
        &self,
        backend: &'b KeyedStateBackend<K, KS, H, P>,
    ) -> Result<&'b StateTable<K, Self::Namespace, Self::State, H, P>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives;
}

impl<N, M> Handle<N, M>
where
    N: Hash + Eq + StateType,
    M: Kind,
{
    /// The state's table (B3: the backend checks the handle's backend id and type).
    pub(crate) fn table_in<'b, K, KS, H, P>(
        &self,
        backend: &'b KeyedStateBackend<K, KS, H, P>,
    ) -> Result<&'b StateTable<K, N, M::State, H, P>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(&backend.data::<N, M::State, M::Extra>(self.core)?.table)
    }
}

/// `Sealed` and `StateHandle` for a handle type whose `handle` field is a `Handle<N, $kind>` storing `$state`.
macro_rules! state_handle {
    ($name:ident<N $(, $p:ident)*>, $kind:ty, $state:ty, where $($bounds:tt)*) => {
        impl<N $(, $p)*> sealed::Sealed for $name<N $(, $p)*> where N: Hash + Eq + StateType, $($bounds)* {}

        impl<N $(, $p)*> StateHandle for $name<N $(, $p)*>
        where
            N: Hash + Eq + StateType,
            $($bounds)*
        {
            type Namespace = N;
            type State = $state;

            fn table_in<'b, K, KS, H, P>(
                &self,
                backend: &'b KeyedStateBackend<K, KS, H, P>,
            ) -> Result<&'b StateTable<K, N, $state, H, P>, BackendError>
            where
                K: StateKey,
                KS: TypeSerializer<Value = K> + StateType,
                H: StateHasher,
                P: Primitives,
            {
                let handle: &Handle<N, $kind> = &self.handle;
                handle.table_in(backend)
            }
        }
    };
}

state_handle!(ValueState<N, V>, ValueKind<V>, V, where V: StateType);
state_handle!(ListState<N, V>, ListKind<V>, Vec<V>, where V: StateType);
state_handle!(ReducingState<N, V>, ReducingKind<V>, V, where V: StateType);
state_handle!(FoldingState<N, T, ACC>, FoldingKind<T, ACC>, ACC, where T: 'static, ACC: StateType);
state_handle!(
    AggregatingState<N, IN, ACC, OUT>,
    AggregatingKind<IN, ACC, OUT>,
    ACC,
    where IN: 'static, ACC: StateType, OUT: 'static
);
state_handle!(MapState<N, UK, UV>, MapKind<UK, UV>, HashMap<UK, UV>, where UK: Hash + Eq + StateType, UV: StateType);
