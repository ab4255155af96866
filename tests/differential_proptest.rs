//! Differential test (proptest): random operation sequences on the table and the reference model, with the
//! deterministic hasher and with colliding hashers.
//!
//! `COW_CASES` sets the number of cases of this file, split evenly between the two tests (default 10,000, i.e.
//! 5,000 per hasher family; 4 under Miri); `COW_MAX_OPS` the maximum length of a case (default 500; 50 under
//! Miri). Proptest's own `PROPTEST_*` variables (e.g.
//! `PROPTEST_RNG_SEED`) apply as well. Failures are shrunk and reported with the first divergence.

use cow_state_table_model::{ops, HasherChoice, RunStats, Runner};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use std::cell::RefCell;
use std::time::Instant;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Cases per test: half of `COW_CASES` (at least one).
fn cases() -> u32 {
    let total: u32 = env_or("COW_CASES", if cfg!(miri) { 4 } else { 10_000 });
    total.div_ceil(2).max(1)
}

fn max_ops() -> usize {
    env_or("COW_MAX_OPS", if cfg!(miri) { 50 } else { 500 })
}

fn config() -> Config {
    Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_time: env_or("COW_SHRINK_MS", 120_000),
        ..Config::default()
    }
}

/// Runs `strategy` through the differential runner and panics with the shrunk failing case.
fn check<S>(name: &str, strategy: S)
where
    S: Strategy<Value = (HasherChoice, Vec<cow_state_table_model::Op>)>,
{
    let start = Instant::now();
    let total = RefCell::new(RunStats::default());
    let mut runner = TestRunner::new(config());
    let result = runner.run(&strategy, |(hasher, ops)| {
        let stats = Runner::run_with(hasher, &ops).map_err(|d| TestCaseError::fail(d.to_string()))?;
        total.borrow_mut().merge(&stats);
        Ok(())
    });
    match result {
        Ok(()) => eprintln!(
            "{name}: {} cases in {:.1?}; {:?}",
            config().cases,
            start.elapsed(),
            total.borrow()
        ),
        Err(TestError::Fail(why, (hasher, ops))) => {
            let listing: String = ops.iter().map(|op| format!("    {op:?},\n")).collect();
            panic!(
                "{name}: divergence {why}\nminimal case ({} ops, hasher {hasher:?}):\n[\n{listing}]",
                ops.len()
            )
        }
        Err(e) => panic!("{name}: {e}"),
    }
    let total = *total.borrow();
    // The generators must actually reach the interesting paths.
    if config().cases >= 100 && max_ops() >= 200 {
        assert!(
            total.snapshots_during_rehash > 0,
            "{name}: no snapshot taken during a rehash"
        );
        assert!(total.node_copies > 0, "{name}: no node copied");
        assert!(total.panics_removed > 0, "{name}: no private entry removed by a panic");
    }
}

#[test]
fn differential_deterministic_hasher() {
    check("deterministic", (Just(HasherChoice::Deterministic), ops(max_ops())));
}

#[test]
fn differential_colliding_hasher() {
    let hasher =
        prop::sample::select(&HasherChoice::COLLIDING_MASKS[..]).prop_map(|mask| HasherChoice::Colliding { mask });
    check("colliding", (hasher, ops(max_ops())));
}
