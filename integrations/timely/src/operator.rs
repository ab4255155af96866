//! The keyed stateful operator: records routed by key group (X1), applied per completed epoch to the worker's
//! `KeyedStateBackend`, checkpointed at epoch boundaries (X3), restored from the latest complete checkpoint (X5).

use crate::checkpoints::{ManifestCommitter, WorkerCheckpoints};
use crate::error::ClusterError;
use crate::exchange::KeyGroupExchange;
use crate::manifest::CheckpointRoot;
use crate::restore::restore_worker;
use cow_state_table::backend::storage::{CheckpointStorage, DirectoryStorage};
use cow_state_table::backend::{BackendError, KeyedStateBackend, StateKey, StateType};
use cow_state_table::serializer::TypeSerializer;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;

/// The backend a [`KeyedLogic`] works on.
pub type Backend<L> = KeyedStateBackend<<L as KeyedLogic>::Key, <L as KeyedLogic>::KeySerializer>;

/// The logic of a keyed operator: what to do with one record under its key, and at the end of an epoch.
///
/// Flink: a `KeyedProcessFunction` (`processElement`, with the key context set) whose event-time timers fire at
/// epoch ends (`onTimer` at the watermark). Before [`process`](Self::process) the backend's current key is the
/// record's [`key`](Self::key); every state kind of the backend (Value, List, Reducing, Aggregating, Map) and
/// namespace merging are available through it.
pub trait KeyedLogic: 'static {
    /// The key type.
    type Key: StateKey;
    /// The key's serializer (checkpoints).
    type KeySerializer: TypeSerializer<Value = Self::Key> + StateType;
    /// The input records: exchanged between processes (serde), and ordered: the records of one epoch are applied
    /// in ascending order, so the state after an epoch does not depend on arrival order or worker count (X7).
    type Record: timely::ExchangeData + Ord + Clone;
    /// The output records.
    type Output: Clone + 'static;

    /// The key of a record.
    fn key(record: &Self::Record) -> Self::Key;

    /// Applies one record of `epoch`; the backend's current key is the record's.
    ///
    /// # Errors
    /// A backend error stops the operator; the worker's [`WorkerCheckpoints::poll`] reports it.
    fn process(
        &mut self,
        backend: &mut Backend<Self>,
        epoch: u64,
        record: Self::Record,
        out: &mut Vec<Self::Output>,
    ) -> Result<(), BackendError>;

    /// Called once per epoch after all its records (on every worker, also without records): fire windows here.
    ///
    /// # Errors
    /// As [`process`](Self::process).
    fn epoch_complete(
        &mut self,
        backend: &mut Backend<Self>,
        epoch: u64,
        out: &mut Vec<Self::Output>,
    ) -> Result<(), BackendError> {
        let _ = (backend, epoch, out);
        Ok(())
    }
}

/// Wraps a worker's checkpoint storage (e.g. to inject faults in tests): `(storage, worker index) → storage`.
pub type StorageWrapper = Arc<dyn Fn(Arc<dyn CheckpointStorage>, usize) -> Arc<dyn CheckpointStorage> + Send + Sync>;

/// Where and how often to checkpoint.
#[derive(Clone)]
pub struct CheckpointConfig {
    /// The root shared by all workers.
    pub root: CheckpointRoot,
    /// This start's run id: fresh for every start of the job (X2).
    pub run: u64,
    /// A checkpoint after every epoch `e` with `(e + 1) % interval == 0` (X3); must be at least 1.
    pub interval: u64,
    /// Which checkpoint to restore at start.
    pub restore: Restore,
    /// An optional wrapper around each worker's storage.
    pub wrap: Option<StorageWrapper>,
}

impl fmt::Debug for CheckpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointConfig")
            .field("root", &self.root)
            .field("run", &self.run)
            .field("interval", &self.interval)
            .field("restore", &self.restore)
            .field("wrap", &self.wrap.is_some())
            .finish()
    }
}

/// Which checkpoint a start restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// None: start empty at epoch 0.
    Nothing,
    /// The latest checkpoint with a manifest, if any (X5).
    Latest,
    /// This checkpoint (its manifest must exist).
    Checkpoint(u64),
}

/// The keyed operator's configuration.
#[derive(Debug, Clone)]
pub struct KeyedConfig<KS> {
    /// The operator's name.
    pub name: String,
    /// The number of key groups (fixed for the job's life: rescaling keeps it).
    pub max_parallelism: u32,
    /// The key serializer.
    pub key_serializer: KS,
    /// Checkpointing, if any.
    pub checkpoints: Option<CheckpointConfig>,
}

/// Builds the keyed operator over `stream` (timestamps are dense epochs, X3): routes every record to the worker
/// owning its key group (X1), restores this worker's key groups if asked (X5, X6), builds the logic with `build`
/// (which registers the states), and returns the output stream and this worker's [`WorkerCheckpoints`].
///
/// Records are stashed until the input frontier passes their epoch, then applied in order (X7); after epoch
/// `e`'s records and [`KeyedLogic::epoch_complete`], if `e` is a checkpoint epoch, the synchronous part is taken
/// there (the alignment pause) and the asynchronous part spawned into the worker's `DirectoryStorage` (X3).
///
/// # Errors
/// Bad parallelism, a run id used before, storage, restore and `build` errors.
pub fn keyed_state<'scope, L, B>(
    stream: StreamVec<'scope, u64, L::Record>,
    config: KeyedConfig<L::KeySerializer>,
    build: B,
) -> Result<(StreamVec<'scope, u64, L::Output>, WorkerCheckpoints), ClusterError>
where
    L: KeyedLogic,
    B: FnOnce(&mut Backend<L>) -> Result<L, BackendError>,
{
    let scope = stream.scope();
    let (index, peers) = (scope.index(), scope.peers());
    let exchange = KeyGroupExchange::new(config.max_parallelism, peers)?;
    let range = exchange.range_of(index)?;
    let mut backend: Backend<L> = KeyedStateBackend::new(config.key_serializer.clone(), config.max_parallelism, range)?;
    let mut logic = build(&mut backend)?;

    let mut storage: Option<Arc<dyn CheckpointStorage>> = None;
    let mut interval = u64::MAX;
    let mut resumed_from = None;
    let mut committer = None;
    if let Some(cp) = &config.checkpoints {
        let manifest = match cp.restore {
            Restore::Nothing => None,
            Restore::Latest => cp.root.latest()?,
            Restore::Checkpoint(id) => Some(cp.root.read_manifest(id)?),
        };
        if let Some(manifest) = &manifest {
            restore_worker(&cp.root, manifest, &mut backend)?;
            resumed_from = Some(manifest.checkpoint);
        }
        let dir = cp.root.worker_dir(cp.run, index);
        let opened = DirectoryStorage::open(&dir, 0)?;
        if !opened.list()?.is_empty() {
            return Err(ClusterError::RunReused { run: cp.run, path: dir });
        }
        let opened: Arc<dyn CheckpointStorage> = Arc::new(opened);
        storage = Some(match &cp.wrap {
            Some(wrap) => wrap(opened, index),
            None => opened,
        });
        interval = cp.interval.max(1);
        if index == 0 {
            committer = Some(ManifestCommitter::new(
                cp.root.clone(),
                cp.run,
                peers,
                config.max_parallelism,
            ));
        }
    }
    let checkpoints = WorkerCheckpoints::new(index, resumed_from, committer);
    let shared = checkpoints.clone();
    let first_epoch = checkpoints.first_epoch();

    let pact = Exchange::new(move |record: &L::Record| exchange.worker_of(&L::key(record)) as u64);
    let output = stream.unary_frontier(pact, &config.name, move |capability, _info| {
        let mut held: Option<Capability<u64>> = Some(capability);
        let mut stash: BTreeMap<u64, Vec<L::Record>> = BTreeMap::new();
        let mut next_epoch = first_epoch;
        let mut failed = false;
        let mut out: Vec<L::Output> = Vec::new();
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                if let Some(&epoch) = cap.least() {
                    stash.entry(epoch).or_default().append(data);
                }
            });
            if failed {
                stash.clear();
                held = None;
                return;
            }
            let bound = match frontier.frontier().first() {
                Some(&f) => f,
                None => stash.keys().next_back().map_or(next_epoch, |&e| e + 1).max(next_epoch),
            };
            // Records of epochs before the first one (a replay that starts too early) join the first epoch.
            while let Some((&e, _)) = stash.first_key_value() {
                if e >= next_epoch {
                    break;
                }
                let late = stash.remove(&e).unwrap_or_default();
                stash.entry(next_epoch).or_default().extend(late);
            }
            while next_epoch < bound {
                let epoch = next_epoch;
                let Some(cap) = held.as_ref() else { break };
                let mut records = stash.remove(&epoch).unwrap_or_default();
                records.sort_unstable();
                let mut result = Ok(());
                for record in records {
                    result = backend
                        .set_current_key(L::key(&record))
                        .and_then(|()| logic.process(&mut backend, epoch, record, &mut out));
                    if result.is_err() {
                        break;
                    }
                }
                if result.is_ok() {
                    result = logic.epoch_complete(&mut backend, epoch, &mut out);
                }
                if !out.is_empty() {
                    let time = cap.delayed(&epoch);
                    output.session(&time).give_iterator(out.drain(..));
                }
                if let Err(e) = result {
                    shared.inner.borrow_mut().error = Some(e.into());
                    failed = true;
                    break;
                }
                if let Some(storage) = &storage {
                    if (epoch + 1) % interval == 0 {
                        let start = Instant::now();
                        let taken = backend.checkpoint(epoch);
                        let pause = start.elapsed();
                        match taken {
                            Ok(pending) => {
                                let handle = pending.spawn(storage.clone());
                                let mut progress = shared.inner.borrow_mut();
                                progress.pauses.push(pause);
                                progress.taken.push(epoch);
                                progress.in_flight.push(handle);
                                if let Some(c) = progress.committer.as_mut() {
                                    c.expect(epoch);
                                }
                            }
                            Err(e) => {
                                shared.inner.borrow_mut().error = Some(e.into());
                                failed = true;
                                break;
                            }
                        }
                    }
                }
                next_epoch += 1;
            }
            match frontier.frontier().first() {
                Some(&f) if !failed => {
                    if let Some(cap) = held.as_mut() {
                        if *cap.time() < f {
                            cap.downgrade(&f);
                        }
                    }
                }
                _ => {
                    if held.take().is_some() {
                        // The input ended: the dataflow drops this operator and its backend next, which would
                        // cancel the checkpoints in flight (B22); let them finish first.
                        shared.wait_in_flight();
                    }
                }
            }
        }
    });
    Ok((output, checkpoints))
}
