//! `soak --ttl`: the keyed state backend's TTL value, list (per element) and map (per entry) states
//! (docs/DESIGN.md T1–T8) under a long generated stream. The writer reads and writes skewed keys while a manual
//! clock advances one millisecond per operation (the time-to-live is an eighth of the cells in milliseconds, so a
//! cold key expires between two touches); every read is compared with a clock-window model that keeps the stamp of
//! every value, list element and map entry. Checkpoints (cleanup at snapshot) run on their own thread while the
//! writer goes on and the clock moves; each is restored and must hold exactly the captured values, elements and
//! entries unexpired when its filter read the clock (anything expired at its synchronous part absent, anything
//! unexpired at its end present, a list's elements in their order). Every state also has incremental cleanup, so
//! expired values, elements and entries leave the live tables during rehashes with a checkpoint in flight.

use super::checkpoint::{mb_per_sec, Storage, TimedStorage};
use super::report::{memory, Summary};
use super::Config;
use crate::error::{CliError, Result};
use cow_state_table::backend::storage::{CheckpointStorage, DirectoryStorage, MemoryStorage};
use cow_state_table::backend::ttl::{
    expired, ManualClock, StateTtlConfig, TtlListState, TtlMapState, TtlTimeProvider, TtlValueState,
};
use cow_state_table::backend::{
    CheckpointHandle, KeyedStateBackend, ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor,
};
use cow_state_table::serializer::{U32Serializer, U64Serializer};
use cow_state_table::DeterministicState;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Backend = KeyedStateBackend<u64, U64Serializer, DeterministicState>;

/// The user keys a map state's entries use.
const USER_KEYS: u32 = 4;

/// Where a stamped value lives in a state's cell: a value state's value, or a map state's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Value,
    Entry(u32),
}

/// `(state, key, namespace, slot) → (value, stamp)`: the value states' values and the map states' entries.
type Entries = HashMap<(usize, u64, u32, Slot), (u64, i64)>;
/// `(state, key, namespace) → elements`: the list states' elements with their stamps, oldest first.
type Lists = HashMap<(usize, u64, u32), Vec<(u64, i64)>>;

/// What the states hold (stored or modelled), expired or not.
#[derive(Debug, Clone, Default)]
struct Cells {
    entries: Entries,
    lists: Lists,
}

/// One TTL value, list and map state per `--states`.
struct States {
    values: Vec<TtlValueState<u32, u64>>,
    lists: Vec<TtlListState<u32, u64>>,
    maps: Vec<TtlMapState<u32, u32, u64>>,
}

fn backend(cfg: &Config, clock: &Arc<ManualClock>, ttl: i64) -> Result<(Backend, States)> {
    let usage = |e: &dyn std::fmt::Display| CliError::Usage(e.to_string());
    let range = cow_state_table::keygroup::KeyGroupRange::of(0, cfg.max_parallelism - 1).map_err(|e| usage(&e))?;
    let mut b = Backend::new(U64Serializer, cfg.max_parallelism, range).map_err(|e| usage(&e))?;
    let config = StateTtlConfig::new(Duration::from_millis(ttl as u64))
        .map_err(|e| usage(&e))?
        .cleanup_full_snapshot()
        .cleanup_incrementally(5, false)
        .map_err(|e| usage(&e))?
        .with_time_provider(clock.clone());
    let mut states = States {
        values: Vec::new(),
        lists: Vec::new(),
        maps: Vec::new(),
    };
    for i in 0..cfg.shape.states {
        let value = ValueStateDescriptor::new(format!("ttl-{i}"), U32Serializer, U64Serializer);
        states
            .values
            .push(b.register_ttl_value(value, config.clone()).map_err(|e| usage(&e))?);
        let list = ListStateDescriptor::new(format!("ttl-list-{i}"), U32Serializer, U64Serializer);
        states
            .lists
            .push(b.register_ttl_list(list, config.clone()).map_err(|e| usage(&e))?);
        let map = MapStateDescriptor::new(format!("ttl-map-{i}"), U32Serializer, U32Serializer, U64Serializer);
        states
            .maps
            .push(b.register_ttl_map(map, config.clone()).map_err(|e| usage(&e))?);
    }
    Ok((b, states))
}

/// The stored cells of every state, expired or not; a stored list or map that is empty is an error (an emptied
/// one is removed).
fn stored(b: &Backend, states: &States) -> std::result::Result<Cells, String> {
    let mut out = Cells::default();
    for (i, s) in states.values.iter().enumerate() {
        let table = b.state_table(s.stored()).map_err(|e| e.to_string())?;
        for (k, n, tv) in table.iter() {
            out.entries
                .insert((i, *k, *n, Slot::Value), (tv.user_value, tv.last_access));
        }
    }
    for (i, s) in states.lists.iter().enumerate() {
        let table = b.state_table(s.stored()).map_err(|e| e.to_string())?;
        for (k, n, list) in table.iter() {
            if list.is_empty() {
                return Err(format!("list ({i}, {k}, {n}) stored empty"));
            }
            let elements = list.iter().map(|tv| (tv.user_value, tv.last_access)).collect();
            out.lists.insert((i, *k, *n), elements);
        }
    }
    for (i, s) in states.maps.iter().enumerate() {
        let table = b.state_table(s.stored()).map_err(|e| e.to_string())?;
        for (k, n, map) in table.iter() {
            if map.is_empty() {
                return Err(format!("map ({i}, {k}, {n}) stored empty"));
            }
            for (uk, tv) in map {
                out.entries
                    .insert((i, *k, *n, Slot::Entry(*uk)), (tv.user_value, tv.last_access));
            }
        }
    }
    Ok(out)
}

/// `got` is `of` without some of its elements, each of them expired at `now` (a list's per-element cleanup, T5,
/// T6: the others keep their order and stamps).
fn trimmed(got: &[(u64, i64)], of: &[(u64, i64)], ttl: i64, now: i64) -> std::result::Result<(), String> {
    let mut rest = got.iter().peekable();
    for e in of {
        if rest.peek() == Some(&e) {
            rest.next();
        } else if !expired(e.1, ttl, now) {
            return Err(format!("unexpired element {e:?} missing"));
        }
    }
    match rest.next() {
        Some(e) => Err(format!("element {e:?} not in the model (in its order)")),
        None => Ok(()),
    }
}

/// What a store (the live tables, or a restored checkpoint) holds against the model at `now` (T4–T6): every
/// stored value and entry is in the model with the same value and stamp, every stored list is the model's without
/// some expired elements, and everything the model holds unexpired at `now` is stored.
fn compare(what: &str, got: &Cells, model: &Cells, ttl: i64, now: i64) -> std::result::Result<(), String> {
    if let Some((k, e)) = got.entries.iter().find(|(k, e)| model.entries.get(*k) != Some(*e)) {
        return Err(format!("{what} {k:?} = {e:?}, model {:?}", model.entries.get(k)));
    }
    if let Some((k, e)) = model
        .entries
        .iter()
        .find(|(k, e)| !expired(e.1, ttl, now) && !got.entries.contains_key(*k))
    {
        return Err(format!("{what} lost unexpired {k:?} = {e:?}"));
    }
    for (k, list) in &got.lists {
        let of = model.lists.get(k).map_or(&[][..], Vec::as_slice);
        trimmed(list, of, ttl, now).map_err(|e| format!("{what} list {k:?} = {list:?}, model {of:?}: {e}"))?;
    }
    for (k, of) in &model.lists {
        if !got.lists.contains_key(k) {
            trimmed(&[], of, ttl, now).map_err(|e| format!("{what} lost list {k:?} = {of:?}: {e}"))?;
        }
    }
    Ok(())
}

struct InFlight {
    id: u64,
    handle: CheckpointHandle,
    captured: Cells,
    started_at: i64,
}

/// Restores a finished checkpoint and checks its TTL window (T5): what it holds is the captured cells without
/// what was expired at `now`, and nothing it holds was expired at its synchronous part. Returns the checkpoint's
/// size and the time its restore took.
fn verify(
    cfg: &Config,
    storage: &Arc<dyn CheckpointStorage>,
    f: InFlight,
    ttl: i64,
    now: i64,
) -> std::result::Result<(u64, Duration), String> {
    let summary = f.handle.wait().map_err(|e| format!("checkpoint {}: {e}", f.id))?;
    let bytes = storage.read(f.id).map_err(|e| e.to_string())?;
    let clock = Arc::new(ManualClock::new(0));
    let (mut r, states) = backend(cfg, &clock, ttl).map_err(|e| e.to_string())?;
    let started = Instant::now();
    r.restore(&[&bytes]).map_err(|e| format!("restore {}: {e}", f.id))?;
    let took = started.elapsed();
    let got = stored(&r, &states).map_err(|e| format!("checkpoint {}: {e}", f.id))?;
    compare(&format!("checkpoint {}:", f.id), &got, &f.captured, ttl, now)?;
    let stale = got
        .entries
        .iter()
        .map(|(k, e)| (format!("{k:?}"), e))
        .chain(
            got.lists
                .iter()
                .flat_map(|(k, l)| l.iter().map(move |e| (format!("list {k:?}"), e))),
        )
        .find(|(_, e)| expired(e.1, ttl, f.started_at));
    if let Some((k, e)) = stale {
        return Err(format!(
            "checkpoint {}: {k} = {e:?} was expired at its synchronous part",
            f.id
        ));
    }
    Ok((summary.bytes, took))
}

/// The model's read of a value or map entry at `now`: the value if unexpired; an expired one is dropped (the read
/// removes it under `NeverReturnExpired`, T4) and counted.
fn read_entry(model: &mut Cells, k: (usize, u64, u32, Slot), ttl: i64, now: i64, dropped: &mut u64) -> Option<u64> {
    match model.entries.get(&k) {
        Some(&(v, ts)) if !expired(ts, ttl, now) => Some(v),
        Some(_) => {
            model.entries.remove(&k);
            *dropped += 1;
            None
        }
        None => None,
    }
}

/// The model's read of a list at `now`: its unexpired elements, the expired ones dropped (T4) and counted.
fn read_list(model: &mut Cells, k: (usize, u64, u32), ttl: i64, now: i64, dropped: &mut u64) -> Option<Vec<u64>> {
    let list = model.lists.get_mut(&k)?;
    let before = list.len();
    list.retain(|e| !expired(e.1, ttl, now));
    *dropped += (before - list.len()) as u64;
    if list.is_empty() {
        model.lists.remove(&k);
        return None;
    }
    Some(list.iter().map(|e| e.0).collect())
}

/// The operation's outcome: `Err` is a mismatch (or a backend error), with what was expected.
type Step = std::result::Result<(), String>;

fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Step {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: {got:?}, model {want:?}"))
    }
}

/// Runs the TTL soak; returns the summary (with `result = "mismatch"` on a divergence).
pub fn run(cfg: &Config) -> Result<Summary> {
    // A hot key (70% of the operations go to 1% of the keys) stays alive; a cold one mostly expires between
    // two touches.
    let cells = cfg.shape.keys * u64::from(cfg.shape.namespaces) * cfg.shape.states as u64 * 3;
    let ttl = (cells / 8).clamp(2, i64::MAX as u64) as i64;
    let clock = Arc::new(ManualClock::new(1));
    let (mut b, states) = backend(cfg, &clock, ttl)?;
    let timed = Arc::new(TimedStorage::new(match &cfg.storage {
        Storage::Memory => Arc::new(MemoryStorage::new()),
        Storage::Dir(dir) => Arc::new(DirectoryStorage::open(dir, 3).map_err(|e| CliError::Usage(e.to_string()))?),
    }));
    let storage: Arc<dyn CheckpointStorage> = timed.clone();
    // The time the restores of the verified checkpoints took (their bytes are `bytes`, below).
    let restoring = Cell::new(Duration::ZERO);
    // Waits for a checkpoint in flight and verifies what it holds at the clock's current time (T5).
    let settle = |f: InFlight| {
        let (bytes, took) = verify(cfg, &storage, f, ttl, TtlTimeProvider::current_timestamp(&*clock))?;
        restoring.set(restoring.get() + took);
        Ok::<u64, String>(bytes)
    };
    let mut model = Cells::default();
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
    let mut max_bytes = 0u64;
    let mut failure: Option<String> = None;
    let hot = (cfg.shape.keys / 100).max(1);
    while start.elapsed() < cfg.duration && failure.is_none() {
        ops += 1;
        clock.advance(1);
        let now = TtlTimeProvider::current_timestamp(&*clock);
        let r = next();
        let key = if r % 10 < 7 {
            next() % hot
        } else {
            next() % cfg.shape.keys
        };
        let ns = (next() % u64::from(cfg.shape.namespaces)) as u32;
        let i = (next() % cfg.shape.states as u64) as usize;
        let (kind, op, v, uk) = (
            next() % 3,
            next() % 8,
            next() % 1_000_000,
            (next() % u64::from(USER_KEYS)) as u32,
        );
        if let Err(e) = b.set_current_key(key) {
            failure = Some(e.to_string());
            break;
        }
        if cfg.inject_fault == Some(ops) {
            // Behind the model's back, on a key the stream never uses: the next live check must report it (if it
            // comes before the entry expires and a cleanup removes it: use a short --checkpoint-every).
            let _ = b
                .set_current_key(cfg.shape.keys + 1)
                .and_then(|()| states.values[i].update(&mut b, u64::MAX));
            let _ = b.set_current_key(key);
        }
        let m = (i, key, ns);
        let at = format!("op {ops}, at {now}");
        let step: Step = match kind {
            0 => {
                let mut h = states.values[i].clone();
                h.set_current_namespace(ns);
                let k = (i, key, ns, Slot::Value);
                match op % 4 {
                    0 | 1 => {
                        let want = read_entry(&mut model, k, ttl, now, &mut reads_expired);
                        h.value(&mut b)
                            .map_err(|e| e.to_string())
                            .and_then(|got| check(&format!("{at}: read value {k:?}"), got.copied(), want))
                    }
                    2 => {
                        model.entries.insert(k, (v, now));
                        h.update(&mut b, v).map_err(|e| e.to_string())
                    }
                    _ => {
                        model.entries.remove(&k);
                        h.clear(&mut b).map_err(|e| e.to_string())
                    }
                }
            }
            1 => {
                let mut h = states.lists[i].clone();
                h.set_current_namespace(ns);
                match op {
                    0..=2 => {
                        let want = read_list(&mut model, m, ttl, now, &mut reads_expired);
                        h.get(&mut b).map_err(|e| e.to_string()).and_then(|got| {
                            let got = got.map(|it| it.copied().collect::<Vec<_>>());
                            check(&format!("{at}: read list {m:?}"), got, want)
                        })
                    }
                    3 | 4 => {
                        model.lists.entry(m).or_default().push((v, now));
                        h.add(&mut b, v).map_err(|e| e.to_string())
                    }
                    5 => {
                        model.lists.entry(m).or_default().extend([(v, now), (v + 1, now)]);
                        h.add_all(&mut b, [v, v + 1]).map_err(|e| e.to_string())
                    }
                    6 => {
                        let elements: Vec<u64> = (0..v % 3).map(|j| v + j).collect();
                        if elements.is_empty() {
                            model.lists.remove(&m);
                        } else {
                            model.lists.insert(m, elements.iter().map(|&e| (e, now)).collect());
                        }
                        h.update(&mut b, elements).map_err(|e| e.to_string())
                    }
                    _ => {
                        model.lists.remove(&m);
                        h.clear(&mut b).map_err(|e| e.to_string())
                    }
                }
            }
            _ => {
                let mut h = states.maps[i].clone();
                h.set_current_namespace(ns);
                let k = (i, key, ns, Slot::Entry(uk));
                match op {
                    0..=2 => {
                        let want = read_entry(&mut model, k, ttl, now, &mut reads_expired);
                        h.get(&mut b, &uk)
                            .map_err(|e| e.to_string())
                            .and_then(|got| check(&format!("{at}: read map entry {k:?}"), got.copied(), want))
                    }
                    3 => {
                        // The whole map: its unexpired entries, the expired ones dropped (T4).
                        let mut want: Vec<(u32, u64)> = (0..USER_KEYS)
                            .filter_map(|u| {
                                read_entry(&mut model, (i, key, ns, Slot::Entry(u)), ttl, now, &mut reads_expired)
                                    .map(|v| (u, v))
                            })
                            .collect();
                        want.sort_unstable();
                        h.entries(&mut b).map_err(|e| e.to_string()).and_then(|got| {
                            let mut got: Vec<(u32, u64)> = got.map(|(u, v)| (*u, *v)).collect();
                            got.sort_unstable();
                            check(&format!("{at}: entries of map {m:?}"), got, want)
                        })
                    }
                    4 | 5 => {
                        model.entries.insert(k, (v, now));
                        h.put(&mut b, uk, v).map_err(|e| e.to_string())
                    }
                    6 => {
                        model.entries.remove(&k);
                        h.remove(&mut b, &uk).map_err(|e| e.to_string())
                    }
                    _ => {
                        for u in 0..USER_KEYS {
                            model.entries.remove(&(i, key, ns, Slot::Entry(u)));
                        }
                        h.clear(&mut b).map_err(|e| e.to_string())
                    }
                }
            }
        };
        if let Err(e) = step {
            failure = Some(e);
            break;
        }
        if last_checkpoint.elapsed() >= cfg.checkpoint_every {
            if let Some(f) = in_flight.take() {
                match settle(f) {
                    Ok(n) => {
                        verified += 1;
                        bytes += n;
                        max_bytes = max_bytes.max(n);
                    }
                    Err(e) => failure = Some(e),
                }
            }
            checkpoints += 1;
            // The model is what the checkpoint must hold (T5); the live tables are checked against it first.
            let captured = model.clone();
            if let Err(e) = stored(&b, &states).and_then(|live| compare("live", &live, &model, ttl, now)) {
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
            // Counted from the end of the checks, so the writer runs for the interval whatever they cost.
            last_checkpoint = Instant::now();
        }
    }
    if let Some(f) = in_flight.take() {
        if failure.is_none() {
            match settle(f) {
                Ok(n) => {
                    verified += 1;
                    bytes += n;
                    max_bytes = max_bytes.max(n);
                }
                Err(e) => failure = Some(e),
            }
        }
    }
    // The live tables: every unexpired model value, element and entry is there, nothing the model does not hold.
    if failure.is_none() {
        let now = TtlTimeProvider::current_timestamp(&*clock);
        if let Err(e) = stored(&b, &states).and_then(|live| compare("live", &live, &model, ttl, now)) {
            failure = Some(e);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    eprintln!(
        "ttl soak: {ops} ops, {reads_expired} expired values, elements and entries dropped by reads, \
         {verified} checkpoints verified"
    );
    let n = states.values.len();
    Ok(Summary {
        seed: cfg.seed,
        target: format!(
            "keyed state backend, {n} TTL value, {n} TTL list and {n} TTL map states (ttl {ttl} ms, 1 ms per op)"
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
        checkpoint_bytes_max: max_bytes,
        write_mb_per_sec: mb_per_sec(timed.committed()),
        restore_mb_per_sec: mb_per_sec((bytes, restoring.get())),
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
