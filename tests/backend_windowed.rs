//! A windowed aggregation over a generated keyed stream, on the keyed state backend (issue 10): tumbling windows
//! with Value (count), Reducing (sum), Aggregating (mean) and List (the values) state, and session windows whose
//! Reducing, Aggregating and List state is merged with `merge_namespaces` (B6) when sessions overlap. Windows
//! fire when the watermark passes their end, and their state is cleared. A checkpoint is started every few
//! hundred events and finished later, while processing goes on (B7, B8); every checkpoint is restored into a
//! fresh backend and compared with the model captured at its synchronous part, and every window result is
//! compared with a model computed alongside.

use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::{
    AggregateFunction, AggregatingState, AggregatingStateDescriptor, CheckpointHandle, KeyedStateBackend, ListState,
    ListStateDescriptor, ReducingState, ReducingStateDescriptor, ValueState, ValueStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{ListSerializer, U64Serializer, VoidNamespace, VoidNamespaceSerializer};
use std::collections::BTreeMap;
use std::sync::Arc;

const KEYS: u64 = 40;
const EVENTS: usize = 6000;
const CHECKPOINT_EVERY: usize = 300;
const TUMBLE: u64 = 100;
const GAP: u64 = 25;
const LATENESS: u64 = 40;
const MAX_PAR: u32 = 32;

struct Mean;
impl AggregateFunction<u64, (u64, u64), u64> for Mean {
    fn create_accumulator(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, v: u64, (s, n): (u64, u64)) -> (u64, u64) {
        (s + v, n + 1)
    }
    fn get_result(&self, &(s, n): &(u64, u64)) -> u64 {
        s / n.max(1)
    }
    fn merge(&self, a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

type Backend = KeyedStateBackend<u64, U64Serializer>;
type Sessions = Vec<(u64, u64)>;

/// The operator's state handles.
struct Op {
    count: ValueState<u64, u64>,
    sum: ReducingState<u64, u64>,
    mean: AggregatingState<u64, u64, (u64, u64), u64>,
    values: ListState<u64, u64>,
    sessions: ValueState<VoidNamespace, Sessions>,
    s_sum: ReducingState<u64, u64>,
    s_mean: AggregatingState<u64, u64, (u64, u64), u64>,
    s_values: ListState<u64, u64>,
}

fn backend() -> (Backend, Op) {
    let mut b: Backend =
        KeyedStateBackend::new(U64Serializer, MAX_PAR, KeyGroupRange::of(0, MAX_PAR - 1).unwrap()).unwrap();
    let op = Op {
        count: b
            .register_value(ValueStateDescriptor::new("count", U64Serializer, U64Serializer).with_default(0))
            .unwrap(),
        sum: b
            .register_reducing(ReducingStateDescriptor::new(
                "sum",
                U64Serializer,
                U64Serializer,
                |a, b| a + b,
            ))
            .unwrap(),
        mean: b
            .register_aggregating(AggregatingStateDescriptor::new(
                "mean",
                U64Serializer,
                (U64Serializer, U64Serializer),
                Mean,
            ))
            .unwrap(),
        values: b
            .register_list(ListStateDescriptor::new("values", U64Serializer, U64Serializer))
            .unwrap(),
        sessions: b
            .register_value(ValueStateDescriptor::new(
                "sessions",
                VoidNamespaceSerializer,
                ListSerializer((U64Serializer, U64Serializer)),
            ))
            .unwrap(),
        s_sum: b
            .register_reducing(ReducingStateDescriptor::new(
                "s_sum",
                U64Serializer,
                U64Serializer,
                |a, b| a + b,
            ))
            .unwrap(),
        s_mean: b
            .register_aggregating(AggregatingStateDescriptor::new(
                "s_mean",
                U64Serializer,
                (U64Serializer, U64Serializer),
                Mean,
            ))
            .unwrap(),
        s_values: b
            .register_list(ListStateDescriptor::new("s_values", U64Serializer, U64Serializer))
            .unwrap(),
    };
    (b, op)
}

/// The model: ordered maps with the same window logic.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    count: BTreeMap<(u64, u64), u64>,
    sum: BTreeMap<(u64, u64), u64>,
    mean: BTreeMap<(u64, u64), (u64, u64)>,
    values: BTreeMap<(u64, u64), Vec<u64>>,
    sessions: BTreeMap<u64, Sessions>,
    s_sum: BTreeMap<(u64, u64), u64>,
    s_mean: BTreeMap<(u64, u64), (u64, u64)>,
    s_values: BTreeMap<(u64, u64), Vec<u64>>,
}

/// B6 on a model map.
fn merge_model<V>(m: &mut BTreeMap<(u64, u64), V>, key: u64, target: u64, sources: &[u64], f: impl Fn(V, V) -> V) {
    let mut merged: Option<V> = None;
    for s in sources {
        if let Some(v) = m.remove(&(key, *s)) {
            merged = Some(match merged {
                Some(a) => f(a, v),
                None => v,
            });
        }
    }
    if let Some(v) = merged {
        let new = match m.remove(&(key, target)) {
            Some(t) => f(t, v),
            None => v,
        };
        m.insert((key, target), new);
    }
}

/// The session windows an event at `t` joins: the new set, the merged window and the state windows merged into
/// it (sources, in start order; the target is the merged window's start).
fn session_merge(sessions: &Sessions, t: u64) -> (Sessions, (u64, u64), Vec<u64>) {
    let mut merged = (t, t + GAP);
    let mut rest = Vec::new();
    let mut sources = Vec::new();
    for &(s, e) in sessions {
        if s < merged.1 && merged.0 < e {
            merged = (merged.0.min(s), merged.1.max(e));
            sources.push(s);
        } else {
            rest.push((s, e));
        }
    }
    // A later overlap may widen the window over sessions already passed: repeat until stable.
    loop {
        let before = rest.len();
        let mut keep = Vec::new();
        for (s, e) in rest {
            if s < merged.1 && merged.0 < e {
                merged = (merged.0.min(s), merged.1.max(e));
                sources.push(s);
            } else {
                keep.push((s, e));
            }
        }
        rest = keep;
        if rest.len() == before {
            break;
        }
    }
    sources.sort_unstable();
    sources.retain(|s| *s != merged.0);
    rest.push(merged);
    rest.sort_unstable();
    (rest, merged, sources)
}

/// One window result.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fired {
    Tumble {
        key: u64,
        window: u64,
        count: u64,
        sum: u64,
        mean: u64,
        values: Vec<u64>,
    },
    Session {
        key: u64,
        start: u64,
        end: u64,
        sum: u64,
        mean: u64,
        values: Vec<u64>,
    },
}

impl Model {
    fn process(&mut self, key: u64, t: u64, v: u64) {
        let w = t - t % TUMBLE;
        *self.count.entry((key, w)).or_default() += 1;
        *self.sum.entry((key, w)).or_default() += v;
        let m = self.mean.entry((key, w)).or_default();
        *m = Mean.add(v, *m);
        self.values.entry((key, w)).or_default().push(v);
        let sessions = self.sessions.get(&key).cloned().unwrap_or_default();
        let (new, merged, sources) = session_merge(&sessions, t);
        merge_model(&mut self.s_sum, key, merged.0, &sources, |a, b| a + b);
        merge_model(&mut self.s_mean, key, merged.0, &sources, |a, b| Mean.merge(a, b));
        merge_model(&mut self.s_values, key, merged.0, &sources, |mut a, b| {
            a.extend(b);
            a
        });
        self.sessions.insert(key, new);
        *self.s_sum.entry((key, merged.0)).or_default() += v;
        let m = self.s_mean.entry((key, merged.0)).or_default();
        *m = Mean.add(v, *m);
        self.s_values.entry((key, merged.0)).or_default().push(v);
    }

    /// Fires (and clears) every window whose end is at or before `watermark`, in (key, window) order.
    fn fire(&mut self, watermark: u64) -> Vec<Fired> {
        let mut out = Vec::new();
        let due: Vec<(u64, u64)> = self
            .count
            .keys()
            .filter(|(_, w)| w + TUMBLE <= watermark)
            .copied()
            .collect();
        for (key, window) in due {
            out.push(Fired::Tumble {
                key,
                window,
                count: self.count.remove(&(key, window)).unwrap(),
                sum: self.sum.remove(&(key, window)).unwrap(),
                mean: Mean.get_result(&self.mean.remove(&(key, window)).unwrap()),
                values: self.values.remove(&(key, window)).unwrap(),
            });
        }
        for (key, sessions) in self.sessions.iter_mut() {
            let (due, open): (Sessions, Sessions) = sessions.iter().partition(|(_, e)| *e <= watermark);
            for (start, end) in due {
                out.push(Fired::Session {
                    key: *key,
                    start,
                    end,
                    sum: self.s_sum.remove(&(*key, start)).unwrap(),
                    mean: Mean.get_result(&self.s_mean.remove(&(*key, start)).unwrap()),
                    values: self.s_values.remove(&(*key, start)).unwrap(),
                });
            }
            *sessions = open;
        }
        self.sessions.retain(|_, s| !s.is_empty());
        out
    }
}

impl Op {
    fn process(&mut self, b: &mut Backend, key: u64, t: u64, v: u64) {
        b.set_current_key(key).unwrap();
        let w = t - t % TUMBLE;
        self.count.set_current_namespace(w);
        self.sum.set_current_namespace(w);
        self.mean.set_current_namespace(w);
        self.values.set_current_namespace(w);
        let c = *self.count.value(b).unwrap().unwrap();
        self.count.update(b, c + 1).unwrap();
        self.sum.add(b, v).unwrap();
        self.mean.add(b, v).unwrap();
        self.values.add(b, v).unwrap();
        let sessions = self.sessions.value(b).unwrap().cloned().unwrap_or_default();
        let (new, merged, sources) = session_merge(&sessions, t);
        self.s_sum.merge_namespaces(b, merged.0, &sources).unwrap();
        self.s_mean.merge_namespaces(b, merged.0, &sources).unwrap();
        self.s_values.merge_namespaces(b, merged.0, &sources).unwrap();
        self.sessions.update(b, new).unwrap();
        self.s_sum.set_current_namespace(merged.0);
        self.s_mean.set_current_namespace(merged.0);
        self.s_values.set_current_namespace(merged.0);
        self.s_sum.add(b, v).unwrap();
        self.s_mean.add(b, v).unwrap();
        self.s_values.add(b, v).unwrap();
    }

    /// Fires the windows the model's timers say are due (the timer service is the operator's, not the backend's).
    fn fire(&mut self, b: &mut Backend, due: &[Fired]) -> Vec<Fired> {
        let mut out = Vec::new();
        for f in due {
            match f {
                Fired::Tumble { key, window, .. } => {
                    b.set_current_key(*key).unwrap();
                    self.count.set_current_namespace(*window);
                    self.sum.set_current_namespace(*window);
                    self.mean.set_current_namespace(*window);
                    self.values.set_current_namespace(*window);
                    out.push(Fired::Tumble {
                        key: *key,
                        window: *window,
                        count: *self.count.value(b).unwrap().unwrap(),
                        sum: *self.sum.get(b).unwrap().unwrap(),
                        mean: self.mean.get(b).unwrap().unwrap(),
                        values: self.values.get(b).unwrap().unwrap().to_vec(),
                    });
                    self.count.clear(b).unwrap();
                    self.sum.clear(b).unwrap();
                    self.mean.clear(b).unwrap();
                    self.values.clear(b).unwrap();
                }
                Fired::Session { key, start, end, .. } => {
                    b.set_current_key(*key).unwrap();
                    self.s_sum.set_current_namespace(*start);
                    self.s_mean.set_current_namespace(*start);
                    self.s_values.set_current_namespace(*start);
                    out.push(Fired::Session {
                        key: *key,
                        start: *start,
                        end: *end,
                        sum: *self.s_sum.get(b).unwrap().unwrap(),
                        mean: self.s_mean.get(b).unwrap().unwrap(),
                        values: self.s_values.get(b).unwrap().unwrap().to_vec(),
                    });
                    self.s_sum.clear(b).unwrap();
                    self.s_mean.clear(b).unwrap();
                    self.s_values.clear(b).unwrap();
                    let mut s = self.sessions.value(b).unwrap().cloned().unwrap_or_default();
                    s.retain(|(st, _)| st != start);
                    self.sessions.update(b, (!s.is_empty()).then_some(s)).unwrap();
                }
            }
        }
        out
    }

    /// Everything the backend holds, read through the handles for the keys and windows the model names, with
    /// the entry counts checked so that nothing else is there.
    fn assert_holds(&mut self, b: &mut Backend, m: &Model, what: &str) {
        for (&(k, w), c) in &m.count {
            b.set_current_key(k).unwrap();
            self.count.set_current_namespace(w);
            self.sum.set_current_namespace(w);
            self.mean.set_current_namespace(w);
            self.values.set_current_namespace(w);
            assert_eq!(self.count.value(b).unwrap(), Some(c), "{what}: count {k} {w}");
            assert_eq!(self.sum.get(b).unwrap(), m.sum.get(&(k, w)), "{what}: sum {k} {w}");
            assert_eq!(
                self.mean.accumulator(b).unwrap(),
                m.mean.get(&(k, w)),
                "{what}: mean {k} {w}"
            );
            assert_eq!(
                self.values.get(b).unwrap(),
                m.values.get(&(k, w)).map(Vec::as_slice),
                "{what}: values"
            );
        }
        for (&k, sessions) in &m.sessions {
            b.set_current_key(k).unwrap();
            assert_eq!(
                self.sessions.value(b).unwrap(),
                Some(sessions),
                "{what}: sessions of {k}"
            );
            for &(s, _) in sessions {
                self.s_sum.set_current_namespace(s);
                self.s_mean.set_current_namespace(s);
                self.s_values.set_current_namespace(s);
                assert_eq!(
                    self.s_sum.get(b).unwrap(),
                    m.s_sum.get(&(k, s)),
                    "{what}: session sum {k} {s}"
                );
                assert_eq!(
                    self.s_mean.accumulator(b).unwrap(),
                    m.s_mean.get(&(k, s)),
                    "{what}: session mean"
                );
                assert_eq!(
                    self.s_values.get(b).unwrap(),
                    m.s_values.get(&(k, s)).map(Vec::as_slice),
                    "{what}"
                );
            }
        }
        let lens = [
            ("count", m.count.len()),
            ("sum", m.sum.len()),
            ("mean", m.mean.len()),
            ("values", m.values.len()),
            ("sessions", m.sessions.len()),
            ("s_sum", m.s_sum.len()),
            ("s_mean", m.s_mean.len()),
            ("s_values", m.s_values.len()),
        ];
        for (name, len) in lens {
            assert_eq!(b.state_len(name), Some(len), "{what}: entries of {name}");
        }
        b.check_invariants().unwrap();
    }
}

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn windowed_aggregation_with_checkpoints_while_processing() {
    let storage: Arc<dyn CheckpointStorage> = Arc::new(MemoryStorage::with_max_size(256 << 20));
    let (mut b, mut op) = backend();
    let mut model = Model::default();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut t = 0u64;
    let mut in_flight: Vec<(CheckpointHandle, Model)> = Vec::new();
    let mut log: Vec<(u64, u64, u64)> = Vec::new();
    let mut fired_log: Vec<Vec<Fired>> = Vec::new();
    let (mut fired, mut merges, mut verified) = (0usize, 0usize, 0usize);
    for i in 1..=EVENTS {
        t += rng.next() % 4;
        let key = rng.next() % KEYS;
        let v = rng.next() % 1000;
        // Out of order by up to LATENESS / 2.
        let ts = t.saturating_sub(rng.next() % (LATENESS / 2));
        let before = model.sessions.get(&key).map_or(0, Vec::len);
        model.process(key, ts, v);
        op.process(&mut b, key, ts, v);
        if model.sessions[&key].len() <= before {
            merges += 1;
        }
        let due = model.fire(t.saturating_sub(LATENESS));
        let got = op.fire(&mut b, &due);
        assert_eq!(got, due, "event {i}: window results");
        log.push((key, ts, v));
        fired_log.push(due.clone());
        fired += due.len();
        if i % CHECKPOINT_EVERY == 0 {
            // Finish the one before last (it ran while processing went on), start a new one.
            if in_flight.len() == 2 {
                let (h, captured) = in_flight.remove(0);
                let id = h.wait().unwrap().id;
                let (mut r, mut rop) = backend();
                r.restore_from(&*storage, &[id]).unwrap();
                rop.assert_holds(&mut r, &captured, &format!("checkpoint {id}"));
                verified += 1;
            }
            let pending = b.checkpoint(i as u64).unwrap();
            in_flight.push((pending.spawn(storage.clone()), model.clone()));
        }
    }
    for (h, captured) in in_flight {
        let id = h.wait().unwrap().id;
        let (mut r, mut rop) = backend();
        r.restore_from(&*storage, &[id]).unwrap();
        rop.assert_holds(&mut r, &captured, &format!("checkpoint {id}"));
        verified += 1;
    }
    op.assert_holds(&mut b, &model, "live");
    assert_eq!(b.live_snapshots(), 0);
    assert_eq!(verified, EVENTS / CHECKPOINT_EVERY);
    assert!(fired > 1000, "{fired} windows fired");
    assert!(merges > 500, "{merges} events joined existing sessions");
    // Recovery from every checkpoint: restore it and replay the events after it; the windows fired and the end
    // state are those of the uninterrupted run.
    let ids = storage.list().unwrap();
    assert_eq!(ids.len(), verified);
    for id in ids {
        let (mut r, mut rop) = backend();
        r.restore_from(&*storage, &[id]).unwrap();
        for (j, &(key, ts, v)) in log.iter().enumerate().skip(id as usize) {
            rop.process(&mut r, key, ts, v);
            let got = rop.fire(&mut r, &fired_log[j]);
            assert_eq!(got, fired_log[j], "replay from checkpoint {id}, event {}", j + 1);
        }
        rop.assert_holds(&mut r, &model, &format!("replayed from {id}"));
    }
}
