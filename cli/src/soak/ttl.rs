//! `soak --ttl`: the keyed state backend's TTL value states (docs/DESIGN.md T1–T8) under a long generated
//! stream. The writer reads and writes skewed keys while a manual clock advances one millisecond per operation
//! (the time-to-live is a tenth of the key space in milliseconds, so a cold key expires between two touches);
//! every read is compared with a model that keeps each value's stamp. Checkpoints (cleanup at snapshot) run on
//! their own thread while the writer goes on and the clock moves; each is restored and must hold exactly the
//! captured entries unexpired when its filter read the clock (anything expired at its synchronous part absent,
//! anything unexpired at its end present). Every state also has incremental cleanup, so expired entries leave
//! the live tables during rehashes with a checkpoint in flight.

use super::checkpoint::Storage;
use super::report::{memory, Summary};
use super::Config;
use crate::error::{CliError, Result};
use cow_state_table::backend::storage::{CheckpointStorage, DirectoryStorage, MemoryStorage};
use cow_state_table::backend::ttl::{expired, ManualClock, StateTtlConfig, TtlTimeProvider, TtlValueState};
use cow_state_table::backend::{CheckpointHandle, KeyedStateBackend, ValueStateDescriptor};
use cow_state_table::serializer::{U32Serializer, U64Serializer};
use cow_state_table::DeterministicState;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Backend = KeyedStateBackend<u64, U64Serializer, DeterministicState>;
type Entries = HashMap<(usize, u64, u32), (u64, i64)>;

fn backend(cfg: &Config, clock: &Arc<ManualClock>, ttl: i64) -> Result<(Backend, Vec<TtlValueState<u32, u64>>)> {
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(e.to_string());
    let range = cow_state_table::keygroup::KeyGroupRange::of(0, cfg.max_parallelism - 1).map_err(|e| usage(&e))?;
    let mut b = Backend::new(U64Serializer, cfg.max_parallelism, range).map_err(|e| usage(&e))?;
    let config = StateTtlConfig::new(Duration::from_millis(ttl as u64))
        .map_err(|e| usage(&e))?
        .cleanup_full_snapshot()
        .cleanup_incrementally(5, false)
        .map_err(|e| usage(&e))?
        .with_time_provider(clock.clone());
    let states = (0..cfg.shape.states)
        .map(|i| {
            b.register_ttl_value(
                ValueStateDescriptor::new(format!("ttl-{i}"), U32Serializer, U64Serializer),
                config.clone(),
            )
            .map_err(|e| usage(&e))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((b, states))
}

/// The stored entries of every state, expired or not.
fn stored(b: &Backend, states: &[TtlValueState<u32, u64>]) -> std::result::Result<Entries, String> {
    let mut out = Entries::new();
    for (i, s) in states.iter().enumerate() {
        let table = b.state_table(s.stored()).map_err(|e| e.to_string())?;
        for (k, n, tv) in table.iter() {
            out.insert((i, *k, *n), (tv.user_value, tv.last_access));
        }
    }
    Ok(out)
}

/// The live tables against the model (T4–T6): everything stored is in the model with the same value and stamp,
/// and everything the model holds unexpired at `now` is stored.
fn compare_live(live: &Entries, model: &Entries, ttl: i64, now: i64) -> std::result::Result<(), String> {
    if let Some((k, e)) = live.iter().find(|(k, e)| model.get(*k) != Some(*e)) {
        return Err(format!("live {k:?} = {e:?}, model {:?}", model.get(k)));
    }
    if let Some((k, e)) = model
        .iter()
        .find(|(k, e)| !expired(e.1, ttl, now) && !live.contains_key(*k))
    {
        return Err(format!("live table lost unexpired {k:?} = {e:?}"));
    }
    Ok(())
}

struct InFlight {
    id: u64,
    handle: CheckpointHandle,
    captured: Entries,
    started_at: i64,
}

/// Restores a finished checkpoint and checks its TTL window (T5).
fn verify(
    cfg: &Config,
    storage: &Arc<dyn CheckpointStorage>,
    f: InFlight,
    ttl: i64,
    now: i64,
) -> std::result::Result<u64, String> {
    let summary = f.handle.wait().map_err(|e| format!("checkpoint {}: {e}", f.id))?;
    let bytes = storage.read(f.id).map_err(|e| e.to_string())?;
    let clock = Arc::new(ManualClock::new(0));
    let (mut r, states) = backend(cfg, &clock, ttl).map_err(|e| e.to_string())?;
    r.restore(&[&bytes]).map_err(|e| format!("restore {}: {e}", f.id))?;
    let got = stored(&r, &states)?;
    for (k, e) in &got {
        if f.captured.get(k) != Some(e) {
            return Err(format!(
                "checkpoint {}: {k:?} = {e:?}, captured {:?}",
                f.id,
                f.captured.get(k)
            ));
        }
        if expired(e.1, ttl, f.started_at) {
            return Err(format!(
                "checkpoint {}: {k:?} = {e:?} was expired at its synchronous part",
                f.id
            ));
        }
    }
    for (k, e) in &f.captured {
        if !expired(e.1, ttl, now) && !got.contains_key(k) {
            return Err(format!("checkpoint {}: unexpired {k:?} = {e:?} missing", f.id));
        }
    }
    Ok(summary.bytes)
}

/// Runs the TTL soak; returns the summary (with `result = "mismatch"` on a divergence).
pub fn run(cfg: &Config) -> Result<Summary> {
    // A hot key (70% of the operations go to 1% of the keys) stays alive; a cold one mostly expires between
    // two touches.
    let cells = cfg.shape.keys * u64::from(cfg.shape.namespaces) * cfg.shape.states as u64;
    let ttl = (cells / 8).clamp(2, i64::MAX as u64) as i64;
    let clock = Arc::new(ManualClock::new(1));
    let (mut b, states) = backend(cfg, &clock, ttl)?;
    let storage: Arc<dyn CheckpointStorage> = match &cfg.storage {
        Storage::Memory => Arc::new(MemoryStorage::new()),
        Storage::Dir(dir) => Arc::new(DirectoryStorage::open(dir, 3).map_err(|e| CliError::Usage(e.to_string()))?),
    };
    // Waits for a checkpoint in flight and verifies what it holds at the clock's current time (T5).
    let settle = |f: InFlight| verify(cfg, &storage, f, ttl, TtlTimeProvider::current_timestamp(&*clock));
    let mut model = Entries::new();
    let mut rng = cfg.seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let start = Instant::now();
    let mut last_checkpoint = Instant::now();
    let mut in_flight: Option<InFlight> = None;
    let (mut ops, mut reads_expired, mut checkpoints, mut verified, mut bytes) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut failure: Option<String> = None;
    let hot = (cfg.shape.keys / 100).max(1);
    while start.elapsed() < cfg.duration && failure.is_none() {
        ops += 1;
        clock.advance(1);
        let now = cow_state_table::backend::ttl::TtlTimeProvider::current_timestamp(&*clock);
        let r = next();
        let key = if r % 10 < 7 {
            next() % hot
        } else {
            next() % cfg.shape.keys
        };
        let ns = (next() % u64::from(cfg.shape.namespaces)) as u32;
        let state = (next() % states.len() as u64) as usize;
        let mut h = states[state].clone();
        h.set_current_namespace(ns);
        if let Err(e) = b.set_current_key(key) {
            failure = Some(e.to_string());
            break;
        }
        let m = (state, key, ns);
        if cfg.inject_fault == Some(ops) {
            // Behind the model's back, on a key the stream never uses: the next live check must report it (if it
            // comes before the entry expires and a cleanup removes it: use a short --checkpoint-every).
            let _ = b
                .set_current_key(cfg.shape.keys + 1)
                .and_then(|()| h.update(&mut b, u64::MAX));
            let _ = b.set_current_key(key);
        }
        match r % 4 {
            0 | 1 => {
                let want = match model.get(&m) {
                    Some(&(v, ts)) if !expired(ts, ttl, now) => Some(v),
                    Some(_) => {
                        model.remove(&m);
                        reads_expired += 1;
                        None
                    }
                    None => None,
                };
                match h.value(&mut b) {
                    Ok(got) if got.copied() == want => {}
                    Ok(got) => failure = Some(format!("op {ops}: read {m:?} at {now}: {got:?}, model {want:?}")),
                    Err(e) => failure = Some(e.to_string()),
                }
            }
            2 => {
                let v = next() % 1_000_000;
                model.insert(m, (v, now));
                if let Err(e) = h.update(&mut b, v) {
                    failure = Some(e.to_string());
                }
            }
            _ => {
                model.remove(&m);
                if let Err(e) = h.clear(&mut b) {
                    failure = Some(e.to_string());
                }
            }
        }
        if last_checkpoint.elapsed() >= cfg.checkpoint_every && failure.is_none() {
            last_checkpoint = Instant::now();
            if let Some(f) = in_flight.take() {
                match settle(f) {
                    Ok(n) => {
                        verified += 1;
                        bytes += n;
                    }
                    Err(e) => failure = Some(e),
                }
            }
            checkpoints += 1;
            // The model is what the checkpoint must hold (T5); the live tables are checked against it first.
            let captured = model.clone();
            if let Err(e) = stored(&b, &states).and_then(|live| compare_live(&live, &model, ttl, now)) {
                failure = Some(format!("op {ops}: {e}"));
            }
            match b.checkpoint(checkpoints) {
                Ok(p) => {
                    in_flight = Some(InFlight {
                        id: checkpoints,
                        handle: p.spawn(storage.clone()),
                        captured,
                        started_at: now,
                    })
                }
                Err(e) => failure = Some(e.to_string()),
            }
            if let Err(e) = b.check_invariants() {
                failure = Some(e.to_string());
            }
        }
    }
    if let Some(f) = in_flight.take() {
        if failure.is_none() {
            match settle(f) {
                Ok(n) => {
                    verified += 1;
                    bytes += n;
                }
                Err(e) => failure = Some(e),
            }
        }
    }
    // The live tables: every unexpired model entry is there, nothing is there that the model does not hold.
    if failure.is_none() {
        let now = cow_state_table::backend::ttl::TtlTimeProvider::current_timestamp(&*clock);
        if let Err(e) = stored(&b, &states).and_then(|live| compare_live(&live, &model, ttl, now)) {
            failure = Some(e);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    eprintln!("ttl soak: {ops} ops, {reads_expired} reads of expired values, {verified} checkpoints verified");
    Ok(Summary {
        seed: cfg.seed,
        target: format!(
            "keyed state backend, {} TTL value states (ttl {ttl} ms, 1 ms per op)",
            states.len()
        ),
        seconds,
        keys: cfg.shape.keys,
        namespaces: cfg.shape.namespaces,
        states: cfg.shape.states,
        readers: 0,
        ops,
        ops_per_sec: ops as f64 / seconds.max(1e-9),
        entries: b.num_state_entries() as u64,
        snapshots: 0,
        snapshots_verified: 0,
        entries_verified: 0,
        pause_p50_us: 0.0,
        pause_p99_us: 0.0,
        pause_max_us: 0.0,
        node_copies_per_snapshot: None,
        chunk_copies_per_snapshot: None,
        checkpoints,
        checkpoints_verified: verified,
        checkpoints_rescaled: 0,
        checkpoint_bytes_avg: bytes.checked_div(verified).unwrap_or(0),
        checkpoint_bytes_max: 0,
        write_mb_per_sec: 0.0,
        restore_mb_per_sec: 0.0,
        storage: match &cfg.storage {
            Storage::Memory => "memory".to_string(),
            Storage::Dir(d) => d.display().to_string(),
        },
        peak_memory_bytes: memory().1,
        incremental: None,
        result: if failure.is_some() { "mismatch" } else { "ok" }.to_string(),
        divergence: failure,
    })
}
