//! TTL map state, one timestamp per entry (Flink `TtlMapState`).

use super::config::{StateTtlConfig, StateVisibility, UpdateType};
use super::handle::ttl_common;
use super::runtime::TtlRuntime;
use super::value::{TtlSerializer, TtlValue};
use crate::backend::{BackendError, KeyedStateBackend, MapState, MapStateDescriptor, StateHasher, StateKey, StateType};
use crate::serializer::{MapSerializer, TypeSerializer};
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use std::sync::Arc;

/// A map state whose entries expire one by one (Flink `TtlMapState`; docs/DESIGN.md T1–T7). Stored as
/// `HashMap<UK, TtlValue<UV>>`, each entry stamped when put (T3). A map left empty is removed, as
/// `MapState::remove` does.
///
/// ```
/// use cow_state_table::backend::{KeyedStateBackend, MapStateDescriptor};
/// use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{StringSerializer, U64Serializer, VoidNamespaceSerializer};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let clock = Arc::new(ManualClock::new(0));
/// let config = StateTtlConfig::new(Duration::from_millis(10)).unwrap().with_time_provider(clock.clone());
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
/// let carts = b.register_ttl_map(
///     MapStateDescriptor::new("cart", VoidNamespaceSerializer, StringSerializer, U64Serializer), config,
/// ).unwrap();
/// b.set_current_key(1).unwrap();
/// carts.put(&mut b, "apple".to_string(), 2).unwrap();
/// clock.advance(10);
/// assert_eq!(carts.get(&mut b, "apple").unwrap(), None);
/// assert!(carts.is_empty(&mut b).unwrap());
/// ```
pub struct TtlMapState<N, UK, UV> {
    pub(crate) inner: MapState<N, UK, TtlValue<UV>>,
    pub(crate) rt: Arc<TtlRuntime>,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers a map state with time-to-live per entry, stored with `MapSerializer(uks, TtlSerializer(uvs))`
    /// (T1; Flink's `TtlMapState` over a map of `TtlValue`).
    pub fn register_ttl_map<N, UK, UV, NS, UKS, UVS>(
        &mut self,
        descriptor: MapStateDescriptor<NS, UKS, UVS>,
        config: StateTtlConfig,
    ) -> Result<TtlMapState<N, UK, UV>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        UK: Hash + Eq + StateType,
        UV: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        UKS: TypeSerializer<Value = UK> + StateType,
        UVS: TypeSerializer<Value = UV> + StateType,
    {
        let d = descriptor;
        let inner = self.register_map(MapStateDescriptor::new(
            d.name,
            d.namespace_serializer,
            d.key_serializer,
            TtlSerializer(d.value_serializer),
        ))?;
        self.install_ttl_filter::<N, std::collections::HashMap<UK, TtlValue<UV>>, NS, MapSerializer<UKS, TtlSerializer<UVS>>>(inner.handle.core, &config);
        Ok(TtlMapState {
            inner,
            rt: Arc::new(TtlRuntime::new(config)),
        })
    }
}

impl<N, UK, UV> TtlMapState<N, UK, UV>
where
    N: Hash + Eq + StateType,
    UK: Hash + Eq + StateType,
    UV: StateType,
{
    ttl_common!(std::collections::HashMap<UK, TtlValue<UV>>, MapState<N, UK, TtlValue<UV>>);

    /// The value of `user_key`, or `None` if absent or expired (T4); stamped under `OnReadAndWrite` (T3).
    pub fn get<'a, K, KS, H, P, Q>(
        &'a self,
        backend: &'a mut KeyedStateBackend<K, KS, H, P>,
        user_key: &Q,
    ) -> Result<Option<&'a UV>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
        UK: core::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let config = &self.rt.config;
        let (now, key, table) = self.access(backend)?;
        let ns = &self.inner.handle.namespace;
        let expired = match table.get(key, ns).and_then(|m| m.get(user_key)) {
            None => return Ok(None),
            Some(tv) => tv.is_expired(config.ttl, now),
        };
        if expired && config.visibility == StateVisibility::NeverReturnExpired {
            let empty = table.get_mut(key, ns).is_some_and(|m| {
                m.remove(user_key);
                m.is_empty()
            });
            if empty {
                table.remove(key, ns);
            }
            return Ok(None);
        }
        if !expired && config.update_type == UpdateType::OnReadAndWrite {
            return Ok(table.get_mut(key, ns).and_then(|m| m.get_mut(user_key)).map(|tv| {
                tv.last_access = now;
                &tv.user_value
            }));
        }
        Ok(table
            .get(key, ns)
            .and_then(|m| m.get(user_key))
            .map(|tv| &tv.user_value))
    }

    /// Whether `user_key` has an unexpired value (T4).
    pub fn contains<K, KS, H, P, Q>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        user_key: &Q,
    ) -> Result<bool, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
        UK: core::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Ok(self.get(backend, user_key)?.is_some())
    }

    /// Puts `user_key → value`, stamped now (T3).
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
        let (now, _, _) = self.access(backend)?;
        let stamp = self.write_stamp(backend, &user_key, now)?;
        self.inner.put(backend, user_key, TtlValue::new(value, stamp))
    }

    /// The stamp a write of `user_key` at `now` gives (T3): `now`, except that under `UpdateType::Disabled` an
    /// existing unexpired entry keeps its own stamp (as the value state's `update` and the cursor's writes do).
    fn write_stamp<K, KS, H, P>(
        &self,
        backend: &KeyedStateBackend<K, KS, H, P>,
        user_key: &UK,
        now: i64,
    ) -> Result<i64, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let config = &self.rt.config;
        if config.update_type != UpdateType::Disabled {
            return Ok(now);
        }
        Ok(match self.inner.get(backend, user_key)? {
            Some(tv) if !tv.is_expired(config.ttl, now) => tv.last_access,
            _ => now,
        })
    }

    /// Removes `user_key` (the map's state entry too if it empties).
    pub fn remove<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        user_key: &UK,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        self.access(backend)?;
        self.inner.remove(backend, user_key).map(drop)
    }

    /// The unexpired entries of the current key and namespace, in no particular order (expired ones removed
    /// first under `NeverReturnExpired`, T4; stamped under `OnReadAndWrite`, T3).
    pub fn entries<'a, K, KS, H, P>(
        &'a self,
        backend: &'a mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<impl Iterator<Item = (&'a UK, &'a UV)> + 'a, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let map = self.read_current(backend)?;
        Ok(map.into_iter().flat_map(|m| m.iter().map(|(k, v)| (k, &v.user_value))))
    }

    /// The user keys of the unexpired entries of the current key and namespace (Flink `keys()`), after the read
    /// of every TTL kind (T10: expired entries removed first under `NeverReturnExpired`, stamped under
    /// `OnReadAndWrite`).
    ///
    /// ```
    /// # use cow_state_table::backend::{KeyedStateBackend, MapStateDescriptor};
    /// # use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig};
    /// # use cow_state_table::keygroup::KeyGroupRange;
    /// # use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// let clock = Arc::new(ManualClock::new(0));
    /// let config = StateTtlConfig::new(Duration::from_millis(10)).unwrap().with_time_provider(clock.clone());
    /// # let mut b: KeyedStateBackend<u64, U64Serializer> =
    /// #     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let m = b.register_ttl_map(
    ///     MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U64Serializer), config,
    /// ).unwrap();
    /// b.set_current_key(1).unwrap();
    /// m.put(&mut b, 1, 10).unwrap();
    /// clock.advance(5);
    /// m.put(&mut b, 2, 20).unwrap();
    /// clock.advance(5); // user key 1 expired
    /// assert_eq!(m.keys(&mut b).unwrap().collect::<Vec<_>>(), [&2]);
    /// assert_eq!(m.values(&mut b).unwrap().collect::<Vec<_>>(), [&20]);
    /// ```
    pub fn keys<'a, K, KS, H, P>(
        &'a self,
        backend: &'a mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<impl Iterator<Item = &'a UK> + 'a, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.read_current(backend)?.into_iter().flat_map(|m| m.keys()))
    }

    /// The values of the unexpired entries of the current key and namespace (Flink `values()`; T10 as
    /// [`keys`](Self::keys)).
    pub fn values<'a, K, KS, H, P>(
        &'a self,
        backend: &'a mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<impl Iterator<Item = &'a UV> + 'a, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let map = self.read_current(backend)?;
        Ok(map.into_iter().flat_map(|m| m.values().map(|tv| &tv.user_value)))
    }

    /// A cursor over the entries of the current key and namespace that can replace values and remove entries
    /// (Flink `TtlMapState.iterator()` with `remove` and `Map.Entry.setValue`; T10 over B19): it makes the read of
    /// every TTL kind first, so under `NeverReturnExpired` it hands out no expired entry, and its writes stamp.
    ///
    /// ```
    /// # use cow_state_table::backend::{KeyedStateBackend, MapStateDescriptor};
    /// # use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig};
    /// # use cow_state_table::keygroup::KeyGroupRange;
    /// # use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// let clock = Arc::new(ManualClock::new(0));
    /// let config = StateTtlConfig::new(Duration::from_millis(10)).unwrap().with_time_provider(clock.clone());
    /// # let mut b: KeyedStateBackend<u64, U64Serializer> =
    /// #     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let m = b.register_ttl_map(
    ///     MapStateDescriptor::new("m", VoidNamespaceSerializer, U32Serializer, U64Serializer), config,
    /// ).unwrap();
    /// b.set_current_key(1).unwrap();
    /// m.put_all(&mut b, (0..4).map(|i| (i, u64::from(i)))).unwrap();
    /// clock.advance(9);
    /// let mut cursor = m.entries_mut(&mut b).unwrap();
    /// while let Some((&user_key, _)) = cursor.next_entry() {
    ///     if user_key == 0 {
    ///         cursor.remove().unwrap();
    ///     } else if user_key == 1 {
    ///         cursor.set_value(100).unwrap(); // a write: stamped 9
    ///     }
    /// }
    /// clock.advance(1); // 2 and 3 (stamped 0) expire; 1 lives on
    /// assert_eq!(m.entries(&mut b).unwrap().collect::<Vec<_>>(), [(&1, &100)]);
    /// ```
    #[doc(alias = "iterator")]
    pub fn entries_mut<'b, K, KS, H, P>(
        &'b self,
        backend: &'b mut KeyedStateBackend<K, KS, H, P>,
    ) -> Result<super::TtlMapEntriesMut<'b, K, N, UK, UV, H, P>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        let config = &self.rt.config;
        let (now, key, table) = self.access(backend)?;
        super::handle::read_stored(table, key, &self.inner.handle.namespace, config, now);
        Ok(super::TtlMapEntriesMut {
            inner: self.inner.entries_mut(backend)?,
            now,
            ttl: config.ttl,
            update_type: config.update_type,
        })
    }

    /// Puts every entry, each stamped now (T3; Flink `putAll`).
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
        let (now, _, _) = self.access(backend)?;
        if self.rt.config.update_type != UpdateType::Disabled {
            return self
                .inner
                .put_all(backend, entries.into_iter().map(|(k, v)| (k, TtlValue::new(v, now))));
        }
        // Under `Disabled` each entry's stamp depends on what is stored: read them all before the write.
        let stamped = entries
            .into_iter()
            .map(|(k, v)| Ok((TtlValue::new(v, self.write_stamp(backend, &k, now)?), k)))
            .collect::<Result<Vec<_>, BackendError>>()?;
        self.inner.put_all(backend, stamped.into_iter().map(|(tv, k)| (k, tv)))
    }

    /// Whether the current key and namespace has no unexpired entry (T4).
    pub fn is_empty<K, KS, H, P>(&self, backend: &mut KeyedStateBackend<K, KS, H, P>) -> Result<bool, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.entries(backend)?.next().is_none())
    }
}

impl<N: Clone, UK, UV> Clone for TtlMapState<N, UK, UV> {
    fn clone(&self) -> Self {
        TtlMapState {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
        }
    }
}

impl<N: fmt::Debug, UK, UV> fmt::Debug for TtlMapState<N, UK, UV> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlMapState")
            .field("inner", &self.inner)
            .field("ttl", &self.rt.config)
            .finish()
    }
}
