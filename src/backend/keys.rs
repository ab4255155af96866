//! Key iteration and entry counts over the backend's states (B20; Flink `KeyedStateBackend#getKeys`,
//! `getKeysAndNamespaces`, `HeapKeyedStateBackend#numKeyValueStateEntries`).

use super::state::{StateHandle, StateHasher, StateKey, StateType};
use super::{BackendError, KeyedStateBackend};
use crate::serializer::TypeSerializer;
use crate::sync::Primitives;
use crate::StateTable;

impl<K, KS, H, P> KeyedStateBackend<K, KS, H, P>
where
    K: StateKey,
    KS: TypeSerializer<Value = K> + StateType,
    H: StateHasher,
    P: Primitives,
{
    /// The keys that have a state in `namespace` (Flink `KeyedStateBackend#getKeys(state, namespace)`): a lazy
    /// walk of the state's table in bucket order, each key once (B20). A full scan, as in Flink; nothing is
    /// copied or allocated, and no current key is needed. The state is named by its handle (B3); a handle of
    /// another backend is [`BackendError::ForeignHandle`].
    ///
    /// ```
    /// use cow_state_table::backend::{KeyedStateBackend, ValueStateDescriptor};
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// use cow_state_table::serializer::{U32Serializer, U64Serializer};
    /// let mut b: KeyedStateBackend<u64, U64Serializer> =
    ///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let mut v = b.register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer)).unwrap();
    /// for key in 0..4 {
    ///     b.set_current_key(key).unwrap();
    ///     v.set_current_namespace((key % 2) as u32);
    ///     v.update(&mut b, key * 10).unwrap();
    /// }
    /// let mut odd: Vec<u64> = b.keys(&v, &1).unwrap().copied().collect();
    /// odd.sort();
    /// assert_eq!(odd, [1, 3]);
    /// ```
    pub fn keys<'b, S: StateHandle>(
        &'b self,
        state: &S,
        namespace: &'b S::Namespace,
    ) -> Result<impl Iterator<Item = &'b K> + 'b, BackendError> {
        Ok(state.table_in(self)?.iter_namespace(namespace).map(|(key, _)| key))
    }

    /// Every `(key, namespace)` that has a state (Flink `KeyedStateBackend#getKeysAndNamespaces(state)`): a lazy
    /// walk of the state's table in bucket order, each pair once (B20). Nothing is copied or allocated.
    ///
    /// ```
    /// use cow_state_table::backend::{KeyedStateBackend, ListStateDescriptor};
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// use cow_state_table::serializer::{U32Serializer, U64Serializer};
    /// let mut b: KeyedStateBackend<u64, U64Serializer> =
    ///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let mut l = b.register_list(ListStateDescriptor::new("l", U32Serializer, U64Serializer)).unwrap();
    /// b.set_current_key(7).unwrap();
    /// l.add(&mut b, 1).unwrap();
    /// l.set_current_namespace(9);
    /// l.add(&mut b, 2).unwrap();
    /// let mut pairs: Vec<(u64, u32)> = b.keys_and_namespaces(&l).unwrap().map(|(k, n)| (*k, *n)).collect();
    /// pairs.sort();
    /// assert_eq!(pairs, [(7, 0), (7, 9)]);
    /// ```
    pub fn keys_and_namespaces<'b, S: StateHandle>(
        &'b self,
        state: &S,
    ) -> Result<impl Iterator<Item = (&'b K, &'b S::Namespace)> + 'b, BackendError> {
        Ok(state.table_in(self)?.keys())
    }

    /// The number of `(key, namespace)` entries over every registered state (Flink
    /// `HeapKeyedStateBackend#numKeyValueStateEntries`): the sum of the tables' lengths, O(states) (B20), plus
    /// the entries of the restored states not registered yet (B23). 0 after [`close`](Self::close).
    ///
    /// ```
    /// use cow_state_table::backend::{KeyedStateBackend, ListStateDescriptor, ValueStateDescriptor};
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// use cow_state_table::serializer::{U32Serializer, U64Serializer};
    /// let mut b: KeyedStateBackend<u64, U64Serializer> =
    ///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let v = b.register_value(ValueStateDescriptor::new("v", U32Serializer, U64Serializer)).unwrap();
    /// let l = b.register_list(ListStateDescriptor::new("l", U32Serializer, U64Serializer)).unwrap();
    /// for key in 0..3 {
    ///     b.set_current_key(key).unwrap();
    ///     v.update(&mut b, key).unwrap();
    /// }
    /// l.add(&mut b, 1).unwrap();
    /// assert_eq!(b.num_state_entries(), 4);
    /// ```
    #[doc(alias = "numKeyValueStateEntries")]
    pub fn num_state_entries(&self) -> usize {
        let restored: u64 = self.restored.iter().map(|r| r.entries).sum();
        let restored = usize::try_from(restored).unwrap_or(usize::MAX);
        self.states
            .iter()
            .map(|s| s.codec.len(&*s.data))
            .fold(restored, usize::saturating_add)
    }

    /// The table behind `state`, read-only: its lookups, iterators and statistics (`len`, `is_rehashing`,
    /// `cow_stats`, …). Flink: the `StateTable` a heap state wraps (`AbstractHeapState#getStateTable`). A handle of
    /// another backend is [`BackendError::ForeignHandle`].
    ///
    /// ```
    /// use cow_state_table::backend::{KeyedStateBackend, ValueStateDescriptor};
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// use cow_state_table::serializer::{U64Serializer, VoidNamespaceSerializer};
    /// let mut b: KeyedStateBackend<u64, U64Serializer> =
    ///     KeyedStateBackend::new(U64Serializer, 8, KeyGroupRange::of(0, 7).unwrap()).unwrap();
    /// let v = b.register_value(ValueStateDescriptor::new("v", VoidNamespaceSerializer, U64Serializer)).unwrap();
    /// b.set_current_key(1).unwrap();
    /// v.update(&mut b, 5).unwrap();
    /// let table = b.state_table(&v).unwrap();
    /// assert_eq!((table.len(), table.is_rehashing()), (1, false));
    /// ```
    pub fn state_table<S: StateHandle>(
        &self,
        state: &S,
    ) -> Result<&StateTable<K, S::Namespace, S::State, H, P>, BackendError> {
        state.table_in(self)
    }
}
