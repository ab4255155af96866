//! Merging namespaces (Flink `AbstractHeapMergingState.mergeNamespaces` and its `MergeTransformation`), B6.

use crate::sync::Primitives;
use crate::StateTable;
use core::hash::{BuildHasher, Hash};

/// Folds the states of `sources` into `target` for `key`, removing the sources (B6):
///
/// 1. for each source in order, `remove_and_get_old`; an absent source is skipped;
/// 2. the present ones are folded left to right: `merged = merge(merged, source)`;
/// 3. if anything was present, the target becomes `merge(target, merged)`, or `merged` when the target is
///    absent (one `transform`); otherwise the target is untouched.
///
/// A target that is also listed as a source is removed first and merged back, as in Flink.
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

    #[test]
    fn order_absent_sources_and_target() {
        let mut t: StateTable<u8, u8, String> = StateTable::new();
        let cat = |a: String, b: String| format!("{a}{b}");
        // Target absent, sources 1 and 3 present, 2 absent: merged = s1 + s3, target = merged.
        t.put(0, 1, "a".into());
        t.put(0, 3, "c".into());
        merge_namespaces(&mut t, &0, &9, &[1, 2, 3], cat);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("ac"));
        assert!(!t.contains(&0, &1) && !t.contains(&0, &3));
        // Target present: target + merged.
        t.put(0, 4, "x".into());
        t.put(0, 5, "y".into());
        merge_namespaces(&mut t, &0, &9, &[5, 4], cat);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("acyx"));
        // No source present: target untouched; empty source list: nothing.
        merge_namespaces(&mut t, &0, &9, &[7, 8], cat);
        merge_namespaces(&mut t, &0, &9, &[], cat);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("acyx"));
        assert_eq!(t.len(), 1);
        // Other keys are not touched.
        t.put(1, 4, "k1".into());
        merge_namespaces(&mut t, &0, &9, &[4], cat);
        assert_eq!(t.get(&1, &4).map(String::as_str), Some("k1"));
        // Target among the sources: removed, merged in order, put back.
        t.put(0, 2, "b".into());
        merge_namespaces(&mut t, &0, &9, &[9, 2], cat);
        assert_eq!(t.get(&0, &9).map(String::as_str), Some("acyxb"));
    }
}
