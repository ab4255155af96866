//! `soak --incremental`: the keyed state backend (value and reducing states, as the default soak) checkpointed
//! incrementally (docs/DESIGN.md C6–C9): `checkpoint_with` under a policy with a full checkpoint every K and
//! deltas in between, up to two asynchronous parts in flight while the writer goes on, and now and then one
//! cancelled. Every checkpoint that completes is restored as the chain it ends (its full checkpoint, then its
//! deltas in order, read back from the storage) into a fresh backend — every third also into the key-group
//! ranges of 2–4 instances, scaled back in from their checkpoints — and verified against the model captured at
//! its synchronous part. A cancelled checkpoint must leave the base: no later checkpoint may be a delta of it
//! (C8). Any mismatch stops the run with the seed and the first divergence.

use super::backend::{restore_and_verify, BackendSet};
use super::checkpoint::{mb_per_sec, Storage, TimedStorage, KEEP};
use super::model::{Capture, Model};
use super::report::{memory, percentile, IncrementalSummary, Summary};
use super::target::KeyedTarget;
use super::workload::Workload;
use super::{apply, Config};
use crate::error::{CliError, Result};
use cow_state_table::backend::storage::{CheckpointStorage, DirectoryStorage, MemoryStorage};
use cow_state_table::backend::{CheckpointError, CheckpointHandle, CheckpointMode, IncrementalPolicy};
use cow_state_table::keygroup::KeyGroupContext;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every how many checkpoints one is cancelled (the one taken when `id % CANCEL_EVERY == CANCEL_EVERY - 1`, one
/// batch of operations after its synchronous part).
const CANCEL_EVERY: u64 = 7;

/// A checkpoint whose asynchronous part runs.
struct InFlight {
    id: u64,
    op: u64,
    capture: Capture,
    /// The checkpoint it is a delta of (`PendingCheckpoint::base_id` at its synchronous part).
    base: Option<u64>,
    handle: CheckpointHandle,
    /// Cancelled (after the writer's next batch) instead of waited for.
    cancel: bool,
}

/// The run's bookkeeping of checkpoints.
#[derive(Default)]
struct Ledger {
    /// Every checkpoint taken: the one it is a delta of.
    bases: HashMap<u64, Option<u64>>,
    /// Checkpoints that completed (committed).
    completed: HashSet<u64>,
    /// Checkpoints that did not (cancelled or failed): none may ever be a base (C8).
    failed: HashSet<u64>,
    stats: IncrementalSummary,
    full_bytes: u64,
    delta_bytes: u64,
    restore: Duration,
    restored_bytes: u64,
    max_bytes: u64,
}

impl Ledger {
    /// The chain ending at `id`: its full checkpoint, then the deltas in order.
    fn chain(&self, id: u64) -> std::result::Result<Vec<u64>, String> {
        let mut chain = vec![id];
        let mut at = id;
        while let Some(&Some(base)) = self.bases.get(&at) {
            if !self.completed.contains(&base) {
                return Err(format!(
                    "checkpoint {id}: its chain reaches checkpoint {base}, which did not complete (C8)"
                ));
            }
            chain.push(base);
            at = base;
        }
        chain.reverse();
        Ok(chain)
    }
}

/// The storage the run writes to, and the in-memory one to prune by hand (a directory prunes itself, C9).
type Opened = (Arc<dyn CheckpointStorage>, Option<Arc<MemoryStorage>>);

/// Opens the run's storage.
fn open(storage: &Storage) -> Result<Opened> {
    Ok(match storage {
        Storage::Memory => {
            let m = Arc::new(MemoryStorage::with_max_size(u64::MAX));
            (m.clone(), Some(m))
        }
        Storage::Dir(dir) => (
            Arc::new(DirectoryStorage::open(dir, KEEP as usize).map_err(|e| CliError::Usage(e.to_string()))?),
            None,
        ),
    })
}

/// Waits for (or cancels) `f`, checks C8 and restores and verifies the chain it ends if it completed.
fn settle(
    f: InFlight,
    ctx: KeyGroupContext,
    states: usize,
    storage: &dyn CheckpointStorage,
    ledger: &mut Ledger,
) -> std::result::Result<(), String> {
    let id = f.id;
    let outcome = if f.cancel { f.handle.cancel() } else { f.handle.wait() };
    let summary = match outcome {
        Ok(s) => s,
        Err(CheckpointError::Cancelled { .. }) if f.cancel => {
            ledger.failed.insert(id);
            ledger.stats.cancelled += 1;
            // C8: a cancelled checkpoint leaves the base; nothing taken so far is a delta of it.
            if let Some((later, _)) = ledger.bases.iter().find(|(_, b)| **b == Some(id)) {
                return Err(format!(
                    "checkpoint {later} is a delta of checkpoint {id}, which was cancelled (C8)"
                ));
            }
            return Ok(());
        }
        Err(e) => return Err(format!("checkpoint {id} (taken after op {}): {e}", f.op)),
    };
    if summary.base != f.base {
        return Err(format!(
            "checkpoint {id}: written as a delta of {:?}, its synchronous part named {:?}",
            summary.base, f.base
        ));
    }
    ledger.completed.insert(id);
    ledger.max_bytes = ledger.max_bytes.max(summary.bytes);
    match f.base {
        None => {
            ledger.stats.full += 1;
            ledger.full_bytes += summary.bytes;
        }
        Some(_) => {
            ledger.stats.deltas += 1;
            ledger.delta_bytes += summary.bytes;
        }
    }
    let chain = ledger.chain(id)?;
    let bytes = chain
        .iter()
        .map(|&c| {
            storage
                .read(c)
                .map_err(|e| format!("checkpoint {id}: read checkpoint {c} of its chain {chain:?}: {e}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let slices: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let n = ledger.stats.chains_restored;
    // Every third chain is also restored rescaled, to 2, 3 or 4 instances.
    let rescale = (n % 3 == 2).then(|| 2 + (n / 3 % 3) as u32);
    let started = Instant::now();
    ledger.restored_bytes += restore_and_verify(&slices, states, id, f.op, &f.capture, ctx, rescale)?;
    ledger.restore += started.elapsed();
    ledger.stats.chains_restored += 1;
    ledger.stats.rescaled += u64::from(rescale.is_some());
    ledger.stats.longest_chain = ledger.stats.longest_chain.max(chain.len() as u64);
    Ok(())
}

/// Drops from memory the settled checkpoints no chain still needs: those of the backend's base and of the
/// checkpoints in flight.
fn prune(memory: &MemoryStorage, ledger: &Ledger, base: Option<u64>, in_flight: &[InFlight]) {
    let mut needed = BTreeSet::new();
    for mut at in base.into_iter().chain(in_flight.iter().filter_map(|f| f.base)) {
        needed.insert(at);
        while let Some(&Some(b)) = ledger.bases.get(&at) {
            needed.insert(b);
            at = b;
        }
    }
    for &id in ledger.completed.iter().filter(|id| !needed.contains(id)) {
        memory.remove(id);
    }
}

/// Runs the incremental soak with a full checkpoint every `full_every`; returns the summary (with `result =
/// "mismatch"` on a divergence).
pub fn run(cfg: &Config, full_every: u32) -> Result<Summary> {
    let usage = |e: String| CliError::Usage(e);
    let ctx = KeyGroupContext::all(cfg.max_parallelism).map_err(|e| usage(e.to_string()))?;
    let states = cfg.shape.states;
    let mut target = BackendSet::new(states, ctx).map_err(usage)?;
    let (inner, in_memory) = open(&cfg.storage)?;
    let timed = Arc::new(TimedStorage::new(inner));
    let storage: Arc<dyn CheckpointStorage> = timed.clone();
    // Deltas whenever the chain allows, however much changed (the fraction is tested by the backend's tests).
    let mode = CheckpointMode::Incremental(IncrementalPolicy::every(full_every).with_max_delta_fraction(f64::MAX));
    let mut model = Model::new(states, ctx);
    let mut stream = Workload::new(cfg.seed, cfg.shape);
    let mut ledger = Ledger::default();
    ledger.stats.full_every = full_every;
    let mut in_flight: Vec<InFlight> = Vec::new();
    let mut pauses = Vec::new();
    let (mut ops, mut checkpoints) = (0u64, 0u64);
    let mut failure: Option<String> = None;
    let started = Instant::now();
    let mut next_checkpoint = started + cfg.checkpoint_every;
    'run: while started.elapsed() < cfg.duration && failure.is_none() {
        for _ in 0..64 {
            let (state, op) = stream.next_op();
            if let Err(e) = apply(&mut target, &mut model, state, op) {
                failure = Some(format!("op {ops} on state {state}: {op:?}: {e}"));
                break 'run;
            }
            ops += 1;
            if cfg.inject_fault == Some(ops) {
                if let Err(e) = target.inject(0, cfg.shape.keys + 7, 0, 42) {
                    failure = Some(format!("fault injection: {e}"));
                }
            }
        }
        // Settle what finished, and cancel the checkpoint to cancel (its part has run for one batch of ops).
        while let Some(i) = in_flight.iter().position(|f| f.cancel || f.handle.is_finished()) {
            if let Err(e) = settle(in_flight.remove(i), ctx, states, &*storage, &mut ledger) {
                failure = Some(e);
                break 'run;
            }
        }
        if Instant::now() < next_checkpoint {
            continue;
        }
        next_checkpoint = Instant::now() + cfg.checkpoint_every;
        // At most two in flight: the oldest is settled first.
        while in_flight.len() >= 2 {
            if let Err(e) = settle(in_flight.remove(0), ctx, states, &*storage, &mut ledger) {
                failure = Some(e);
                break 'run;
            }
        }
        if let Some(m) = &in_memory {
            prune(m, &ledger, target.backend_mut().incremental_stats().base, &in_flight);
        }
        let base_bytes = target.backend_mut().incremental_stats().bytes_copied_since_base;
        ledger.stats.base_bytes_max = ledger.stats.base_bytes_max.max(base_bytes);
        checkpoints += 1;
        let id = checkpoints;
        let t = Instant::now();
        let pending = match target.backend_mut().checkpoint_with(id, mode) {
            Ok(p) => p,
            Err(e) => {
                failure = Some(format!("checkpoint {id} after op {ops}: {e}"));
                break;
            }
        };
        let capture = model.capture();
        pauses.push(t.elapsed().as_nanos() as u64);
        let base = pending.base_id();
        if let Some(b) = base.filter(|b| ledger.failed.contains(b)) {
            failure = Some(format!(
                "checkpoint {id} is a delta of checkpoint {b}, which did not complete (C8)"
            ));
            break;
        }
        ledger.bases.insert(id, base);
        in_flight.push(InFlight {
            id,
            op: ops,
            capture,
            base,
            handle: pending.spawn(storage.clone()),
            cancel: id % CANCEL_EVERY == CANCEL_EVERY - 1,
        });
    }
    for f in std::mem::take(&mut in_flight) {
        if failure.is_none() {
            if let Err(e) = settle(f, ctx, states, &*storage, &mut ledger) {
                failure = Some(e);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    pauses.sort_unstable();
    let us = |ns: u64| ns as f64 / 1e3;
    let s = &mut ledger.stats;
    s.full_bytes_avg = ledger.full_bytes.checked_div(s.full).unwrap_or(0);
    s.delta_bytes_avg = ledger.delta_bytes.checked_div(s.deltas).unwrap_or(0);
    let written = s.full + s.deltas;
    Ok(Summary {
        seed: cfg.seed,
        target: format!(
            "{}, incremental checkpoints (a full one every {full_every})",
            BackendSet::NAME
        ),
        seconds,
        keys: cfg.shape.keys,
        namespaces: cfg.shape.namespaces,
        states,
        readers: 0,
        ops,
        ops_per_sec: ops as f64 / seconds.max(1e-9),
        entries: target.entries(),
        snapshots: 0,
        snapshots_verified: 0,
        entries_verified: 0,
        pause_p50_us: us(percentile(&pauses, 50.0)),
        pause_p99_us: us(percentile(&pauses, 99.0)),
        pause_max_us: us(pauses.last().copied().unwrap_or(0)),
        node_copies_per_snapshot: None,
        chunk_copies_per_snapshot: None,
        checkpoints,
        checkpoints_verified: s.chains_restored,
        checkpoints_rescaled: s.rescaled,
        checkpoint_bytes_avg: (ledger.full_bytes + ledger.delta_bytes)
            .checked_div(written)
            .unwrap_or(0),
        checkpoint_bytes_max: ledger.max_bytes,
        write_mb_per_sec: mb_per_sec(timed.committed()),
        restore_mb_per_sec: mb_per_sec((ledger.restored_bytes, ledger.restore)),
        storage: match &cfg.storage {
            Storage::Memory => "memory".to_string(),
            Storage::Dir(d) => d.display().to_string(),
        },
        peak_memory_bytes: memory().1,
        incremental: Some(ledger.stats),
        result: if failure.is_some() { "mismatch" } else { "ok" }.to_string(),
        divergence: failure,
    })
}
