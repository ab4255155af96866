//! What every TTL handle shares: its configuration and the incremental cleanup's cursor (docs/DESIGN.md T6,
//! T7).

use super::config::StateTtlConfig;
use super::value::TtlStored;
use crate::sync::Primitives;
use crate::table::visit::{VisitCursor, VisitSummary};
use crate::StateTable;
use core::hash::{BuildHasher, Hash};
use core::sync::atomic::{AtomicU64, Ordering};

/// A TTL state's configuration and cleanup cursor, shared by the clones of its handle.
#[derive(Debug)]
pub(crate) struct TtlRuntime {
    pub(crate) config: StateTtlConfig,
    /// The cursor's position, `bucket << 1 | in_new`: one load and one store per visit.
    position: AtomicU64,
    /// The cursor's completed rounds, written only when a visit completes one.
    rounds: AtomicU64,
}

impl TtlRuntime {
    pub(crate) fn new(config: StateTtlConfig) -> Self {
        TtlRuntime {
            config,
            position: AtomicU64::new(0),
            rounds: AtomicU64::new(0),
        }
    }

    #[inline]
    fn cursor(&self) -> VisitCursor {
        let position = self.position.load(Ordering::Relaxed);
        VisitCursor {
            in_new: position & 1 == 1,
            bucket: (position >> 1) as usize,
            rounds: self.rounds.load(Ordering::Relaxed),
        }
    }

    #[inline]
    fn set_cursor(&self, before: VisitCursor, c: VisitCursor) {
        // A bucket index is at most a directory's capacity (at most 2^30 buckets, docs/DESIGN.md "sub-table"), so
        // it fits 63 bits.
        self.position
            .store((c.bucket as u64) << 1 | u64::from(c.in_new), Ordering::Relaxed);
        if c.rounds != before.rounds {
            self.rounds.store(c.rounds, Ordering::Relaxed);
        }
    }

    /// Completed rounds of the incremental cleanup.
    pub(crate) fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// T6: the incremental cleanup's step of one state access, if configured.
    #[inline]
    pub(crate) fn on_access<K, N, S, H, P>(&self, table: &mut StateTable<K, N, S, H, P>, now: i64)
    where
        K: Hash + Eq + Clone,
        N: Hash + Eq + Clone,
        S: Clone + TtlStored,
        H: BuildHasher,
        P: Primitives,
    {
        if let Some(inc) = self.config.incremental {
            self.visit(table, inc.visit_count, now);
        }
    }

    /// T6: the step of `record_processed`, if the incremental cleanup runs for every record.
    pub(crate) fn on_record<K, N, S, H, P>(&self, table: &mut StateTable<K, N, S, H, P>, now: i64)
    where
        K: Hash + Eq + Clone,
        N: Hash + Eq + Clone,
        S: Clone + TtlStored,
        H: BuildHasher,
        P: Primitives,
    {
        if let Some(inc) = self.config.incremental.filter(|i| i.run_for_every_record) {
            self.visit(table, inc.visit_count, now);
        }
    }

    /// Visits `count` entries from the cursor, removing or trimming the expired (T6).
    #[inline]
    pub(crate) fn visit<K, N, S, H, P>(
        &self,
        table: &mut StateTable<K, N, S, H, P>,
        count: usize,
        now: i64,
    ) -> VisitSummary
    where
        K: Hash + Eq + Clone,
        N: Hash + Eq + Clone,
        S: Clone + TtlStored,
        H: BuildHasher,
        P: Primitives,
    {
        let ttl = self.config.ttl;
        let before = self.cursor();
        let mut cursor = before;
        let summary = table.visit_some(&mut cursor, count, |_, _, s| s.filter_expired(ttl, now));
        self.set_cursor(before, cursor);
        summary
    }

    /// T7: removes or trims every expired entry; returns the entries removed or trimmed. Repeats whole rounds
    /// until one changes nothing: such a round wrote nothing, so no rehash moved an entry under it (T6).
    pub(crate) fn cleanup_full<K, N, S, H, P>(&self, table: &mut StateTable<K, N, S, H, P>, now: i64) -> usize
    where
        K: Hash + Eq + Clone,
        N: Hash + Eq + Clone,
        S: Clone + TtlStored,
        H: BuildHasher,
        P: Primitives,
    {
        let ttl = self.config.ttl;
        let mut total = 0;
        loop {
            let mut cursor = VisitCursor::default();
            let mut changed = 0;
            while cursor.rounds == 0 {
                let s = table.visit_some(&mut cursor, 1024, |_, _, s| s.filter_expired(ttl, now));
                changed += s.removed + s.replaced;
            }
            total += changed;
            if changed == 0 {
                return total;
            }
        }
    }
}
