//! The entry API: [`StateTable::entry`] and its [`Entry`], [`OccupiedEntry`] and [`VacantEntry`], in the shape of
//! `std::collections::hash_map::Entry`.
//!
//! Flink has no entry type; its single-lookup read-modify-write is `transform` (and `get` followed by `put`).
//! An occupied entry's mutable access applies copy-on-write exactly as [`StateTable::get_mut`]: if a live
//! snapshot can see the entry, the node and the chain prefix in front of it are copied first (I3).

use super::directory::Cow;
use super::node::NodePtr;
use super::{StateTable, Sub};
use crate::sync::{Primitives, StdSync};
use core::fmt;
use core::hash::{BuildHasher, Hash};
use std::collections::hash_map::RandomState;

/// A view into one `(key, namespace)` of a [`StateTable`], present or absent (made by [`StateTable::entry`]).
///
/// ```
/// use cow_state_table::StateTable;
/// let mut table: StateTable<&str, u32, Vec<u32>> = StateTable::new();
/// table.entry("alice", 0).or_default().push(1);
/// table.entry("alice", 0).and_modify(|s| s.push(2)).or_default();
/// assert_eq!(table.get(&"alice", &0), Some(&vec![1, 2]));
/// ```
pub enum Entry<'a, K, N, S, H = RandomState, P: Primitives = StdSync> {
    /// The table holds the pair.
    Occupied(OccupiedEntry<'a, K, N, S, H, P>),
    /// The table does not hold the pair.
    Vacant(VacantEntry<'a, K, N, S, H, P>),
}

/// A present entry (see [`Entry`]).
pub struct OccupiedEntry<'a, K, N, S, H = RandomState, P: Primitives = StdSync> {
    table: &'a mut StateTable<K, N, S, H, P>,
    sub: Sub,
    bucket: usize,
    node: NodePtr<K, N, S, P>,
    cow: Cow,
}

/// An absent entry (see [`Entry`]); it owns the key and the namespace until [`insert`](VacantEntry::insert).
pub struct VacantEntry<'a, K, N, S, H = RandomState, P: Primitives = StdSync> {
    table: &'a mut StateTable<K, N, S, H, P>,
    hash: u32,
    key: K,
    namespace: N,
    cow: Cow,
}

impl<K, N, S, H, P> StateTable<K, N, S, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    /// The entry of `(key, namespace)` for in-place reading, modification, insertion or removal with one lookup
    /// (as `HashMap::entry`). It is a write operation: it does one incremental-rehash step, and the entry's
    /// mutable accessors apply copy-on-write like [`get_mut`](StateTable::get_mut). Flink's closest operation is
    /// [`transform`](StateTable::transform).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::table::entry::Entry;
    /// let mut table: StateTable<&str, u32, u64> = StateTable::new();
    /// *table.entry("clicks", 0).or_insert(0) += 1;
    /// *table.entry("clicks", 0).or_insert(0) += 1;
    /// assert_eq!(table.get(&"clicks", &0), Some(&2));
    /// match table.entry("clicks", 0) {
    ///     Entry::Occupied(e) => assert_eq!(e.remove(), 2),
    ///     Entry::Vacant(_) => unreachable!(),
    /// }
    /// assert!(table.is_empty());
    /// ```
    #[doc(alias = "transform")]
    pub fn entry(&mut self, key: K, namespace: N) -> Entry<'_, K, N, S, H, P> {
        let cow = self.begin_write();
        let hash = self.hash(&key, &namespace);
        match self.find(hash, &key, &namespace) {
            Some((sub, bucket, node)) => Entry::Occupied(OccupiedEntry {
                table: self,
                sub,
                bucket,
                node,
                cow,
            }),
            None => Entry::Vacant(VacantEntry {
                table: self,
                hash,
                key,
                namespace,
                cow,
            }),
        }
    }
}

impl<'a, K, N, S, H, P> Entry<'a, K, N, S, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    /// The state, inserting `default` if absent (copy-on-write applied if present and shared).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// assert_eq!(*table.entry(1, 0).or_insert(5), 5);
    /// assert_eq!(*table.entry(1, 0).or_insert(6), 5);
    /// ```
    #[doc(alias = "put")]
    pub fn or_insert(self, default: S) -> &'a mut S {
        match self {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(default),
        }
    }

    /// The state, inserting `default()` if absent; `default` runs only then.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, String> = StateTable::new();
    /// table.entry(1, 0).or_insert_with(|| "new".to_string()).push('!');
    /// assert_eq!(table.get(&1, &0).map(String::as_str), Some("new!"));
    /// ```
    pub fn or_insert_with<F: FnOnce() -> S>(self, default: F) -> &'a mut S {
        match self {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(default()),
        }
    }

    /// The state, inserting `default(&key, &namespace)` if absent.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// assert_eq!(*table.entry(3, 4).or_insert_with_key(|k, n| k * 10 + u64::from(*n)), 34);
    /// ```
    pub fn or_insert_with_key<F: FnOnce(&K, &N) -> S>(self, default: F) -> &'a mut S {
        match self {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let state = default(&e.key, &e.namespace);
                e.insert(state)
            }
        }
    }

    /// The state, inserting `S::default()` if absent.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, Vec<u8>> = StateTable::new();
    /// table.entry(1, 0).or_default().push(7);
    /// assert_eq!(table.get(&1, &0), Some(&vec![7]));
    /// ```
    pub fn or_default(self) -> &'a mut S
    where
        S: Default,
    {
        self.or_insert_with(S::default)
    }

    /// Applies `f` to the state if present (copy-on-write first if a live snapshot can see it), and returns the
    /// entry for a following `or_insert*`.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// table.put(1, 0, 1);
    /// let snap = table.snapshot().unwrap();
    /// table.entry(1, 0).and_modify(|s| *s += 1).or_insert(0);
    /// table.entry(2, 0).and_modify(|s| *s += 1).or_insert(0);
    /// assert_eq!((table.get(&1, &0), table.get(&2, &0)), (Some(&2), Some(&0)));
    /// assert_eq!(snap.get(&1, &0), Some(&1));
    /// ```
    #[doc(alias = "transform")]
    pub fn and_modify<F: FnOnce(&mut S)>(self, f: F) -> Self {
        match self {
            Entry::Occupied(mut e) => {
                f(e.get_mut());
                Entry::Occupied(e)
            }
            vacant => vacant,
        }
    }

    /// The key of the entry.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// assert_eq!(*table.entry(1, 2).key(), 1);
    /// ```
    #[must_use]
    pub fn key(&self) -> &K {
        match self {
            Entry::Occupied(e) => e.key(),
            Entry::Vacant(e) => e.key(),
        }
    }

    /// The namespace of the entry.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// assert_eq!(*table.entry(1, 2).namespace(), 2);
    /// ```
    #[must_use]
    pub fn namespace(&self) -> &N {
        match self {
            Entry::Occupied(e) => e.namespace(),
            Entry::Vacant(e) => e.namespace(),
        }
    }
}

impl<'a, K, N, S, H, P> OccupiedEntry<'a, K, N, S, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    fn node(&self) -> &super::node::Node<K, N, S, P> {
        // SAFETY: the node is live in the table, which the entry borrows mutably: nothing else writes or frees it.
        unsafe { &*self.node }
    }

    /// The key.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::table::entry::Entry;
    /// let mut table: StateTable<u64, u32, u64> = [(1, 0, 5)].into_iter().collect();
    /// let Entry::Occupied(e) = table.entry(1, 0) else { unreachable!() };
    /// assert_eq!((*e.key(), *e.namespace(), *e.get()), (1, 0, 5));
    /// ```
    #[must_use]
    pub fn key(&self) -> &K {
        &self.node().key
    }

    /// The namespace.
    #[must_use]
    pub fn namespace(&self) -> &N {
        &self.node().namespace
    }

    /// The state, shared: never copies.
    #[must_use]
    pub fn get(&self) -> &S {
        // SAFETY: as in `node`: nobody writes the state while `&self` lives.
        unsafe { self.node().state() }
    }

    fn make_private(&mut self) {
        // SAFETY: `node` is live in `bucket` of `sub` (found by `entry`, and only this entry writes the table
        // since); `cow` was read by this write operation.
        self.node = unsafe { self.table.make_private(self.sub, self.bucket, self.node, self.cow) };
    }

    /// The state for modification; copies the node first if a live snapshot can see it (I3), as
    /// [`StateTable::get_mut`].
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::table::entry::Entry;
    /// let mut table: StateTable<u64, u32, u64> = [(1, 0, 5)].into_iter().collect();
    /// let snap = table.snapshot().unwrap();
    /// if let Entry::Occupied(mut e) = table.entry(1, 0) { *e.get_mut() += 1; }
    /// assert_eq!((table.get(&1, &0), snap.get(&1, &0)), (Some(&6), Some(&5)));
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        self.make_private();
        // SAFETY: the node is private now (I3) and `&mut self` borrows the table.
        unsafe { (*self.node).state_mut() }
    }

    /// The state for modification for the table's borrow; copy-on-write as [`OccupiedEntry::get_mut`].
    pub fn into_mut(mut self) -> &'a mut S {
        self.make_private();
        // SAFETY: the node is private now (I3) and the table stays mutably borrowed for 'a.
        unsafe { (*self.node).state_mut() }
    }

    /// Replaces the state and returns the old one (Flink `putAndGetOld`); copy-on-write as
    /// [`OccupiedEntry::get_mut`].
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::table::entry::Entry;
    /// let mut table: StateTable<u64, u32, u64> = [(1, 0, 5)].into_iter().collect();
    /// let Entry::Occupied(mut e) = table.entry(1, 0) else { unreachable!() };
    /// assert_eq!(e.insert(6), 5);
    /// assert_eq!(table.get(&1, &0), Some(&6));
    /// ```
    #[doc(alias = "put_and_get_old")]
    #[doc(alias = "putAndGetOld")]
    pub fn insert(&mut self, state: S) -> S {
        core::mem::replace(self.get_mut(), state)
    }

    /// Removes the entry and returns its state (Flink `removeAndGetOld`), cloned only if a live snapshot can see
    /// it (which then keeps the original, retired).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::table::entry::Entry;
    /// let mut table: StateTable<u64, u32, u64> = [(1, 0, 5)].into_iter().collect();
    /// let Entry::Occupied(e) = table.entry(1, 0) else { unreachable!() };
    /// assert_eq!(e.remove(), 5);
    /// assert!(table.is_empty());
    /// ```
    #[doc(alias = "remove_and_get_old")]
    #[doc(alias = "removeAndGetOld")]
    pub fn remove(self) -> S {
        let OccupiedEntry {
            table,
            sub,
            bucket,
            node,
            cow,
        } = self;
        // SAFETY: `node` is live in `bucket` of `sub`; `cow` was read by this write operation.
        let state = unsafe { table.unlink_found(sub, bucket, node, true, cow) };
        table.shrink_if_sparse();
        state.expect("unlink_found returns the state when asked to")
    }
}

impl<'a, K, N, S, H, P> VacantEntry<'a, K, N, S, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    /// The key that would be inserted.
    #[must_use]
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The namespace that would be inserted.
    #[must_use]
    pub fn namespace(&self) -> &N {
        &self.namespace
    }

    /// Gives the key and the namespace back without inserting.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::table::entry::Entry;
    /// let mut table: StateTable<String, u32, u64> = StateTable::new();
    /// let Entry::Vacant(v) = table.entry("k".to_string(), 0) else { unreachable!() };
    /// assert_eq!(v.into_key(), ("k".to_string(), 0));
    /// assert!(table.is_empty());
    /// ```
    #[must_use]
    pub fn into_key(self) -> (K, N) {
        (self.key, self.namespace)
    }

    /// Inserts `state` (Flink `put`) and returns it for modification; the new node is private.
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// use cow_state_table::table::entry::Entry;
    /// let mut table: StateTable<u64, u32, u64> = StateTable::new();
    /// let Entry::Vacant(v) = table.entry(1, 0) else { unreachable!() };
    /// *v.insert(1) += 1;
    /// assert_eq!(table.get(&1, &0), Some(&2));
    /// ```
    #[doc(alias = "put")]
    pub fn insert(self, state: S) -> &'a mut S {
        let VacantEntry {
            table,
            hash,
            key,
            namespace,
            cow,
        } = self;
        let node = table.insert_new(hash, key, namespace, state, cow);
        // SAFETY: the node was just created at version V >= R, so no live snapshot sees it (I2); the table stays
        // mutably borrowed for 'a.
        unsafe { (*node).state_mut() }
    }
}

impl<K: fmt::Debug, N: fmt::Debug, S: fmt::Debug, H, P: Primitives> fmt::Debug for Entry<'_, K, N, S, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Occupied(e) => f.debug_tuple("Occupied").field(e).finish(),
            Entry::Vacant(e) => f.debug_tuple("Vacant").field(e).finish(),
        }
    }
}

impl<K: fmt::Debug, N: fmt::Debug, S: fmt::Debug, H, P: Primitives> fmt::Debug for OccupiedEntry<'_, K, N, S, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: as in `node`.
        let node = unsafe { &*self.node };
        f.debug_struct("OccupiedEntry")
            .field("key", &node.key)
            .field("namespace", &node.namespace)
            // SAFETY: as in `get`.
            .field("state", unsafe { node.state() })
            .finish()
    }
}

impl<K: fmt::Debug, N: fmt::Debug, S, H, P: Primitives> fmt::Debug for VacantEntry<'_, K, N, S, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VacantEntry")
            .field("key", &self.key)
            .field("namespace", &self.namespace)
            .finish()
    }
}
