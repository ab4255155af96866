//! A worker's view of its checkpoints: the asynchronous parts in flight, the alignment pauses, and — on
//! worker 0 — the committer that writes manifests (X4).

use crate::error::ClusterError;
use crate::manifest::{CheckpointRoot, Manifest, Part};
use cow_state_table::backend::CheckpointHandle;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Writes the manifest of a checkpoint once every worker's part is durable (X4).
///
/// Flink: `CheckpointCoordinator#completePendingCheckpoint` once `PendingCheckpoint#isFullyAcknowledged`. Here
/// the acknowledgement is the part's final file name: `DirectoryStorage` gives it only by rename of a complete,
/// fsynced file (B11–B15), so the name's presence on the shared root means the part is durable.
#[derive(Debug)]
pub struct ManifestCommitter {
    root: CheckpointRoot,
    run: u64,
    workers: usize,
    max_parallelism: u32,
    pending: BTreeSet<u64>,
    committed: Vec<u64>,
    /// When the parts were last looked for (`poll_throttled` looks at most once a millisecond).
    last_look: Option<Instant>,
}

impl ManifestCommitter {
    /// A committer for run `run` of `workers` workers.
    pub fn new(root: CheckpointRoot, run: u64, workers: usize, max_parallelism: u32) -> Self {
        ManifestCommitter {
            root,
            run,
            workers,
            max_parallelism,
            pending: BTreeSet::new(),
            committed: Vec::new(),
            last_look: None,
        }
    }

    /// Expect the parts of checkpoint `id`.
    pub fn expect(&mut self, id: u64) {
        self.pending.insert(id);
    }

    /// The checkpoints whose parts are expected and not all present yet.
    pub fn pending(&self) -> impl Iterator<Item = u64> + '_ {
        self.pending.iter().copied()
    }

    /// The checkpoints committed, in commit order.
    pub fn committed(&self) -> &[u64] {
        &self.committed
    }

    /// The workers whose part of `id` is not present yet.
    pub fn missing(&self, id: u64) -> Vec<usize> {
        (0..self.workers)
            .filter(|&w| {
                !self
                    .root
                    .path()
                    .join(CheckpointRoot::part_relative(self.run, w, id))
                    .exists()
            })
            .collect()
    }

    /// [`poll`](Self::poll), unless nothing is pending or the last look was less than a millisecond ago (the
    /// worker's loop calls it between steps, far more often than parts appear).
    ///
    /// # Errors
    /// As [`poll`](Self::poll).
    pub fn poll_throttled(&mut self) -> Result<Vec<u64>, ClusterError> {
        if self.pending.is_empty() || self.last_look.is_some_and(|t| t.elapsed() < Duration::from_millis(1)) {
            return Ok(Vec::new());
        }
        self.last_look = Some(Instant::now());
        self.poll()
    }

    /// Writes, in ascending order, the manifest of every expected checkpoint whose parts are all present;
    /// incomplete checkpoints older than a committed one are dropped (subsumed, as in Flink). Returns the ids
    /// committed by this call.
    ///
    /// # Errors
    /// [`ClusterError::Io`] (listing a part or writing the manifest).
    pub fn poll(&mut self) -> Result<Vec<u64>, ClusterError> {
        let mut done = Vec::new();
        for id in self.pending.iter().copied().collect::<Vec<_>>() {
            let mut parts = Vec::with_capacity(self.workers);
            for worker in 0..self.workers {
                let path = CheckpointRoot::part_relative(self.run, worker, id);
                match std::fs::metadata(self.root.path().join(&path)) {
                    Ok(meta) => parts.push(Part {
                        worker,
                        path,
                        len: meta.len(),
                    }),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) => return Err(ClusterError::io("stat", self.root.path().join(&path))(e)),
                }
            }
            if parts.len() < self.workers {
                continue;
            }
            self.root.write_manifest(&Manifest {
                checkpoint: id,
                run: self.run,
                workers: self.workers,
                max_parallelism: self.max_parallelism,
                parts,
            })?;
            done.push(id);
        }
        if let Some(&newest) = done.last() {
            // Subsumes every older pending checkpoint.
            self.pending.retain(|&p| p > newest);
        }
        self.committed.extend(done.iter().copied());
        Ok(done)
    }
}

/// What one worker's keyed operator shares with the code driving the worker (the input loop): its checkpoints in
/// flight, the alignment pauses, the first error, and on worker 0 the [`ManifestCommitter`].
///
/// Cloning shares the same state (timely workers are single-threaded: `Rc`).
#[derive(Debug, Clone)]
pub struct WorkerCheckpoints {
    pub(crate) inner: Rc<RefCell<Progress>>,
}

#[derive(Debug)]
pub(crate) struct Progress {
    pub(crate) worker: usize,
    pub(crate) resumed_from: Option<u64>,
    pub(crate) in_flight: Vec<CheckpointHandle>,
    pub(crate) taken: Vec<u64>,
    pub(crate) durable: Vec<u64>,
    pub(crate) pauses: Vec<Duration>,
    pub(crate) error: Option<ClusterError>,
    pub(crate) committer: Option<ManifestCommitter>,
}

impl WorkerCheckpoints {
    pub(crate) fn new(worker: usize, resumed_from: Option<u64>, committer: Option<ManifestCommitter>) -> Self {
        WorkerCheckpoints {
            inner: Rc::new(RefCell::new(Progress {
                worker,
                resumed_from,
                in_flight: Vec::new(),
                taken: Vec::new(),
                durable: Vec::new(),
                pauses: Vec::new(),
                error: None,
                committer,
            })),
        }
    }

    /// This worker's index.
    pub fn worker(&self) -> usize {
        self.inner.borrow().worker
    }

    /// The checkpoint restored at start, if any: the job resumes at the epoch after it (X3).
    pub fn resumed_from(&self) -> Option<u64> {
        self.inner.borrow().resumed_from
    }

    /// The first epoch this worker's input must produce: the one after the restored checkpoint, else 0.
    pub fn first_epoch(&self) -> u64 {
        self.resumed_from().map_or(0, |c| c + 1)
    }

    /// The checkpoints whose synchronous part this worker took, in order.
    pub fn taken(&self) -> Vec<u64> {
        self.inner.borrow().taken.clone()
    }

    /// The checkpoints whose part this worker wrote durably.
    pub fn durable(&self) -> Vec<u64> {
        self.inner.borrow().durable.clone()
    }

    /// The checkpoints whose manifest this worker wrote (worker 0 only; empty elsewhere).
    pub fn committed(&self) -> Vec<u64> {
        self.inner
            .borrow()
            .committer
            .as_ref()
            .map(|c| c.committed().to_vec())
            .unwrap_or_default()
    }

    /// The alignment pauses: per checkpoint, how long the operator held its records at the epoch boundary (the
    /// synchronous part).
    pub fn pauses(&self) -> Vec<Duration> {
        self.inner.borrow().pauses.clone()
    }

    /// Reaps the asynchronous parts that ended and, on worker 0, writes the manifests that became complete.
    /// Call it from the worker's loop between steps.
    ///
    /// # Errors
    /// The operator's first error (a backend error, a failed asynchronous part) or the committer's.
    pub fn poll(&self) -> Result<(), ClusterError> {
        let mut progress = self.inner.borrow_mut();
        let progress = &mut *progress;
        if let Some(error) = progress.error.take() {
            return Err(error);
        }
        let mut i = 0;
        while i < progress.in_flight.len() {
            if progress.in_flight[i].is_finished() {
                let handle = progress.in_flight.remove(i);
                let id = handle.id();
                handle.wait()?;
                progress.durable.push(id);
            } else {
                i += 1;
            }
        }
        if let Some(committer) = progress.committer.as_mut() {
            committer.poll_throttled()?;
        }
        Ok(())
    }

    /// Waits for the asynchronous parts in flight (the operator calls it when its input ends, before the
    /// dataflow drops the backend, which would cancel them: B22).
    pub(crate) fn wait_in_flight(&self) {
        let handles: Vec<CheckpointHandle> = std::mem::take(&mut self.inner.borrow_mut().in_flight);
        for handle in handles {
            let id = handle.id();
            let result = handle.wait();
            let mut progress = self.inner.borrow_mut();
            match result {
                Ok(_) => progress.durable.push(id),
                Err(e) => {
                    if progress.error.is_none() {
                        progress.error = Some(e.into());
                    }
                }
            }
        }
    }

    /// Waits for every asynchronous part of this worker; on worker 0 then waits up to `timeout` for the other
    /// workers' parts and writes the remaining manifests.
    ///
    /// # Errors
    /// As [`poll`](Self::poll); [`ClusterError::CommitTimeout`] if parts are still missing after `timeout`.
    pub fn finish(&self, timeout: Duration) -> Result<(), ClusterError> {
        self.wait_in_flight();
        let deadline = Instant::now() + timeout;
        loop {
            self.poll()?;
            let progress = self.inner.borrow();
            let Some(committer) = progress.committer.as_ref() else {
                return Ok(());
            };
            let Some(id) = committer.pending().next() else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(ClusterError::CommitTimeout {
                    checkpoint: id,
                    missing: committer.missing(id),
                });
            }
            drop(progress);
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
