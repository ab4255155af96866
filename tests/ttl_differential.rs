//! Differential test of the TTL list, map, reducing and aggregating states against the reference model (docs/DESIGN.md
//! T1–T10; `cow_state_table_model::ttl`): every update type (`Disabled` included) and visibility, cleanup at snapshot and incremental
//! cleanup on or off, the clock an operation, merges, the map's views and cursor, checkpoints taken while the
//! writer goes on and restored. Every outcome, and the stored state with its stamps after every operation, is
//! compared with the model.
//!
//! `COW_TTL_CASES` sets the number of cases (default 256); `COW_TTL_MAX_OPS` the maximum length (default 120).

use cow_state_table::backend::ttl::UpdateType;
use cow_state_table_model::ttl::{ttl_case, TtlMode, TtlOp, TtlRunner, TtlStats};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: env_or("COW_TTL_CASES", 256),
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    })]

    #[test]
    fn ttl_states_match_the_model((mode, ops) in ttl_case(env_or("COW_TTL_MAX_OPS", 120))) {
        if let Err(d) = TtlRunner::run(mode, &ops) {
            return Err(TestCaseError::fail(format!("{mode:?}\n{d}")));
        }
    }
}

/// The workload reaches what it must: filtered checkpoints, restores, cleanups the model did not follow, and
/// expired values returned under `ReturnExpiredIfNotCleanedUp`, over 64 cases of a deterministic generator.
#[test]
fn the_workload_reaches_cleanups_checkpoints_and_expired_reads() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = ttl_case(120);
    let mut totals = TtlStats::default();
    for _ in 0..64 {
        let (mode, ops) = strategy.new_tree(&mut runner).unwrap().current();
        let s = TtlRunner::run(mode, &ops).unwrap_or_else(|d| panic!("{mode:?}\n{d}"));
        totals.checkpoints_verified += s.checkpoints_verified;
        totals.checkpoints_filtered += s.checkpoints_filtered;
        totals.restores += s.restores;
        totals.cleanups_seen += s.cleanups_seen;
        totals.expired_reads += s.expired_reads;
    }
    eprintln!("64 cases: {totals:?}");
    assert!(totals.checkpoints_verified > 20, "{totals:?}");
    assert!(totals.checkpoints_filtered > 0, "{totals:?}");
    assert!(totals.restores > 5, "{totals:?}");
    assert!(totals.cleanups_seen > 10, "{totals:?}");
    assert!(totals.expired_reads > 0, "{totals:?}");
}

/// T9 and T10 by hand: an expired reducing source is absent in a merge; the map cursor under
/// `ReturnExpiredIfNotCleanedUp` sees the expired entry no cleanup removed.
#[test]
fn hand_written_case() {
    let mode = TtlMode {
        update: UpdateType::OnCreateAndWrite,
        return_expired: true,
        full_snapshot: false,
        incremental: None,
        every_record: false,
    };
    let ops = [
        TtlOp::SetKey { key: 1 },
        TtlOp::ReduceAdd { ns: 1, value: 5 },
        TtlOp::MapPut {
            ns: 0,
            user_key: 1,
            value: 3,
        },
        TtlOp::Advance { millis: 6 },
        TtlOp::ReduceAdd { ns: 2, value: 7 },
        TtlOp::MapPut {
            ns: 0,
            user_key: 2,
            value: 4,
        },
        TtlOp::Advance { millis: 5 },
        TtlOp::ReduceMerge {
            target: 0,
            sources: vec![1, 2],
        },
        TtlOp::ReduceGet { ns: 0 },
        TtlOp::MapCursor { ns: 0 },
        TtlOp::MapEntries { ns: 0 },
    ];
    TtlRunner::run(mode, &ops).unwrap();
}
