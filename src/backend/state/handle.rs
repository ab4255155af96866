//! What every state handle shares (Flink: the parts of `AbstractHeapState` common to all heap states): where the
//! handle points, its current namespace, the lookup of the current key and namespace, `clear`, the
//! transform-or-clear write of the reducing kinds, `addAll`/`putAll`, namespace merging and the serialized-value
//! lookup (registration is in `register.rs`). Each kind's file keeps only its own operations and its
//! queryable-state format.

use super::{Data, DynSerializer, HandleCore, StateHasher, StateKey, StateType};
use crate::backend::merge::{merge_namespaces, merge_namespaces_by_moving};
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::{SerializeError, TypeSerializer};
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use core::marker::PhantomData;
use std::sync::Arc;

/// The kind-specific part of a state's data (`X` of [`Data`]): how one state value is written for queryable
/// state (the seed's `getSerializedValue`).
pub(crate) trait StateExtra<S>: Send + Sync + 'static {
    /// Appends the queryable-state form of `state` to `out`.
    fn serialize_state(&self, state: &S, out: &mut Vec<u8>) -> Result<(), SerializeError>;
}

/// The extra data of a kind whose state is written by one serializer of the state type (value, reducing,
/// folding, aggregating), with the kind's own part `own` (default value, functions).
pub(crate) struct Plain<S, F> {
    pub(crate) serializer: DynSerializer<S>,
    pub(crate) own: F,
}

impl<S, F> Plain<S, F> {
    /// `own` with a shared copy of `serializer` for lookups (checkpoints use the typed one).
    pub(crate) fn new<SS>(serializer: &SS, own: F) -> Self
    where
        SS: TypeSerializer<Value = S> + StateType,
    {
        Plain {
            serializer: Arc::new(serializer.clone()),
            own,
        }
    }
}

impl<S: 'static, F: Send + Sync + 'static> StateExtra<S> for Plain<S, F> {
    fn serialize_state(&self, state: &S, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        self.serializer.serialize(state, out)
    }
}

/// A state kind as a handle sees it: the state type in the table and the kind's extra data. Implemented by one
/// marker type per kind, so that a handle, which holds only `PhantomData<fn() -> M>`, stays covariant in the kind's
/// type parameters although the extra data holds trait objects of them.
pub(crate) trait Kind: 'static {
    /// The state type in the table.
    type State: StateType;
    /// The kind's extra data ([`Data`]'s `X`).
    type Extra: StateExtra<Self::State>;
}

/// A handle's shared part: the state it points to (B3) and its current namespace. The kind `M` only selects the
/// typed [`Data`] of the state.
pub(crate) struct Handle<N, M> {
    pub(crate) core: HandleCore,
    pub(crate) namespace: N,
    _kind: PhantomData<fn() -> M>,
}

impl<N: Default, M> Handle<N, M> {
    /// A handle to the state at `core`, on the default namespace.
    pub(crate) fn new(core: HandleCore) -> Self {
        Handle {
            core,
            namespace: N::default(),
            _kind: PhantomData,
        }
    }
}

impl<N: Clone, M> Clone for Handle<N, M> {
    fn clone(&self) -> Self {
        Handle {
            core: self.core,
            namespace: self.namespace.clone(),
            _kind: PhantomData,
        }
    }
}

impl<N: fmt::Debug, M> Handle<N, M> {
    /// The `Debug` form of a handle named `name` (its index and namespace).
    pub(crate) fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("index", &self.core.index)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl<N, M> Handle<N, M>
where
    N: Hash + Eq + StateType,
    M: Kind,
{
    /// The state of the current key and namespace, if any, and the kind's extra data (B4: never copies).
    #[inline]
    pub(crate) fn current<'b, K, KS, H, P>(
        &self,
        backend: &'b KeyedStateBackend<K, KS, H, P>,
    ) -> Result<(Option<&'b M::State>, &'b M::Extra), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (key, data) = backend.read::<N, M::State, M::Extra>(self.core)?;
        Ok((data.table.get(key, &self.namespace), &data.extra))
    }

    /// The current key and the state's data, for a write (B3, B5).
    #[inline]
    pub(crate) fn write<'b, K, KS, H, P>(
        &self,
        backend: &'b mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<(&'b K, &'b mut Data<K, N, M::State, H, P, M::Extra>), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        backend.write::<N, M::State, M::Extra>(self.core)
    }

    /// The state's data for a write that needs no current key (TTL cleanup over the whole table, T6, T7).
    pub(crate) fn write_any_key<'b, K, KS, H, P>(
        &self,
        backend: &'b mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<&'b mut Data<K, N, M::State, H, P, M::Extra>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        backend.data_mut::<N, M::State, M::Extra>(self.core)
    }

    /// Removes the state of the current key and namespace (Flink `clear`).
    #[inline]
    pub(crate) fn clear<K, KS, H, P>(&self, backend: &mut KeyedStateBackend<K, KS, H, P>) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (key, data) = self.write(backend)?;
        data.table.remove(key, &self.namespace);
        Ok(())
    }

    /// Combines `value` into the state of the current key and namespace with `f(extra, old, value)` (Flink
    /// `StateTable.transform` with the kind's `StateTransformationFunction`); `None` clears, as the seed's `null`
    /// does.
    ///
    /// `f` is user code (reduce, fold, aggregate) and may panic. It gets a clone of the stored state, and the
    /// result is written only once `f` has returned (over the entry reached with `get_mut`, or with `put` when
    /// absent), so a panic leaves the state as it was whether or not a checkpoint in flight shares it (B5). The
    /// table's `transform` would move a private state into `f` and lose it.
    #[inline]
    pub(crate) fn transform<K, KS, H, P, T>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        value: Option<T>,
        f: impl Fn(&M::Extra, Option<M::State>, T) -> M::State,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (key, data) = self.write(backend)?;
        let Some(value) = value else {
            data.table.remove(key, &self.namespace);
            return Ok(());
        };
        let extra = &data.extra;
        match data.table.get_mut(key, &self.namespace) {
            Some(state) => {
                let new = f(extra, Some(state.clone()), value);
                *state = new;
            }
            None => {
                let new = f(extra, None, value);
                data.table.put(key.clone(), self.namespace.clone(), new);
            }
        }
        Ok(())
    }

    /// Extends the state of the current key and namespace by `items`, inserting it when absent (Flink `addAll`,
    /// `putAll`); no items: nothing changes (and nothing is copied).
    pub(crate) fn extend<K, KS, H, P, I>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        items: impl IntoIterator<Item = I>,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
        M::State: Extend<I> + FromIterator<I>,
    {
        let (key, data) = self.write(backend)?;
        let mut items = items.into_iter().peekable();
        if items.peek().is_none() {
            return Ok(());
        }
        match data.table.get_mut(key, &self.namespace) {
            Some(state) => state.extend(items),
            None => data.table.put(key.clone(), self.namespace.clone(), items.collect()),
        }
        Ok(())
    }

    /// Merges the states of `sources` into `target` with the user function `merge(extra, a, b)` and removes the
    /// sources (B6; Flink `mergeNamespaces` with the kind's `mergeState`). `merge` works on clones and the table
    /// is written after it returns: a panic leaves the sources and the target as they were.
    pub(crate) fn merge_namespaces<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        target: N,
        sources: &[N],
        merge: impl Fn(&M::Extra, M::State, M::State) -> M::State,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (key, data) = self.write(backend)?;
        let extra = &data.extra;
        merge_namespaces(&mut data.table, key, &target, sources, |a, b| merge(extra, a, b));
        Ok(())
    }

    /// [`merge_namespaces`](Self::merge_namespaces) for a `merge` that calls no user code (list), by moves: no
    /// state is cloned (B6).
    pub(crate) fn merge_namespaces_by_moving<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        target: N,
        sources: &[N],
        merge: impl Fn(M::State, M::State) -> M::State,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (key, data) = self.write(backend)?;
        merge_namespaces_by_moving(&mut data.table, key, &target, sources, merge);
        Ok(())
    }

    /// The state of `(key, namespace)` in its queryable-state form ([`StateExtra::serialize_state`]), or `None` if
    /// absent; no default is applied (the seed's `getSerializedValue`).
    pub(crate) fn serialized_value<K, KS, H, P>(
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
        let data = backend.data::<N, M::State, M::Extra>(self.core)?;
        let Some(state) = data.table.get(key, namespace) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        data.extra.serialize_state(state, &mut out)?;
        Ok(Some(out))
    }
}

/// The public methods every handle has, delegating to its `handle` field: `set_current_namespace`,
/// `current_namespace`, `clear` and `serialized_value` (each kind gives the last two their docs). Expands inside
/// the kind's `impl` block, whose bounds make `Handle`'s methods available.
macro_rules! handle_methods {
    (
        $(#[$clear_doc:meta])*
        clear;
        $(#[$serialized_doc:meta])*
        serialized_value;
    ) => {
        /// Sets the namespace the next operations use (Flink `setCurrentNamespace`).
        #[inline]
        pub fn set_current_namespace(&mut self, namespace: N) {
            self.handle.namespace = namespace;
        }

        /// The current namespace.
        pub fn current_namespace(&self) -> &N {
            &self.handle.namespace
        }

        $(#[$clear_doc])*
        pub fn clear<K, KS, H, P>(
            &self,
            backend: &mut $crate::backend::KeyedStateBackend<K, KS, H, P>,
        ) -> Result<(), $crate::backend::BackendError>
        where
            K: $crate::backend::StateKey,
            KS: $crate::serializer::TypeSerializer<Value = K> + $crate::backend::StateType,
            H: $crate::backend::StateHasher,
            P: $crate::sync::Primitives,
        {
            self.handle.clear(backend)
        }

        $(#[$serialized_doc])*
        pub fn serialized_value<K, KS, H, P>(
            &self,
            backend: &$crate::backend::KeyedStateBackend<K, KS, H, P>,
            key: &K,
            namespace: &N,
        ) -> Result<Option<Vec<u8>>, $crate::backend::BackendError>
        where
            K: $crate::backend::StateKey,
            KS: $crate::serializer::TypeSerializer<Value = K> + $crate::backend::StateType,
            H: $crate::backend::StateHasher,
            P: $crate::sync::Primitives,
        {
            self.handle.serialized_value(backend, key, namespace)
        }
    };
}

/// A public getter `$name` returning the state of the current key and namespace as stored, if any (B4: never
/// copies). Expands inside the kind's `impl` block.
macro_rules! handle_getter {
    ($(#[$doc:meta])* pub fn $name:ident -> $state:ty;) => {
        $(#[$doc])*
        pub fn $name<'b, K, KS, H, P>(
            &self,
            backend: &'b $crate::backend::KeyedStateBackend<K, KS, H, P>,
        ) -> Result<Option<&'b $state>, $crate::backend::BackendError>
        where
            K: $crate::backend::StateKey,
            KS: $crate::serializer::TypeSerializer<Value = K> + $crate::backend::StateType,
            H: $crate::backend::StateHasher,
            P: $crate::sync::Primitives,
        {
            Ok(self.handle.current(backend)?.0)
        }
    };
}

/// `Clone` (needing only `N: Clone`) and `Debug` (index and namespace) of a handle type `Name<N, …>`.
macro_rules! handle_impls {
    ($name:ident<N $(, $p:ident)*>) => {
        impl<N: Clone $(, $p)*> Clone for $name<N $(, $p)*> {
            fn clone(&self) -> Self {
                $name {
                    handle: self.handle.clone(),
                }
            }
        }

        impl<N: core::fmt::Debug $(, $p)*> core::fmt::Debug for $name<N $(, $p)*> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                self.handle.debug(stringify!($name), f)
            }
        }
    };
}

pub(crate) use {handle_getter, handle_impls, handle_methods};

/// Compile-time check that handles stay covariant in their type parameters (as their `PhantomData<fn() -> …>`
/// made them before the shared core): a handle of `'static` types is one of shorter-lived types.
#[cfg(test)]
#[allow(dead_code, deprecated)]
fn handles_are_covariant<'a>(
    value: super::ValueState<&'static str, &'static str>,
    list: super::ListState<&'static str, &'static str>,
    reducing: super::ReducingState<&'static str, &'static str>,
    folding: super::FoldingState<&'static str, &'static str, &'static str>,
    aggregating: super::AggregatingState<&'static str, &'static str, &'static str, &'static str>,
    map: super::MapState<&'static str, &'static str, &'static str>,
) -> (
    super::ValueState<&'a str, &'a str>,
    super::ListState<&'a str, &'a str>,
    super::ReducingState<&'a str, &'a str>,
    super::FoldingState<&'a str, &'a str, &'a str>,
    super::AggregatingState<&'a str, &'a str, &'a str, &'a str>,
    super::MapState<&'a str, &'a str, &'a str>,
) {
    (value, list, reducing, folding, aggregating, map)
}
