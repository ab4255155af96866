//! Generating operation sequences: a seeded generator (SplitMix64) and the workload profiles.
//!
//! Sequences are made of phases, like the differential suite's (`cow-state-table-model::ops`): *fill* phases
//! (mostly writes, snapshots held while the table grows through incremental rehashes) and *drain* phases
//! (mostly removals, so the table shrinks while snapshots are live). Keys and namespaces come from small spaces
//! so chains, collisions and snapshot interplay are frequent.

use crate::trace::format::{Op, SLOTS};
use cow_state_table::keygroup::key_group_of;

/// SplitMix64: a tiny, seedable, portable generator (the same sequence on every platform).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A workload profile of `trace generate` and `conform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Growth through several incremental rehashes while snapshots are live, read and modified under.
    Rehash,
    /// Many snapshots taken and released in every order, read while the writer goes on.
    Release,
    /// Partitioning snapshots by key group and writing key-group bodies.
    Keygroups,
    /// Fill, then drain: the table shrinks (incremental rehash into half the buckets) under live snapshots.
    Shrink,
    /// Everything: fill and drain phases, every operation.
    Mixed,
}

impl Profile {
    /// The profile's name as written in trace headers.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Rehash => "rehash",
            Profile::Release => "release",
            Profile::Keygroups => "keygroups",
            Profile::Shrink => "shrink",
            Profile::Mixed => "mixed",
        }
    }

    /// Initial number of buckets of the traced table (4, the minimum, so growth happens early).
    pub fn capacity(self) -> usize {
        4
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Put,
    PutOld,
    Get,
    Contains,
    GetMut,
    Remove,
    RemoveOld,
    Transform,
    Len,
    SizeNs,
    Iterate,
    Snapshot,
    Release,
    Read,
    Partition,
    WriteKg,
}

use Kind::*;

const FILL: &[(u32, Kind)] = &[
    (24, Put),
    (4, PutOld),
    (4, Get),
    (2, Contains),
    (8, GetMut),
    (5, Remove),
    (3, RemoveOld),
    (8, Transform),
    (1, Len),
    (1, SizeNs),
    (1, Iterate),
    (6, Snapshot),
    (4, Release),
    (3, Read),
];

const DRAIN: &[(u32, Kind)] = &[
    (26, Remove),
    (6, RemoveOld),
    (2, Put),
    (3, GetMut),
    (1, Get),
    (1, Len),
    (3, Snapshot),
    (3, Release),
    (2, Read),
];

const RELEASE: &[(u32, Kind)] = &[
    (14, Put),
    (8, GetMut),
    (6, Remove),
    (4, Transform),
    (2, Get),
    (14, Snapshot),
    (14, Release),
    (8, Read),
    (1, Len),
];

const KEYGROUPS: &[(u32, Kind)] = &[
    (24, Put),
    (6, GetMut),
    (4, Remove),
    (4, Transform),
    (5, Snapshot),
    (3, Release),
    (6, Partition),
    (12, WriteKg),
    (1, Read),
];

const MIXED_EXTRA: &[(u32, Kind)] = &[(2, Partition), (3, WriteKg)];

const MAX_PARALLELISMS: [u32; 4] = [1, 4, 16, 128];

struct Gen {
    rng: Rng,
    keys: u64,
    namespaces: u32,
    /// Drain phases remove `(key, ns)` pairs in sequence from here (random removals would rarely empty the
    /// table).
    sweep: u64,
}

impl Gen {
    fn pick(&mut self, weights: &[(u32, Kind)], extra: &[(u32, Kind)]) -> Kind {
        let total: u32 = weights.iter().chain(extra).map(|w| w.0).sum();
        let mut x = self.rng.below(u64::from(total)) as u32;
        for &(w, k) in weights.iter().chain(extra) {
            if x < w {
                return k;
            }
            x -= w;
        }
        unreachable!("weights sum to total")
    }

    fn op(&mut self, kind: Kind, drain: bool) -> Op {
        let mut key = self.rng.below(self.keys);
        let mut ns = self.rng.below(u64::from(self.namespaces)) as u32;
        if drain && matches!(kind, Remove | RemoveOld) {
            let pairs = self.keys * u64::from(self.namespaces);
            let at = self.sweep % pairs;
            self.sweep += 1;
            (key, ns) = (
                at / u64::from(self.namespaces),
                (at % u64::from(self.namespaces)) as u32,
            );
        }
        let value = self.rng.below(1000);
        let slot = self.rng.below(SLOTS as u64) as u8;
        let max_parallelism = MAX_PARALLELISMS[self.rng.below(4) as usize];
        match kind {
            Put => Op::Put { key, ns, value },
            PutOld => Op::PutAndGetOld { key, ns, value },
            Get => Op::Get { key, ns },
            Contains => Op::Contains { key, ns },
            GetMut => Op::GetMut { key, ns, value },
            Remove => Op::Remove { key, ns },
            RemoveOld => Op::RemoveAndGetOld { key, ns },
            Transform => Op::Transform { key, ns, value },
            Len => Op::Len,
            SizeNs => Op::SizeOfNamespace { ns },
            Iterate => Op::Iterate,
            Snapshot => Op::Snapshot { slot },
            Release => Op::Release { slot },
            Read => Op::ReadSnapshot { slot },
            Partition => Op::Partition { slot, max_parallelism },
            WriteKg => Op::WriteKeyGroup {
                slot,
                max_parallelism,
                // The key group of a key of the key space: mostly non-empty bodies.
                key_group: key_group_of(&key, max_parallelism).expect("valid max parallelism"),
            },
        }
    }
}

/// `n` operations of `profile` from `seed`.
pub fn generate(profile: Profile, seed: u64, n: usize) -> Vec<Op> {
    let keys = match profile {
        Profile::Rehash => 160,
        Profile::Shrink => 32,
        Profile::Release => 24,
        Profile::Keygroups => 96,
        Profile::Mixed => 48,
    };
    let mut g = Gen {
        rng: Rng::new(seed),
        keys,
        namespaces: 4,
        sweep: 0,
    };
    let mut ops = Vec::with_capacity(n);
    match profile {
        Profile::Rehash => (0..n).for_each(|_| {
            let k = g.pick(FILL, &[]);
            ops.push(g.op(k, false));
        }),
        Profile::Release => (0..n).for_each(|_| {
            let k = g.pick(RELEASE, &[]);
            ops.push(g.op(k, false));
        }),
        Profile::Keygroups => (0..n).for_each(|_| {
            let k = g.pick(KEYGROUPS, &[]);
            ops.push(g.op(k, false));
        }),
        Profile::Shrink => {
            // Fill with puts only (so the table grows well beyond its minimum), then drain.
            let fill = n / 4;
            for i in 0..n {
                let k = if i < fill { Put } else { g.pick(DRAIN, &[]) };
                ops.push(g.op(k, i >= fill));
            }
        }
        Profile::Mixed => {
            while ops.len() < n {
                let len = (1 + g.rng.below((n as u64 / 2).max(1))) as usize;
                let drain = g.rng.below(4) == 0;
                for _ in 0..len.min(n - ops.len()) {
                    let k = if drain {
                        g.pick(DRAIN, &[])
                    } else {
                        g.pick(FILL, MIXED_EXTRA)
                    };
                    ops.push(g.op(k, drain));
                }
            }
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ops_other_seed_other_ops() {
        for p in [
            Profile::Rehash,
            Profile::Release,
            Profile::Keygroups,
            Profile::Shrink,
            Profile::Mixed,
        ] {
            let a = generate(p, 7, 300);
            assert_eq!(a.len(), 300);
            assert_eq!(a, generate(p, 7, 300));
            assert_ne!(a, generate(p, 8, 300));
            assert!(a.iter().all(|op| op.validate().is_ok()));
        }
    }

    #[test]
    fn rng_is_splitmix64() {
        // First output of SplitMix64 seeded with 0 (reference value of the published algorithm).
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }
}
