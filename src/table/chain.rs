//! Writing into bucket chains under copy-on-write: the chain-prefix copy (Flink
//! `handleChainedEntryCopyOnWrite`), node replacement and unlinking.

use super::directory::{Cow, Directory, Head};
use super::node::{Node, NodePtr};
use crate::snapshot::reclaim::{Garbage, RetireQueue};
use crate::sync::{Primitives, UnsafeCellOps};

/// Makes every node in front of `target` in `bucket` private and returns the link cell (the bucket head or a
/// private predecessor's `next`) that points to `target`: the cell through which `target` may be replaced or
/// unlinked without writing anything a live snapshot can see (I3). Shared predecessors are copied and retired
/// (I6).
///
/// Inlined into its callers (the common case — `target` at the head, or behind private nodes — is a head read
/// and a few compares); the copy of a shared predecessor is out of line in [`copy_predecessor`].
///
/// # Safety
/// `target` is in the chain of `bucket` in `dir`, which is the writer's live directory.
#[inline]
pub(crate) unsafe fn privatize_prefix<'d, K: Clone, N: Clone, S: Clone, P: Primitives>(
    dir: &'d mut Directory<K, N, S, P>,
    bucket: usize,
    target: NodePtr<K, N, S, P>,
    cow: Cow,
    retired: &mut RetireQueue<K, N, S, P>,
) -> &'d Head<K, N, S, P> {
    // SAFETY: `target` is in `bucket`'s chain, so the bucket's chunk is present (I10).
    let mut link: &'d Head<K, N, S, P> = unsafe { dir.head_cell_for_write(bucket, cow, retired) };
    // SAFETY: reading a head cell of the writer's own (now private) chunk.
    let mut cur = link.with(|p| unsafe { *p });
    while cur != target {
        debug_assert!(!cur.is_null(), "target not in chain");
        // SAFETY: `cur` is a live node of this chain (I5).
        if cow.is_shared(unsafe { (*cur).version() }) && !cfg!(cow_mutant = "skip-prefix-copy") {
            // SAFETY: `cur` is a live, shared node of this chain and `link` the private cell pointing to it.
            cur = unsafe { copy_predecessor(link, cur, cow, retired) };
        }
        // SAFETY: `cur` is now private and valid; the reference lives as long as the node, i.e. while it is linked
        // from the live structure, which outlasts `'d` (the writer holds the directory).
        link = unsafe { (*cur).next_cell() };
        // SAFETY: reading the `next` of a private, valid node (just above).
        cur = link.with(|p| unsafe { *p });
    }
    link
}

/// Replaces shared predecessor `cur` (reached through private `link`) with a private copy, retires `cur` (I3,
/// I6) and returns the copy. The copy (user `Clone`, which may panic) is built before anything is linked.
///
/// # Safety
/// `link` is private and points to `cur`, a valid node.
#[cold]
#[inline(never)]
unsafe fn copy_predecessor<K: Clone, N: Clone, S: Clone, P: Primitives>(
    link: &Head<K, N, S, P>,
    cur: NodePtr<K, N, S, P>,
    cow: Cow,
    retired: &mut RetireQueue<K, N, S, P>,
) -> NodePtr<K, N, S, P> {
    // SAFETY: `cur` is valid (caller); the copy clones before anything is linked.
    let copy = unsafe { Node::copy(&mut retired.arena, cur, None, cow.version) };
    retired.stats.state_clones += 1;
    // SAFETY: `link` is private and points to `cur` (caller: a head cell of a private chunk or the `next` of a
    // private node, I3); `copy` is a fresh private copy of `cur`.
    unsafe { replace_shared(link, cur, copy, cow, retired) };
    copy
}

/// Replaces shared `target` (reached through private `link`) with `copy`, and retires `target` (I3, I6).
///
/// # Safety
/// `link` points to `target`, is private, and `copy` is a fresh private copy of `target`.
pub(crate) unsafe fn replace_shared<K, N, S, P: Primitives>(
    link: &Head<K, N, S, P>,
    target: NodePtr<K, N, S, P>,
    copy: NodePtr<K, N, S, P>,
    cow: Cow,
    retired: &mut RetireQueue<K, N, S, P>,
) {
    // SAFETY: per the caller, `link` is private.
    link.with_mut(|p| unsafe { *p = copy });
    retired.retire(cow.version, Garbage::Node(target));
    retired.stats.node_copies += 1;
}

/// Unlinks `target` through private `link`; the caller then retires or frees it.
///
/// # Safety
/// `link` is private and points to `target`, a valid node.
pub(crate) unsafe fn unlink<K, N, S, P: Primitives>(link: &Head<K, N, S, P>, target: NodePtr<K, N, S, P>) {
    // SAFETY: `target` is valid; reading its `next` is always allowed.
    let next = unsafe { (*target).next() };
    // SAFETY: `link` is private per the caller.
    link.with_mut(|p| unsafe { *p = next });
}
