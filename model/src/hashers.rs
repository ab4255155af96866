//! Hashers for the differential tests: the core's deterministic one, and a colliding one whose output takes
//! only a handful of distinct values, so that long chains, removal from shared chains and rehashes of whole
//! chains happen all the time.

use arbitrary::Arbitrary;
use core::hash::{BuildHasher, Hasher};
use cow_state_table::{DeterministicState, StableHasher};

/// A hasher that adds up every byte-group it is fed (each `write_*` call contributes its integer value) and
/// returns the sum masked with `mask`.
///
/// With keys `0..16` and namespaces `0..4`, `mask = 0` puts every entry into one chain, `mask = 3` into at
/// most four. The table mixes the hasher's output before taking the bucket index, so the number of distinct
/// buckets in use is at most `mask + 1` whatever the capacity.
#[derive(Debug, Clone, Copy, Default)]
pub struct CollidingHasher {
    sum: u64,
    mask: u64,
}

impl Hasher for CollidingHasher {
    fn finish(&self) -> u64 {
        self.sum & self.mask
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        for chunk in bytes.chunks(8) {
            word[..chunk.len()].copy_from_slice(chunk);
            word[chunk.len()..].fill(0);
            self.sum = self.sum.wrapping_add(u64::from_le_bytes(word));
        }
    }
}

/// `BuildHasher` for [`CollidingHasher`] with a fixed mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollidingState {
    /// The mask applied to the hasher's sum; its number of distinct outputs bounds the buckets in use.
    pub mask: u64,
}

impl CollidingState {
    /// A colliding hasher whose output is `sum & mask`.
    pub fn new(mask: u64) -> Self {
        CollidingState { mask }
    }
}

impl BuildHasher for CollidingState {
    type Hasher = CollidingHasher;
    fn build_hasher(&self) -> CollidingHasher {
        CollidingHasher {
            sum: 0,
            mask: self.mask,
        }
    }
}

/// Which hasher a differential run uses; itself a [`BuildHasher`], so one runner type serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Arbitrary)]
pub enum HasherChoice {
    /// The core's [`DeterministicState`]: entries spread over all buckets.
    #[default]
    Deterministic,
    /// A [`CollidingState`] with mask `mask & 7` (so 1, 2, 4 or 8 distinct hashes for masks 0, 1, 3, 7;
    /// other masks give the same counts with holes).
    Colliding {
        /// Reduced modulo 8 when the hasher is built.
        mask: u8,
    },
}

impl HasherChoice {
    /// The colliding masks worth testing: one chain, two, four and eight.
    pub const COLLIDING_MASKS: [u8; 4] = [0, 1, 3, 7];
}

/// The hasher built by [`HasherChoice`].
#[derive(Debug, Clone)]
pub enum ChoiceHasher {
    /// See [`HasherChoice::Deterministic`].
    Deterministic(StableHasher),
    /// See [`HasherChoice::Colliding`].
    Colliding(CollidingHasher),
}

impl Hasher for ChoiceHasher {
    fn finish(&self) -> u64 {
        match self {
            ChoiceHasher::Deterministic(h) => h.finish(),
            ChoiceHasher::Colliding(h) => h.finish(),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        match self {
            ChoiceHasher::Deterministic(h) => h.write(bytes),
            ChoiceHasher::Colliding(h) => h.write(bytes),
        }
    }

    fn write_u8(&mut self, i: u8) {
        match self {
            ChoiceHasher::Deterministic(h) => h.write_u8(i),
            ChoiceHasher::Colliding(h) => h.write(&[i]),
        }
    }

    fn write_u32(&mut self, i: u32) {
        match self {
            ChoiceHasher::Deterministic(h) => h.write_u32(i),
            ChoiceHasher::Colliding(h) => h.write(&i.to_le_bytes()),
        }
    }

    fn write_u64(&mut self, i: u64) {
        match self {
            ChoiceHasher::Deterministic(h) => h.write_u64(i),
            ChoiceHasher::Colliding(h) => h.write(&i.to_le_bytes()),
        }
    }

    fn write_usize(&mut self, i: usize) {
        match self {
            ChoiceHasher::Deterministic(h) => h.write_usize(i),
            ChoiceHasher::Colliding(h) => h.write(&i.to_le_bytes()),
        }
    }
}

impl BuildHasher for HasherChoice {
    type Hasher = ChoiceHasher;
    fn build_hasher(&self) -> ChoiceHasher {
        match *self {
            HasherChoice::Deterministic => ChoiceHasher::Deterministic(DeterministicState::default().build_hasher()),
            HasherChoice::Colliding { mask } => {
                ChoiceHasher::Colliding(CollidingState::new(u64::from(mask & 7)).build_hasher())
            }
        }
    }
}
