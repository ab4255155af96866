//! The reference model of the TTL list, map, reducing and aggregating states (docs/DESIGN.md T2–T4, T9, T10).

use super::op::{TtlMode, TtlOp, TtlOutcome, TTL_KEYS, TTL_MAP_KEYS, TTL_MILLIS, TTL_NAMESPACES};
use cow_state_table::backend::ttl::{expired, UpdateType};
use std::collections::{BTreeMap, BTreeSet};

/// A user value and its stamp.
pub type Stamped = (u64, i64);

type Key = (u64, u32);

/// The stored state of the four TTL states, stamps included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TtlStates {
    /// List state: the elements in order.
    pub list: BTreeMap<Key, Vec<Stamped>>,
    /// Map state.
    pub map: BTreeMap<Key, BTreeMap<u8, Stamped>>,
    /// Reducing state.
    pub reducing: BTreeMap<Key, Stamped>,
    /// Aggregating state: the accumulator.
    pub aggregating: BTreeMap<Key, Stamped>,
}

/// The reducing states' function: not commutative, so that merge order shows.
pub fn reduce(a: u64, b: u64) -> u64 {
    a.wrapping_mul(3).wrapping_add(b) % 1_000_000_007
}

/// The aggregating state's fresh accumulator.
pub const AGG_START: u64 = 1;

/// The aggregating state's `add` (of `value` to `acc`): not commutative, and from [`AGG_START`], not the reducing
/// function's result.
pub fn agg_add(value: u64, acc: u64) -> u64 {
    reduce(acc, value)
}

/// The aggregating state's `merge`: not commutative, so that merge order shows.
pub fn agg_merge(a: u64, b: u64) -> u64 {
    a.wrapping_mul(7).wrapping_add(b) % 1_000_000_007
}

/// The aggregating state's result of an accumulator (not the accumulator itself).
pub fn agg_result(acc: u64) -> u64 {
    acc + 1_000_000_000
}

fn live(e: &Stamped, now: i64) -> bool {
    !expired(e.1, TTL_MILLIS, now)
}

fn values(l: &[Stamped]) -> Vec<u64> {
    l.iter().map(|e| e.0).collect()
}

fn entries(m: Option<&BTreeMap<u8, Stamped>>) -> Vec<(u8, u64)> {
    m.into_iter().flatten().map(|(k, e)| (*k, e.0)).collect()
}

/// Drops the expired elements of `l`; `false` if none is left.
fn trim_list(l: &mut Vec<Stamped>, now: i64) -> bool {
    l.retain(|e| live(e, now));
    !l.is_empty()
}

fn trim_map(m: &mut BTreeMap<u8, Stamped>, now: i64) -> bool {
    m.retain(|_, e| live(e, now));
    !m.is_empty()
}

fn stamp(e: &mut Stamped, now: i64) {
    if live(e, now) {
        e.1 = now;
    }
}

impl TtlStates {
    /// What cleanup at snapshot writes when its filter reads `now` (T5): nothing expired, no empty list or map.
    pub fn filtered(&self, now: i64) -> TtlStates {
        let mut s = self.clone();
        for state in 0..4 {
            s.cleanup(state, now);
        }
        s
    }

    /// `cleanup_full` of state `state` (mod 4) at `now` (T7).
    pub fn cleanup(&mut self, state: u8, now: i64) {
        match state % 4 {
            0 => self.list.retain(|_, l| trim_list(l, now)),
            1 => self.map.retain(|_, m| trim_map(m, now)),
            2 => self.reducing.retain(|_, e| live(e, now)),
            _ => self.aggregating.retain(|_, e| live(e, now)),
        }
    }

    /// Checks that `got` (a backend's stored state) is `self` less some elements, entries or values expired at
    /// `now`, every stamp equal (T2, T6: cleanups remove only what is expired).
    pub fn check_cleaned(&self, got: &TtlStates, now: i64) -> Result<(), String> {
        for (key, g) in &got.list {
            let m = self
                .list
                .get(key)
                .ok_or_else(|| format!("list {key:?} = {g:?} not in the model"))?;
            let mut i = 0;
            for e in g {
                while i < m.len() && m[i] != *e {
                    if live(&m[i], now) {
                        return Err(format!(
                            "list {key:?}: unexpired {:?} missing; backend {g:?}, model {m:?}",
                            m[i]
                        ));
                    }
                    i += 1;
                }
                if i == m.len() {
                    return Err(format!(
                        "list {key:?}: {e:?} not in the model; backend {g:?}, model {m:?}"
                    ));
                }
                i += 1;
            }
            if let Some(e) = m[i..].iter().find(|e| live(e, now)) {
                return Err(format!(
                    "list {key:?}: unexpired {e:?} missing; backend {g:?}, model {m:?}"
                ));
            }
        }
        for (key, g) in &got.map {
            let m = self
                .map
                .get(key)
                .ok_or_else(|| format!("map {key:?} = {g:?} not in the model"))?;
            for (uk, e) in g {
                if m.get(uk) != Some(e) {
                    return Err(format!("map {key:?}[{uk}] = {e:?}, model {:?}", m.get(uk)));
                }
            }
            if let Some((uk, e)) = m.iter().find(|(uk, e)| live(e, now) && !g.contains_key(uk)) {
                return Err(format!("map {key:?}: unexpired [{uk}] = {e:?} missing"));
            }
        }
        for (what, got, model) in [
            ("reducing", &got.reducing, &self.reducing),
            ("aggregating", &got.aggregating, &self.aggregating),
        ] {
            for (key, g) in got {
                if model.get(key) != Some(g) {
                    return Err(format!("{what} {key:?} = {g:?}, model {:?}", model.get(key)));
                }
            }
        }
        let missing = |present: bool, any_live: bool| !present && any_live;
        for (key, m) in &self.list {
            if missing(got.list.contains_key(key), m.iter().any(|e| live(e, now))) {
                return Err(format!("list {key:?} = {m:?} (unexpired at {now}) missing"));
            }
        }
        for (key, m) in &self.map {
            if missing(got.map.contains_key(key), m.values().any(|e| live(e, now))) {
                return Err(format!("map {key:?} = {m:?} (unexpired at {now}) missing"));
            }
        }
        for (what, got, model) in [
            ("reducing", &got.reducing, &self.reducing),
            ("aggregating", &got.aggregating, &self.aggregating),
        ] {
            for (key, e) in model {
                if missing(got.contains_key(key), live(e, now)) {
                    return Err(format!("{what} {key:?} = {e:?} (unexpired at {now}) missing"));
                }
            }
        }
        Ok(())
    }
}

/// T9, the reducing and aggregating merge: expired operands are absent, every source is removed, the result
/// (`merge` of the target and the sources' merge, in order) stamped now.
fn merge_unexpired(
    states: &mut BTreeMap<Key, Stamped>,
    k: u64,
    t: u32,
    sources: &[u8],
    now: i64,
    merge: fn(u64, u64) -> u64,
) {
    let mut seen = BTreeSet::new();
    let mut merged: Option<u64> = None;
    for src in sources.iter().map(|n| ns(*n)) {
        if !seen.insert(src) {
            continue;
        }
        if let Some(e) = states.get(&(k, src)).filter(|e| live(e, now)) {
            merged = Some(merged.map_or(e.0, |m| merge(m, e.0)));
        }
    }
    let new = merged.map(|m| {
        let old = states.get(&(k, t)).filter(|e| live(e, now) && !seen.contains(&t));
        old.map_or(m, |o| merge(o.0, m))
    });
    for src in &seen {
        states.remove(&(k, *src));
    }
    if let Some(v) = new {
        states.insert((k, t), (v, now));
    }
}

/// The model: the stored states, the current key, the clock and the run's configuration.
#[derive(Debug, Clone)]
pub struct TtlModel {
    /// The states.
    pub states: TtlStates,
    /// The current key.
    pub current_key: Option<u64>,
    /// The clock, in milliseconds.
    pub now: i64,
    /// The configuration.
    pub mode: TtlMode,
}

fn ns(n: u8) -> u32 {
    u32::from(n) % TTL_NAMESPACES
}

impl TtlModel {
    /// An empty model at time 0.
    pub fn new(mode: TtlMode) -> Self {
        TtlModel {
            states: TtlStates::default(),
            current_key: None,
            now: 0,
            mode,
        }
    }

    /// Applies a state operation (not the checkpoint ones) and checks the backend's outcome `got`; `post` is the
    /// backend's stored state after the operation, what a read under `ReturnExpiredIfNotCleanedUp` returns (it is
    /// checked against the model afterwards).
    pub fn apply(&mut self, op: &TtlOp, got: &TtlOutcome, post: &TtlStates) -> Result<(), String> {
        let expect = |want: TtlOutcome| {
            if *got == want {
                Ok(())
            } else {
                Err(format!("outcome: model {want:?}, backend {got:?}"))
            }
        };
        match op {
            TtlOp::SetKey { key } => {
                self.current_key = Some(u64::from(*key) % TTL_KEYS);
                return expect(TtlOutcome::Unit);
            }
            TtlOp::Advance { millis } => {
                self.now += i64::from(*millis);
                return expect(TtlOutcome::Unit);
            }
            // Of the whole table: no current key needed.
            TtlOp::CleanupFull { state } => {
                self.states.cleanup(*state, self.now);
                return expect(TtlOutcome::Unit);
            }
            TtlOp::RecordProcessed { .. } => return expect(TtlOutcome::Unit),
            _ => {}
        }
        let Some(k) = self.current_key else {
            return expect(TtlOutcome::Err("no-key"));
        };
        let (now, never) = (self.now, !self.mode.return_expired);
        // T3: reads stamp only under `OnReadAndWrite`; under `Disabled` a write of a map entry keeps the stamp of
        // the unexpired entry it replaces (a new list element is created, so stamped, whatever the update type).
        let rw = self.mode.update == UpdateType::OnReadAndWrite;
        let disabled = self.mode.update == UpdateType::Disabled;
        let write_stamp = |old: Option<&Stamped>| match old {
            Some(e) if disabled && live(e, now) => e.1,
            _ => now,
        };
        let s = &mut self.states;
        match op {
            TtlOp::ListAdd { ns: n, value } => {
                s.list.entry((k, ns(*n))).or_default().push((*value, now));
                expect(TtlOutcome::Unit)
            }
            TtlOp::ListUpdate { ns: n, values } => {
                if values.is_empty() {
                    s.list.remove(&(k, ns(*n)));
                } else {
                    s.list.insert((k, ns(*n)), values.iter().map(|v| (*v, now)).collect());
                }
                expect(TtlOutcome::Unit)
            }
            TtlOp::ListGet { ns: n } => {
                let key = (k, ns(*n));
                if never && s.list.get_mut(&key).is_some_and(|l| !trim_list(l, now)) {
                    s.list.remove(&key);
                }
                if rw {
                    s.list
                        .entry(key)
                        .and_modify(|l| l.iter_mut().for_each(|e| stamp(e, now)));
                }
                let from = if never { &s.list } else { &post.list };
                expect(TtlOutcome::List(from.get(&key).map(|l| values(l))))
            }
            TtlOp::ListMerge { target, sources } => {
                // B6 by moves (T9): the elements keep their stamps.
                let mut merged: Option<Vec<Stamped>> = None;
                for src in sources {
                    if let Some(l) = s.list.remove(&(k, ns(*src))) {
                        merged = Some(match merged {
                            Some(mut m) => {
                                m.extend(l);
                                m
                            }
                            None => l,
                        });
                    }
                }
                if let Some(m) = merged {
                    let new = match s.list.remove(&(k, ns(*target))) {
                        Some(mut t) => {
                            t.extend(m);
                            t
                        }
                        None => m,
                    };
                    s.list.insert((k, ns(*target)), new);
                }
                expect(TtlOutcome::Unit)
            }
            TtlOp::MapPut { ns: n, user_key, value } => {
                let uk = user_key % TTL_MAP_KEYS;
                let m = s.map.entry((k, ns(*n))).or_default();
                let stamp = write_stamp(m.get(&uk));
                m.insert(uk, (*value, stamp));
                expect(TtlOutcome::Unit)
            }
            TtlOp::MapRemove { ns: n, user_key } => {
                let key = (k, ns(*n));
                if let Some(m) = s.map.get_mut(&key) {
                    m.remove(&(user_key % TTL_MAP_KEYS));
                    if m.is_empty() {
                        s.map.remove(&key);
                    }
                }
                expect(TtlOutcome::Unit)
            }
            TtlOp::MapGet { ns: n, user_key } => {
                let (key, uk) = ((k, ns(*n)), user_key % TTL_MAP_KEYS);
                let Some(m) = s.map.get_mut(&key) else {
                    return expect(TtlOutcome::Value(None));
                };
                let Some(e) = m.get_mut(&uk) else {
                    return expect(TtlOutcome::Value(None));
                };
                if live(e, now) {
                    if rw {
                        e.1 = now;
                    }
                    return expect(TtlOutcome::Value(Some(e.0)));
                }
                if never {
                    m.remove(&uk);
                    if m.is_empty() {
                        s.map.remove(&key);
                    }
                    return expect(TtlOutcome::Value(None));
                }
                // Expired, visible until a cleanup removes it (T4): either answer, as the stored state says.
                let stored = post.map.get(&key).and_then(|m| m.get(&uk)).map(|e| e.0);
                expect(TtlOutcome::Value(stored))
            }
            TtlOp::MapEntries { ns: n } | TtlOp::MapCursor { ns: n } => {
                let key = (k, ns(*n));
                if never && s.map.get_mut(&key).is_some_and(|m| !trim_map(m, now)) {
                    s.map.remove(&key);
                }
                if rw {
                    s.map
                        .entry(key)
                        .and_modify(|m| m.values_mut().for_each(|e| stamp(e, now)));
                }
                // What the read saw. Under ReturnExpiredIfNotCleanedUp a cleanup step (of this read or, for
                // `MapEntries`, of the views read after it) may have removed expired entries: it must have seen
                // every unexpired entry and only entries of the model, with their values.
                let seen: Vec<(u8, u64)> = match got {
                    TtlOutcome::Entries(seen) if !never => seen.clone(),
                    _ => entries(s.map.get(&key)),
                };
                expect(TtlOutcome::Entries(seen.clone()))?;
                let empty = BTreeMap::new();
                let held = s.map.get(&key).unwrap_or(&empty);
                for (uk, v) in &seen {
                    if held.get(uk).map(|e| e.0) != Some(*v) {
                        return Err(format!("read saw [{uk}] = {v}, model {:?}", held.get(uk)));
                    }
                }
                let seen_keys: BTreeSet<u8> = seen.iter().map(|(uk, _)| *uk).collect();
                if let Some((uk, e)) = held.iter().find(|(uk, e)| !seen_keys.contains(uk) && live(e, now)) {
                    return Err(format!("read missed unexpired [{uk}] = {e:?}"));
                }
                if let TtlOp::MapEntries { .. } = op {
                    return Ok(());
                }
                // The cursor's program, on what it saw (T10): its writes stamp.
                let m = s.map.entry(key).or_default();
                m.retain(|uk, _| seen_keys.contains(uk));
                for (uk, v) in seen {
                    if v % 2 == 1 {
                        m.remove(&uk);
                    } else {
                        let stamp = write_stamp(m.get(&uk));
                        m.insert(uk, (v + 1, stamp));
                    }
                }
                if m.is_empty() {
                    s.map.remove(&key);
                }
                Ok(())
            }
            TtlOp::ReduceAdd { ns: n, value } => {
                let key = (k, ns(*n));
                let new = match s.reducing.get(&key) {
                    Some(e) if live(e, now) => reduce(e.0, *value),
                    _ => *value,
                };
                s.reducing.insert(key, (new, now));
                expect(TtlOutcome::Unit)
            }
            TtlOp::ReduceGet { ns: n } => {
                let key = (k, ns(*n));
                let Some(e) = s.reducing.get_mut(&key) else {
                    return expect(TtlOutcome::Value(None));
                };
                if live(e, now) {
                    if rw {
                        e.1 = now;
                    }
                    return expect(TtlOutcome::Value(Some(e.0)));
                }
                if never {
                    s.reducing.remove(&key);
                    return expect(TtlOutcome::Value(None));
                }
                expect(TtlOutcome::Value(post.reducing.get(&key).map(|e| e.0)))
            }
            TtlOp::ReduceMerge { target, sources } => {
                merge_unexpired(&mut s.reducing, k, ns(*target), sources, now, reduce);
                expect(TtlOutcome::Unit)
            }
            TtlOp::AggAdd { ns: n, value } => {
                // T3: an expired accumulator counts as absent; the result is stamped now.
                let key = (k, ns(*n));
                let acc = match s.aggregating.get(&key) {
                    Some(e) if live(e, now) => e.0,
                    _ => AGG_START,
                };
                s.aggregating.insert(key, (agg_add(*value, acc), now));
                expect(TtlOutcome::Unit)
            }
            TtlOp::AggGet { ns: n } => {
                let key = (k, ns(*n));
                let Some(e) = s.aggregating.get_mut(&key) else {
                    return expect(TtlOutcome::Value(None));
                };
                if live(e, now) {
                    if rw {
                        e.1 = now;
                    }
                    return expect(TtlOutcome::Value(Some(agg_result(e.0))));
                }
                if never {
                    s.aggregating.remove(&key);
                    return expect(TtlOutcome::Value(None));
                }
                expect(TtlOutcome::Value(post.aggregating.get(&key).map(|e| agg_result(e.0))))
            }
            TtlOp::AggMerge { target, sources } => {
                merge_unexpired(&mut s.aggregating, k, ns(*target), sources, now, agg_merge);
                expect(TtlOutcome::Unit)
            }
            TtlOp::Clear { state, ns: n } => {
                let key = (k, ns(*n));
                match state % 4 {
                    0 => drop(s.list.remove(&key)),
                    1 => drop(s.map.remove(&key)),
                    2 => drop(s.reducing.remove(&key)),
                    _ => drop(s.aggregating.remove(&key)),
                }
                expect(TtlOutcome::Unit)
            }
            _ => unreachable!("checkpoint operations are the runner's"),
        }
    }
}
