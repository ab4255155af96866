//! The end of a soak run: the summary (a table for people, JSON for machines) and the process memory figures.

use serde::Serialize;

/// Resident and peak resident memory of this process in bytes (Linux `/proc/self/status`; 0 elsewhere).
pub fn memory() -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The `p`-th percentile (0..=100) of sorted `values`, nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Everything a soak run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The seed (`--seed` reproduces the stream).
    pub seed: u64,
    /// What was driven: "StateTable per state" (or the backend once it replaces it).
    pub target: String,
    /// Seconds run.
    pub seconds: f64,
    /// Keys, namespaces, states, readers.
    pub keys: u64,
    /// Namespaces.
    pub namespaces: u32,
    /// States.
    pub states: usize,
    /// Reader threads.
    pub readers: usize,
    /// Operations applied by the writer.
    pub ops: u64,
    /// Operations per second.
    pub ops_per_sec: f64,
    /// Entries over all states at the end.
    pub entries: u64,
    /// Snapshot sets taken for the readers.
    pub snapshots: u64,
    /// Snapshot sets verified by the readers.
    pub snapshots_verified: u64,
    /// Entries read and verified by the readers.
    pub entries_verified: u64,
    /// Writer pause per snapshot set (all states), p50, in microseconds.
    pub pause_p50_us: f64,
    /// p99.
    pub pause_p99_us: f64,
    /// Maximum.
    pub pause_max_us: f64,
    /// Node copies per snapshot set (copy-on-write); `None` if the target does not report them.
    pub node_copies_per_snapshot: Option<f64>,
    /// Chunk copies per snapshot set.
    pub chunk_copies_per_snapshot: Option<f64>,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Checkpoints restored and verified.
    pub checkpoints_verified: u64,
    /// Of which also restored rescaled.
    pub checkpoints_rescaled: u64,
    /// Mean checkpoint size (all states) in bytes.
    pub checkpoint_bytes_avg: u64,
    /// Largest checkpoint in bytes.
    pub checkpoint_bytes_max: u64,
    /// Checkpoint write throughput, MB/s (10^6 bytes).
    pub write_mb_per_sec: f64,
    /// Restore throughput, MB/s.
    pub restore_mb_per_sec: f64,
    /// Where checkpoints went.
    pub storage: String,
    /// Peak resident memory, bytes.
    pub peak_memory_bytes: u64,
    /// What `soak --incremental` checkpointed and restored (absent for the other soaks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental: Option<IncrementalSummary>,
    /// `"ok"` or `"mismatch"`.
    pub result: String,
    /// The first divergence, if any.
    pub divergence: Option<String>,
}

/// The incremental checkpoints of `soak --incremental` (docs/DESIGN.md C6–C9).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct IncrementalSummary {
    /// The policy's `full_every`: a full checkpoint every that many.
    pub full_every: u32,
    /// Completed checkpoints written in full.
    pub full: u64,
    /// Completed checkpoints written as deltas.
    pub deltas: u64,
    /// Checkpoints cancelled before they completed (none of them became a base).
    pub cancelled: u64,
    /// Completed checkpoints restored as their chain (full + deltas) and verified against the model.
    pub chains_restored: u64,
    /// Of which also restored rescaled into 2–4 key-group ranges (and scaled back in).
    pub rescaled: u64,
    /// Checkpoints in the longest chain restored.
    pub longest_chain: u64,
    /// Mean size of a full checkpoint, bytes.
    pub full_bytes_avg: u64,
    /// Mean size of a delta, bytes.
    pub delta_bytes_avg: u64,
    /// The most bytes the retained base kept alive at a checkpoint's synchronous part (`incremental_stats()`'s
    /// `bytes_copied_since_base`, docs/DESIGN.md C6).
    pub base_bytes_max: u64,
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Summary {
    /// The summary table.
    pub fn table(&self) -> String {
        let rows: Vec<(&str, String)> = vec![
            ("target", self.target.clone()),
            (
                "workload",
                format!(
                    "seed {}, {} keys x {} namespaces x {} states, {} readers, {:.1} s",
                    self.seed, self.keys, self.namespaces, self.states, self.readers, self.seconds
                ),
            ),
            (
                "throughput",
                format!(
                    "{} ops, {:.2} M ops/s; {} entries at the end",
                    group(self.ops),
                    self.ops_per_sec / 1e6,
                    group(self.entries)
                ),
            ),
            (
                "snapshots",
                format!(
                    "{} taken, {} verified ({} entries read)",
                    group(self.snapshots),
                    group(self.snapshots_verified),
                    group(self.entries_verified)
                ),
            ),
            (
                "writer pause",
                format!(
                    "p50 {:.1} us, p99 {:.1} us, max {:.1} us per snapshot of {} states",
                    self.pause_p50_us, self.pause_p99_us, self.pause_max_us, self.states
                ),
            ),
            (
                "copies",
                match (self.node_copies_per_snapshot, self.chunk_copies_per_snapshot) {
                    (Some(n), Some(c)) => format!("{n:.1} nodes + {c:.1} chunks per snapshot"),
                    _ => "not reported by this target (--target tables reports them)".to_string(),
                },
            ),
            (
                "checkpoints",
                format!(
                    "{} written, {} restored and verified ({} also rescaled to 2-4 instances)",
                    self.checkpoints, self.checkpoints_verified, self.checkpoints_rescaled
                ),
            ),
            (
                "checkpoint size",
                format!(
                    "avg {}, max {}; write {:.0} MB/s, restore {:.0} MB/s; stored in {}",
                    mb(self.checkpoint_bytes_avg),
                    mb(self.checkpoint_bytes_max),
                    self.write_mb_per_sec,
                    self.restore_mb_per_sec,
                    self.storage
                ),
            ),
            ("peak memory", mb(self.peak_memory_bytes)),
        ];
        let mut rows = rows;
        if let Some(i) = &self.incremental {
            rows.insert(
                rows.len() - 1,
                (
                    "incremental",
                    format!(
                        "{} full + {} deltas (a full one every {}), {} cancelled; {} chains restored and verified \
                         ({} rescaled), longest {}; full avg {}, delta avg {}; the base kept up to {} alive",
                        i.full,
                        i.deltas,
                        i.full_every,
                        i.cancelled,
                        i.chains_restored,
                        i.rescaled,
                        i.longest_chain,
                        mb(i.full_bytes_avg),
                        mb(i.delta_bytes_avg),
                        mb(i.base_bytes_max)
                    ),
                ),
            );
        }
        rows.extend([(
            "verification",
            match &self.divergence {
                None => "OK: every snapshot and checkpoint matched the model".to_string(),
                Some(d) => format!("MISMATCH: {d}"),
            },
        )]);
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("  {k:<16} {v}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(group(1234567), "1,234,567");
    }
}
