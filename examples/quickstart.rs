//! The crate's main job in one run: a writer thread keeps updating a table of 200,000 entries while two reader
//! threads verify every snapshot it takes against a fingerprint the writer computed at the moment it took it.
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use cow_state_table::{DeterministicState, StateTable};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const KEYS: u64 = 200_000;
const NAMESPACES: u32 = 4;
const SNAPSHOTS: usize = 40;
const OPS_BETWEEN_SNAPSHOTS: u64 = 50_000;

/// What a snapshot must contain: entry count and an order-independent fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expected {
    len: usize,
    fingerprint: u64,
}

fn mix(key: u64, namespace: u32, state: u64) -> u64 {
    let mut x = key ^ (u64::from(namespace) << 40) ^ state.rotate_left(17);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 29)
}

/// A small xorshift generator, so the run is reproducible without extra dependencies.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

type Table = StateTable<u64, u32, u64, DeterministicState>;

fn main() {
    let mut table: Table = StateTable::with_buckets_and_hasher(1024, DeterministicState::default());
    let mut fingerprint = 0u64;
    for k in 0..KEYS {
        let ns = (k % u64::from(NAMESPACES)) as u32;
        table.put(k, ns, k);
        fingerprint = fingerprint.wrapping_add(mix(k, ns, k));
    }

    let (senders, readers): (Vec<_>, Vec<_>) = (0..2)
        .map(|id| {
            let (tx, rx) = mpsc::channel::<(Arc<cow_state_table::Snapshot<u64, u32, u64>>, Expected)>();
            let handle = thread::spawn(move || {
                let mut verified = 0usize;
                for (snapshot, expected) in rx {
                    let mut len = 0usize;
                    let mut fp = 0u64;
                    for (k, ns, s) in snapshot.iter() {
                        len += 1;
                        fp = fp.wrapping_add(mix(*k, *ns, *s));
                    }
                    let got = Expected { len, fingerprint: fp };
                    assert_eq!(
                        got,
                        expected,
                        "reader {id}: snapshot {} differs from the table at snapshot time",
                        snapshot.version()
                    );
                    verified += 1;
                    // Dropping our Arc; the last of the two readers to drop it releases the snapshot.
                }
                verified
            });
            (tx, handle)
        })
        .unzip();

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut pauses = Vec::with_capacity(SNAPSHOTS);
    let started = Instant::now();
    let mut ops = 0u64;
    for _ in 0..SNAPSHOTS {
        for _ in 0..OPS_BETWEEN_SNAPSHOTS {
            let r = rng.next();
            let k = r % (KEYS + KEYS / 4);
            let ns = ((r >> 20) % u64::from(NAMESPACES)) as u32;
            match (r >> 40) % 8 {
                0 => {
                    if let Some(old) = table.remove_and_get_old(&k, &ns) {
                        fingerprint = fingerprint.wrapping_sub(mix(k, ns, old));
                    }
                }
                1..=3 => {
                    if let Some(old) = table.put_and_get_old(k, ns, r) {
                        fingerprint = fingerprint.wrapping_sub(mix(k, ns, old));
                    }
                    fingerprint = fingerprint.wrapping_add(mix(k, ns, r));
                }
                _ => {
                    if let Some(s) = table.get_mut(&k, &ns) {
                        fingerprint = fingerprint.wrapping_sub(mix(k, ns, *s));
                        *s = s.wrapping_add(1);
                        fingerprint = fingerprint.wrapping_add(mix(k, ns, *s));
                    }
                }
            }
            ops += 1;
        }
        let t = Instant::now();
        let snapshot = table
            .snapshot()
            .expect("versions are renormalised long before exhaustion");
        pauses.push(t.elapsed());
        let expected = Expected {
            len: table.len(),
            fingerprint,
        };
        let snapshot = Arc::new(snapshot);
        for tx in &senders {
            tx.send((Arc::clone(&snapshot), expected)).expect("reader alive");
        }
    }
    drop(senders);
    let verified: Vec<usize> = readers.into_iter().map(|h| h.join().expect("reader passed")).collect();
    let elapsed = started.elapsed();
    table.reclaim();
    table.check_invariants().expect("invariants hold");

    pauses.sort();
    let stats = table.cow_stats();
    println!("cow-state-table quickstart");
    println!(
        "  writer: {ops} operations on {} keys x {NAMESPACES} namespaces in {:.2?} (while snapshots were being read)",
        KEYS + KEYS / 4,
        elapsed
    );
    println!(
        "  table:  {} entries, {} buckets, version {}",
        table.len(),
        table.buckets(),
        table.version()
    );
    println!(
        "  snapshots: {} taken, verified by reader 0: {}, by reader 1: {} — all equal to the table at snapshot time",
        SNAPSHOTS, verified[0], verified[1]
    );
    println!(
        "  writer pause per snapshot: median {:?}, max {:?}",
        pauses[pauses.len() / 2],
        pauses.last().copied().unwrap_or(Duration::ZERO)
    );
    println!(
        "  copy-on-write: {} node copies, {} chunk copies, {} retired, {} reclaimed, {} still retired",
        stats.node_copies,
        stats.chunk_copies,
        stats.retired,
        stats.reclaimed,
        table.retired_len()
    );
    assert_eq!(verified, vec![SNAPSHOTS, SNAPSHOTS]);
}
