//! A second implementation of the table's *structure*, written from docs/PORTING.md §1, §2 and §4 alone (bucket
//! chains, growth and shrink thresholds, the incremental rehash step), behind the adapter (`adapter --sim`): the
//! results and the exact state come from the reference model, `capacity` and `rehashing` from this simulation.
//!
//! It checks two things: that PORTING.md says enough to reproduce the structural level (the simulation passes
//! every golden trace and `conform` at the structural level), and that the kit catches a port that breaks one
//! structural rule ([`Deviation`]: one planted deviation at a time; each must fail at the structural level).

use super::differences::{Difference, Differences};
use crate::engine::{FlinkState, HashKind, Machine};
use crate::oracle::Oracle;
use crate::trace::format::{Op, TableState};
use cow_state_table::hash::composite_hash;
use cow_state_table::DeterministicState;
use serde_json::Value;

/// One structural rule broken on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Deviation {
    /// Growth counts the entry being inserted: starts when `len + 1 > 3C/4`.
    GrowthCountsNewEntry,
    /// Shrink starts below `C/4` instead of `C/8`.
    ShrinkAtQuarter,
    /// The shrink check also runs after a `remove` of an absent key.
    ShrinkOnAbsentRemove,
    /// A rehash step moves 5 entries instead of 4.
    StepMovesFive,
    /// A rehash step moves whole buckets until at least 4 entries moved (Flink's shape).
    StepMovesWholeBuckets,
    /// A rehash step scans at most 65 empty buckets instead of 64 (the off-by-one).
    ScanSixtyFive,
    /// A rehash step scans at most 63 empty buckets instead of 64.
    ScanSixtyThree,
    /// Reads (`get`, `contains`) do a rehash step too.
    StepOnReads,
    /// Writes to an absent key (`get_mut`, `remove`) do no rehash step.
    NoStepOnAbsentKey,
    /// During a rehash, new entries always go to the old sub-table.
    InsertIntoOldDuringRehash,
    /// New entries are appended at the tail of their chain instead of pushed at its head.
    PushAtTail,
    /// The rehash ends as soon as the last entry left the old sub-table (not when the index reaches its end).
    EndWhenOldIsEmpty,
}

type Chain = Vec<(u64, u32, u32)>;

/// Bucket chains (head first), growth and shrink, the incremental rehash: PORTING.md §1, §4.
#[derive(Debug, Clone)]
struct Structure {
    old: Vec<Chain>,
    new: Option<Vec<Chain>>,
    rh: usize,
    threshold: usize,
    min_capacity: usize,
    deviation: Option<Deviation>,
    /// How entries are placed (§2).
    hash: HashKind,
    /// The seed's documented differences kept (`differences`), for the reference of a port declaring them.
    differences: Differences,
}

fn hash(kind: HashKind, key: u64, ns: u32) -> u32 {
    match kind {
        HashKind::Deterministic => composite_hash(&DeterministicState::default(), &key, &ns),
        HashKind::Flink => composite_hash(&FlinkState::default(), &key, &ns),
    }
}

impl Structure {
    fn new(capacity: usize, deviation: Option<Deviation>, hash: HashKind, differences: Differences) -> Self {
        let c = capacity.clamp(4, 1 << 30).next_power_of_two();
        Structure {
            old: vec![Vec::new(); c],
            new: None,
            rh: 0,
            threshold: c / 2 + c / 4,
            min_capacity: c,
            deviation,
            hash,
            differences,
        }
    }

    fn len(&self) -> usize {
        self.old.iter().map(Vec::len).sum::<usize>() + self.new.as_ref().map_or(0, |n| n.iter().map(Vec::len).sum())
    }

    fn capacity(&self) -> usize {
        self.new.as_ref().map_or(self.old.len(), Vec::len)
    }

    fn is(&self, d: Deviation) -> bool {
        self.deviation == Some(d)
    }

    fn keeps(&self, d: Difference) -> bool {
        self.differences.contains(d)
    }

    /// Flink's `incrementalRehash`: whole buckets, until at least 4 entries moved; the rehash ends as soon as the
    /// index reaches the old table's end, in the same step (the [`Difference::WholeBucketSteps`] of the seed).
    fn flink_step(&mut self) {
        let Some(new) = self.new.as_mut() else { return };
        let c_new = new.len();
        let mut moved = 0;
        while moved < 4 {
            for entry in std::mem::take(&mut self.old[self.rh]) {
                new[entry.2 as usize & (c_new - 1)].insert(0, entry);
                moved += 1;
            }
            self.rh += 1;
            if self.rh == self.old.len() {
                self.old = self.new.take().unwrap_or_default();
                self.rh = 0;
                return;
            }
        }
    }

    fn contains(&self, key: u64, ns: u32) -> bool {
        let found = |t: &Vec<Chain>| t.iter().flatten().any(|&(k, n, _)| (k, n) == (key, ns));
        found(&self.old) || self.new.as_ref().is_some_and(found)
    }

    fn start(&mut self, capacity: usize) {
        self.new = Some(vec![Vec::new(); capacity]);
        self.rh = 0;
        self.threshold = capacity / 2 + capacity / 4;
    }

    /// One rehash step (§4), then the end of the rehash if the index reached the end.
    fn step(&mut self) {
        if self.keeps(Difference::WholeBucketSteps) {
            return self.flink_step();
        }
        let Some(new) = self.new.as_mut() else { return };
        let (moves, scan) = match self.deviation {
            Some(Deviation::StepMovesFive) => (5, 64),
            Some(Deviation::ScanSixtyFive) => (4, 65),
            Some(Deviation::ScanSixtyThree) => (4, 63),
            _ => (4, 64),
        };
        let whole = self.deviation == Some(Deviation::StepMovesWholeBuckets);
        let (mut moved, mut scanned) = (0, 0);
        let c_new = new.len();
        let mut done = false;
        while moved < moves && scanned < scan {
            if self.rh == self.old.len() {
                done = true;
                break;
            }
            if self.old[self.rh].is_empty() {
                self.rh += 1;
                scanned += 1;
                continue;
            }
            let entry = self.old[self.rh].remove(0);
            new[entry.2 as usize & (c_new - 1)].insert(0, entry);
            moved += 1;
            if whole {
                while !self.old[self.rh].is_empty() {
                    let entry = self.old[self.rh].remove(0);
                    new[entry.2 as usize & (c_new - 1)].insert(0, entry);
                    moved += 1;
                }
            }
        }
        done |= self.rh == self.old.len();
        if self.is(Deviation::EndWhenOldIsEmpty) && self.old.iter().all(Vec::is_empty) {
            done = true;
        }
        if done {
            self.old = self.new.take().unwrap_or_default();
            self.rh = 0;
            if self.len() > self.threshold && self.old.len() < 1 << 30 {
                self.start(self.old.len() * 2);
            }
        }
    }

    fn insert(&mut self, key: u64, ns: u32) {
        let h = hash(self.hash, key, ns);
        let len = self.len() + usize::from(self.is(Deviation::GrowthCountsNewEntry));
        if self.new.is_none() && len > self.threshold && self.old.len() < 1 << 30 {
            let c = self.old.len() * 2;
            self.start(c);
        }
        let old_bucket = h as usize & (self.old.len() - 1);
        let tail = self.is(Deviation::PushAtTail);
        let into_old = self.is(Deviation::InsertIntoOldDuringRehash);
        let rh_into_old = self.keeps(Difference::InsertAtRehashIndexIntoOld);
        let chain = match self.new.as_mut() {
            Some(new) if !into_old && (old_bucket < self.rh || (old_bucket == self.rh && !rh_into_old)) => {
                let c = new.len();
                &mut new[h as usize & (c - 1)]
            }
            _ => &mut self.old[old_bucket],
        };
        if tail {
            chain.push((key, ns, h));
        } else {
            chain.insert(0, (key, ns, h));
        }
    }

    fn remove(&mut self, key: u64, ns: u32) -> bool {
        let mut removed = false;
        for t in std::iter::once(&mut self.old).chain(self.new.as_mut()) {
            for chain in t.iter_mut() {
                if let Some(p) = chain.iter().position(|&(k, n, _)| (k, n) == (key, ns)) {
                    chain.remove(p);
                    removed = true;
                }
            }
        }
        if (removed || self.is(Deviation::ShrinkOnAbsentRemove)) && !self.keeps(Difference::NoShrink) {
            let c = self.old.len();
            let floor = if self.is(Deviation::ShrinkAtQuarter) {
                c / 4
            } else {
                c / 8
            };
            if self.new.is_none() && c > self.min_capacity && self.len() < floor {
                self.start(c / 2);
            }
        }
        removed
    }

    /// The structural effect of `op` (§4: which operations step, insert, remove).
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Put { key, ns, .. } | Op::PutAndGetOld { key, ns, .. } | Op::Transform { key, ns, .. } => {
                self.step();
                if !self.contains(key, ns) {
                    self.insert(key, ns);
                }
            }
            Op::GetMut { key, ns, .. } if self.contains(key, ns) || !self.is(Deviation::NoStepOnAbsentKey) => {
                self.step();
            }
            Op::Remove { key, ns } | Op::RemoveAndGetOld { key, ns } => {
                if self.contains(key, ns) || !self.is(Deviation::NoStepOnAbsentKey) {
                    self.step();
                }
                self.remove(key, ns);
            }
            Op::Get { .. } | Op::Contains { .. }
                if self.is(Deviation::StepOnReads) || self.keeps(Difference::StepOnReads) =>
            {
                self.step()
            }
            _ => {}
        }
    }
}

/// The simulated port: the model's results and exact state, the simulated structure.
#[derive(Debug, Clone)]
pub struct Sim {
    oracle: Oracle,
    structure: Structure,
}

impl Sim {
    /// A fresh table of `capacity` initial buckets placing entries with `hash`, keeping `differences` of the
    /// seed, with `deviation` planted.
    pub fn with(capacity: usize, deviation: Option<Deviation>, hash: HashKind, differences: Differences) -> Self {
        Sim {
            oracle: Oracle::default(),
            structure: Structure::new(capacity, deviation, hash, differences),
        }
    }

    /// The reference for a port that declared `differences` and places entries with `hash`: the structure of
    /// §4 with those differences of the seed kept (docs/PORTING.md §10, "Declared differences").
    pub fn declared(capacity: usize, hash: HashKind, differences: Differences) -> Self {
        Sim::with(capacity, None, hash, differences)
    }
}

impl Machine for Sim {
    fn state(&self) -> TableState {
        let (len, version, live_snapshots) = self.oracle.exact_state();
        TableState {
            len,
            version,
            live_snapshots,
            capacity: self.structure.capacity() as u64,
            rehashing: self.structure.new.is_some(),
            node_copies: 0,
            chunk_copies: 0,
        }
    }

    fn apply(&mut self, op: &Op) -> Result<Value, String> {
        self.structure.apply(op);
        self.oracle.apply(op)
    }

    fn check(&self) -> Result<(), String> {
        let (len, ..) = self.oracle.exact_state();
        if self.structure.len() as u64 == len {
            Ok(())
        } else {
            Err(format!(
                "simulated structure holds {} entries, the model {len}",
                self.structure.len()
            ))
        }
    }
}
