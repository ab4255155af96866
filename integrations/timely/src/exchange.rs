//! Routing records to the worker whose key-group range holds their key (rule X1).

use cow_state_table::keygroup::{
    compute_key_group_range_for_operator_index, key_group_of, murmur_hash, JavaHashCode, KeyGroupError, KeyGroupRange,
};

/// The key-group assignment of one keyed operator over `workers` timely workers: key → key group → worker index.
///
/// Flink: `KeyGroupRangeAssignment.assignKeyToParallelOperator` (`computeOperatorIndexForKeyGroup(maxParallelism,
/// parallelism, assignToKeyGroup(key, maxParallelism))`), used by `KeyGroupStreamPartitioner`. Worker `i` owns
/// exactly `compute_key_group_range_for_operator_index(max, workers, i)` (X1), so a record routed here always
/// finds its key group in the receiving worker's backend.
///
/// ```
/// use cow_state_table_timely::KeyGroupExchange;
/// let exchange = KeyGroupExchange::new(128, 3).unwrap();
/// let worker = exchange.worker_of(&42u64);
/// assert!(exchange.range_of(worker).unwrap().contains(exchange.key_group_of(&42u64)));
/// assert!(KeyGroupExchange::new(128, 0).is_err());
/// assert!(KeyGroupExchange::new(4, 5).is_err(), "more workers than key groups");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyGroupExchange {
    max_parallelism: u32,
    workers: u32,
}

impl KeyGroupExchange {
    /// An assignment of `max_parallelism` key groups over `workers` workers.
    ///
    /// # Errors
    /// [`KeyGroupError`] unless `1 <= workers <= max_parallelism <= 32768`.
    pub fn new(max_parallelism: u32, workers: usize) -> Result<Self, KeyGroupError> {
        let workers = u32::try_from(workers).map_err(|_| KeyGroupError::InvalidParallelism {
            parallelism: u32::MAX,
            max_parallelism,
        })?;
        // Validates both numbers (Flink's checkParallelismPreconditions).
        compute_key_group_range_for_operator_index(max_parallelism, workers, 0)?;
        Ok(KeyGroupExchange {
            max_parallelism,
            workers,
        })
    }

    /// The maximum parallelism (number of key groups).
    pub fn max_parallelism(&self) -> u32 {
        self.max_parallelism
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.workers as usize
    }

    /// The key group of `key` (Flink `assignToKeyGroup`).
    pub fn key_group_of<K: JavaHashCode + ?Sized>(&self, key: &K) -> u32 {
        // `murmur_hash` is never negative; the maximum parallelism was checked in `new`.
        murmur_hash(key.java_hash_code()) as u32 % self.max_parallelism
    }

    /// The worker owning `key_group`: `key_group * workers / max_parallelism` (Flink
    /// `computeOperatorIndexForKeyGroup`); `key_group` is taken modulo the maximum parallelism.
    pub fn worker_of_key_group(&self, key_group: u32) -> usize {
        let key_group = u64::from(key_group % self.max_parallelism);
        (key_group * u64::from(self.workers) / u64::from(self.max_parallelism)) as usize
    }

    /// The worker owning `key`'s key group.
    pub fn worker_of<K: JavaHashCode + ?Sized>(&self, key: &K) -> usize {
        self.worker_of_key_group(self.key_group_of(key))
    }

    /// The key groups of worker `worker` (Flink `computeKeyGroupRangeForOperatorIndex`).
    ///
    /// # Errors
    /// [`KeyGroupError::InvalidOperatorIndex`] if `worker >= workers`.
    pub fn range_of(&self, worker: usize) -> Result<KeyGroupRange, KeyGroupError> {
        let index = u32::try_from(worker).unwrap_or(u32::MAX);
        compute_key_group_range_for_operator_index(self.max_parallelism, self.workers, index)
    }

    /// The library's own, checked computation of [`key_group_of`](Self::key_group_of) (for cross-checks).
    ///
    /// # Errors
    /// Never for an exchange built by [`new`](Self::new).
    pub fn key_group_of_checked<K: JavaHashCode + ?Sized>(&self, key: &K) -> Result<u32, KeyGroupError> {
        key_group_of(key, self.max_parallelism)
    }
}
