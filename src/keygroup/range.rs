//! [`KeyGroupRange`]: a contiguous, inclusive range of key groups.

use super::error::KeyGroupError;
use super::UPPER_BOUND_MAX_PARALLELISM;
use core::fmt;
use core::ops::Range;

/// A contiguous range of key groups, inclusive at both ends, or empty.
///
/// Flink: `KeyGroupRange` (`of`, `EMPTY_KEY_GROUP_RANGE`, `contains`, `getIntersection`,
/// `getNumberOfKeyGroups`, `getStartKeyGroup`, `getEndKeyGroup`, `getKeyGroupId`, `iterator`). Key groups are
/// below [`UPPER_BOUND_MAX_PARALLELISM`]. All empty ranges are equal.
///
/// ```
/// use cow_state_table::keygroup::KeyGroupRange;
/// let r = KeyGroupRange::of(10, 19).unwrap();
/// assert_eq!(r.number_of_key_groups(), 10);
/// assert!(r.contains(19) && !r.contains(20));
/// let s = KeyGroupRange::of(15, 30).unwrap();
/// assert_eq!(r.intersection(&s), KeyGroupRange::of(15, 19).unwrap());
/// assert_eq!(r.key_group_id(9), Ok(19));
/// assert!(r.key_group_id(10).is_err());
/// assert_eq!(r.iter().count(), 10);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyGroupRange {
    start: u32,
    /// One past the last key group; `start == end_exclusive` (both 0) when empty.
    end_exclusive: u32,
}

impl KeyGroupRange {
    /// The empty range (Flink `KeyGroupRange.EMPTY_KEY_GROUP_RANGE`).
    pub const EMPTY: KeyGroupRange = KeyGroupRange {
        start: 0,
        end_exclusive: 0,
    };

    /// The range `start..=end` (Flink `KeyGroupRange.of`). Fails if `start > end` or `end` is not below
    /// [`UPPER_BOUND_MAX_PARALLELISM`].
    ///
    /// # Errors
    /// [`KeyGroupError::InvalidRange`] if `start > end` or `end >= 32768`.
    ///
    /// ```
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// assert_eq!(KeyGroupRange::of(2, 5)?.number_of_key_groups(), 4);
    /// assert!(KeyGroupRange::of(5, 2).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn of(start: u32, end: u32) -> Result<Self, KeyGroupError> {
        if start > end || end >= UPPER_BOUND_MAX_PARALLELISM {
            return Err(KeyGroupError::InvalidRange { start, end });
        }
        Ok(KeyGroupRange {
            start,
            end_exclusive: end + 1,
        })
    }

    /// The range of `count` key groups from `start` (empty if `count == 0`).
    ///
    /// # Errors
    /// [`KeyGroupError::InvalidRange`] if the range would end beyond key group 32767.
    ///
    /// ```
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// assert_eq!(KeyGroupRange::with_len(10, 3)?, KeyGroupRange::of(10, 12)?);
    /// assert!(KeyGroupRange::with_len(32767, 2).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_len(start: u32, count: u32) -> Result<Self, KeyGroupError> {
        if count == 0 {
            return Ok(Self::EMPTY);
        }
        let end = start
            .checked_add(count - 1)
            .ok_or(KeyGroupError::InvalidRange { start, end: u32::MAX })?;
        Self::of(start, end)
    }

    /// The first key group (Flink `getStartKeyGroup`); 0 for the empty range.
    #[must_use]
    pub fn start(&self) -> u32 {
        self.start
    }

    /// The last key group, inclusive (Flink `getEndKeyGroup`, which returns -1 for the empty range); `None`
    /// when empty.
    #[must_use]
    pub fn end(&self) -> Option<u32> {
        (!self.is_empty()).then(|| self.end_exclusive - 1)
    }

    /// Number of key groups in the range (Flink `getNumberOfKeyGroups`).
    #[must_use]
    pub fn number_of_key_groups(&self) -> u32 {
        self.end_exclusive - self.start
    }

    /// Whether the range holds no key group.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.start == self.end_exclusive
    }

    /// Whether `key_group` is in the range (Flink `contains`).
    #[must_use]
    pub fn contains(&self, key_group: u32) -> bool {
        self.start <= key_group && key_group < self.end_exclusive
    }

    /// The key groups in both ranges (Flink `getIntersection`).
    #[must_use]
    pub fn intersection(&self, other: &KeyGroupRange) -> KeyGroupRange {
        let start = self.start.max(other.start);
        let end_exclusive = self.end_exclusive.min(other.end_exclusive);
        if start < end_exclusive {
            KeyGroupRange { start, end_exclusive }
        } else {
            Self::EMPTY
        }
    }

    /// The `index`-th key group of the range (Flink `getKeyGroupId`, with the bound checked as `index >= n`
    /// rather than Flink's `index > n`).
    ///
    /// # Errors
    /// [`KeyGroupError::IndexOutOfBounds`] if `index >= number_of_key_groups()`.
    ///
    /// ```
    /// use cow_state_table::keygroup::KeyGroupRange;
    /// let r = KeyGroupRange::of(10, 12)?;
    /// assert_eq!(r.key_group_id(2)?, 12);
    /// assert!(r.key_group_id(3).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn key_group_id(&self, index: u32) -> Result<u32, KeyGroupError> {
        if index >= self.number_of_key_groups() {
            return Err(KeyGroupError::IndexOutOfBounds { index, range: *self });
        }
        Ok(self.start + index)
    }

    /// The position of `key_group` in the range, if it is in it.
    #[must_use]
    pub fn index_of(&self, key_group: u32) -> Option<u32> {
        self.contains(key_group).then(|| key_group - self.start)
    }

    /// The key groups in ascending order (Flink `iterator`).
    pub fn iter(&self) -> Range<u32> {
        self.start..self.end_exclusive
    }
}

impl Default for KeyGroupRange {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl IntoIterator for KeyGroupRange {
    type Item = u32;
    type IntoIter = Range<u32>;
    fn into_iter(self) -> Range<u32> {
        self.iter()
    }
}

impl IntoIterator for &KeyGroupRange {
    type Item = u32;
    type IntoIter = Range<u32>;
    fn into_iter(self) -> Range<u32> {
        self.iter()
    }
}

impl fmt::Debug for KeyGroupRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for KeyGroupRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end() {
            Some(end) => write!(f, "KeyGroupRange{{{}..={}}}", self.start, end),
            None => f.write_str("KeyGroupRange{empty}"),
        }
    }
}
