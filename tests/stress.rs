//! Multi-threaded stress: one writer and three snapshot readers.
//!
//! The writer applies random writes to the table and to a `BTreeMap` model; every few operations it takes a
//! snapshot together with a copy of the model made at the same moment and sends the pair to one of the readers.
//! Each reader checks (repeatedly, while the writer keeps going) that its snapshots equal their copies, and
//! releases them in a random order, so snapshots are released from other threads in any order. The writer
//! drops the table at the end, possibly while readers still hold snapshots.
//!
//! Bounded by an operation count and a wall-clock budget of about two seconds per test; no timing is
//! asserted. Under Miri only the small `miri_smoke` runs.

use cow_state_table::{DeterministicState, Snapshot, StateTable};
use cow_state_table_model::CollidingState;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::mpsc::{sync_channel, Receiver};
use std::thread;
use std::time::{Duration, Instant};

type Model = BTreeMap<(u32, u8), Vec<u32>>;
type Snap = Snapshot<u32, u8, Vec<u32>>;

/// A small deterministic PRNG (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn contents(snap: &Snap) -> Result<Model, String> {
    let mut m = BTreeMap::new();
    for (k, n, s) in snap.iter() {
        if m.insert((*k, *n), s.clone()).is_some() {
            return Err(format!("({k}, {n}) appears twice in snapshot {}", snap.version()));
        }
    }
    if m.len() != snap.len() {
        return Err(format!(
            "snapshot {} iterates {} entries but len() is {}",
            snap.version(),
            m.len(),
            snap.len()
        ));
    }
    Ok(m)
}

fn verify(snap: &Snap, expected: &Model) -> Result<(), String> {
    let got = contents(snap)?;
    if &got != expected {
        let diff = expected
            .iter()
            .find(|(k, v)| got.get(k) != Some(v))
            .map(|(k, v)| format!("{k:?}: expected {v:?}, got {:?}", got.get(k)))
            .or_else(|| {
                got.iter()
                    .find(|(k, _)| !expected.contains_key(k))
                    .map(|(k, v)| format!("unexpected {k:?} = {v:?}"))
            });
        return Err(format!(
            "snapshot {} differs from its model copy: {diff:?}",
            snap.version()
        ));
    }
    Ok(())
}

/// A reader: keeps up to `hold` snapshots, re-checks them while the writer runs, releases them in random order.
fn reader(rx: Receiver<(Snap, Model)>, seed: u64, hold: usize) -> Result<u64, String> {
    let mut rng = Rng(seed);
    let mut held: Vec<(Snap, Model)> = Vec::new();
    let mut checked = 0u64;
    for (snap, model) in rx {
        verify(&snap, &model)?;
        checked += 1;
        held.push((snap, model));
        // Re-check a random held snapshot: the writer has moved on meanwhile.
        let i = rng.below(held.len() as u64) as usize;
        verify(&held[i].0, &held[i].1)?;
        while held.len() > hold {
            let i = rng.below(held.len() as u64) as usize;
            let (mut snap, model) = held.swap_remove(i);
            verify(&snap, &model)?;
            if rng.below(2) == 0 {
                snap.release();
            }
            drop(snap);
        }
    }
    // The writer is done (and its table possibly dropped): the held snapshots must still be intact.
    while !held.is_empty() {
        let i = rng.below(held.len() as u64) as usize;
        let (snap, model) = held.swap_remove(i);
        verify(&snap, &model)?;
        checked += 1;
    }
    Ok(checked)
}

struct Params {
    ops: u64,
    keys: u64,
    snapshot_every: u64,
    budget: Duration,
    seed: u64,
}

fn stress<H: BuildHasher + Clone + Send + Sync + 'static>(hasher: H, p: Params) {
    let mut senders = Vec::new();
    let mut readers = Vec::new();
    for r in 0..3u64 {
        let (tx, rx) = sync_channel::<(Snap, Model)>(4);
        senders.push(tx);
        let seed = p.seed ^ (r + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        readers.push(thread::spawn(move || reader(rx, seed | 1, 1 + r as usize)));
    }

    let start = Instant::now();
    let mut rng = Rng(p.seed | 1);
    let mut table: StateTable<u32, u8, Vec<u32>, H> = StateTable::with_buckets_and_hasher(4, hasher);
    let mut model = Model::new();
    let mut sent = 0u64;
    let mut failed_snapshots = 0u64;
    let mut done = 0;
    for i in 0..p.ops {
        done = i + 1;
        let k = rng.below(p.keys) as u32;
        let n = rng.below(4) as u8;
        let v = rng.below(1000) as u32;
        match rng.below(10) {
            0..=3 => {
                table.put(k, n, vec![v]);
                model.insert((k, n), vec![v]);
            }
            4 | 5 => {
                let got = table.get_mut(&k, &n).map(|s| {
                    s.push(v);
                    s.clone()
                });
                let expected = model.get_mut(&(k, n)).map(|s| {
                    s.push(v);
                    s.clone()
                });
                assert_eq!(got, expected, "get_mut({k}, {n})");
            }
            6 => assert_eq!(table.remove(&k, &n), model.remove(&(k, n)).is_some()),
            7 => assert_eq!(table.remove_and_get_old(&k, &n), model.remove(&(k, n))),
            8 => {
                table.transform(k, n, v, |old, v| {
                    let mut s = old.unwrap_or_default();
                    s.truncate(3);
                    s.push(v);
                    s
                });
                let s = model.entry((k, n)).or_default();
                s.truncate(3);
                s.push(v);
            }
            _ => assert_eq!(
                table.put_and_get_old(k, n, vec![v, v]),
                model.insert((k, n), vec![v, v])
            ),
        }
        if i % p.snapshot_every == 0 {
            match table.snapshot() {
                Ok(snap) => {
                    let r = rng.below(3) as usize;
                    if senders[r].send((snap, model.clone())).is_err() {
                        // The reader found a difference and quit; its error is reported below.
                        break;
                    }
                    sent += 1;
                }
                Err(_) => failed_snapshots += 1,
            }
        }
        if i % 997 == 0 {
            table.reclaim();
            table.check_invariants().unwrap();
        }
        if start.elapsed() > p.budget {
            break;
        }
    }
    assert_eq!(failed_snapshots, 0);
    table.check_invariants().unwrap();
    let live: BTreeMap<(u32, u8), Vec<u32>> = table.iter().map(|(k, n, s)| ((*k, *n), s.clone())).collect();
    assert_eq!(live, model);
    // Drop the table while readers may still hold snapshots, then let them finish.
    drop(table);
    drop(senders);
    let mut checked = 0;
    for r in readers {
        checked += r.join().expect("reader panicked").unwrap_or_else(|e| panic!("{e}"));
    }
    eprintln!(
        "stress: {done} writes, {sent} snapshots checked by 3 readers in {:.1?}",
        start.elapsed()
    );
    assert!(checked >= sent, "checked {checked} < sent {sent}");
    assert!(sent > 0);
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_deterministic_hasher() {
    stress(
        DeterministicState::default(),
        Params {
            ops: 400_000,
            keys: 2048,
            snapshot_every: 64,
            budget: Duration::from_secs(2),
            seed: 0x5eed_0001,
        },
    );
}

#[test]
#[cfg_attr(miri, ignore)]
fn stress_colliding_hasher() {
    stress(
        CollidingState::new(15),
        Params {
            ops: 200_000,
            keys: 256,
            snapshot_every: 32,
            budget: Duration::from_secs(2),
            seed: 0x5eed_0002,
        },
    );
}

/// A small multi-threaded run, cheap enough for Miri.
#[test]
fn miri_smoke() {
    stress(
        CollidingState::new(3),
        Params {
            ops: if cfg!(miri) { 300 } else { 5_000 },
            keys: 24,
            snapshot_every: 10,
            budget: Duration::from_secs(60),
            seed: 0x5eed_0003,
        },
    );
}
