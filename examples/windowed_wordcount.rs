//! A keyed word stream counted in tumbling and session windows on the keyed state backend, with asynchronous
//! checkpoints while it runs, and a restore at the end checked against the live state.
//!
//! ```text
//! cargo run --release --example windowed_wordcount
//! ```
//!
//! * Keys are words, some far more frequent than others (serialized as Flink's `StringSerializer` writes
//!   them); the event time advances by 0–3 per
//!   event and arrives up to 20 late.
//! * Tumbling windows of 1,000 time units: a reducing state `tumbling` (namespace = window start) counts each
//!   word per window; a window fires when the watermark passes its end and its state is cleared.
//! * Session windows with a gap of 60: a value state `sessions` holds each word's open sessions, a reducing
//!   state `session_count` counts per session, and overlapping sessions are merged with `merge_namespaces`.
//! * Every 20,000 events a checkpoint starts (its synchronous part takes one snapshot per state) and its
//!   asynchronous part writes it on a background thread while processing goes on; it is awaited at the next one.
//! * At the end a last checkpoint is taken, restored into a new backend, and every word's state is compared.

use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::{
    CheckpointHandle, KeyedStateBackend, ReducingState, ReducingStateDescriptor, ValueState, ValueStateDescriptor,
};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{
    FlinkStringSerializer, ListSerializer, U64Serializer, VoidNamespace, VoidNamespaceSerializer,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

const EVENTS: usize = 400_000;
const CHECKPOINT_EVERY: usize = 20_000;
const TUMBLE: u64 = 1_000;
const GAP: u64 = 60;
const LATENESS: u64 = 20;
const MAX_PARALLELISM: u32 = 128;
const WORDS: &[&str] = &[
    "state",
    "table",
    "snapshot",
    "copy",
    "write",
    "key",
    "group",
    "window",
    "session",
    "merge",
    "flink",
    "rust",
    "checkpoint",
    "restore",
    "version",
    "chain",
    "bucket",
    "rehash",
    "stream",
    "count",
];

type Backend = KeyedStateBackend<String, FlinkStringSerializer>;

struct Job {
    tumbling: ReducingState<u64, u64>,
    sessions: ValueState<VoidNamespace, Vec<(u64, u64)>>,
    session_count: ReducingState<u64, u64>,
}

fn backend() -> (Backend, Job) {
    let mut b: Backend = KeyedStateBackend::new(
        FlinkStringSerializer,
        MAX_PARALLELISM,
        KeyGroupRange::of(0, MAX_PARALLELISM - 1).unwrap(),
    )
    .unwrap();
    let job = Job {
        tumbling: b
            .register_reducing(ReducingStateDescriptor::new(
                "tumbling",
                U64Serializer,
                U64Serializer,
                |a, b| a + b,
            ))
            .unwrap(),
        sessions: b
            .register_value(ValueStateDescriptor::new(
                "sessions",
                VoidNamespaceSerializer,
                ListSerializer((U64Serializer, U64Serializer)),
            ))
            .unwrap(),
        session_count: b
            .register_reducing(ReducingStateDescriptor::new(
                "session_count",
                U64Serializer,
                U64Serializer,
                |a, b| a + b,
            ))
            .unwrap(),
    };
    (b, job)
}

/// Adds an event at `t` to the word's sessions: returns the new set, the merged session and the sessions merged
/// into it (other than the one whose start it keeps).
type Window = (u64, u64);

fn join_session(sessions: &[Window], t: u64) -> (Vec<Window>, Window, Vec<u64>) {
    let mut merged = (t, t + GAP);
    let (mut overlapping, mut rest): (Vec<_>, Vec<_>) = (Vec::new(), Vec::new());
    for &(s, e) in sessions {
        if s < t + GAP && t < e {
            overlapping.push((s, e));
        } else {
            rest.push((s, e));
        }
    }
    for &(s, e) in &overlapping {
        merged = (merged.0.min(s), merged.1.max(e));
    }
    let sources = overlapping.iter().map(|w| w.0).filter(|s| *s != merged.0).collect();
    rest.push(merged);
    rest.sort_unstable();
    (rest, merged, sources)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn main() {
    let storage: Arc<dyn CheckpointStorage> = Arc::new(MemoryStorage::new());
    let (mut b, mut job) = backend();
    // The timer service of the operator: open tumbling windows and the words with open sessions.
    let mut tumbling_timers: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    let mut session_words: BTreeSet<String> = BTreeSet::new();
    let (mut fired_tumbling, mut fired_sessions, mut merges) = (0u64, 0u64, 0u64);
    let mut in_flight: Option<CheckpointHandle> = None;
    let (mut checkpoints, mut checkpoint_bytes, mut sync_max) = (0u64, 0u64, std::time::Duration::ZERO);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut now = 0u64;
    let started = Instant::now();

    for i in 1..=EVENTS {
        now += rng.next() % 4;
        // Skewed: low indices are frequent (sessions keep merging), high ones rare (sessions close).
        let n = WORDS.len() as u64;
        let word = WORDS[(rng.next() % n).min(rng.next() % n).min(rng.next() % n) as usize].to_string();
        let t = now.saturating_sub(rng.next() % LATENESS);
        b.set_current_key(word.clone()).unwrap();

        let window = t - t % TUMBLE;
        job.tumbling.set_current_namespace(window);
        job.tumbling.add(&mut b, 1).unwrap();
        tumbling_timers.entry(window).or_default().insert(word.clone());

        let sessions = job.sessions.value(&b).unwrap().cloned().unwrap_or_default();
        let (sessions, merged, sources) = join_session(&sessions, t);
        if !sources.is_empty() {
            merges += 1;
        }
        job.session_count.merge_namespaces(&mut b, merged.0, &sources).unwrap();
        job.sessions.update(&mut b, sessions).unwrap();
        job.session_count.set_current_namespace(merged.0);
        job.session_count.add(&mut b, 1).unwrap();
        session_words.insert(word);

        // Fire what the watermark has passed.
        let watermark = now.saturating_sub(LATENESS);
        while let Some((&w, _)) = tumbling_timers.first_key_value() {
            if w + TUMBLE > watermark {
                break;
            }
            for word in tumbling_timers.remove(&w).unwrap() {
                b.set_current_key(word).unwrap();
                job.tumbling.set_current_namespace(w);
                assert!(job.tumbling.get(&b).unwrap().is_some());
                job.tumbling.clear(&mut b).unwrap();
                fired_tumbling += 1;
            }
        }
        if i % 64 == 0 {
            for word in std::mem::take(&mut session_words) {
                b.set_current_key(word.clone()).unwrap();
                let mut open = job.sessions.value(&b).unwrap().cloned().unwrap_or_default();
                for &(start, _) in open.iter().filter(|(_, end)| *end <= watermark) {
                    job.session_count.set_current_namespace(start);
                    job.session_count.clear(&mut b).unwrap();
                    fired_sessions += 1;
                }
                open.retain(|(_, end)| *end > watermark);
                if !open.is_empty() {
                    session_words.insert(word);
                }
                job.sessions.update(&mut b, (!open.is_empty()).then_some(open)).unwrap();
            }
        }

        if i % CHECKPOINT_EVERY == 0 {
            if let Some(h) = in_flight.take() {
                checkpoint_bytes += h.wait().expect("checkpoint").bytes;
            }
            let sync = Instant::now();
            let pending = b.checkpoint(i as u64).unwrap();
            sync_max = sync_max.max(sync.elapsed());
            in_flight = Some(pending.spawn(storage.clone()));
            checkpoints += 1;
        }
    }
    if let Some(h) = in_flight.take() {
        checkpoint_bytes += h.wait().expect("checkpoint").bytes;
    }
    let elapsed = started.elapsed();

    // A last checkpoint, restored into a new backend and compared word by word with the live state.
    let last = b
        .checkpoint(u64::MAX)
        .unwrap()
        .spawn(storage.clone())
        .wait()
        .expect("final checkpoint");
    let (mut restored, rjob) = backend();
    restored.restore_from(&*storage, &[u64::MAX]).unwrap();
    let mut compared = 0;
    for word in WORDS {
        b.set_current_key(word.to_string()).unwrap();
        restored.set_current_key(word.to_string()).unwrap();
        let live_sessions = job.sessions.value(&b).unwrap().cloned();
        assert_eq!(
            rjob.sessions.value(&restored).unwrap().cloned(),
            live_sessions,
            "{word}: sessions"
        );
        for (start, _) in live_sessions.unwrap_or_default() {
            job.session_count.set_current_namespace(start);
            let mut r = rjob.session_count.clone();
            r.set_current_namespace(start);
            assert_eq!(
                r.get(&restored).unwrap(),
                job.session_count.get(&b).unwrap(),
                "{word}: session {start}"
            );
            compared += 1;
        }
        for (&w, words) in &tumbling_timers {
            if words.contains(*word) {
                job.tumbling.set_current_namespace(w);
                let mut r = rjob.tumbling.clone();
                r.set_current_namespace(w);
                assert_eq!(
                    r.get(&restored).unwrap(),
                    job.tumbling.get(&b).unwrap(),
                    "{word}: window {w}"
                );
                compared += 1;
            }
        }
    }
    for name in ["tumbling", "sessions", "session_count"] {
        assert_eq!(restored.state_len(name), b.state_len(name), "{name}: entries");
    }
    assert_eq!(b.live_snapshots(), 0);

    println!(
        "windowed word count: {EVENTS} events of {} words in {elapsed:.2?} ({:.0} events/s)",
        WORDS.len(),
        EVENTS as f64 / elapsed.as_secs_f64()
    );
    println!("  windows fired: {fired_tumbling} tumbling, {fired_sessions} sessions; {merges} session merges");
    println!(
        "  {checkpoints} asynchronous checkpoints while running ({checkpoint_bytes} bytes in all; longest synchronous part {sync_max:.2?})"
    );
    println!(
        "  final checkpoint: {} entries, {} bytes; restored and compared: {compared} windows and sessions equal the live state",
        last.entries, last.bytes
    );
}
