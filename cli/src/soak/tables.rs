//! The plain target: one [`StateTable`] per state (the heap backend's layout), checkpointed with the single-table
//! format (`write_checkpoint`) and restored with `restore`. Reports copy-on-write counts.

use super::checkpoint::{restore_targets, verify_restored, CheckpointStats, Storage, KEEP};
use super::model::{cells_of, Capture, Cell};
use super::target::{KeyedTarget, OpResult};
use cow_state_table::format::{write_checkpoint, WriteOptions};
use cow_state_table::keygroup::KeyGroupContext;
use cow_state_table::restore::restore;
use cow_state_table::serializer::{Serializers, U32Serializer, U64Serializer};
use cow_state_table::{DeterministicState, Snapshot, StateTable};
use std::time::Instant;

/// One [`StateTable`] per state.
#[derive(Debug)]
pub struct TableSet {
    tables: Vec<StateTable<u64, u32, u64, DeterministicState>>,
}

const SERIALIZERS: Serializers<U64Serializer, U32Serializer, U64Serializer> = Serializers {
    key: U64Serializer,
    namespace: U32Serializer,
    state: U64Serializer,
};

impl KeyedTarget for TableSet {
    type Snap = Vec<Snapshot<u64, u32, u64>>;
    type Store = Storage;
    const NAME: &'static str = "one StateTable per state";

    fn new(states: usize, _ctx: KeyGroupContext) -> OpResult<Self> {
        Ok(TableSet {
            tables: (0..states)
                .map(|_| StateTable::with_buckets_and_hasher(1024, DeterministicState::default()))
                .collect(),
        })
    }
    fn put(&mut self, state: usize, key: u64, ns: u32, value: u64) -> OpResult<()> {
        self.tables[state].put(key, ns, value);
        Ok(())
    }
    fn update(&mut self, state: usize, key: u64, ns: u32, f: impl FnOnce(u64) -> u64) -> OpResult<Option<u64>> {
        Ok(self.tables[state].get_mut(&key, &ns).map(|s| {
            let old = *s;
            *s = f(old);
            old
        }))
    }
    fn add(&mut self, state: usize, key: u64, ns: u32, delta: u64) -> OpResult<Option<u64>> {
        let mut seen = None;
        self.tables[state].transform(key, ns, delta, |old, d| {
            seen = old;
            old.map_or(d, |o| o.wrapping_add(d))
        });
        Ok(seen)
    }
    fn remove(&mut self, state: usize, key: u64, ns: u32) -> OpResult<Option<u64>> {
        Ok(self.tables[state].remove_and_get_old(&key, &ns))
    }
    fn merge(&mut self, state: usize, key: u64, into: u32, sources: [u32; 2]) -> OpResult<Option<u64>> {
        for source in sources {
            if let Some(v) = self.tables[state].remove_and_get_old(&key, &source) {
                self.add(state, key, into, v)?;
            }
        }
        Ok(self.tables[state].get(&key, &into).copied())
    }
    fn inject(&mut self, state: usize, key: u64, ns: u32, value: u64) -> OpResult<()> {
        self.put(state, key, ns, value)
    }
    fn snapshot(&mut self, _id: u64) -> OpResult<Self::Snap> {
        self.tables
            .iter_mut()
            .map(|t| t.snapshot().map_err(|e| e.to_string()))
            .collect()
    }
    fn entries(&self) -> u64 {
        self.tables.iter().map(|t| t.len() as u64).sum()
    }
    fn copies(&self) -> Option<(u64, u64)> {
        Some(self.tables.iter().fold((0, 0), |(n, c), t| {
            let s = t.cow_stats();
            (n + s.node_copies, c + s.chunk_copies)
        }))
    }

    fn read(snap: &Self::Snap, ctx: KeyGroupContext) -> OpResult<(Vec<Vec<Cell>>, u64)> {
        let mut cells = Vec::with_capacity(snap.len());
        let mut entries = 0;
        for (state, s) in snap.iter().enumerate() {
            let c = cells_of(ctx, s.iter());
            let counted: u64 = c.iter().map(|c| c.count).sum();
            if counted != s.len() as u64 {
                return Err(format!(
                    "state {state}: len() is {} but iteration yields {counted}",
                    s.len()
                ));
            }
            entries += counted;
            cells.push(c);
        }
        Ok((cells, entries))
    }

    fn open_store(storage: &Storage) -> OpResult<Storage> {
        Ok(storage.clone())
    }

    fn checkpoint(
        snap: &Self::Snap,
        id: u64,
        op: u64,
        capture: &Capture,
        ctx: KeyGroupContext,
        store: &mut Storage,
        rescale: Option<u32>,
    ) -> OpResult<CheckpointStats> {
        let mut stats = CheckpointStats::default();
        let started = Instant::now();
        let mut written = Vec::with_capacity(snap.len());
        for (state, snapshot) in snap.iter().enumerate() {
            let mut bytes = Vec::new();
            write_checkpoint(snapshot, ctx, &SERIALIZERS, WriteOptions::default(), &mut bytes)
                .map_err(|e| format!("checkpoint {id}, state {state}: write failed: {e}"))?;
            stats.bytes += bytes.len() as u64;
            written.push(bytes);
        }
        let stored: Vec<Vec<u8>> = match store {
            Storage::Memory => written,
            Storage::Dir(dir) => {
                let mut back = Vec::with_capacity(written.len());
                for (state, bytes) in written.into_iter().enumerate() {
                    let path = dir.join(format!("chk-{id:06}-state-{state}.cow"));
                    std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
                    back.push(std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?);
                    if id >= KEEP {
                        let _ = std::fs::remove_file(dir.join(format!("chk-{:06}-state-{state}.cow", id - KEEP)));
                    }
                }
                back
            }
        };
        stats.write = started.elapsed();
        let started = Instant::now();
        stats.rescaled = rescale.is_some();
        for target in restore_targets(ctx, rescale)? {
            let mut got = Vec::with_capacity(stored.len());
            for (state, bytes) in stored.iter().enumerate() {
                let table: StateTable<u64, u32, u64> = restore(target, &[bytes], &SERIALIZERS).map_err(|e| {
                    format!("checkpoint {id} (taken after op {op}), state {state}: restore failed: {e}")
                })?;
                stats.restored_bytes += bytes.len() as u64;
                got.push(cells_of(ctx, table.iter()));
            }
            verify_restored(id, op, target, capture, &got)?;
        }
        stats.restore = started.elapsed();
        Ok(stats)
    }
}
