//! Bucket placement: the composite hash of `(key, namespace)` and a deterministic hasher.
//!
//! Flink: `compositeHash` = `bitMix(key.hashCode() ^ namespace.hashCode())`. Here the key and the namespace
//! are fed to one hasher from the table's `BuildHasher` (the default, std's `RandomState`, is keyed SipHash and
//! resists hash flooding), then the 64-bit result is multiplied by 2^64/φ and folded to 32 bits (high half XOR
//! low half), so even a weak hasher (an identity hash of integers, say) spreads over the low bits the bucket
//! index uses — at four instructions, since this runs on every lookup.

use core::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

/// The 32-bit composite hash of `(key, namespace)` under `build`.
#[inline]
pub fn composite_hash<H: BuildHasher, K: Hash + ?Sized, N: Hash + ?Sized>(build: &H, key: &K, namespace: &N) -> u32 {
    let mut h = build.build_hasher();
    key.hash(&mut h);
    namespace.hash(&mut h);
    fold(h.finish())
}

/// The last step of [`composite_hash`]: Fibonacci hashing, folded. The high half of the product depends on
/// every bit of the hasher's output, and XOR-ing it onto the low half carries that into the low bits the
/// bucket index uses.
#[inline(always)]
pub(crate) fn fold(hash: u64) -> u32 {
    let x = hash.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((x >> 32) ^ x) as u32
}

/// A table's `BuildHasher` with its type erased, as a [`Snapshot`](crate::Snapshot) keeps it for lookups
/// (docs/DESIGN.md, "Snapshot lookups"). The key and the namespace are fed through `&mut dyn Hasher`, which
/// forwards every `write_*` call to the concrete hasher, so the result equals [`composite_hash`] under the same
/// builder.
pub(crate) trait ErasedBuildHasher: Send + Sync {
    /// Builds a hasher, lets `feed` write into it, and returns `finish()`.
    fn hash_with(&self, feed: &mut dyn FnMut(&mut dyn Hasher)) -> u64;
}

impl<H: BuildHasher + Send + Sync> ErasedBuildHasher for H {
    fn hash_with(&self, feed: &mut dyn FnMut(&mut dyn Hasher)) -> u64 {
        let mut h = self.build_hasher();
        feed(&mut h);
        h.finish()
    }
}

/// [`composite_hash`] through an erased builder.
pub(crate) fn erased_composite_hash<K: Hash + ?Sized, N: Hash + ?Sized>(
    build: &dyn ErasedBuildHasher,
    key: &K,
    namespace: &N,
) -> u32 {
    fold(build.hash_with(&mut |mut h: &mut dyn Hasher| {
        key.hash(&mut h);
        namespace.hash(&mut h);
    }))
}

/// A deterministic, unkeyed hasher for reproducible tests, traces and benchmarks (not flood-resistant).
///
/// Word-at-a-time multiply–rotate (the FxHash construction); the output for a given sequence of `write_*`
/// calls is fixed across runs and platforms of the same pointer width.
#[derive(Debug, Clone, Copy, Default)]
pub struct StableHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl StableHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for StableHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// `BuildHasher` for [`StableHasher`]: reproducible bucket placement.
pub type DeterministicState = BuildHasherDefault<StableHasher>;
