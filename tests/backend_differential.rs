//! Differential tests of the keyed state backend against the reference model (issue 10; docs/DESIGN.md
//! B1–B10): a proptest and a quickcheck run drive [`BackendRunner`], which compares every operation's outcome
//! and the whole live state after every operation, and verifies every finished checkpoint — restored into the
//! same range and rescaled into two halves — against the model captured at its synchronous part, while later
//! operations write the same keys during its asynchronous part. A TTL value state (docs/DESIGN.md T1–T6) with
//! cleanup at snapshot and incremental cleanup runs alongside, the clock an operation: its checkpoints must hold
//! exactly the captured entries unexpired when the asynchronous part's filter read the clock.
//!
//! `COW_BACKEND_CASES` sets the number of cases of each (default 256); `COW_BACKEND_MAX_OPS` the maximum length
//! (default 200).

use cow_state_table_model::backend::{
    backend_ops, BackendOp, BackendRunner, BackendStats, BACKEND_KEYS, BACKEND_NAMESPACES, CHECKPOINT_SLOTS, MAP_KEYS,
};
use proptest::prelude::*;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use std::sync::Mutex;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn cases() -> u32 {
    env_or("COW_BACKEND_CASES", 128)
}

fn max_ops() -> usize {
    env_or("COW_BACKEND_MAX_OPS", 150)
}

/// Totals over all cases, to check that the workload reaches what it must.
static TOTALS: Mutex<BackendStats> = Mutex::new(BackendStats {
    ops: 0,
    checkpoints_started: 0,
    checkpoints_verified: 0,
    checkpoints_cancelled: 0,
    restores: 0,
    writes_during_checkpoint: 0,
    ttl_filtered_checkpoints: 0,
});

fn add(s: BackendStats) {
    let mut t = TOTALS.lock().unwrap();
    t.ops += s.ops;
    t.checkpoints_started += s.checkpoints_started;
    t.checkpoints_verified += s.checkpoints_verified;
    t.checkpoints_cancelled += s.checkpoints_cancelled;
    t.restores += s.restores;
    t.writes_during_checkpoint += s.writes_during_checkpoint;
    t.ttl_filtered_checkpoints += s.ttl_filtered_checkpoints;
}

fn check_reach(label: &str, before: BackendStats) {
    let t = *TOTALS.lock().unwrap();
    let verified = t.checkpoints_verified - before.checkpoints_verified;
    let cancelled = t.checkpoints_cancelled - before.checkpoints_cancelled;
    let restores = t.restores - before.restores;
    let during = t.writes_during_checkpoint - before.writes_during_checkpoint;
    let filtered = t.ttl_filtered_checkpoints - before.ttl_filtered_checkpoints;
    eprintln!("{label}: {filtered} checkpoints with expired TTL entries to filter (T5)");
    assert!(
        filtered >= 20,
        "{label}: only {filtered} checkpoints had expired TTL entries to filter"
    );
    eprintln!("{label}: {verified} checkpoints verified, {cancelled} cancelled, {restores} restores, {during} writes during checkpoints");
    assert!(verified >= 50, "{label}: only {verified} checkpoints verified");
    assert!(cancelled >= 1, "{label}: no cancel before commit");
    assert!(restores >= 5, "{label}: only {restores} restores");
    assert!(during >= 200, "{label}: only {during} writes during checkpoints");
}

#[test]
fn proptest_backend_matches_model() {
    let before = *TOTALS.lock().unwrap();
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in backend_ops(max_ops()))| {
        match BackendRunner::run(&ops) {
            Ok(stats) => add(stats),
            Err(d) => prop_assert!(false, "{}", d),
        }
    });
    check_reach("proptest", before);
}

/// An independent generator for quickcheck, with its own weights and quickcheck's shrinking.
#[derive(Debug, Clone)]
struct Seq(Vec<BackendOp>);

fn below(g: &mut Gen, n: u32) -> u8 {
    (u32::arbitrary(g) % n) as u8
}

fn value(g: &mut Gen) -> Option<u64> {
    (u8::arbitrary(g) % 8 != 0).then(|| u64::arbitrary(g) % 500)
}

fn op(g: &mut Gen) -> BackendOp {
    let ns = below(g, BACKEND_NAMESPACES);
    match below(g, 25) {
        0..=2 => BackendOp::SetKey {
            key: below(g, BACKEND_KEYS as u32),
        },
        3 => BackendOp::ValueUpdate { ns, value: value(g) },
        4 => BackendOp::ListAdd { ns, value: value(g) },
        5 => BackendOp::ListAddAll {
            ns,
            values: (0..below(g, 3)).map(|_| u64::from(u8::arbitrary(g))).collect(),
        },
        6 => BackendOp::ReduceAdd { ns, value: value(g) },
        7 => BackendOp::AggAdd { ns, value: value(g) },
        8 => BackendOp::FoldAdd { ns, value: value(g) },
        9 => BackendOp::MapPut {
            ns,
            user_key: below(g, u32::from(MAP_KEYS)),
            value: u64::from(u16::arbitrary(g)),
        },
        10 => BackendOp::MapRemove {
            ns,
            user_key: below(g, u32::from(MAP_KEYS)),
        },
        11 => BackendOp::Merge {
            state: below(g, 3),
            target: ns,
            sources: (0..below(g, 4)).map(|_| below(g, BACKEND_NAMESPACES)).collect(),
        },
        12 => BackendOp::Clear { state: below(g, 6), ns },
        13 => BackendOp::ValueGet { ns },
        14 | 15 => BackendOp::CheckpointStart {
            slot: below(g, CHECKPOINT_SLOTS as u32),
        },
        16 | 17 => BackendOp::CheckpointFinish {
            slot: below(g, CHECKPOINT_SLOTS as u32),
        },
        18 => BackendOp::CheckpointCancel {
            slot: below(g, CHECKPOINT_SLOTS as u32),
        },
        19 => BackendOp::Restore {
            index: u8::arbitrary(g),
        },
        20 => BackendOp::TtlUpdate { ns, value: value(g) },
        21 => BackendOp::TtlGet { ns },
        _ => BackendOp::AdvanceClock { millis: below(g, 16) },
    }
}

impl Arbitrary for Seq {
    fn arbitrary(g: &mut Gen) -> Self {
        let len = usize::arbitrary(g) % (max_ops() + 1);
        Seq((0..len).map(|_| op(g)).collect())
    }
    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        let ops = self.0.clone();
        let n = ops.len();
        // Halves first, then every single removal.
        let halves = [ops[..n / 2].to_vec(), ops[n / 2..].to_vec()]
            .into_iter()
            .filter(move |h| h.len() < n);
        let singles = (0..n).map(move |i| {
            let mut v = ops.clone();
            v.remove(i);
            v
        });
        Box::new(halves.chain(singles).map(Seq))
    }
}

#[test]
fn quickcheck_backend_matches_model() {
    let before = *TOTALS.lock().unwrap();
    fn prop(seq: Seq) -> TestResult {
        match BackendRunner::run(&seq.0) {
            Ok(stats) => {
                add(stats);
                TestResult::passed()
            }
            Err(d) => TestResult::error(d.to_string()),
        }
    }
    QuickCheck::new()
        .tests(u64::from(cases()))
        .rng(Gen::new(max_ops()))
        .quickcheck(prop as fn(Seq) -> TestResult);
    check_reach("quickcheck", before);
}

/// The verification can fail: a checkpoint compared with a model that has a later write is refused, and so is
/// one compared over a range it does not match.
#[test]
fn checkpoint_verification_can_fail() {
    use cow_state_table::keygroup::KeyGroupRange;
    use cow_state_table_model::backend::{live_range, verify_restored, ModelBackend, Subject};
    let mut subject = Subject::new(live_range());
    let mut model = ModelBackend::new(live_range());
    let key = (0..BACKEND_KEYS as u8)
        .find(|k| model.apply(&BackendOp::SetKey { key: *k }) == cow_state_table_model::backend::Outcome::Unit)
        .unwrap();
    for op in [
        BackendOp::SetKey { key },
        BackendOp::ReduceAdd { ns: 0, value: Some(2) },
        BackendOp::ListAdd { ns: 1, value: Some(3) },
    ] {
        assert_eq!(subject.apply(&op), model.apply(&op));
    }
    let mut bytes = Vec::new();
    subject.backend.checkpoint(1).unwrap().write_to(&mut bytes).unwrap();
    verify_restored(&bytes, live_range(), &model.states).unwrap();
    let mut later = model.clone();
    later.apply(&BackendOp::ReduceAdd { ns: 0, value: Some(4) });
    assert!(verify_restored(&bytes, live_range(), &later.states).is_err());
    let mut order = model.clone();
    order.apply(&BackendOp::ListAdd { ns: 1, value: Some(5) });
    assert!(verify_restored(&bytes, live_range(), &order.states).is_err());
    // A restore into a range of another max parallelism's shape still checks key groups: half ranges pass.
    verify_restored(&bytes, KeyGroupRange::of(0, 1).unwrap(), &model.states).unwrap();
}
