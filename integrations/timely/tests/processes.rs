//! Worker processes on loopback: 2 processes checkpoint every 4 epochs; the second is killed with SIGKILL in
//! the middle of checkpoint 19 (its part is never written), the first too; 3 processes restart from the latest
//! complete checkpoint. Outputs and final state equal the single-process model; checkpoint 19, which has a part
//! but no manifest, is not restored from (docs/CLUSTER.md, X4, X5, X8, X9).

use cow_state_table_timely::cluster::{free_addresses, write_hostfile, LocalCluster};
use cow_state_table_timely::wordcount::{model, read_state, stitch, WindowResult, WordCount};
use cow_state_table_timely::CheckpointRoot;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const JOB: WordCount = WordCount {
    epochs: 40,
    records_per_epoch: 1000,
    vocabulary: 50,
    window: 3,
    seed: 11,
};
const STALL: u64 = 19;

/// The environment variable that turns this test binary into a worker process (see `worker_process`).
const WORKER_ARGS: &str = "COW_TIMELY_WORKER_ARGS";

/// Not a test of its own: when the variable is set, this test binary runs one worker process of the
/// `cluster_wordcount` example's `worker` command with its arguments, and exits with its result.
#[test]
fn worker_process() {
    if let Ok(args) = std::env::var(WORKER_ARGS) {
        let args: Vec<String> = args.split('\u{1f}').map(str::to_owned).collect();
        let code = match cow_state_table_timely::cli::run_command(&args) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
        std::process::exit(code);
    }
}

fn start(dir: &Path, root: &CheckpointRoot, run: u64, processes: usize, stall: Option<u64>) -> LocalCluster {
    let exe = std::env::current_exe().unwrap();
    let addresses = free_addresses(processes).unwrap();
    let hostfile = write_hostfile(&dir.join(format!("hosts-{run}.txt")), &addresses).unwrap();
    LocalCluster::spawn(processes, |i| {
        let mut args: Vec<String> = vec![
            "worker".into(),
            "-n".into(),
            processes.to_string(),
            "-p".into(),
            i.to_string(),
        ];
        args.extend([
            "-h".into(),
            hostfile.display().to_string(),
            "--root".into(),
            root.path().display().to_string(),
        ]);
        args.extend(["--out".into(), dir.join("out").display().to_string()]);
        args.extend(["--run".into(), run.to_string(), "--interval".into(), "4".into()]);
        args.extend([
            "--epochs".into(),
            JOB.epochs.to_string(),
            "--records".into(),
            JOB.records_per_epoch.to_string(),
        ]);
        args.extend([
            "--vocab".into(),
            JOB.vocabulary.to_string(),
            "--window".into(),
            JOB.window.to_string(),
        ]);
        args.extend(["--seed".into(), JOB.seed.to_string()]);
        if let (Some(at), true) = (stall, i == processes - 1) {
            args.extend(["--stall-at".into(), at.to_string()]);
        }
        let mut c = Command::new(&exe);
        c.args(["worker_process", "--exact", "--nocapture", "--test-threads", "1"]);
        c.env(WORKER_ARGS, args.join("\u{1f}"));
        c.stderr(std::process::Stdio::null());
        c
    })
    .unwrap()
}

fn outputs(dir: &Path, run: u64) -> Vec<WindowResult> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir.join("out")).unwrap() {
        let entry = entry.unwrap();
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&format!("run-{run}-worker-"))
        {
            for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
                all.push(WindowResult::parse(line).expect("an output line"));
            }
        }
    }
    all
}

#[test]
fn two_processes_killed_mid_checkpoint_restart_as_three() {
    let dir: PathBuf = std::env::temp_dir().join(format!("cow-timely-processes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let root = CheckpointRoot::new(dir.join("checkpoints"));

    let mut first = start(&dir, &root, 1, 2, Some(STALL));
    first
        .wait_line(1, Duration::from_secs(120), |l| l.contains("stalled worker="))
        .expect("process 1 reaches checkpoint 19");
    // Worker 0's part of checkpoint 19 becomes durable; worker 1's never does.
    let part0 = root.path().join(CheckpointRoot::part_relative(1, 0, STALL));
    for _ in 0..3000 {
        if part0.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(part0.exists(), "worker 0 wrote its part of checkpoint 19");
    // Checkpoint 15's parts are all durable: worker 0's committer writes its manifest.
    for _ in 0..3000 {
        if root.manifest_path(STALL - 4).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill(1);
    first.kill(0);
    drop(first);

    assert!(!root.path().join(CheckpointRoot::part_relative(1, 1, STALL)).exists());
    assert!(!root.manifest_path(STALL).exists(), "no manifest without every part");
    let latest = root.latest().unwrap().expect("a complete checkpoint");
    assert_eq!(
        latest.checkpoint,
        STALL - 4,
        "the latest complete checkpoint is the one before the stalled one"
    );
    assert_eq!(latest.workers, 2);

    let mut second = start(&dir, &root, 2, 3, None);
    let statuses = second.wait_all(Duration::from_secs(300));
    assert!(statuses.iter().all(|s| s.is_some_and(|s| s.success())), "{statuses:?}");
    // libtest's "test worker_process ... " may precede a report on its line.
    let reports: Vec<String> = second
        .lines()
        .iter()
        .filter_map(|(_, l)| l.find("report worker=").map(|at| l[at..].to_owned()))
        .collect();
    assert_eq!(reports.len(), 3);
    let resumed = format!("resumed={}", latest.checkpoint);
    assert!(reports.iter().all(|r| r.contains(&resumed)), "{reports:?}");

    let (expected, expected_state) = model(&JOB);
    assert_eq!(
        stitch(&outputs(&dir, 1), Some(latest.checkpoint), &outputs(&dir, 2)),
        expected
    );
    let last = root.latest().unwrap().unwrap();
    assert_eq!((last.checkpoint, last.workers), (JOB.epochs - 1, 3));
    assert_eq!(read_state(&root, &last, JOB.window).unwrap(), expected_state);
    let _ = std::fs::remove_dir_all(&dir);
}
