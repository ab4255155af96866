//! Errors of key-group arithmetic and partitioning.

use super::range::KeyGroupRange;

/// A key-group argument that Flink would reject with a precondition failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyGroupError {
    /// A maximum parallelism outside `1..=32768` (Flink `checkParallelismPreconditions`).
    #[error("max parallelism {value} is outside 1..={upper}", upper = super::UPPER_BOUND_MAX_PARALLELISM)]
    InvalidMaxParallelism {
        /// The rejected value.
        value: u32,
    },
    /// A parallelism outside `1..=max_parallelism`.
    #[error("parallelism {parallelism} is outside 1..={max_parallelism}")]
    InvalidParallelism {
        /// The rejected parallelism.
        parallelism: u32,
        /// The maximum parallelism it was checked against.
        max_parallelism: u32,
    },
    /// An operator index not below the parallelism.
    #[error("operator index {operator_index} is not below parallelism {parallelism}")]
    InvalidOperatorIndex {
        /// The rejected operator index.
        operator_index: u32,
        /// The parallelism.
        parallelism: u32,
    },
    /// A key group not below the maximum parallelism.
    #[error("key group {key_group} is not below max parallelism {max_parallelism}")]
    KeyGroupBeyondMax {
        /// The rejected key group.
        key_group: u32,
        /// The maximum parallelism (number of key groups).
        max_parallelism: u32,
    },
    /// A range whose start is after its end, or whose end is not a valid key group.
    #[error("invalid key-group range {start}..={end}")]
    InvalidRange {
        /// Requested first key group.
        start: u32,
        /// Requested last key group (inclusive).
        end: u32,
    },
    /// An index not below [`KeyGroupRange::number_of_key_groups`] (Flink `getKeyGroupId`, without its
    /// off-by-one).
    #[error("index {index} is out of bounds for {range} ({len} key groups)", len = range.number_of_key_groups())]
    IndexOutOfBounds {
        /// The rejected index.
        index: u32,
        /// The range.
        range: KeyGroupRange,
    },
    /// A key group that is not in the range at hand (e.g. an entry of a snapshot whose key belongs to a key group
    /// this instance does not own).
    #[error("key group {key_group} is outside {range}")]
    OutOfRange {
        /// The key group.
        key_group: u32,
        /// The range it should have been in.
        range: KeyGroupRange,
    },
}
