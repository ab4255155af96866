//! The checkpoint root shared by all workers, and the manifests that mark checkpoints complete (X2–X5).

use crate::error::ClusterError;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADER: &str = "cow-state-table-timely manifest v1";
const MANIFEST_PREFIX: &str = "chk-";
const MANIFEST_SUFFIX: &str = ".manifest";

/// The layout of a checkpoint root shared by every worker (a local directory, or a network file system mounted
/// at the same path on every machine):
///
/// * `run-<run>/worker-<i>/` — one `DirectoryStorage` per worker and run; its file `chk-<id>.cowkeyed` is the
///   worker's part of checkpoint `id` (one file per worker and checkpoint, X2);
/// * `manifests/chk-<id>.manifest` — written last, atomically, once every part of `id` is durable (X4).
///
/// Flink: the checkpoint directory `chk-<id>/` with its `_metadata` file (`FsCheckpointStorageLocation`), which
/// the JobManager writes after all acknowledgements (`PendingCheckpoint#finalizeCheckpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRoot {
    root: PathBuf,
}

impl CheckpointRoot {
    /// The layout under `root` (nothing is created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        CheckpointRoot { root: root.into() }
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The directory of worker `worker`'s parts in run `run`.
    pub fn worker_dir(&self, run: u64, worker: usize) -> PathBuf {
        self.root.join(format!("run-{run}")).join(format!("worker-{worker}"))
    }

    /// The part file of `worker` for checkpoint `id` in run `run`, relative to the root (the name
    /// `DirectoryStorage` gives it).
    pub fn part_relative(run: u64, worker: usize, id: u64) -> PathBuf {
        PathBuf::from(format!("run-{run}"))
            .join(format!("worker-{worker}"))
            .join(format!("chk-{id:020}.cowkeyed"))
    }

    /// The directory of the manifests.
    pub fn manifest_dir(&self) -> PathBuf {
        self.root.join("manifests")
    }

    /// The manifest of checkpoint `id`.
    pub fn manifest_path(&self, id: u64) -> PathBuf {
        self.manifest_dir()
            .join(format!("{MANIFEST_PREFIX}{id:020}{MANIFEST_SUFFIX}"))
    }

    /// The ids of the checkpoints that have a manifest, ascending. Temporary files are ignored (X4).
    ///
    /// # Errors
    /// [`ClusterError::Io`] if the manifest directory exists but cannot be listed.
    pub fn complete_checkpoints(&self) -> Result<Vec<u64>, ClusterError> {
        let dir = self.manifest_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ClusterError::io("list", &dir)(e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(ClusterError::io("list", &dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(id) = name
                .strip_prefix(MANIFEST_PREFIX)
                .and_then(|s| s.strip_suffix(MANIFEST_SUFFIX))
                .and_then(|s| s.parse::<u64>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The manifest of the latest complete checkpoint, if any (X5: a checkpoint without a manifest is never
    /// restored from).
    ///
    /// # Errors
    /// [`ClusterError::Io`], or [`ClusterError::BadManifest`] if the latest manifest does not parse.
    pub fn latest(&self) -> Result<Option<Manifest>, ClusterError> {
        match self.complete_checkpoints()?.last() {
            None => Ok(None),
            Some(&id) => self.read_manifest(id).map(Some),
        }
    }

    /// Reads and parses the manifest of checkpoint `id`.
    ///
    /// # Errors
    /// [`ClusterError::Io`] or [`ClusterError::BadManifest`].
    pub fn read_manifest(&self, id: u64) -> Result<Manifest, ClusterError> {
        let path = self.manifest_path(id);
        let text = fs::read_to_string(&path).map_err(ClusterError::io("read", &path))?;
        let manifest = Manifest::parse(&text).map_err(|reason| ClusterError::BadManifest {
            path: path.clone(),
            reason,
        })?;
        if manifest.checkpoint != id {
            return Err(ClusterError::BadManifest {
                path,
                reason: format!("names checkpoint {}", manifest.checkpoint),
            });
        }
        Ok(manifest)
    }

    /// Writes `manifest` atomically (X4): a temporary file in the manifest directory, fsynced, renamed to the
    /// final name, then the directory fsynced. A crash leaves either no manifest or the whole one.
    ///
    /// # Errors
    /// [`ClusterError::Io`].
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<(), ClusterError> {
        let dir = self.manifest_dir();
        fs::create_dir_all(&dir).map_err(ClusterError::io("create", &dir))?;
        let fin = self.manifest_path(manifest.checkpoint);
        let tmp = dir.join(format!(".chk-{}.{}.tmp", manifest.checkpoint, std::process::id()));
        {
            let mut file = File::create(&tmp).map_err(ClusterError::io("create", &tmp))?;
            file.write_all(manifest.render().as_bytes())
                .map_err(ClusterError::io("write", &tmp))?;
            file.sync_all().map_err(ClusterError::io("fsync", &tmp))?;
        }
        fs::rename(&tmp, &fin).map_err(ClusterError::io("rename", &fin))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(ClusterError::io("fsync", &dir))?;
        Ok(())
    }
}

/// One part of a complete checkpoint: the file of one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The worker index (of the run that wrote it).
    pub worker: usize,
    /// The file, relative to the checkpoint root.
    pub path: PathBuf,
    /// Its length in bytes when the manifest was written.
    pub len: u64,
}

/// What makes a checkpoint complete: its id (the epoch it covers), the run and worker count that wrote it, the
/// maximum parallelism, and one part per worker (X4).
///
/// Flink: `CompletedCheckpoint` / the `_metadata` file (`Checkpoints.storeCheckpointMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The checkpoint id: the last epoch whose records it contains (X3).
    pub checkpoint: u64,
    /// The run that wrote it.
    pub run: u64,
    /// The number of workers of that run (the parts' key-group ranges follow from it).
    pub workers: usize,
    /// The maximum parallelism.
    pub max_parallelism: u32,
    /// One part per worker, in worker order.
    pub parts: Vec<Part>,
}

impl Manifest {
    /// The text form (line-oriented, ends with `end`).
    pub fn render(&self) -> String {
        let mut s = format!(
            "{HEADER}\ncheckpoint {}\nrun {}\nworkers {}\nmax_parallelism {}\n",
            self.checkpoint, self.run, self.workers, self.max_parallelism
        );
        for part in &self.parts {
            s.push_str(&format!("part {} {} {}\n", part.worker, part.len, part.path.display()));
        }
        s.push_str("end\n");
        s
    }

    /// Parses [`render`](Self::render)'s output; `Err` names what is wrong.
    ///
    /// ```
    /// use cow_state_table_timely::{Manifest, Part};
    /// let m = Manifest { checkpoint: 9, run: 1, workers: 1, max_parallelism: 128,
    ///     parts: vec![Part { worker: 0, path: "run-1/worker-0/x".into(), len: 12 }] };
    /// assert_eq!(Manifest::parse(&m.render()), Ok(m.clone()));
    /// assert!(Manifest::parse(&m.render().replace("end\n", "")).is_err(), "truncated");
    /// ```
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err("missing header".into());
        }
        let mut field = |name: &str| -> Result<u64, String> {
            let line = lines.next().ok_or_else(|| format!("missing {name}"))?;
            line.strip_prefix(name)
                .and_then(|s| s.strip_prefix(' '))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad {name} line {line:?}"))
        };
        let checkpoint = field("checkpoint")?;
        let run = field("run")?;
        let workers = usize::try_from(field("workers")?).map_err(|e| e.to_string())?;
        let max_parallelism = u32::try_from(field("max_parallelism")?).map_err(|e| e.to_string())?;
        let mut parts = Vec::new();
        let mut ended = false;
        for line in lines {
            if line == "end" {
                ended = true;
                break;
            }
            let mut it = line.splitn(4, ' ');
            let (Some("part"), Some(w), Some(len), Some(path)) = (it.next(), it.next(), it.next(), it.next()) else {
                return Err(format!("bad part line {line:?}"));
            };
            let worker = w.parse().map_err(|_| format!("bad worker in {line:?}"))?;
            let len = len.parse().map_err(|_| format!("bad length in {line:?}"))?;
            parts.push(Part {
                worker,
                path: PathBuf::from(path),
                len,
            });
        }
        if !ended {
            return Err("missing end line".into());
        }
        if workers == 0 || parts.len() != workers || parts.iter().enumerate().any(|(i, p)| p.worker != i) {
            return Err(format!("{} parts for {workers} workers", parts.len()));
        }
        Ok(Manifest {
            checkpoint,
            run,
            workers,
            max_parallelism,
            parts,
        })
    }
}
