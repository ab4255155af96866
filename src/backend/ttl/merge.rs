//! Merging the namespaces of a TTL reducing or aggregating state (docs/DESIGN.md T9; Flink
//! `TtlReduceFunction.reduce` and `TtlAggregateFunction.merge` under `AbstractHeapMergingState.mergeNamespaces`).

use super::value::TtlValue;
use crate::sync::Primitives;
use crate::StateTable;
use core::hash::{BuildHasher, Hash};
use std::collections::HashSet;

/// T9 over B6: folds the unexpired values of `sources` (each counted once, in order) with `merge`, then merges
/// the unexpired target in front (`merge(target, merged)`) unless the target is itself a source; every listed
/// source is removed, expired or not, and the result, if any unexpired source was found, is put as the target
/// stamped `now`. No unexpired source: the target is left as it is. `merge` is user code: it works on clones,
/// and the table is written only once the new target is computed, so a panic leaves every source and the target
/// as they were.
pub(crate) fn merge_unexpired<K, N, V, H, P>(
    table: &mut StateTable<K, N, TtlValue<V>, H, P>,
    key: &K,
    target: &N,
    sources: &[N],
    (ttl, now): (i64, i64),
    merge: impl Fn(V, V) -> V,
) where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    V: Clone,
    H: BuildHasher,
    P: Primitives,
{
    let unexpired = |table: &StateTable<K, N, TtlValue<V>, H, P>, ns: &N| {
        table
            .get(key, ns)
            .filter(|tv| !tv.is_expired(ttl, now))
            .map(|tv| tv.user_value.clone())
    };
    let mut seen: HashSet<&N> = HashSet::new();
    let mut merged: Option<V> = None;
    for source in sources {
        if !seen.insert(source) {
            continue;
        }
        let Some(value) = unexpired(table, source) else {
            continue;
        };
        merged = Some(match merged {
            Some(m) => merge(m, value),
            None => value,
        });
    }
    let new = merged.map(|m| {
        let old_target = if seen.contains(target) {
            None
        } else {
            unexpired(table, target)
        };
        match old_target {
            Some(t) => merge(t, m),
            None => m,
        }
    });
    // Computed: now write. Nothing below calls `merge`; the key and target are cloned before any source is
    // removed, so that a panicking `Clone` cannot drop the sources either.
    let owned = new.is_some().then(|| (key.clone(), target.clone()));
    for source in sources {
        table.remove(key, source);
    }
    if let (Some(value), Some((key, target))) = (new, owned) {
        table.put(key, target, TtlValue::new(value, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    type Table = StateTable<u8, u8, TtlValue<String>>;

    fn cat(a: String, b: String) -> String {
        format!("{a}{b}")
    }

    fn value(t: &Table, ns: u8) -> Option<(String, i64)> {
        t.get(&0, &ns).map(|tv| (tv.user_value.clone(), tv.last_access))
    }

    /// T9: expired operands count as absent, every source is removed, the result is stamped now.
    #[test]
    fn expired_operands_are_absent() {
        let mut t: Table = StateTable::new();
        // ttl 10, now 20: stamps ≤ 10 are expired.
        t.put(0, 1, TtlValue::new("a".into(), 15));
        t.put(0, 2, TtlValue::new("x".into(), 5)); // expired
        t.put(0, 3, TtlValue::new("c".into(), 19));
        t.put(0, 9, TtlValue::new("t".into(), 12));
        merge_unexpired(&mut t, &0, &9, &[1, 2, 3, 1], (10, 20), cat);
        assert_eq!(value(&t, 9), Some(("tac".into(), 20)));
        assert_eq!(t.len(), 1, "every source removed, the expired one too");
        // An expired target counts as absent: replaced by the merged sources.
        t.put(0, 8, TtlValue::new("old".into(), 1));
        t.put(0, 4, TtlValue::new("d".into(), 20));
        merge_unexpired(&mut t, &0, &8, &[4], (10, 25), cat);
        assert_eq!(value(&t, 8), Some(("d".into(), 25)));
        // No unexpired source: the expired sources go, the target stays as it is (stamp included).
        t.put(0, 5, TtlValue::new("e".into(), 2));
        merge_unexpired(&mut t, &0, &9, &[5, 6], (10, 25), cat);
        assert_eq!(value(&t, 9), Some(("tac".into(), 20)));
        assert_eq!(value(&t, 5), None);
        // Target among the sources: removed with them and not merged in front.
        t.put(0, 1, TtlValue::new("b".into(), 25));
        merge_unexpired(&mut t, &0, &9, &[9, 1], (10, 26), cat);
        assert_eq!(value(&t, 9), Some(("tacb".into(), 26)));
        merge_unexpired(&mut t, &0, &9, &[], (10, 26), cat);
        assert_eq!(value(&t, 9), Some(("tacb".into(), 26)));
        t.check_invariants().unwrap();
    }

    /// T9 (as B6): a panicking merge function leaves every source and the target in place, snapshot or not.
    #[test]
    fn panicking_merge_keeps_sources_and_target() {
        let fails = |a: String, b: String| {
            assert!(a != "!" && b != "!", "merge fails");
            cat(a, b)
        };
        for snapshot in [false, true] {
            let mut t: Table = StateTable::new();
            t.put(0, 9, TtlValue::new("t".into(), 10));
            t.put(0, 1, TtlValue::new("a".into(), 10));
            t.put(0, 2, TtlValue::new("!".into(), 10));
            let before: Vec<_> = (0..10).map(|n| value(&t, n)).collect();
            let held = snapshot.then(|| t.snapshot().unwrap());
            let r = catch_unwind(AssertUnwindSafe(|| {
                merge_unexpired(&mut t, &0, &9, &[1, 2], (10, 11), fails)
            }));
            assert!(r.is_err());
            let after: Vec<_> = (0..10).map(|n| value(&t, n)).collect();
            assert_eq!(after, before, "snapshot {snapshot}");
            drop(held);
            t.check_invariants().unwrap();
        }
    }
}
