//! Restarts with another worker count inside one process (threads): 3 → 1 and 1 → 4, and a checkpoint whose
//! manifest is missing is never restored from (docs/CLUSTER.md, X4–X8).

use cow_state_table_timely::wordcount::{model, read_state, run_worker, stitch, RunOptions, WordCount, WorkerReport};
use cow_state_table_timely::{CheckpointConfig, CheckpointRoot, Restore};
use std::path::PathBuf;
use std::time::Duration;

const JOB: WordCount = WordCount {
    epochs: 24,
    records_per_epoch: 300,
    vocabulary: 40,
    window: 3,
    seed: 7,
};

fn temp_root(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cow-timely-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs the job on `threads` workers in this process.
fn run(
    threads: usize,
    root: &CheckpointRoot,
    run: u64,
    restore: Restore,
    stop_before: Option<u64>,
) -> Vec<WorkerReport> {
    let options = RunOptions {
        job: JOB,
        max_parallelism: 128,
        checkpoints: Some(CheckpointConfig {
            root: root.clone(),
            run,
            interval: 4,
            restore,
            wrap: None,
        }),
        stop_before,
        out_dir: None,
        epochs_in_flight: 2,
        pause_after: None,
        commit_timeout: Duration::from_secs(30),
    };
    let config = timely::Config::process(threads);
    let guards = timely::execute(config, move |worker| run_worker(worker, &options)).expect("timely starts");
    guards
        .join()
        .into_iter()
        .map(|r| r.expect("worker thread").expect("worker succeeds"))
        .collect()
}

fn outputs(reports: &[WorkerReport]) -> Vec<cow_state_table_timely::wordcount::WindowResult> {
    let mut all: Vec<_> = reports.iter().flat_map(|r| r.outputs.iter().cloned()).collect();
    all.sort();
    all
}

fn rescale(from: usize, to: usize, name: &str) {
    let dir = temp_root(name);
    let root = CheckpointRoot::new(&dir);
    let (expected, expected_state) = model(&JOB);

    // The first run stops after epoch 13: checkpoints 3, 7, 11 are complete, epochs 12 and 13 are lost.
    let first = run(from, &root, 1, Restore::Latest, Some(14));
    assert_eq!(first.len(), from);
    // Checkpoints 3, 7 and 11 are taken; 11 is complete. An older one may be subsumed by a newer one whose
    // parts were all durable first (their asynchronous parts run concurrently).
    let committed = &first[0].committed;
    assert_eq!(committed.last(), Some(&11));
    assert!(committed.windows(2).all(|w| w[0] < w[1]) && committed.iter().all(|c| [3, 7, 11].contains(c)));
    assert_eq!(&root.complete_checkpoints().unwrap(), committed);
    assert!(first
        .iter()
        .all(|r| r.durable.iter().copied().collect::<std::collections::BTreeSet<_>>()
            == [3, 7, 11].into_iter().collect()));

    let second = run(to, &root, 2, Restore::Latest, None);
    assert_eq!(second.len(), to);
    assert!(
        second.iter().all(|r| r.resumed_from == Some(11)),
        "every worker resumes from the latest manifest"
    );
    assert_eq!(stitch(&outputs(&first), Some(11), &outputs(&second)), expected);

    // The final state, read back from the last checkpoint (written by `to` workers), equals the model's.
    let last = root.latest().unwrap().expect("a final checkpoint");
    assert_eq!((last.checkpoint, last.workers), (23, to));
    assert_eq!(read_state(&root, &last, JOB.window).unwrap(), expected_state);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn three_workers_then_one() {
    rescale(3, 1, "3to1");
}

#[test]
fn one_worker_then_four() {
    rescale(1, 4, "1to4");
}

#[test]
fn a_checkpoint_without_manifest_is_never_restored() {
    let dir = temp_root("nomanifest");
    let root = CheckpointRoot::new(&dir);
    let (expected, expected_state) = model(&JOB);
    let first = run(2, &root, 1, Restore::Latest, Some(14));
    // Checkpoint 11's parts are all durable; remove its manifest, as if the committer died before writing it.
    for worker in 0..2 {
        assert!(dir.join(CheckpointRoot::part_relative(1, worker, 11)).exists());
    }
    let complete = root.complete_checkpoints().unwrap();
    assert_eq!(complete.last(), Some(&11));
    std::fs::remove_file(root.manifest_path(11)).unwrap();
    // The one before (checkpoint 7, or 3 if 7 was subsumed, or none).
    let previous = complete.iter().rev().nth(1).copied();
    let second = run(2, &root, 2, Restore::Latest, None);
    assert!(second.iter().all(|r| r.resumed_from == previous));
    assert_eq!(stitch(&outputs(&first), previous, &outputs(&second)), expected);
    let last = root.latest().unwrap().unwrap();
    assert_eq!(read_state(&root, &last, JOB.window).unwrap(), expected_state);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reused_run_id_is_refused() {
    let dir = temp_root("reuse");
    let root = CheckpointRoot::new(&dir);
    run(1, &root, 1, Restore::Nothing, Some(4));
    let options = RunOptions {
        job: JOB,
        max_parallelism: 128,
        checkpoints: Some(CheckpointConfig {
            root: root.clone(),
            run: 1,
            interval: 4,
            restore: Restore::Latest,
            wrap: None,
        }),
        stop_before: None,
        out_dir: None,
        epochs_in_flight: 1,
        pause_after: None,
        commit_timeout: Duration::from_secs(5),
    };
    let guards = timely::execute(timely::Config::thread(), move |worker| run_worker(worker, &options)).unwrap();
    let results = guards.join();
    assert!(matches!(
        results[0].as_ref().unwrap(),
        Err(cow_state_table_timely::ClusterError::RunReused { run: 1, .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_hashmap_reference_job_computes_the_model() {
    let options = RunOptions {
        job: JOB,
        max_parallelism: 128,
        checkpoints: None,
        stop_before: None,
        out_dir: None,
        epochs_in_flight: 3,
        pause_after: None,
        commit_timeout: Duration::from_secs(5),
    };
    let guards = timely::execute(timely::Config::process(2), move |worker| {
        cow_state_table_timely::baseline::run_baseline_worker(worker, &options)
    })
    .unwrap();
    let reports: Vec<WorkerReport> = guards.join().into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert_eq!(outputs(&reports), model(&JOB).0);
}
