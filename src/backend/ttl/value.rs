//! The stored form of a TTL state's values (Flink `TtlValue`, `TtlSerializer`, `TtlUtils`): docs/DESIGN.md T1,
//! T2.

use crate::serializer::{DecodeError, I64Serializer, Input, SerializeError, TypeSerializer};
use crate::table::visit::Visit;
use core::hash::Hash;
use std::collections::HashMap;

/// A user value with its last-access timestamp in milliseconds (Flink `TtlValue`, T1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TtlValue<V> {
    /// The user value.
    pub user_value: V,
    /// When it was last stamped (T3), in the clock's milliseconds.
    pub last_access: i64,
}

impl<V> TtlValue<V> {
    /// `user_value` stamped `last_access`.
    pub fn new(user_value: V, last_access: i64) -> Self {
        TtlValue {
            user_value,
            last_access,
        }
    }

    /// Whether it is expired at `now` under time-to-live `ttl` (T2).
    #[inline]
    pub fn is_expired(&self, ttl: i64, now: i64) -> bool {
        expired(self.last_access, ttl, now)
    }
}

/// T2, Flink `TtlUtils.expired`: `ts + ttl ≤ now`, the sum capped at `i64::MAX` for a positive `ts`.
///
/// ```
/// use cow_state_table::backend::ttl::expired;
/// assert!(!expired(100, 10, 109));
/// assert!(expired(100, 10, 110));
/// assert!(!expired(i64::MAX - 1, 10, i64::MAX - 1)); // no overflow
/// ```
#[inline]
pub fn expired(ts: i64, ttl: i64, now: i64) -> bool {
    // Flink caps `ttl` at `i64::MAX - ts` for a positive `ts`, else adds as Java does (wrapping). For `ttl >= 0`
    // (every configured time-to-live) that is `min(ts + ttl, i64::MAX) <= now`, monotone in `ts`: every stamp is
    // expired at `now == i64::MAX`, else exactly those up to `now - ttl` (none if that is below `i64::MIN`). Only
    // the last comparison depends on `ts`, so a loop over many stamps (a visit, a checkpoint filter) computes the
    // cutoff once. For a negative `ttl`, `min` keeps `ttl` and the sum cannot overflow when `ts > 0`.
    if ttl >= 0 {
        match now.checked_sub(ttl) {
            _ if now == i64::MAX => true,
            Some(cutoff) => ts <= cutoff,
            None => false,
        }
    } else {
        ts.wrapping_add(ttl) <= now
    }
}

/// Serializer of a [`TtlValue`]: the timestamp as a big-endian `i64`, then the user value (Flink
/// `TtlStateFactory.TtlSerializer`, a `CompositeSerializer` of `LongSerializer` then the user serializer, field 0
/// the timestamp, as in Flink since its `TtlSerializerSnapshot`; Flink 1.6 wrote the user value first; T1).
/// Identity `ttl<inner>`.
///
/// ```
/// use cow_state_table::backend::ttl::{TtlSerializer, TtlValue};
/// use cow_state_table::serializer::{Input, TypeSerializer, U32Serializer};
/// let s = TtlSerializer(U32Serializer);
/// let mut out = Vec::new();
/// s.serialize(&TtlValue::new(7u32, 0x0102), &mut out)?;
/// assert_eq!(out, [0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 7]);
/// assert_eq!(s.deserialize(&mut Input::new(&out))?, TtlValue::new(7, 0x0102));
/// assert_eq!(s.identity(), "ttl<u32>");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TtlSerializer<S>(pub S);

impl<S: TypeSerializer> TypeSerializer for TtlSerializer<S> {
    type Value = TtlValue<S::Value>;

    fn identity(&self) -> String {
        format!("ttl<{}>", self.0.identity())
    }

    fn min_len(&self) -> usize {
        8 + self.0.min_len()
    }

    fn serialize(&self, value: &Self::Value, out: &mut Vec<u8>) -> Result<(), SerializeError> {
        I64Serializer.serialize(&value.last_access, out)?;
        self.0.serialize(&value.user_value, out)
    }

    fn deserialize(&self, input: &mut Input<'_>) -> Result<Self::Value, DecodeError> {
        let last_access = I64Serializer.deserialize(input)?;
        let user_value = self.0.deserialize(input)?;
        Ok(TtlValue {
            user_value,
            last_access,
        })
    }
}

/// A stored TTL state that can drop what is expired (T5, T6): the whole value, a list's elements, a map's
/// entries.
pub(crate) trait TtlStored: Sized {
    /// `Remove` if nothing unexpired is left, `Replace` with the unexpired part if something expired, else `Keep`.
    fn filter_expired(&self, ttl: i64, now: i64) -> Visit<Self>;

    /// Whether a read under `OnReadAndWrite` has something to stamp: an unexpired value, element or entry (T3).
    fn any_unexpired(&self, ttl: i64, now: i64) -> bool;

    /// Stamps every unexpired value, element or entry with `now`; an expired one keeps its stamp (T3: a read
    /// never revives what expired, Flink `getWrappedWithTtlCheckAndUpdate`).
    fn stamp_unexpired(&mut self, ttl: i64, now: i64);
}

/// T3: `tv` stamped `now` if it is unexpired.
#[inline]
fn stamp_one<V>(tv: &mut TtlValue<V>, ttl: i64, now: i64) {
    if !tv.is_expired(ttl, now) {
        tv.last_access = now;
    }
}

impl<V> TtlStored for TtlValue<V> {
    #[inline]
    fn filter_expired(&self, ttl: i64, now: i64) -> Visit<Self> {
        if self.is_expired(ttl, now) {
            Visit::Remove
        } else {
            Visit::Keep
        }
    }

    #[inline]
    fn any_unexpired(&self, ttl: i64, now: i64) -> bool {
        !self.is_expired(ttl, now)
    }

    #[inline]
    fn stamp_unexpired(&mut self, ttl: i64, now: i64) {
        stamp_one(self, ttl, now);
    }
}

impl<E: Clone> TtlStored for Vec<TtlValue<E>> {
    fn filter_expired(&self, ttl: i64, now: i64) -> Visit<Self> {
        let live = self.iter().filter(|e| !e.is_expired(ttl, now)).count();
        if live == self.len() {
            Visit::Keep
        } else if live == 0 {
            Visit::Remove
        } else {
            Visit::Replace(self.iter().filter(|e| !e.is_expired(ttl, now)).cloned().collect())
        }
    }

    fn any_unexpired(&self, ttl: i64, now: i64) -> bool {
        self.iter().any(|e| !e.is_expired(ttl, now))
    }

    fn stamp_unexpired(&mut self, ttl: i64, now: i64) {
        self.iter_mut().for_each(|e| stamp_one(e, ttl, now));
    }
}

impl<UK: Hash + Eq + Clone, UV: Clone> TtlStored for HashMap<UK, TtlValue<UV>> {
    fn filter_expired(&self, ttl: i64, now: i64) -> Visit<Self> {
        let live = self.values().filter(|e| !e.is_expired(ttl, now)).count();
        if live == self.len() {
            Visit::Keep
        } else if live == 0 {
            Visit::Remove
        } else {
            Visit::Replace(
                self.iter()
                    .filter(|(_, e)| !e.is_expired(ttl, now))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
    }

    fn any_unexpired(&self, ttl: i64, now: i64) -> bool {
        self.values().any(|e| !e.is_expired(ttl, now))
    }

    fn stamp_unexpired(&mut self, ttl: i64, now: i64) {
        self.values_mut().for_each(|e| stamp_one(e, ttl, now));
    }
}
