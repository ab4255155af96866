//! Key groups: assigning keys to key groups and key groups to instances, and partitioning a snapshot by key
//! group.
//!
//! Flink: `KeyGroupRange`, `KeyGroupRangeAssignment`, `MathUtils.murmurHash` and
//! `CopyOnWriteStateTableSnapshot.partitionEntriesByKeyGroup`. Every computation is bit-exact with Flink, so a
//! key whose [`JavaHashCode`] matches Java's `hashCode()` lands in the same key group and the same instance as
//! in Flink.

mod assignment;
mod context;
mod error;
mod hash_code;
mod partition;
mod range;

pub use assignment::{
    assign_to_key_group, bit_mix, check_max_parallelism, compute_default_max_parallelism,
    compute_key_group_range_for_operator_index, compute_operator_index_for_key_group, key_group_of, murmur_hash,
    DEFAULT_LOWER_BOUND_MAX_PARALLELISM, UPPER_BOUND_MAX_PARALLELISM,
};
pub use context::KeyGroupContext;
pub use error::KeyGroupError;
pub use hash_code::JavaHashCode;
pub use partition::{EntryRef, KeyGroupPartition};
pub use range::KeyGroupRange;
