//! Merging namespaces (Flink `AbstractHeapMergingState.mergeNamespaces` and its `MergeTransformation`), B6.

use crate::sync::Primitives;
use crate::StateTable;
use core::hash::{BuildHasher, Hash};
use std::collections::HashSet;

/// Up to this many sources, a repeated source is found by comparing with the earlier ones; above, with a set.
const LINEAR_DEDUP: usize = 16;

/// Folds the states of `sources` into `target` for `key` with a user function `merge`, removing the sources
/// (B6), with the outcome of Flink's order:
///
/// 1. for each source in order, its state if present (a source listed twice counts once, as Flink's second
///    removal finds nothing); an absent source is skipped;
/// 2. the present ones are folded left to right: `merged = merge(merged, source)`;
/// 3. if anything was present, the target becomes `merge(target, merged)`, or `merged` when the target is
///    absent; otherwise the target is untouched.
///
/// A target that is also listed as a source is removed first and merged back, as in Flink.
///
/// `merge` is user code and may panic: it works on clones of the stored states, and the table is written
/// (sources removed, target put) only once the merged value is computed, so a panic leaves every source and the
/// target as they were, with or without a checkpoint in flight (B6).
pub(crate) fn merge_namespaces<K, N, S, H, P>(
    table: &mut StateTable<K, N, S, H, P>,
    key: &K,
    target: &N,
    sources: &[N],
    merge: impl Fn(S, S) -> S,
) where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    let mut seen: HashSet<&N> = HashSet::new();
    let mut merged: Option<S> = None;
    for (i, source) in sources.iter().enumerate() {
        let repeated = if sources.len() <= LINEAR_DEDUP {
            sources[..i].contains(source)
        } else {
            !seen.insert(source)
        };
        // Planted mutant (scripts/mutants.sh): above the linear scan a repeated source is merged again (B6).
        #[cfg(cow_mutant = "merge-repeats-source")]
        let repeated = repeated && sources.len() <= LINEAR_DEDUP;
        if repeated {
            continue;
        }
        let Some(state) = table.get(key, source) else {
            continue;
        };
        let state = state.clone();
        merged = Some(match merged {
            Some(m) => merge(m, state),
            None => state,
        });
    }
    let Some(merged) = merged else {
        return;
    };
    let old_target = if sources.contains(target) {
        None
    } else {
        table.get(key, target).cloned()
    };
    let new = match old_target {
        Some(t) => merge(t, merged),
        None => merged,
    };
    // Computed: now write. Nothing below calls `merge`; the key and target are cloned before any source is
    // removed, so that a panicking `Clone` cannot drop the sources either.
    let (key_owned, target_owned) = (key.clone(), target.clone());
    for source in sources {
        table.remove(key, source);
    }
    table.put(key_owned, target_owned, new);
}

/// [`merge_namespaces`] for a merge that calls no user code (list: `a.extend(b)`), by moves: each source is
/// removed with `remove_and_get_old`, the states are folded and the target is combined with `transform`. No state
/// is cloned.
pub(crate) fn merge_namespaces_by_moving<K, N, S, H, P>(
    table: &mut StateTable<K, N, S, H, P>,
    key: &K,
    target: &N,
    sources: &[N],
    merge: impl Fn(S, S) -> S,
) where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    S: Clone,
    H: BuildHasher,
    P: Primitives,
{
    let mut merged: Option<S> = None;
    for source in sources {
        let Some(state) = table.remove_and_get_old(key, source) else {
            continue;
        };
        merged = Some(match merged {
            Some(m) => merge(m, state),
            None => state,
        });
    }
    if let Some(merged) = merged {
        table.transform(key.clone(), target.clone(), merged, |old, merged| match old {
            Some(t) => merge(t, merged),
            None => merged,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    type Table = StateTable<u8, u8, String>;

    fn cat(a: String, b: String) -> String {
        format!("{a}{b}")
    }

    /// B6's order, run by both merges.
    fn order_absent_sources_and_target(merge: impl Fn(&mut Table, &u8, &u8, &[u8])) {
        let mut t: Table = StateTable::new();
        // Target absent, sources 1 and 3 present, 2 absent: merged = s1 + s3, target = merged.
        t.put(0, 1, "a".into());
        t.put(0, 3, "c".into());
        merge(&mut t, &0, &9, &[1, 2, 3]);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("ac"));
        assert!(!t.contains(&0, &1) && !t.contains(&0, &3));
        // Target present: target + merged.
        t.put(0, 4, "x".into());
        t.put(0, 5, "y".into());
        merge(&mut t, &0, &9, &[5, 4]);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("acyx"));
        // No source present: target untouched; empty source list: nothing.
        merge(&mut t, &0, &9, &[7, 8]);
        merge(&mut t, &0, &9, &[]);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("acyx"));
        assert_eq!(t.len(), 1);
        // Other keys are not touched.
        t.put(1, 4, "k1".into());
        merge(&mut t, &0, &9, &[4]);
        assert_eq!(t.get(&1, &4).map(String::as_str), Some("k1"));
        // Target among the sources: removed, merged in order, put back.
        t.put(0, 2, "b".into());
        merge(&mut t, &0, &9, &[9, 2]);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("acyxb"));
        t.put(0, 2, "c".into());
        merge(&mut t, &0, &9, &[2, 9]);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("cacyxb"));
        // A source listed twice counts once (Flink's second removal finds nothing), also above the linear scan.
        t.put(0, 3, "d".into());
        merge(&mut t, &0, &9, &[3, 3, 9, 3]);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("dcacyxb"));
        t.put(0, 4, "e".into());
        let many: Vec<u8> = (10..40).chain([4, 4]).chain(10..40).collect();
        merge(&mut t, &0, &9, &many);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("dcacyxbe"));
        assert_eq!(t.len(), 2);
        t.check_invariants().unwrap();
    }

    #[test]
    fn order_with_user_function() {
        order_absent_sources_and_target(|t, k, target, sources| merge_namespaces(t, k, target, sources, cat));
    }

    #[test]
    fn order_by_moving() {
        order_absent_sources_and_target(|t, k, target, sources| merge_namespaces_by_moving(t, k, target, sources, cat));
    }

    /// B6: a panicking merge function leaves every source and the target in place, with or without a snapshot.
    #[test]
    fn panicking_merge_keeps_sources_and_target() {
        let fails = |a: String, b: String| {
            assert!(a != "!" && b != "!", "merge fails");
            cat(a, b)
        };
        for snapshot in [false, true] {
            for (target, panics_at) in [("t", 2u8), ("!", 0)] {
                let mut t: Table = StateTable::new();
                t.put(0, 9, target.into());
                t.put(0, 1, "a".into());
                t.put(0, 2, if panics_at == 2 { "!" } else { "b" }.into());
                t.put(0, 3, "c".into());
                let before: Vec<(u8, String)> = (0..10).filter_map(|n| Some((n, t.get(&0, &n)?.clone()))).collect();
                let held = snapshot.then(|| t.snapshot().unwrap());
                let r = catch_unwind(AssertUnwindSafe(|| merge_namespaces(&mut t, &0, &9, &[1, 2, 3], fails)));
                assert!(r.is_err());
                let after: Vec<(u8, String)> = (0..10).filter_map(|n| Some((n, t.get(&0, &n)?.clone()))).collect();
                assert_eq!(after, before, "snapshot {snapshot}, target {target}");
                t.check_invariants().unwrap();
                drop(held);
                t.check_invariants().unwrap();
            }
        }
    }
}
