//! Map state (Flink `HeapMapState`, later than the seed).

use super::handle::{handle_getter, handle_impls, handle_methods, Handle, Kind, StateExtra};
use super::{DynSerializer, StateHasher, StateKey, StateType};
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::{write_entries_canonical, SerializeError, TypeSerializer};
use crate::sync::Primitives;
use core::hash::Hash;
use core::marker::PhantomData;
use std::collections::HashMap;
use std::sync::Arc;

/// Describes a map state: name, namespace serializer and the user key and value serializers (the state
/// serializer is [`MapSerializer`](crate::serializer::MapSerializer) of them).
///
/// Flink: `MapStateDescriptor`.
#[derive(Debug, Clone)]
pub struct MapStateDescriptor<NS, UKS, UVS> {
    pub(crate) name: String,
    pub(crate) namespace_serializer: NS,
    pub(crate) key_serializer: UKS,
    pub(crate) value_serializer: UVS,
}

impl<NS, UKS, UVS> MapStateDescriptor<NS, UKS, UVS> {
    /// A map state named `name`.
    pub fn new(name: impl Into<String>, namespace_serializer: NS, key_serializer: UKS, value_serializer: UVS) -> Self {
        MapStateDescriptor {
            name: name.into(),
            namespace_serializer,
            key_serializer,
            value_serializer,
        }
    }
}

/// The user key and value serializers, for the queryable-state form of a map.
pub(crate) struct MapExtra<UK, UV> {
    key: DynSerializer<UK>,
    value: DynSerializer<UV>,
}

type Map<UK, UV> = HashMap<UK, UV>;

impl<UK, UV> MapExtra<UK, UV> {
    /// Shared copies of `key` and `value` for lookups (checkpoints use the typed ones).
    pub(crate) fn new<UKS, UVS>(key: &UKS, value: &UVS) -> Self
    where
        UKS: TypeSerializer<Value = UK> + StateType,
        UVS: TypeSerializer<Value = UV> + StateType,
    {
        MapExtra {
            key: Arc::new(key.clone()),
            value: Arc::new(value.clone()),
        }
    }
}

impl<UK: 'static, UV: 'static> StateExtra<Map<UK, UV>> for MapExtra<UK, UV> {
    /// Per entry: user key, null flag `0`, value; no count (Flink's `KvStateSerializer.serializeMap`); entries in
    /// the canonical order of the checkpoint (B11).
    fn serialize_state(&self, map: &Map<UK, UV>, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        write_entries_canonical(&*self.key, &*self.value, map, out)
    }
}

/// The map kind for a handle: its state type and its extra data.
pub(crate) struct MapKind<UK, UV>(PhantomData<fn() -> (UK, UV)>);

impl<UK, UV> Kind for MapKind<UK, UV>
where
    UK: Hash + Eq + StateType,
    UV: StateType,
{
    type State = Map<UK, UV>;
    type Extra = MapExtra<UK, UV>;
}

/// A handle to a map state: a map from user keys to user values per key and namespace.
///
/// Flink: `HeapMapState` (`get`, `put`, `putAll`, `remove` — which clears the state once the map is empty —
/// `contains`, `entries`, `keys`, `values`, `isEmpty`, `clear`). A write copies the map only when a checkpoint in
/// flight can see it (B5), and `remove` of an absent user key writes nothing.
///
/// ```
/// use cow_state_table::backend::{KeyedStateBackend, MapStateDescriptor};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{StringSerializer, U64Serializer, VoidNamespaceSerializer};
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 16, KeyGroupRange::of(0, 15).unwrap()).unwrap();
/// let m = b.register_map(
///     MapStateDescriptor::new("m", VoidNamespaceSerializer, StringSerializer, U64Serializer),
/// ).unwrap();
/// b.set_current_key(1).unwrap();
/// m.put(&mut b, "a".to_string(), 1).unwrap();
/// m.put(&mut b, "b".to_string(), 2).unwrap();
/// assert_eq!(m.get(&b, &"a".to_string()).unwrap(), Some(&1));
/// assert_eq!(m.entries(&b).unwrap().count(), 2);
/// m.remove(&mut b, &"a".to_string()).unwrap();
/// m.remove(&mut b, &"b".to_string()).unwrap();
/// assert!(m.is_empty(&b).unwrap());
/// assert_eq!(b.state_len("m"), Some(0));                      // an emptied map is removed, as in Flink
/// ```
pub struct MapState<N, UK, UV> {
    pub(crate) handle: Handle<N, MapKind<UK, UV>>,
}

impl<N, UK, UV> MapState<N, UK, UV>
where
    N: Hash + Eq + StateType,
    UK: Hash + Eq + StateType,
    UV: StateType,
{
    handle_methods! {
        /// Removes the whole map of the current key and namespace (Flink `clear`).
        clear;
        /// The map of `(key, namespace)` as Flink's `KvStateSerializer.serializeMap` writes it for queryable state
        /// (per entry: user key, null flag `0`, value; no count), or `None` if absent.
        serialized_value;
    }

    handle_getter! {
        /// The whole map of the current key and namespace, if any. Never copies (B4).
        pub fn map -> Map<UK, UV>;
    }

    /// The value of `user_key` (Flink `get(UK)`), if any.
    pub fn get<'b, K, KS, H, P>(
        &self,
        backend: &'b KeyedStateBackend<K, KS, H, P>,
        user_key: &UK,
    ) -> Result<Option<&'b UV>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.map(backend)?.and_then(|m| m.get(user_key)))
    }

    /// Whether `user_key` has a value (Flink `contains`).
    pub fn contains<K, KS, H, P>(
        &self,
        backend: &KeyedStateBackend<K, KS, H, P>,
        user_key: &UK,
    ) -> Result<bool, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.get(backend, user_key)?.is_some())
    }

    /// Whether the map of the current key and namespace is empty or absent (Flink `isEmpty`).
    pub fn is_empty<K, KS, H, P>(&self, backend: &KeyedStateBackend<K, KS, H, P>) -> Result<bool, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.map(backend)?.is_none_or(|m| m.is_empty()))
    }

    /// The entries of the current key's map in this namespace (Flink `entries()`; empty when absent).
    pub fn entries<'b, K, KS, H, P>(
        &self,
        backend: &'b KeyedStateBackend<K, KS, H, P>,
    ) -> Result<impl Iterator<Item = (&'b UK, &'b UV)> + 'b, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.map(backend)?.into_iter().flat_map(|m| m.iter()))
    }

    /// Sets `user_key` to `value` (Flink `put`), creating the map if absent.
    pub fn put<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        user_key: UK,
        value: UV,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        self.put_all(backend, [(user_key, value)])
    }

    /// Puts every entry (Flink `putAll`); no entries: nothing changes.
    pub fn put_all<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        entries: impl IntoIterator<Item = (UK, UV)>,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        self.handle.extend(backend, entries)
    }

    /// Removes `user_key` and returns whether it was there (Flink `remove`); a map left empty is removed from the
    /// state, as in Flink. An absent user key writes (and copies) nothing.
    pub fn remove<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        user_key: &UK,
    ) -> Result<bool, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (key, data) = self.handle.write(backend)?;
        let namespace = &self.handle.namespace;
        if !data.table.get(key, namespace).is_some_and(|m| m.contains_key(user_key)) {
            return Ok(false);
        }
        let map = data.table.get_mut(key, namespace).expect("checked above");
        map.remove(user_key);
        if map.is_empty() {
            data.table.remove(key, namespace);
        }
        Ok(true)
    }
}

handle_impls!(MapState<N, UK, UV>);
