//! [`KeyGroupContext`]: the key groups an instance owns, out of how many.

use super::assignment::{check_max_parallelism, key_group_for_hash_unchecked};
use super::error::KeyGroupError;
use super::hash_code::JavaHashCode;
use super::range::KeyGroupRange;

/// The maximum parallelism (total number of key groups) and the range of key groups one instance owns.
///
/// Flink: the key-group part of `InternalKeyContext` (`getNumberOfKeyGroups`, `getKeyGroupRange`). Built only
/// through [`KeyGroupContext::new`], so `1 <= max_parallelism <= 32768` and every key group of the range is below
/// `max_parallelism`.
///
/// ```
/// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupRange};
/// let ctx = KeyGroupContext::new(128, KeyGroupRange::of(0, 63).unwrap()).unwrap();
/// assert_eq!(ctx.key_group_of(&7u64), cow_state_table::keygroup::key_group_of(&7u64, 128).unwrap());
/// assert!(KeyGroupContext::new(128, KeyGroupRange::of(0, 128).unwrap()).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyGroupContext {
    max_parallelism: u32,
    range: KeyGroupRange,
}

impl KeyGroupContext {
    /// A context for `range` out of `max_parallelism` key groups.
    ///
    /// # Errors
    /// [`KeyGroupError::InvalidMaxParallelism`] outside `1..=32768`; [`KeyGroupError::KeyGroupBeyondMax`] if the
    /// range reaches `max_parallelism`.
    ///
    /// ```
    /// use cow_state_table::keygroup::{KeyGroupContext, KeyGroupRange};
    /// let ctx = KeyGroupContext::new(128, KeyGroupRange::of(64, 127)?)?;
    /// assert_eq!(ctx.range().number_of_key_groups(), 64);
    /// assert!(KeyGroupContext::new(64, KeyGroupRange::of(0, 64)?).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(max_parallelism: u32, range: KeyGroupRange) -> Result<Self, KeyGroupError> {
        check_max_parallelism(max_parallelism)?;
        if let Some(end) = range.end() {
            if end >= max_parallelism {
                return Err(KeyGroupError::KeyGroupBeyondMax {
                    key_group: end,
                    max_parallelism,
                });
            }
        }
        Ok(KeyGroupContext { max_parallelism, range })
    }

    /// A context owning every key group of `max_parallelism` (a job with parallelism 1).
    ///
    /// # Errors
    /// [`KeyGroupError::InvalidMaxParallelism`] outside `1..=32768`.
    ///
    /// ```
    /// use cow_state_table::keygroup::KeyGroupContext;
    /// assert_eq!(KeyGroupContext::all(128)?.range().number_of_key_groups(), 128);
    /// assert!(KeyGroupContext::all(0).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn all(max_parallelism: u32) -> Result<Self, KeyGroupError> {
        check_max_parallelism(max_parallelism)?;
        Self::new(max_parallelism, KeyGroupRange::of(0, max_parallelism - 1)?)
    }

    /// The total number of key groups (Flink `getNumberOfKeyGroups`).
    #[must_use]
    pub fn max_parallelism(&self) -> u32 {
        self.max_parallelism
    }

    /// The key groups this instance owns (Flink `getKeyGroupRange`).
    #[must_use]
    pub fn range(&self) -> KeyGroupRange {
        self.range
    }

    /// The key group of `key` (Flink `KeyGroupRangeAssignment.assignToKeyGroup`), whether or not it is in the
    /// range.
    #[inline]
    #[must_use]
    pub fn key_group_of<K: JavaHashCode + ?Sized>(&self, key: &K) -> u32 {
        key_group_for_hash_unchecked(key.java_hash_code(), self.max_parallelism)
    }
}
