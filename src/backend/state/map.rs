//! Map state (Flink `HeapMapState`, later than the seed).

use super::handle::{handle_getter, handle_impls, handle_methods, Handle, Kind, StateExtra};
use super::{DynSerializer, StateHasher, StateKey, StateType};
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::{write_entries_canonical, SerializeError, TypeSerializer};
use crate::sync::Primitives;
use crate::StateTable;
use core::fmt;
use core::hash::{BuildHasher, Hash};
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
    /// the canonical order of the checkpoint (B18).
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

    /// Whether `user_key` has a value (Flink `contains`). Never copies (B4).
    ///
    /// ```
    /// # use cow_state_table::backend::{KeyedStateBackend, MapStateDescriptor};
    /// # use cow_state_table::keygroup::KeyGroupRange;
    /// # use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
    /// # let mut b: KeyedStateBackend<u64, U64Serializer> =
    /// #     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let m = b.register_map(MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U64Serializer))
    ///     .unwrap();
    /// b.set_current_key(3).unwrap();
    /// m.put(&mut b, 1, 10).unwrap();
    /// assert!(m.contains(&b, &1).unwrap());
    /// assert!(!m.contains(&b, &2).unwrap());
    /// ```
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

    /// Whether the map of the current key and namespace is empty or absent (Flink `isEmpty`). To tell the two
    /// apart, use [`map`](Self::map).
    ///
    /// ```
    /// # use cow_state_table::backend::{KeyedStateBackend, MapStateDescriptor};
    /// # use cow_state_table::keygroup::KeyGroupRange;
    /// # use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
    /// # let mut b: KeyedStateBackend<u64, U64Serializer> =
    /// #     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let m = b.register_map(MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U64Serializer))
    ///     .unwrap();
    /// b.set_current_key(3).unwrap();
    /// assert!(m.is_empty(&b).unwrap());
    /// m.put(&mut b, 1, 10).unwrap();
    /// assert!(!m.is_empty(&b).unwrap());
    /// ```
    pub fn is_empty<K, KS, H, P>(&self, backend: &KeyedStateBackend<K, KS, H, P>) -> Result<bool, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.map(backend)?.is_none_or(|m| m.is_empty()))
    }

    /// The user keys of the current key's map in this namespace (Flink `keys()`; empty when absent). Never copies
    /// (B4).
    ///
    /// ```
    /// # use cow_state_table::backend::{KeyedStateBackend, MapStateDescriptor};
    /// # use cow_state_table::keygroup::KeyGroupRange;
    /// # use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
    /// # let mut b: KeyedStateBackend<u64, U64Serializer> =
    /// #     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let m = b.register_map(MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U64Serializer))
    ///     .unwrap();
    /// b.set_current_key(3).unwrap();
    /// assert_eq!(m.keys(&b).unwrap().count(), 0);
    /// m.put_all(&mut b, [(1, 10), (2, 20)]).unwrap();
    /// let mut keys: Vec<u32> = m.keys(&b).unwrap().copied().collect();
    /// keys.sort();
    /// assert_eq!(keys, [1, 2]);
    /// ```
    pub fn keys<'b, K, KS, H, P>(
        &self,
        backend: &'b KeyedStateBackend<K, KS, H, P>,
    ) -> Result<impl Iterator<Item = &'b UK> + 'b, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.map(backend)?.into_iter().flat_map(|m| m.keys()))
    }

    /// The user values of the current key's map in this namespace (Flink `values()`; empty when absent). Never
    /// copies (B4).
    ///
    /// ```
    /// # use cow_state_table::backend::{KeyedStateBackend, MapStateDescriptor};
    /// # use cow_state_table::keygroup::KeyGroupRange;
    /// # use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
    /// # let mut b: KeyedStateBackend<u64, U64Serializer> =
    /// #     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let m = b.register_map(MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U64Serializer))
    ///     .unwrap();
    /// b.set_current_key(3).unwrap();
    /// m.put_all(&mut b, [(1, 10), (2, 20)]).unwrap();
    /// assert_eq!(m.values(&b).unwrap().sum::<u64>(), 30);
    /// ```
    pub fn values<'b, K, KS, H, P>(
        &self,
        backend: &'b KeyedStateBackend<K, KS, H, P>,
    ) -> Result<impl Iterator<Item = &'b UV> + 'b, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.map(backend)?.into_iter().flat_map(|m| m.values()))
    }

    /// The entries of the current key's map in this namespace (Flink `entries()`; empty when absent, as Flink's
    /// user-facing `MapState` returns an empty iterable). To tell an absent map from an empty one use
    /// [`map`](Self::map): `None` is absent, `Some` of an empty map is present and empty (a restored checkpoint
    /// may hold one; this crate's writes remove a map once it is empty).
    ///
    /// ```
    /// # use cow_state_table::backend::{KeyedStateBackend, MapStateDescriptor};
    /// # use cow_state_table::keygroup::KeyGroupRange;
    /// # use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
    /// # let mut b: KeyedStateBackend<u64, U64Serializer> =
    /// #     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let m = b.register_map(MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U64Serializer))
    ///     .unwrap();
    /// b.set_current_key(3).unwrap();
    /// assert_eq!(m.entries(&b).unwrap().count(), 0);
    /// assert!(m.map(&b).unwrap().is_none());                      // absent
    /// m.put(&mut b, 1, 10).unwrap();
    /// assert_eq!(m.entries(&b).unwrap().collect::<Vec<_>>(), [(&1, &10)]);
    /// ```
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

    /// A cursor over the entries of the current key's map in this namespace that can replace values and remove
    /// entries (Flink `iterator()` with `Iterator.remove` and `Map.Entry.setValue`). It copies the map only on its
    /// first write, and only if a checkpoint in flight can see it, which keeps seeing the old map (B19). Empty
    /// when the map is absent.
    ///
    /// ```
    /// use cow_state_table::backend::{KeyedStateBackend, MapStateDescriptor};
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
    /// let mut b: KeyedStateBackend<u64, U64Serializer> =
    ///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let m = b.register_map(MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U64Serializer))
    ///     .unwrap();
    /// b.set_current_key(3).unwrap();
    /// m.put_all(&mut b, (0..6).map(|i| (i, u64::from(i) * 10))).unwrap();
    /// let mut cursor = m.entries_mut(&mut b).unwrap();
    /// while let Some((user_key, value)) = cursor.next_entry() {
    ///     if user_key % 2 == 0 {
    ///         cursor.remove().unwrap();                       // Iterator.remove
    ///     } else {
    ///         let doubled = value * 2;
    ///         cursor.set_value(doubled).unwrap();             // Map.Entry.setValue
    ///     }
    /// }
    /// let mut left: Vec<(u32, u64)> = m.entries(&b).unwrap().map(|(k, v)| (*k, *v)).collect();
    /// left.sort();
    /// assert_eq!(left, [(1, 20), (3, 60), (5, 100)]);
    /// ```
    #[doc(alias = "iterator")]
    pub fn entries_mut<'b, K, KS, H, P>(
        &'b self,
        backend: &'b mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<MapEntriesMut<'b, K, N, UK, UV, H, P>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let (key, data) = self.handle.write(backend)?;
        let namespace = &self.handle.namespace;
        // B19: the user keys as they are now, read through `get` (no copy).
        let user_keys: Vec<UK> = data
            .table
            .get(key, namespace)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        Ok(MapEntriesMut {
            table: &mut data.table,
            key,
            namespace,
            user_keys: user_keys.into_iter(),
            current: None,
        })
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

/// A cursor over one map of a map state that can replace values and remove entries, made by
/// [`MapState::entries_mut`].
///
/// Flink: the `Iterator<Map.Entry<UK, UV>>` of `MapState.iterator()`, with `Iterator.remove` and
/// `Map.Entry.setValue`. A Rust `Iterator` cannot hand out entries that borrow it, so this is a cursor:
/// [`next_entry`](Self::next_entry) moves to the next entry and returns it; [`set_value`](Self::set_value),
/// [`value_mut`](Self::value_mut) and [`remove`](Self::remove) act on the entry it moved to last (the *current*
/// entry). It walks the user keys the map held when it was made (B19), in the map's iteration order.
///
/// Copy-on-write (B19): reading never copies; the first write takes the map with `StateTable::get_mut`, which
/// copies it only if a checkpoint in flight (a live snapshot) can see it — that checkpoint keeps the old map. A
/// `remove` that empties the map removes the state of the key and namespace, as [`MapState::remove`] does.
pub struct MapEntriesMut<'b, K, N, UK, UV, H, P: Primitives> {
    table: &'b mut StateTable<K, N, Map<UK, UV>, H, P>,
    key: &'b K,
    namespace: &'b N,
    user_keys: std::vec::IntoIter<UK>,
    current: Option<UK>,
}

impl<K, N, UK, UV, H, P> MapEntriesMut<'_, K, N, UK, UV, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    UK: Hash + Eq + Clone,
    UV: Clone,
    H: BuildHasher,
    P: Primitives,
{
    /// The map as it is now (B4: never copies).
    fn map(&self) -> Option<&Map<UK, UV>> {
        self.table.get(self.key, self.namespace)
    }

    /// Moves to the next entry and returns it (Java `Iterator.next`), or `None` at the end.
    pub fn next_entry(&mut self) -> Option<(&UK, &UV)> {
        self.current = None;
        let map = self.table.get(self.key, self.namespace)?;
        // Only this cursor changes the map while it lives, and it removes only the entry it stands on, so every key
        // still to come is in the map; skipping a missing one keeps that from being an assumption.
        let user_key = self.user_keys.by_ref().find(|k| map.contains_key(k))?;
        let current = self.current.insert(user_key);
        map.get_key_value(current)
    }

    /// The user key of the current entry, if any.
    pub fn key(&self) -> Option<&UK> {
        self.current.as_ref()
    }

    /// The value of the current entry, if any (never copies).
    pub fn value(&self) -> Option<&UV> {
        self.map()?.get(self.current.as_ref()?)
    }

    /// Mutable access to the current entry's value; the first write through the cursor copies the map if a
    /// checkpoint in flight can see it (B19).
    ///
    /// # Errors
    /// [`BackendError::NoCurrentEntry`] before the first [`next_entry`](Self::next_entry), after a
    /// [`remove`](Self::remove) and at the end.
    pub fn value_mut(&mut self) -> Result<&mut UV, BackendError> {
        let user_key = self.current.as_ref().ok_or(BackendError::NoCurrentEntry)?;
        self.table
            .get_mut(self.key, self.namespace)
            .and_then(|m| m.get_mut(user_key))
            .ok_or(BackendError::NoCurrentEntry)
    }

    /// Replaces the current entry's value and returns the old one (Java `Map.Entry.setValue`); copies the map
    /// first if a checkpoint in flight can see it (B19).
    ///
    /// # Errors
    /// [`BackendError::NoCurrentEntry`] (Java's `IllegalStateException`) when there is no current entry; `value`
    /// is dropped.
    pub fn set_value(&mut self, value: UV) -> Result<UV, BackendError> {
        Ok(core::mem::replace(self.value_mut()?, value))
    }

    /// Removes the current entry and returns its value (Java `Iterator.remove`); copies the map first if a
    /// checkpoint in flight can see it (B19). A map left empty is removed from the state. There is no current
    /// entry afterwards.
    ///
    /// # Errors
    /// [`BackendError::NoCurrentEntry`] (Java's `IllegalStateException`) when there is no current entry.
    pub fn remove(&mut self) -> Result<UV, BackendError> {
        let user_key = self.current.take().ok_or(BackendError::NoCurrentEntry)?;
        let map = self
            .table
            .get_mut(self.key, self.namespace)
            .ok_or(BackendError::NoCurrentEntry)?;
        let value = map.remove(&user_key).ok_or(BackendError::NoCurrentEntry)?;
        if map.is_empty() {
            self.table.remove(self.key, self.namespace);
        }
        Ok(value)
    }
}

impl<K, N, UK: fmt::Debug, UV, H, P: Primitives> fmt::Debug for MapEntriesMut<'_, K, N, UK, UV, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapEntriesMut")
            .field("current", &self.current)
            .field("remaining", &self.user_keys.len())
            .finish_non_exhaustive()
    }
}
