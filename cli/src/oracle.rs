//! The reference model answering the operation language: `cow-state-table-model`'s [`Reference`] (an ordered
//! map per table and per snapshot) plus an independent encoder of key-group bodies. `trace generate` records
//! its answers (after checking that the table agrees) and `conform` compares a port's answers with them.

use crate::engine::{combine, modify};
use crate::trace::format::{hex, Op};
use cow_state_table::keygroup::key_group_of;
use cow_state_table_model::{Reference, SnapshotOutcome};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The model of one table and its snapshot slots.
#[derive(Debug, Clone)]
pub struct Oracle {
    model: Reference<u64, u32, u64>,
}

impl Default for Oracle {
    fn default() -> Self {
        Oracle {
            model: Reference::new(cow_state_table::table::DEFAULT_VERSION_LIMIT),
        }
    }
}

fn entries(map: &BTreeMap<(u64, u32), u64>) -> Value {
    json!(map.iter().map(|(&(k, n), &s)| (k, n, s)).collect::<Vec<_>>())
}

/// The canonical V2 body of `key_group` (docs/FORMAT.md): a big-endian `i32` count, then `(namespace: u32,
/// key: u64, state: u64)` big-endian, sorted by those bytes — i.e. by `(namespace, key, state)`.
fn body(map: &BTreeMap<(u64, u32), u64>, max_parallelism: u32, key_group: u32) -> Result<Vec<u8>, String> {
    let mut rows = Vec::new();
    for (&(k, n), &s) in map {
        if key_group_of(&k, max_parallelism).map_err(|e| e.to_string())? == key_group {
            rows.push((n, k, s));
        }
    }
    rows.sort_unstable();
    let mut out = (rows.len() as i32).to_be_bytes().to_vec();
    for (n, k, s) in rows {
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&k.to_be_bytes());
        out.extend_from_slice(&s.to_be_bytes());
    }
    Ok(out)
}

impl Oracle {
    /// The expected result of `op` (already validated), applied to the model.
    pub fn apply(&mut self, op: &Op) -> Result<Value, String> {
        let m = &mut self.model;
        Ok(match *op {
            Op::Put { key, ns, value } => {
                m.put(key, ns, value);
                Value::Null
            }
            Op::PutAndGetOld { key, ns, value } => json!(m.put(key, ns, value)),
            Op::Get { key, ns } => json!(m.get(&key, &ns)),
            Op::Contains { key, ns } => json!(m.get(&key, &ns).is_some()),
            Op::GetMut { key, ns, value } => json!(m.get_mut(&key, &ns).map(|s| {
                *s = modify(*s, value);
                *s
            })),
            Op::Remove { key, ns } => json!(m.remove(&key, &ns).is_some()),
            Op::RemoveAndGetOld { key, ns } => json!(m.remove(&key, &ns)),
            Op::Transform { key, ns, value } => {
                let old = m.get(&key, &ns).copied();
                m.put(key, ns, combine(old, value));
                json!(old)
            }
            Op::Len => json!(m.len()),
            Op::SizeOfNamespace { ns } => json!(m.size_of_namespace(&ns)),
            Op::Iterate => entries(&m.live),
            Op::Snapshot { slot } => match m.take_snapshot(usize::from(slot)) {
                SnapshotOutcome::Taken { version, .. } => json!(version),
                SnapshotOutcome::Exhausted { live } => return Err(format!("versions exhausted ({live} live)")),
            },
            Op::Release { slot } => json!(m.release(usize::from(slot)).is_some()),
            Op::ReadSnapshot { slot } => match &m.snapshots[usize::from(slot)] {
                None => Value::Null,
                Some(f) => entries(&f.contents),
            },
            Op::Partition { slot, max_parallelism } => match &m.snapshots[usize::from(slot)] {
                None => Value::Null,
                Some(f) => {
                    let mut counts = BTreeMap::<u32, u64>::new();
                    for &(k, _) in f.contents.keys() {
                        *counts
                            .entry(key_group_of(&k, max_parallelism).map_err(|e| e.to_string())?)
                            .or_default() += 1;
                    }
                    json!(counts.into_iter().collect::<Vec<_>>())
                }
            },
            Op::WriteKeyGroup {
                slot,
                max_parallelism,
                key_group,
            } => match &m.snapshots[usize::from(slot)] {
                None => Value::Null,
                Some(f) => json!(hex(&body(&f.contents, max_parallelism, key_group)?)),
            },
        })
    }

    /// Expected `len`, `version` and live snapshots.
    pub fn exact_state(&self) -> (u64, u32, u32) {
        (
            self.model.len() as u64,
            self.model.version,
            self.model.live_snapshots() as u32,
        )
    }
}
