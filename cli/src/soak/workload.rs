//! The generated keyed stream of a soak run: skewed keys, several namespaces and states, a mix of puts,
//! updates, transforms, removes and namespace merges. Deterministic for a seed.

use crate::trace::generate::Rng;

/// One operation of the stream on state `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    /// `put(key, ns, value)` (Flink `ValueState.update`).
    Put {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
        /// New value.
        value: u64,
    },
    /// In-place update of an existing state, `s = s * 31 + delta` (Flink: a `get` then an in-place change).
    Update {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
        /// Argument.
        delta: u64,
    },
    /// `transform`: `s = s + delta`, or `delta` if absent (Flink `ReducingState.add` / `transform`).
    Transform {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
        /// Argument.
        delta: u64,
    },
    /// `remove(key, ns)` (Flink `State.clear`).
    Remove {
        /// Key.
        key: u64,
        /// Namespace.
        ns: u32,
    },
    /// Merges the states of `sources` into `target` for `key` and removes the sources (Flink
    /// `InternalMergingState.mergeNamespaces`, e.g. session windows merging).
    Merge {
        /// Key.
        key: u64,
        /// The namespace merged into.
        target: u32,
        /// The namespaces merged (never equal to `target`).
        sources: [u32; 2],
    },
}

/// The stream's shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Key space.
    pub keys: u64,
    /// Namespaces per key.
    pub namespaces: u32,
    /// Named states.
    pub states: usize,
}

/// The generator of the stream.
#[derive(Debug, Clone)]
pub struct Workload {
    rng: Rng,
    shape: Shape,
    hot: u64,
}

impl Workload {
    /// The stream of `shape` from `seed`.
    pub fn new(seed: u64, shape: Shape) -> Self {
        Workload {
            rng: Rng::new(seed),
            shape,
            hot: (shape.keys / 100).max(1),
        }
    }

    /// A key: seven times in ten from the hottest 1% of the key space, otherwise uniform.
    fn key(&mut self) -> u64 {
        if self.rng.below(10) < 7 {
            self.rng.below(self.hot)
        } else {
            self.rng.below(self.shape.keys)
        }
    }

    /// The next operation and the state it applies to.
    pub fn next_op(&mut self) -> (usize, WriteOp) {
        let state = self.rng.below(self.shape.states as u64) as usize;
        let key = self.key();
        let nss = u64::from(self.shape.namespaces);
        let ns = self.rng.below(nss) as u32;
        let x = self.rng.below(100);
        let op = match x {
            0..25 => WriteOp::Put {
                key,
                ns,
                value: self.rng.below(1 << 20),
            },
            25..55 => WriteOp::Update {
                key,
                ns,
                delta: self.rng.below(1000),
            },
            55..80 => WriteOp::Transform {
                key,
                ns,
                delta: self.rng.below(1000),
            },
            80..92 => WriteOp::Remove { key, ns },
            _ if nss >= 2 => {
                let a = (ns + 1 + self.rng.below(nss - 1) as u32) % self.shape.namespaces;
                let b = (ns + 1 + self.rng.below(nss - 1) as u32) % self.shape.namespaces;
                WriteOp::Merge {
                    key,
                    target: ns,
                    sources: [a, b],
                }
            }
            _ => WriteOp::Remove { key, ns },
        };
        (state, op)
    }
}
