//! Value state (Flink `HeapValueState`).

use super::{DynSerializer, HandleCore, StateHasher, StateKey, StateType};
use crate::backend::stream::StateKind;
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use core::marker::PhantomData;
use std::sync::Arc;

/// Describes a value state: its name, namespace and value serializers and a default value.
///
/// Flink: `ValueStateDescriptor` (name, serializer, default value).
#[derive(Debug, Clone)]
pub struct ValueStateDescriptor<NS: TypeSerializer, VS: TypeSerializer> {
    pub(crate) name: String,
    pub(crate) namespace_serializer: NS,
    pub(crate) value_serializer: VS,
    pub(crate) default: Option<VS::Value>,
}

impl<NS: TypeSerializer, VS: TypeSerializer> ValueStateDescriptor<NS, VS> {
    /// A value state named `name`, without a default value (an absent value reads as `None`).
    pub fn new(name: impl Into<String>, namespace_serializer: NS, value_serializer: VS) -> Self {
        ValueStateDescriptor {
            name: name.into(),
            namespace_serializer,
            value_serializer,
            default: None,
        }
    }

    /// The value an absent entry reads as (Flink: the descriptor's default value).
    pub fn with_default(mut self, default: VS::Value) -> Self {
        self.default = Some(default);
        self
    }
}

pub(crate) struct ValueExtra<V> {
    default: Option<V>,
    serializer: DynSerializer<V>,
}

/// A handle to a value state: one value per key and namespace.
///
/// Flink: `HeapValueState` (`value`, `update`, `clear`). The handle keeps the current namespace
/// ([`set_current_namespace`](Self::set_current_namespace)); the key is the backend's current key.
///
/// ```
/// use cow_state_table::backend::{KeyedStateBackend, ValueStateDescriptor};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{StringSerializer, U64Serializer, VoidNamespaceSerializer};
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 16, KeyGroupRange::of(0, 15).unwrap()).unwrap();
/// let name = b.register_value(
///     ValueStateDescriptor::new("name", VoidNamespaceSerializer, StringSerializer).with_default("?".into()),
/// ).unwrap();
/// b.set_current_key(1).unwrap();
/// assert_eq!(name.value(&b).unwrap().map(String::as_str), Some("?")); // the default
/// name.update(&mut b, "ada".to_string()).unwrap();
/// assert_eq!(name.value(&b).unwrap().map(String::as_str), Some("ada"));
/// name.update(&mut b, None).unwrap();                                   // None clears (the seed's null)
/// assert_eq!(name.value(&b).unwrap().map(String::as_str), Some("?"));
/// ```
pub struct ValueState<N, V> {
    pub(crate) core: HandleCore,
    pub(crate) namespace: N,
    _types: PhantomData<fn() -> V>,
}

type Extra<V> = ValueExtra<V>;

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers a value state, or returns the one already registered under the descriptor's name (B2).
    pub fn register_value<N, V, NS, VS>(
        &mut self,
        descriptor: ValueStateDescriptor<NS, VS>,
    ) -> Result<ValueState<N, V>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        V: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        VS: TypeSerializer<Value = V> + StateType,
    {
        let ValueStateDescriptor {
            name,
            namespace_serializer,
            value_serializer,
            default,
        } = descriptor;
        let serializer: DynSerializer<V> = Arc::new(value_serializer.clone());
        let core = self.register::<N, V, NS, VS, Extra<V>>(
            name,
            StateKind::Value,
            namespace_serializer,
            value_serializer,
            || ValueExtra { default, serializer },
        )?;
        Ok(ValueState {
            core,
            namespace: N::default(),
            _types: PhantomData,
        })
    }
}

impl<N, V> ValueState<N, V>
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

    /// The value of the current key and namespace, or the descriptor's default if there is none (Flink
    /// `value()`). Never copies (B4).
    #[inline]
    pub fn value<'b, K, KS, H, P>(
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
        Ok(data.table.get(key, &self.namespace).or(data.extra.default.as_ref()))
    }

    /// Sets the value of the current key and namespace (Flink `update`); `None` clears it, as the seed's `null`
    /// does. An existing entry is overwritten through `StateTable::get_mut` (when a checkpoint in flight can see
    /// it, the table copies its node first, B5); an absent one is inserted with `put`.
    #[inline]
    pub fn update<K, KS, H, P>(
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
        match value.into() {
            Some(v) => match data.table.get_mut(key, &self.namespace) {
                Some(slot) => *slot = v,
                None => data.table.put(key.clone(), self.namespace.clone(), v),
            },
            None => {
                data.table.remove(key, &self.namespace);
            }
        }
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
        self.update(backend, None)
    }

    /// The serialized value of `(key, namespace)` with the value serializer, or `None` if absent (the seed's
    /// `getSerializedValue`, for queryable state; no default is applied, as in the seed).
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

impl<N: Clone, V> Clone for ValueState<N, V> {
    fn clone(&self) -> Self {
        ValueState {
            core: self.core,
            namespace: self.namespace.clone(),
            _types: PhantomData,
        }
    }
}

impl<N: fmt::Debug, V> fmt::Debug for ValueState<N, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueState")
            .field("index", &self.core.index)
            .field("namespace", &self.namespace)
            .finish()
    }
}
