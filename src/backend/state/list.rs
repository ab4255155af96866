//! List state (Flink `HeapListState`).

use super::{DynSerializer, HandleCore, StateHasher, StateKey, StateType};
use crate::backend::merge::merge_namespaces;
use crate::backend::stream::StateKind;
use crate::backend::{BackendError, KeyedStateBackend};
use crate::serializer::{ListSerializer, TypeSerializer};
use crate::sync::Primitives;
use core::fmt;
use core::hash::Hash;
use core::marker::PhantomData;
use std::sync::Arc;

/// Describes a list state: its name, namespace serializer and element serializer (the state serializer is
/// [`ListSerializer`] of it).
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

pub(crate) struct ListExtra<V> {
    element: DynSerializer<V>,
}

type Extra<V> = ListExtra<V>;

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
    pub(crate) core: HandleCore,
    pub(crate) namespace: N,
    _types: PhantomData<fn() -> V>,
}

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// Registers a list state, or returns the one already registered under the descriptor's name (B2).
    pub fn register_list<N, V, NS, ES>(
        &mut self,
        descriptor: ListStateDescriptor<NS, ES>,
    ) -> Result<ListState<N, V>, BackendError>
    where
        N: Hash + Eq + Default + StateType,
        V: StateType,
        NS: TypeSerializer<Value = N> + StateType,
        ES: TypeSerializer<Value = V> + StateType,
    {
        let ListStateDescriptor {
            name,
            namespace_serializer,
            element_serializer,
        } = descriptor;
        let element: DynSerializer<V> = Arc::new(element_serializer.clone());
        let core = self.register::<N, Vec<V>, NS, ListSerializer<ES>, Extra<V>>(
            name,
            StateKind::List,
            namespace_serializer,
            ListSerializer(element_serializer),
            || ListExtra { element },
        )?;
        Ok(ListState {
            core,
            namespace: N::default(),
            _types: PhantomData,
        })
    }
}

impl<N, V> ListState<N, V>
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
        let (key, data) = backend.read::<N, Vec<V>, Extra<V>>(self.core)?;
        Ok(data.table.get(key, &self.namespace).map(Vec::as_slice))
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
        let (key, data) = backend.write::<N, Vec<V>, Extra<V>>(self.core)?;
        match value.into() {
            None => {
                data.table.remove(key, &self.namespace);
            }
            Some(v) => match data.table.get_mut(key, &self.namespace) {
                Some(list) => list.push(v),
                None => data.table.put(key.clone(), self.namespace.clone(), vec![v]),
            },
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
        let (key, data) = backend.write::<N, Vec<V>, Extra<V>>(self.core)?;
        let mut values = values.into_iter().peekable();
        if values.peek().is_none() {
            return Ok(());
        }
        match data.table.get_mut(key, &self.namespace) {
            Some(list) => list.extend(values),
            None => data.table.put(key.clone(), self.namespace.clone(), values.collect()),
        }
        Ok(())
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
        let (key, data) = backend.write::<N, Vec<V>, Extra<V>>(self.core)?;
        if values.is_empty() {
            data.table.remove(key, &self.namespace);
        } else {
            data.table.put(key.clone(), self.namespace.clone(), values);
        }
        Ok(())
    }

    /// Removes the list of the current key and namespace (Flink `clear`).
    pub fn clear<K, KS, H, P>(&self, backend: &mut KeyedStateBackend<K, KS, H, P>) -> Result<(), BackendError>
    where
        K: StateKey,
        KS: TypeSerializer<Value = K> + StateType,
        H: StateHasher,
        P: Primitives,
    {
        self.add(backend, None)
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
        let (key, data) = backend.write::<N, Vec<V>, Extra<V>>(self.core)?;
        merge_namespaces(&mut data.table, key, &target, sources, |mut a, b| {
            a.extend(b);
            a
        });
        Ok(())
    }

    /// The elements of `(key, namespace)`'s list, serialized one after another with one `,` byte between two
    /// (exactly as the seed's `getSerializedValue`, "the same as RocksDB writes lists"), or `None` if absent.
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
        let data = backend.data::<N, Vec<V>, Extra<V>>(self.core)?;
        let Some(list) = data.table.get(key, namespace) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for (i, v) in list.iter().enumerate() {
            data.extra.element.serialize(v, &mut out)?;
            if i + 1 < list.len() {
                out.push(b',');
            }
        }
        Ok(Some(out))
    }
}

impl<N: Clone, V> Clone for ListState<N, V> {
    fn clone(&self) -> Self {
        ListState {
            core: self.core,
            namespace: self.namespace.clone(),
            _types: PhantomData,
        }
    }
}

impl<N: fmt::Debug, V> fmt::Debug for ListState<N, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListState")
            .field("index", &self.core.index)
            .field("namespace", &self.namespace)
            .finish()
    }
}
