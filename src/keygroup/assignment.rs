//! Assigning keys to key groups and key groups to operator instances, bit-exact with Flink's
//! `KeyGroupRangeAssignment` and `MathUtils.murmurHash`.

use super::error::KeyGroupError;
use super::hash_code::JavaHashCode;
use super::range::KeyGroupRange;

/// The largest maximum parallelism, i.e. number of key groups (Flink
/// `KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM`, `1 << 15`).
pub const UPPER_BOUND_MAX_PARALLELISM: u32 = 1 << 15;

/// The smallest default maximum parallelism (Flink
/// `KeyGroupRangeAssignment.DEFAULT_LOWER_BOUND_MAX_PARALLELISM`).
pub const DEFAULT_LOWER_BOUND_MAX_PARALLELISM: u32 = 1 << 7;

/// Murmur3 (x86, 32-bit, seed 0) of the four bytes of `code`, folded to a non-negative `i32`.
///
/// Flink: `MathUtils.murmurHash(int)`: the murmur3 body step for one 4-byte block, the length (4) mixed in,
/// `fmix32`, then `h` if `h >= 0`, `-h` if `h != Integer.MIN_VALUE`, else 0.
#[must_use]
pub fn murmur_hash(code: i32) -> i32 {
    let mut h = code.wrapping_mul(0xcc9e_2d51_u32 as i32);
    h = h.rotate_left(15);
    h = h.wrapping_mul(0x1b87_3593);
    h = h.rotate_left(13);
    h = h.wrapping_mul(5).wrapping_add(0xe654_6b64_u32 as i32);
    h ^= 4;
    h = bit_mix(h);
    if h >= 0 {
        h
    } else if h != i32::MIN {
        -h
    } else {
        0
    }
}

/// Murmur3's finaliser `fmix32` (Flink `MathUtils.bitMix`).
#[must_use]
pub fn bit_mix(mut h: i32) -> i32 {
    h ^= ((h as u32) >> 16) as i32;
    h = h.wrapping_mul(0x85eb_ca6b_u32 as i32);
    h ^= ((h as u32) >> 13) as i32;
    h = h.wrapping_mul(0xc2b2_ae35_u32 as i32);
    h ^= ((h as u32) >> 16) as i32;
    h
}

/// Checks `1 <= max_parallelism <= 32768` (Flink `checkParallelismPreconditions`).
///
/// # Errors
/// [`KeyGroupError::InvalidMaxParallelism`] outside `1..=32768`.
///
/// ```
/// use cow_state_table::keygroup::check_max_parallelism;
/// assert!(check_max_parallelism(128).is_ok());
/// assert!(check_max_parallelism(0).is_err());
/// assert!(check_max_parallelism(1 << 16).is_err());
/// ```
pub fn check_max_parallelism(max_parallelism: u32) -> Result<(), KeyGroupError> {
    if max_parallelism == 0 || max_parallelism > UPPER_BOUND_MAX_PARALLELISM {
        return Err(KeyGroupError::InvalidMaxParallelism { value: max_parallelism });
    }
    Ok(())
}

fn check_parallelism(max_parallelism: u32, parallelism: u32) -> Result<(), KeyGroupError> {
    check_max_parallelism(max_parallelism)?;
    if parallelism == 0 || parallelism > max_parallelism {
        return Err(KeyGroupError::InvalidParallelism {
            parallelism,
            max_parallelism,
        });
    }
    Ok(())
}

/// The key group of a key whose Java `hashCode()` is `key_hash`: `murmur_hash(key_hash) % max_parallelism`.
///
/// Flink: `KeyGroupRangeAssignment.computeKeyGroupForKeyHash` (what `assignToKeyGroup(key, maxParallelism)`
/// calls with `key.hashCode()`).
///
/// # Errors
/// [`KeyGroupError::InvalidMaxParallelism`] outside `1..=32768`.
///
/// ```
/// use cow_state_table::keygroup::{assign_to_key_group, murmur_hash};
/// let kg = assign_to_key_group(42, 128).unwrap();
/// assert_eq!(kg, murmur_hash(42) as u32 % 128);
/// assert!(assign_to_key_group(42, 0).is_err());
/// ```
pub fn assign_to_key_group(key_hash: i32, max_parallelism: u32) -> Result<u32, KeyGroupError> {
    check_max_parallelism(max_parallelism)?;
    Ok(key_group_for_hash_unchecked(key_hash, max_parallelism))
}

/// The key group of `key` (Flink `KeyGroupRangeAssignment.assignToKeyGroup(Object, int)`), using its
/// [`JavaHashCode`].
///
/// # Errors
/// [`KeyGroupError::InvalidMaxParallelism`] outside `1..=32768`.
///
/// ```
/// use cow_state_table::keygroup::{key_group_of, assign_to_key_group};
/// assert_eq!(key_group_of("hello", 128), assign_to_key_group(99162322, 128));
/// ```
pub fn key_group_of<K: JavaHashCode + ?Sized>(key: &K, max_parallelism: u32) -> Result<u32, KeyGroupError> {
    assign_to_key_group(key.java_hash_code(), max_parallelism)
}

/// `murmur_hash(key_hash) % max_parallelism` for a `max_parallelism` already checked to be in `1..=32768`.
#[inline]
pub(crate) fn key_group_for_hash_unchecked(key_hash: i32, max_parallelism: u32) -> u32 {
    // murmur_hash is never negative.
    murmur_hash(key_hash) as u32 % max_parallelism
}

/// The operator instance that owns `key_group`: `key_group * parallelism / max_parallelism`.
///
/// Flink: `KeyGroupRangeAssignment.computeOperatorIndexForKeyGroup`.
///
/// # Errors
/// [`KeyGroupError::InvalidMaxParallelism`], [`KeyGroupError::InvalidParallelism`] (0 or above the maximum), or
/// [`KeyGroupError::KeyGroupBeyondMax`].
///
/// ```
/// use cow_state_table::keygroup::compute_operator_index_for_key_group;
/// assert_eq!(compute_operator_index_for_key_group(128, 4, 33).unwrap(), 1);
/// assert!(compute_operator_index_for_key_group(128, 4, 128).is_err());
/// ```
pub fn compute_operator_index_for_key_group(
    max_parallelism: u32,
    parallelism: u32,
    key_group: u32,
) -> Result<u32, KeyGroupError> {
    check_parallelism(max_parallelism, parallelism)?;
    if key_group >= max_parallelism {
        return Err(KeyGroupError::KeyGroupBeyondMax {
            key_group,
            max_parallelism,
        });
    }
    Ok((u64::from(key_group) * u64::from(parallelism) / u64::from(max_parallelism)) as u32)
}

/// The key groups owned by operator instance `operator_index` of `parallelism`:
/// `ceil(i * max / p) ..= ((i + 1) * max - 1) / p`.
///
/// Flink: `KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex`. The ranges of all instances partition
/// `0..max_parallelism`, and [`compute_operator_index_for_key_group`] maps each key group back to its instance.
///
/// # Errors
/// [`KeyGroupError::InvalidMaxParallelism`], [`KeyGroupError::InvalidParallelism`] or
/// [`KeyGroupError::InvalidOperatorIndex`] (`operator_index >= parallelism`).
///
/// ```
/// use cow_state_table::keygroup::{compute_key_group_range_for_operator_index, KeyGroupRange};
/// assert_eq!(compute_key_group_range_for_operator_index(128, 2, 0), KeyGroupRange::of(0, 63));
/// assert_eq!(compute_key_group_range_for_operator_index(128, 2, 1), KeyGroupRange::of(64, 127));
/// ```
pub fn compute_key_group_range_for_operator_index(
    max_parallelism: u32,
    parallelism: u32,
    operator_index: u32,
) -> Result<KeyGroupRange, KeyGroupError> {
    check_parallelism(max_parallelism, parallelism)?;
    if operator_index >= parallelism {
        return Err(KeyGroupError::InvalidOperatorIndex {
            operator_index,
            parallelism,
        });
    }
    let (max, p, i) = (
        u64::from(max_parallelism),
        u64::from(parallelism),
        u64::from(operator_index),
    );
    let start = (i * max).div_ceil(p);
    let end = ((i + 1) * max - 1) / p;
    if start > end {
        // Cannot happen for parallelism <= max_parallelism; kept as an error rather than a panic.
        return Ok(KeyGroupRange::EMPTY);
    }
    KeyGroupRange::of(start as u32, end as u32)
}

/// The default maximum parallelism for an operator of `parallelism`: the next power of two of
/// `parallelism + parallelism / 2`, clamped to `[128, 32768]`.
///
/// Flink: `KeyGroupRangeAssignment.computeDefaultMaxParallelism`.
///
/// # Errors
/// [`KeyGroupError::InvalidParallelism`] for 0 or a parallelism above 32768.
///
/// ```
/// use cow_state_table::keygroup::compute_default_max_parallelism;
/// assert_eq!(compute_default_max_parallelism(1), Ok(128));
/// assert_eq!(compute_default_max_parallelism(100), Ok(256));
/// assert_eq!(compute_default_max_parallelism(32768), Ok(32768));
/// assert!(compute_default_max_parallelism(0).is_err());
/// ```
pub fn compute_default_max_parallelism(parallelism: u32) -> Result<u32, KeyGroupError> {
    check_max_parallelism(parallelism).map_err(|_| KeyGroupError::InvalidParallelism {
        parallelism,
        max_parallelism: UPPER_BOUND_MAX_PARALLELISM,
    })?;
    let wanted = (parallelism + parallelism / 2).next_power_of_two();
    Ok(wanted.clamp(DEFAULT_LOWER_BOUND_MAX_PARALLELISM, UPPER_BOUND_MAX_PARALLELISM))
}
