//! Differential test (quickcheck): the same runner as `differential_proptest`, fed by an independent
//! generator with its own operation weights and shrinking.
//!
//! `COW_CASES` sets the number of cases (default 2,000; 4 under Miri); `COW_MAX_OPS` the maximum length of a
//! case (default 500; 50 under Miri).

use cow_state_table_model::{HasherChoice, Op, Runner, KEYS, NAMESPACES, SLOTS};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn cases() -> u64 {
    env_or("COW_CASES", if cfg!(miri) { 4 } else { 2_000 })
}

fn max_ops() -> usize {
    env_or("COW_MAX_OPS", if cfg!(miri) { 50 } else { 500 })
}

/// A differential case: the hasher and a sequence of operations.
#[derive(Debug, Clone)]
struct OpSeq {
    hasher: HasherChoice,
    ops: Vec<Op>,
}

fn below(g: &mut Gen, n: u32) -> u32 {
    u32::arbitrary(g) % n
}

fn key(g: &mut Gen) -> u8 {
    below(g, u32::from(KEYS)) as u8
}

fn ns(g: &mut Gen) -> u8 {
    below(g, u32::from(NAMESPACES)) as u8
}

fn slot(g: &mut Gen) -> u8 {
    below(g, SLOTS as u32) as u8
}

fn value(g: &mut Gen) -> u32 {
    below(g, 32)
}

/// One operation; weights differ from the proptest generator's on purpose (more removals and snapshot
/// churn, fewer version jumps).
fn op(g: &mut Gen) -> Op {
    match below(g, 100) {
        0..=21 => Op::Put {
            key: key(g),
            ns: ns(g),
            value: value(g),
        },
        22..=25 => Op::PutAndGetOld {
            key: key(g),
            ns: ns(g),
            value: value(g),
        },
        26..=29 => Op::Get { key: key(g), ns: ns(g) },
        30..=37 => Op::GetMut {
            key: key(g),
            ns: ns(g),
            value: value(g),
        },
        38..=39 => Op::Contains { key: key(g), ns: ns(g) },
        40..=49 => Op::Remove { key: key(g), ns: ns(g) },
        50..=54 => Op::RemoveAndGetOld { key: key(g), ns: ns(g) },
        55..=62 => Op::Transform {
            key: key(g),
            ns: ns(g),
            value: value(g),
        },
        63..=64 => Op::TransformPanic { key: key(g), ns: ns(g) },
        65 => Op::Len,
        66..=67 => Op::Iterate,
        68 => Op::SizeOfNamespace { ns: ns(g) },
        69..=78 => Op::TakeSnapshot { slot: slot(g) },
        79..=88 => Op::ReleaseSnapshot {
            slot: slot(g),
            explicit: bool::arbitrary(g),
        },
        89..=91 => Op::ReadSnapshot { slot: slot(g) },
        92..=94 => Op::Reclaim,
        95..=96 => Op::Check,
        97 => {
            // Rare: a jump close to version exhaustion.
            if below(g, 4) == 0 {
                Op::AdvanceVersion {
                    back_off: below(g, 4) as u8,
                }
            } else {
                Op::Check
            }
        }
        _ => Op::DropTable,
    }
}

/// One operation of a drain phase: mostly removals, some snapshot churn.
fn drain_op(g: &mut Gen) -> Op {
    match below(g, 10) {
        0..=6 => Op::Remove { key: key(g), ns: ns(g) },
        7 => Op::RemoveAndGetOld { key: key(g), ns: ns(g) },
        8 => Op::TakeSnapshot { slot: slot(g) },
        _ => Op::ReleaseSnapshot {
            slot: slot(g),
            explicit: bool::arbitrary(g),
        },
    }
}

impl Arbitrary for OpSeq {
    fn arbitrary(g: &mut Gen) -> Self {
        let hasher = match below(g, 3) {
            0 => HasherChoice::Deterministic,
            _ => HasherChoice::Colliding {
                mask: *g.choose(&HasherChoice::COLLIDING_MASKS).expect("non-empty"),
            },
        };
        let len = below(g, g.size() as u32 + 1) as usize;
        // Phases: mostly the general mix; one in four a drain (removals), so the table shrinks too.
        let mut ops = Vec::with_capacity(len);
        while ops.len() < len {
            let phase = 1 + below(g, 96) as usize;
            if below(g, 4) == 0 {
                ops.extend((0..phase).map(|_| drain_op(g)));
            } else {
                ops.extend((0..phase).map(|_| op(g)));
            }
        }
        ops.truncate(len);
        OpSeq { hasher, ops }
    }

    /// Halves, then drops chunks of a quarter, an eighth, ... down to single operations; the deterministic
    /// hasher is tried as well.
    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let hasher = self.hasher;
        let ops = self.ops.clone();
        let mut candidates = Vec::new();
        if hasher != HasherChoice::Deterministic {
            candidates.push(OpSeq {
                hasher: HasherChoice::Deterministic,
                ops: ops.clone(),
            });
        }
        let mut chunk = ops.len() / 2;
        while chunk >= 1 {
            let mut start = 0;
            while start < ops.len() {
                let mut shorter = ops.clone();
                shorter.drain(start..(start + chunk).min(ops.len()));
                candidates.push(OpSeq { hasher, ops: shorter });
                start += chunk;
            }
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
        Box::new(candidates.into_iter())
    }
}

fn prop(case: OpSeq) -> TestResult {
    match Runner::run_with(case.hasher, &case.ops) {
        Ok(_) => TestResult::passed(),
        Err(d) => TestResult::error(format!("divergence {d} (hasher {:?})", case.hasher)),
    }
}

#[test]
fn differential_quickcheck() {
    let n = cases();
    QuickCheck::new()
        .rng(Gen::new(max_ops()))
        .tests(n)
        .max_tests(n.saturating_mul(2))
        .quickcheck(prop as fn(OpSeq) -> TestResult);
}
