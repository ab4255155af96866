//! X2, X4, X5: the layout matches `DirectoryStorage`'s names, manifests round-trip, are written atomically,
//! name every worker's part, and only checkpoints with a manifest count.

use cow_state_table::backend::storage::DirectoryStorage;
use cow_state_table_timely::{CheckpointRoot, ClusterError, Manifest, ManifestCommitter, Part};
use std::path::PathBuf;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cow-timely-manifest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn part_names_are_directory_storage_names() {
    let dir = temp("names");
    let root = CheckpointRoot::new(&dir);
    let storage = DirectoryStorage::open(root.worker_dir(5, 2), 0).unwrap();
    assert_eq!(storage.path_of(77), dir.join(CheckpointRoot::part_relative(5, 2, 77)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn manifest_round_trips_and_rejects_damage() {
    let m = Manifest {
        checkpoint: 12,
        run: 3,
        workers: 2,
        max_parallelism: 128,
        parts: vec![
            Part {
                worker: 0,
                path: CheckpointRoot::part_relative(3, 0, 12),
                len: 10,
            },
            Part {
                worker: 1,
                path: CheckpointRoot::part_relative(3, 1, 12),
                len: 20,
            },
        ],
    };
    assert_eq!(Manifest::parse(&m.render()), Ok(m.clone()));
    let text = m.render();
    assert!(Manifest::parse(&text.replace("end\n", "")).is_err(), "no end line");
    assert!(
        Manifest::parse(&text.replace("workers 2", "workers 3")).is_err(),
        "part count"
    );
    assert!(
        Manifest::parse(&text.replace("part 1 ", "part 0 ")).is_err(),
        "worker order"
    );
    assert!(Manifest::parse(&text[1..]).is_err(), "header");
}

#[test]
fn committer_writes_a_manifest_only_when_every_part_is_present() {
    let dir = temp("commit");
    let root = CheckpointRoot::new(&dir);
    let mut committer = ManifestCommitter::new(root.clone(), 1, 2, 128);
    committer.expect(3);
    committer.expect(7);
    let write = |worker: usize, id: u64| {
        let path = dir.join(CheckpointRoot::part_relative(1, worker, id));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![0u8; 5 + worker]).unwrap();
    };
    write(0, 3);
    write(0, 7);
    assert_eq!(committer.poll().unwrap(), Vec::<u64>::new());
    assert_eq!(committer.missing(3), vec![1]);
    assert_eq!(root.complete_checkpoints().unwrap(), Vec::<u64>::new());
    assert_eq!(root.latest().unwrap(), None);

    write(1, 3);
    assert_eq!(committer.poll().unwrap(), vec![3]);
    let m = root.latest().unwrap().unwrap();
    assert_eq!((m.checkpoint, m.workers, m.run), (3, 2, 1));
    assert_eq!(m.parts.iter().map(|p| p.len).collect::<Vec<_>>(), vec![5, 6]);

    // A temporary manifest (a crash before the rename) is not a manifest.
    std::fs::write(root.manifest_dir().join(".chk-7.1.tmp"), "partial").unwrap();
    assert_eq!(root.complete_checkpoints().unwrap(), vec![3]);

    write(1, 7);
    assert_eq!(committer.poll().unwrap(), vec![7]);
    assert_eq!(committer.pending().count(), 0);
    assert_eq!(root.complete_checkpoints().unwrap(), vec![3, 7]);

    // A damaged manifest under its final name is reported, never skipped silently.
    std::fs::write(root.manifest_path(9), "garbage").unwrap();
    assert!(matches!(root.latest(), Err(ClusterError::BadManifest { .. })));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_newer_complete_checkpoint_subsumes_an_older_incomplete_one() {
    let dir = temp("subsume");
    let root = CheckpointRoot::new(&dir);
    let mut committer = ManifestCommitter::new(root.clone(), 1, 1, 128);
    committer.expect(3);
    committer.expect(7);
    let path = dir.join(CheckpointRoot::part_relative(1, 0, 7));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"x").unwrap();
    assert_eq!(committer.poll().unwrap(), vec![7]);
    assert_eq!(committer.pending().count(), 0, "3 is subsumed");
    assert_eq!(root.complete_checkpoints().unwrap(), vec![7]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn restore_refuses_damaged_parts_and_another_max_parallelism() {
    use cow_state_table::backend::KeyedStateBackend;
    use cow_state_table::keygroup::KeyGroupRange;
    use cow_state_table::serializer::U64Serializer;
    use cow_state_table_timely::restore_worker;

    let dir = temp("restore");
    let root = CheckpointRoot::new(&dir);
    let path = CheckpointRoot::part_relative(1, 0, 3);
    std::fs::create_dir_all(dir.join(&path).parent().unwrap()).unwrap();
    std::fs::write(dir.join(&path), b"12345").unwrap();
    let mut manifest = Manifest {
        checkpoint: 3,
        run: 1,
        workers: 1,
        max_parallelism: 128,
        parts: vec![Part {
            worker: 0,
            path,
            len: 4,
        }],
    };
    let mut backend: KeyedStateBackend<u64, U64Serializer> =
        KeyedStateBackend::new(U64Serializer, 128, KeyGroupRange::of(0, 127).unwrap()).unwrap();
    assert!(matches!(
        restore_worker(&root, &manifest, &mut backend),
        Err(ClusterError::BadPart { checkpoint: 3, .. })
    ));
    manifest.max_parallelism = 64;
    assert!(matches!(
        restore_worker(&root, &manifest, &mut backend),
        Err(ClusterError::MaxParallelismChanged {
            found: 64,
            expected: 128,
            ..
        })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
