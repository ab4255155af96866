//! List state (Flink `HeapListState`).

use super::handle::{handle_impls, handle_methods, Handle, Kind, StateExtra};
use super::{DynSerializer, StateHasher, StateKey, StateType};
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::{SerializeError, TypeSerializer};
use crate::sync::Primitives;
use core::hash::Hash;
use core::marker::PhantomData;
use std::sync::Arc;

/// Describes a list state: its name, namespace serializer and element serializer (the state serializer is
/// [`ListSerializer`](crate::serializer::ListSerializer) of it).
///
/// Flink: `ListStateDescriptor`.
#[derive(Debug, Clone)]
pub struct ListStateDescriptor<NS, ES> {
    pub(crate) name: String,
    pub(crate) namespace_serializer: NS,
    pub(crate) element_serializer: ES,
}

impl<NS, ES> ListStateDescriptor<NS, ES> {
    /// A list state named `name`.
    pub fn new(name: impl Into<String>, namespace_serializer: NS, element_serializer: ES) -> Self {
        ListStateDescriptor {
            name: name.into(),
            namespace_serializer,
            element_serializer,
        }
    }
}

/// The element serializer, for the queryable-state form of a list.
pub(crate) struct ListExtra<V> {
    element: DynSerializer<V>,
}

impl<V> ListExtra<V> {
    /// A shared copy of `element` for lookups (checkpoints use the typed one).
    pub(crate) fn new<ES>(element: &ES) -> Self
    where
        ES: TypeSerializer<Value = V> + StateType,
    {
        ListExtra {
            element: Arc::new(element.clone()),
        }
    }
}

impl<V: 'static> StateExtra<Vec<V>> for ListExtra<V> {
    /// The elements serialized one after another with one `,` byte between two (exactly as the seed's
    /// `getSerializedValue`, "the same as RocksDB writes lists").
    fn serialize_state(&self, list: &Vec<V>, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        for (i, v) in list.iter().enumerate() {
            self.element.serialize(v, out)?;
            if i + 1 < list.len() {
                out.push(b',');
            }
        }
        Ok(())
    }
}

/// The list kind for a handle: its state type and its extra data.
pub(crate) struct ListKind<V>(PhantomData<fn() -> V>);

impl<V> Kind for ListKind<V>
where
    V: StateType,
{
    type State = Vec<V>;
    type Extra = ListExtra<V>;
}

/// A handle to a list state: a list of elements per key and namespace.
///
/// Flink: `HeapListState` (`get`, `add`, `addAll`, `update`, `clear`, `mergeNamespaces`, and
/// `getSerializedValue`, which writes the elements separated by one `,` byte).
///
/// ```
/// use cow_state_table::backend::{KeyedStateBackend, ListStateDescriptor};
/// use cow_state_table::keygroup::KeyGroupRange;
/// use cow_state_table::serializer::{U8Serializer, U32Serializer, U64Serializer};
/// let mut b: KeyedStateBackend<u64, U64Serializer> =
///     KeyedStateBackend::new(U64Serializer, 16, KeyGroupRange::of(0, 15).unwrap()).unwrap();
/// let mut l = b.register_list(ListStateDescriptor::new("l", U32Serializer, U8Serializer)).unwrap();
/// b.set_current_key(7).unwrap();
/// l.add(&mut b, 1).unwrap();
/// l.add_all(&mut b, [2, 3]).unwrap();
/// assert_eq!(l.get(&b).unwrap(), Some(&[1, 2, 3][..]));
/// assert_eq!(l.serialized_value(&b, &7, &0).unwrap(), Some(vec![1, b',', 2, b',', 3]));
/// l.set_current_namespace(1);
/// l.add(&mut b, 9).unwrap();
/// l.merge_namespaces(&mut b, 0, &[1]).unwrap();            // window merge: namespace 1 into 0
/// l.set_current_namespace(0);
/// assert_eq!(l.get(&b).unwrap(), Some(&[1, 2, 3, 9][..]));
/// l.add(&mut b, None).unwrap();                              // None clears (the seed's null)
/// assert_eq!(l.get(&b).unwrap(), None);
/// ```
pub struct ListState<N, V> {
    pub(crate) handle: Handle<N, ListKind<V>>,
}

impl<N, V> ListState<N, V>
where
    N: Hash + Eq + StateType,
    V: StateType,
{
    handle_methods! {
        /// Removes the list of the current key and namespace (Flink `clear`).
        clear;
        /// The elements of `(key, namespace)`'s list, serialized one after another with one `,` byte between two
        /// (exactly as the seed's `getSerializedValue`, "the same as RocksDB writes lists"), or `None` if absent.
        serialized_value;
    }

    /// The list of the current key and namespace, or `None` if there is none (Flink `get()`, which returns
    /// `null`). Never copies (B4).
    #[inline]
    pub fn get<'b, K, KS, H, P>(
        &self,
        backend: &'b KeyedStateBackend<K, KS, H, P>,
    ) -> Result<Option<&'b [V]>, BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        Ok(self.handle.current(backend)?.0.map(Vec::as_slice))
    }

    /// Appends `value` (Flink `add`); `None` clears the list, as the seed's `null` does. A list a checkpoint in
    /// flight can see is copied by the table first (B5).
    #[inline]
    pub fn add<K, KS, H, P>(
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
        let Some(v) = value.into() else {
            return self.handle.clear(backend);
        };
        let (key, data) = self.handle.write(backend)?;
        match data.table.get_mut(key, &self.handle.namespace) {
            Some(list) => list.push(v),
            None => data.table.put(key.clone(), self.handle.namespace.clone(), vec![v]),
        }
        Ok(())
    }

    /// Appends every value (Flink `addAll`); no values: nothing changes.
    pub fn add_all<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        values: impl IntoIterator<Item = V>,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        self.handle.extend(backend, values)
    }

    /// Replaces the list (Flink `update`); an empty list clears it.
    pub fn update<K, KS, H, P>(
        &self,
        backend: &mut KeyedStateBackend<K, KS, H, P>,
        values: Vec<V>,
    ) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        if values.is_empty() {
            return self.handle.clear(backend);
        }
        let (key, data) = self.handle.write(backend)?;
        data.table.put(key.clone(), self.handle.namespace.clone(), values);
        Ok(())
    }

    /// Appends the lists of `sources` to the one of `target`, in order, and removes the sources (B6; Flink
    /// `mergeNamespaces` with `mergeState(a, b) = a.addAll(b)`).
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
        // `extend` calls no user code: the lists are moved, never cloned.
        self.handle
            .merge_namespaces_by_moving(backend, target, sources, |mut a, b| {
                a.extend(b);
                a
            })
    }
}

handle_impls!(ListState<N, V>);
