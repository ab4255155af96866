//! The TTL map state's cursor (Flink `TtlMapState.iterator()` with `Iterator.remove` and `Map.Entry.setValue`),
//! docs/DESIGN.md T10 over B19.

use super::config::UpdateType;
use super::value::TtlValue;
use crate::backend::{BackendError, MapEntriesMut};
use crate::sync::Primitives;
use core::fmt;
use core::hash::{BuildHasher, Hash};

/// A cursor over one map of a TTL map state that can replace values and remove entries, made by
/// [`TtlMapState::entries_mut`](super::TtlMapState::entries_mut).
///
/// It is the plain [`MapEntriesMut`] (B19: copy-on-write on its first write, the user keys of when it was made)
/// over the stored form, made after the read of every TTL kind: under `NeverReturnExpired` the expired entries
/// were removed before it starts, so it never hands one out (T4, T10). The clock was read once, when it was made:
/// [`set_value`](Self::set_value) and [`value_mut`](Self::value_mut) stamp the entry with that time (T3; under
/// `UpdateType::Disabled` only an expired entry, as `update` does).
pub struct TtlMapEntriesMut<'b, K, N, UK, UV, H, P: Primitives> {
    pub(crate) inner: MapEntriesMut<'b, K, N, UK, TtlValue<UV>, H, P>,
    pub(crate) now: i64,
    pub(crate) ttl: i64,
    pub(crate) update_type: UpdateType,
}

impl<K, N, UK, UV, H, P> TtlMapEntriesMut<'_, K, N, UK, UV, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    UK: Hash + Eq + Clone,
    UV: Clone,
    H: BuildHasher,
    P: Primitives,
{
    /// Moves to the next entry and returns it (Java `Iterator.next`), or `None` at the end.
    pub fn next_entry(&mut self) -> Option<(&UK, &UV)> {
        self.inner.next_entry().map(|(k, tv)| (k, &tv.user_value))
    }

    /// The user key of the current entry, if any.
    pub fn key(&self) -> Option<&UK> {
        self.inner.key()
    }

    /// The value of the current entry, if any (never copies, never stamps).
    pub fn value(&self) -> Option<&UV> {
        self.inner.value().map(|tv| &tv.user_value)
    }

    /// Mutable access to the current entry's value, a write: the entry is stamped (T3, T10) and the map copied
    /// first if a checkpoint in flight can see it (B19).
    ///
    /// # Errors
    /// [`BackendError::NoCurrentEntry`] before the first [`next_entry`](Self::next_entry), after a
    /// [`remove`](Self::remove) and at the end.
    pub fn value_mut(&mut self) -> Result<&mut UV, BackendError> {
        let (now, ttl, update_type) = (self.now, self.ttl, self.update_type);
        let tv = self.inner.value_mut()?;
        if update_type != UpdateType::Disabled || tv.is_expired(ttl, now) {
            tv.last_access = now;
        }
        Ok(&mut tv.user_value)
    }

    /// Replaces the current entry's value, stamped (T3), and returns the old one (Java `Map.Entry.setValue`).
    ///
    /// # Errors
    /// [`BackendError::NoCurrentEntry`] when there is no current entry; `value` is dropped.
    pub fn set_value(&mut self, value: UV) -> Result<UV, BackendError> {
        Ok(core::mem::replace(self.value_mut()?, value))
    }

    /// Removes the current entry and returns its value (Java `Iterator.remove`); a map left empty is removed
    /// from the state (B19).
    ///
    /// # Errors
    /// [`BackendError::NoCurrentEntry`] when there is no current entry.
    pub fn remove(&mut self) -> Result<UV, BackendError> {
        self.inner.remove().map(|tv| tv.user_value)
    }
}

impl<K, N, UK: fmt::Debug, UV, H, P: Primitives> fmt::Debug for TtlMapEntriesMut<'_, K, N, UK, UV, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TtlMapEntriesMut")
            .field("inner", &self.inner)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}
