//! Value state (Flink `HeapValueState`).

use super::handle::{handle_impls, handle_methods, Handle, Kind, Plain};
use super::{StateHasher, StateKey, StateType};
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use core::hash::Hash;
use core::marker::PhantomData;

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

/// The value kind for a handle: its state type and, as extra data, the default value an absent entry reads as.
pub(crate) struct ValueKind<V>(PhantomData<fn() -> V>);

impl<V> Kind for ValueKind<V>
where
    V: StateType,
{
    type State = V;
    type Extra = Plain<V, Option<V>>;
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
    pub(crate) handle: Handle<N, ValueKind<V>>,
}

impl<N, V> ValueState<N, V>
where
    N: Hash + Eq + StateType,
    V: StateType,
{
    handle_methods! {
        /// Removes the value of the current key and namespace (Flink `clear`).
        clear;
        /// The serialized value of `(key, namespace)` with the value serializer, or `None` if absent (the seed's
        /// `getSerializedValue`, for queryable state; no default is applied, as in the seed).
        serialized_value;
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
        let (value, extra) = self.handle.current(backend)?;
        Ok(value.or(extra.own.as_ref()))
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
        let (key, data) = self.handle.write(backend)?;
        let namespace = &self.handle.namespace;
        match value.into() {
            Some(v) => match data.table.get_mut(key, namespace) {
                Some(slot) => *slot = v,
                None => data.table.put(key.clone(), namespace.clone(), v),
            },
            None => {
                data.table.remove(key, namespace);
            }
        }
        Ok(())
    }
}

handle_impls!(ValueState<N, V>);
