//! Per-user session state that expires, as a Flink user writes it with state TTL (docs/DESIGN.md T1–T8): a
//! session counter and the pages seen in the session live 30 minutes after the user's last event
//! (`OnReadAndWrite`: every event refreshes them), checkpoints drop expired sessions while they are written
//! (cleanup at snapshot) and each state access removes a few expired sessions of other users (incremental
//! cleanup). The clock is the events' time, through a `ManualClock`.
//!
//! ```text
//! cargo run --release --example session_ttl
//! ```
//!
//! Checks what it prints: the number of sessions equals the count of gaps of 30 minutes or more per user,
//! computed independently; a checkpoint holds only the sessions still open at its time.

use cow_state_table::backend::storage::{CheckpointStorage, MemoryStorage};
use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig, UpdateType};
use cow_state_table::backend::{KeyedStateBackend, ListStateDescriptor, ValueStateDescriptor};
use cow_state_table::keygroup::KeyGroupRange;
use cow_state_table::serializer::{U32Serializer, U64Serializer, VoidNamespaceSerializer};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const SESSION_GAP_MS: i64 = 30 * 60 * 1000;
const USERS: u64 = 2_000;
const EVENTS: u64 = 200_000;

fn main() {
    let clock = Arc::new(ManualClock::new(0));
    let ttl = StateTtlConfig::new(Duration::from_millis(SESSION_GAP_MS as u64))
        .expect("ttl")
        .with_update_type(UpdateType::OnReadAndWrite)
        .cleanup_full_snapshot()
        .cleanup_incrementally(5, false)
        .expect("visit count")
        .with_time_provider(clock.clone());
    let mut backend: KeyedStateBackend<u64, U64Serializer> =
        KeyedStateBackend::new(U64Serializer, 128, KeyGroupRange::of(0, 127).expect("range")).expect("backend");
    let session_id = backend
        .register_ttl_value(
            ValueStateDescriptor::new("session-id", VoidNamespaceSerializer, U64Serializer),
            ttl.clone(),
        )
        .expect("register");
    let pages = backend
        .register_ttl_list(
            ListStateDescriptor::new("pages", VoidNamespaceSerializer, U32Serializer),
            ttl,
        )
        .expect("register");
    let storage = Arc::new(MemoryStorage::new());

    // Events: a pseudo-random user and page every 0–2 s of event time; some users are idle for long stretches.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut now = 0i64;
    let mut sessions = 0u64;
    let mut last_seen: HashMap<u64, i64> = HashMap::new();
    let mut expected_sessions = 0u64;
    let mut checkpoints = 0u64;
    for event in 0..EVENTS {
        now += (next() % 2_000) as i64;
        clock.set(now);
        // Half the traffic comes from 5% of the users, so most users have long gaps.
        let user = if next() % 2 == 0 {
            next() % (USERS / 20)
        } else {
            next() % USERS
        };
        let page = (next() % 50) as u32;
        match last_seen.insert(user, now) {
            Some(t) if now - t < SESSION_GAP_MS => {}
            _ => expected_sessions += 1,
        }
        backend.set_current_key(user).expect("key");
        if session_id.value(&mut backend).expect("read").is_none() {
            sessions += 1;
            session_id.update(&mut backend, sessions).expect("write");
            pages.update(&mut backend, vec![]).expect("write");
        }
        pages.add(&mut backend, page).expect("write");

        if event % 50_000 == 49_999 {
            checkpoints += 1;
            let open = last_seen.values().filter(|&&t| now - t < SESSION_GAP_MS).count();
            let summary = backend
                .checkpoint(checkpoints)
                .expect("checkpoint")
                .run(&*storage)
                .expect("write");
            let live = backend.num_state_entries();
            println!(
                "t = {:>5} min: {} sessions so far, {open} open; checkpoint {checkpoints} wrote {} entries, \
                 the live tables hold {live} (expired ones not cleaned up yet included)",
                now / 60_000,
                sessions,
                summary.entries,
            );
            // Cleanup at snapshot (T5): exactly the open sessions' id and page list are written.
            assert!(
                summary.entries <= 2 * open as u64,
                "a checkpoint wrote an expired session"
            );
            assert!(summary.entries >= open as u64, "a checkpoint lost an open session");
        }
    }
    assert_eq!(sessions, expected_sessions, "sessions counted through TTL state");
    println!(
        "{sessions} sessions of {USERS} users over {} min of events",
        now / 60_000
    );
    backend.check_invariants().expect("invariants");
    assert_eq!(storage.list().expect("list").len() as u64, checkpoints);
}
