//! The invariant checker: a debugging aid that walks the whole structure and verifies the invariants of
//! docs/DESIGN.md that can be seen in it. Tests call it after every operation; it costs O(entries + chunks)
//! per live snapshot, so it is not for production paths.
//!
//! What it cannot see — whether a value a snapshot can reach was modified in place — the differential tests
//! check instead, by comparing every live snapshot with the reference model after every operation.

use crate::error::InvariantViolation;
use crate::hash::composite_hash;
use crate::snapshot::reclaim::Garbage;
use crate::sync::{MutexOps, Primitives};
use crate::table::directory::{present_chunks, DirView, Directory, PresentChunks};
use crate::table::node::NodePtr;
use crate::table::{threshold_of, MAXIMUM_CAPACITY};
use crate::StateTable;
use core::hash::{BuildHasher, Hash};
use std::collections::{HashMap, HashSet};

/// A directory of the live table with its name for messages.
type NamedDir<'a, K, N, S, P> = (&'a str, &'a Directory<K, N, S, P>);

fn violation(invariant: &'static str, detail: String) -> Result<(), InvariantViolation> {
    Err(InvariantViolation { invariant, detail })
}

impl<K, N, S, H, P> StateTable<K, N, S, H, P>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    /// Walks the table, its retire queue and every live snapshot, and checks invariants I1, I2, I5, I7–I11 of
    /// docs/DESIGN.md: versions are ordered; every chunk and node reachable from a live snapshot is older than
    /// the snapshot and still allocated (live or retired, never freed); the snapshot holds as many entries as when
    /// it was taken; sizes match; every entry sits in the right directory and bucket for the current rehash index;
    /// no `(key, namespace)` appears twice; the node arena holds exactly the live and retired nodes (no leak);
    /// the retire queue's cached first tag is its front's; the published bounds match the live set; every
    /// registered view is registered under its own version.
    ///
    /// Cost contracts (I3, I10): the grow threshold is 3/4 of the capacity the table is growing or shrinking
    /// to, the capacity never falls below the initial one, and a table that is not rehashing is at most one
    /// entry over its threshold (it starts growing at the next insert). With snapshots live, every live node
    /// and chunk older than the newest snapshot `R` is reachable from that snapshot (so it really is shared),
    /// and — by I2 — nothing of version `>= R` is reachable from any snapshot (so it is private): a copy made
    /// under a snapshot gets version `V >= R` and is never copied again under it (copy at most once).
    ///
    /// A debugging aid: O(entries + chunks) per live snapshot.
    ///
    /// # Errors
    /// The first [`InvariantViolation`] found, naming the invariant (`"I1"` … `"I13"`).
    ///
    /// ```
    /// use cow_state_table::StateTable;
    /// let mut table: StateTable<u64, u32, u64> = (0..100).map(|k| (k, 0, k)).collect();
    /// let snap = table.snapshot()?;
    /// table.retain(|k, _, _| k % 2 == 0);
    /// table.check_invariants()?;
    /// assert_eq!(snap.len(), 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let v = self.version;
        let mut live_nodes: HashSet<usize> = HashSet::new();
        let mut live_chunks: HashSet<usize> = HashSet::new();
        let mut keys: HashSet<(&K, &N)> = HashSet::new();
        // Versions of live nodes and chunks, for the copy-at-most-once check below.
        let mut live_versions: HashMap<usize, u32> = HashMap::new();

        // Load factor (cost contract): thresholds follow the capacity being built.
        // An unallocated table (`new()` before its first insert) has no directory yet; it will be built at
        // the initial capacity, whose threshold it already holds.
        let target_capacity = match &self.rehash {
            Some(r) => r.new.capacity,
            None if self.primary.capacity == 0 => self.min_capacity,
            None => self.primary.capacity,
        };
        if self.threshold != threshold_of(target_capacity) {
            return violation(
                "I10",
                format!(
                    "grow threshold {} is not 3/4 of the capacity {target_capacity} being built",
                    self.threshold
                ),
            );
        }
        if target_capacity < self.min_capacity || !target_capacity.is_power_of_two() {
            return violation(
                "I10",
                format!(
                    "capacity {target_capacity} below the initial {} or not a power of two",
                    self.min_capacity
                ),
            );
        }
        if let Some(r) = &self.rehash {
            let c = self.primary.capacity;
            if r.new.capacity != 2 * c && 2 * r.new.capacity != c {
                return violation("I10", format!("rehash from {c} to {} buckets", r.new.capacity));
            }
        } else if self.len() > self.threshold + 1 && self.primary.capacity < MAXIMUM_CAPACITY {
            return violation(
                "I10",
                format!(
                    "{} entries in {} buckets without a rehash (threshold {})",
                    self.len(),
                    self.primary.capacity,
                    self.threshold
                ),
            );
        }

        let old_capacity = self.primary.capacity;
        let rehash_index = self.rehash.as_ref().map(|r| r.index);
        let mut dirs: Vec<NamedDir<'_, K, N, S, P>> = vec![("primary", &self.primary)];
        if let Some(r) = &self.rehash {
            dirs.push(("new", &r.new));
        }
        for (name, dir) in dirs {
            for (c, chunk) in dir.chunks.iter().enumerate() {
                // I10: the chunks that may hold entries are present — in the new directory those that old buckets
                // `<= rh` map into (the first bucket of a chunk is the lowest such), in the old one those holding a
                // bucket `>= rh`, without a rehash all.
                let first = c << dir.chunk_bits;
                let last = first + dir.chunk_len() - 1;
                let needed = match (name, rehash_index) {
                    ("primary", Some(rh)) => last >= rh,
                    (_, Some(rh)) => first & (old_capacity - 1) <= rh,
                    // No rehash: the primary directory is the only one, every chunk of it needed.
                    _ => true,
                };
                if !chunk.is_present() {
                    if needed {
                        return violation(
                            "I10",
                            format!("{name} chunk {c} is not allocated (rehash index {rehash_index:?})"),
                        );
                    }
                    continue;
                }
                if chunk.version > v {
                    return violation(
                        "I1",
                        format!("{name} chunk version {} > table version {v}", chunk.version),
                    );
                }
                if !live_chunks.insert(chunk.heads as usize) {
                    return violation("I5", format!("{name} chunk {:p} appears twice", chunk.heads));
                }
                live_versions.insert(chunk.heads as usize, chunk.version);
            }
            let mut count = 0usize;
            let mut walk = PresentChunks::default();
            for b in core::iter::from_fn(|| walk.next(dir)).flatten() {
                // SAFETY: `b` is in a present chunk (W1).
                let mut n = unsafe { dir.head(b) };
                while !n.is_null() {
                    if !live_nodes.insert(n as usize) {
                        return violation("I5", format!("node {n:p} reachable twice from the live table"));
                    }
                    // SAFETY: live nodes are valid (I5); `&self` excludes writes.
                    let node = unsafe { &*n };
                    if node.version() > v {
                        return violation("I1", format!("node version {} > table version {v}", node.version()));
                    }
                    live_versions.insert(n as usize, node.version());
                    if composite_hash(&self.hash_builder, &node.key, &node.namespace) != node.hash {
                        return violation("I10", "stored hash differs from the key's hash".into());
                    }
                    let old_bucket = node.hash as usize & (old_capacity - 1);
                    let placed = match (name, rehash_index) {
                        ("primary", None) => old_bucket == b,
                        ("primary", Some(rh)) => old_bucket == b && old_bucket >= rh,
                        (_, Some(rh)) => dir.bucket(node.hash) == b && old_bucket <= rh,
                        _ => false,
                    };
                    if !placed {
                        return violation(
                            "I10",
                            format!(
                                "entry with hash {:#x} in {name} bucket {b} (rehash index {rehash_index:?})",
                                node.hash
                            ),
                        );
                    }
                    if !keys.insert((&node.key, &node.namespace)) {
                        return violation(
                            "I11",
                            format!("a (key, namespace) appears twice (bucket {b} of {name})"),
                        );
                    }
                    count += 1;
                    n = node.next();
                }
            }
            if count != dir.len {
                return violation("I10", format!("{name} holds {count} entries but counts {}", dir.len));
            }
        }

        let mut retired_nodes: HashSet<usize> = HashSet::new();
        let mut retired_chunks: HashSet<usize> = HashSet::new();
        let mut last_tag = 0u32;
        let mut first_tag = u32::MAX;
        let mut result = Ok(());
        self.retired.for_each(|tag, g| {
            if result.is_err() {
                return;
            }
            first_tag = first_tag.min(tag);
            if tag < last_tag || tag > v {
                result = violation(
                    "I1",
                    format!("retire tag {tag} out of order (previous {last_tag}, V = {v})"),
                );
            }
            last_tag = tag;
            let (kind, addr, fresh) = match g {
                Garbage::Node(n) => ("node", *n as usize, retired_nodes.insert(*n as usize)),
                Garbage::Chunk(c, _) => ("chunk", *c as usize, retired_chunks.insert(*c as usize)),
            };
            if !fresh || live_nodes.contains(&addr) || live_chunks.contains(&addr) {
                result = violation("I5", format!("retired {kind} {addr:#x} is also live or retired twice"));
            }
        });
        result?;
        if self.retired.first_tag() != first_tag {
            return violation(
                "I7",
                format!(
                    "the retire queue's cached first tag is {} but its front's is {first_tag} (MAX when empty)",
                    self.retired.first_tag()
                ),
            );
        }
        let occupied = self.retired.arena.occupied();
        if occupied != live_nodes.len() + retired_nodes.len() {
            return violation(
                "I5",
                format!(
                    "the node arena holds {occupied} nodes but {} are live and {} retired",
                    live_nodes.len(),
                    retired_nodes.len()
                ),
            );
        }

        self.shared.registry.with_lock(|registry| {
            let expected = registry.bounds();
            let published = self.shared.load_bounds();
            if published != expected {
                return violation(
                    "I8",
                    format!("published bounds {published:?} differ from the live set's {expected:?}"),
                );
            }
            let newest = registry.live.keys().next_back().copied();
            let mut newest_reach: HashSet<usize> = HashSet::new();
            for (&s, &view_ptr) in &registry.live {
                if s > v {
                    return violation("I1", format!("live snapshot {s} > table version {v}"));
                }
                // SAFETY: a registered view is owned by a live snapshot, which removes it under this mutex before
                // dropping it.
                let view = unsafe { &*view_ptr };
                if view.version != s {
                    return violation(
                        "I12",
                        format!("the view registered as snapshot {s} has version {}", view.version),
                    );
                }
                let all = Sets {
                    live_chunks: &live_chunks,
                    retired_chunks: &retired_chunks,
                    live_nodes: &live_nodes,
                    retired_nodes: &retired_nodes,
                };
                let reach = (Some(s) == newest).then_some(&mut newest_reach);
                let mut count = 0usize;
                let mut reach = reach;
                for dir in view.dir_views() {
                    count += check_snapshot_dir(s, dir, &all, reach.as_deref_mut())?;
                }
                if count != view.len {
                    return violation(
                        "I9",
                        format!("snapshot {s} reaches {count} entries but had {}", view.len),
                    );
                }
            }
            // Copy at most once (I3): with `R` the newest live snapshot, a live node or chunk of version `< R`
            // existed when `R` was taken and never left the live structure, so `R` reaches it. One that `R`
            // does not reach is a copy that was given a stale version: every later write would copy it again.
            if let Some(r) = newest {
                for (&addr, &version) in &live_versions {
                    if version < r && !newest_reach.contains(&addr) {
                        return violation(
                            "I3",
                            format!(
                                "live object {addr:#x} of version {version} < R = {r} is not reachable from snapshot \
                                 {r}: a private copy that would be copied again"
                            ),
                        );
                    }
                }
            }
            Ok(())
        })
    }
}

/// The allocation sets of the live structure and the retire queue.
struct Sets<'a> {
    live_chunks: &'a HashSet<usize>,
    retired_chunks: &'a HashSet<usize>,
    live_nodes: &'a HashSet<usize>,
    retired_nodes: &'a HashSet<usize>,
}

/// Checks one directory of snapshot `s`; returns the number of entries it reaches.
/// Adds every chunk and node it reaches to `reach` if given.
fn check_snapshot_dir<K, N, S, P: Primitives>(
    s: u32,
    dir: DirView<'_, K, N, S, P>,
    all: &Sets<'_>,
    mut reach: Option<&mut HashSet<usize>>,
) -> Result<usize, InvariantViolation> {
    let Sets {
        live_chunks,
        retired_chunks,
        live_nodes,
        retired_nodes,
    } = *all;
    let mut count = 0;
    // An empty slot stands for empty buckets (I10): only present chunks are read (W1).
    for (c, chunk) in present_chunks(dir.chunks, 0) {
        let addr = chunk.heads as usize;
        if let Some(reach) = reach.as_deref_mut() {
            reach.insert(addr);
        }
        if !live_chunks.contains(&addr) && !retired_chunks.contains(&addr) {
            violation("I7", format!("snapshot {s} reaches freed chunk {addr:#x}"))?;
        }
        if chunk.version >= s {
            violation("I2", format!("snapshot {s} reaches chunk of version {}", chunk.version))?;
        }
        for slot in 0..dir.chunk_len {
            // SAFETY: the chunk is allocated (checked just above).
            let mut n: NodePtr<K, N, S, P> = unsafe { dir.head(c, slot) };
            while !n.is_null() {
                if !live_nodes.contains(&(n as usize)) && !retired_nodes.contains(&(n as usize)) {
                    violation("I7", format!("snapshot {s} reaches freed node {n:p}"))?;
                }
                // SAFETY: the node is allocated (checked just above).
                let node = unsafe { &*n };
                if let Some(reach) = reach.as_deref_mut() {
                    reach.insert(n as usize);
                }
                if node.version() >= s {
                    violation("I2", format!("snapshot {s} reaches node of version {}", node.version()))?;
                }
                count += 1;
                n = node.next();
            }
        }
    }
    Ok(count)
}
