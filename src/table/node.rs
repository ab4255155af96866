//! An entry node (Flink `StateTableEntry`): key, namespace, composite hash, `next`, version and state.
//!
//! A node owns its `K`, `N` and `S` (I5). The fields a snapshot reader may see while the writer runs
//! (`next`, `state`, `version`) sit in the seam's `UnsafeCell`, so loom checks that the writer only writes
//! them when I3 allows. `key`, `namespace` and `hash` never change after allocation.

use super::arena::NodeArena;
use crate::sync::{Primitives, UnsafeCellOps};
use core::mem::ManuallyDrop;
use core::ptr;

/// A raw pointer to a node; null ends a chain.
pub(crate) type NodePtr<K, N, S, P> = *mut Node<K, N, S, P>;

pub(crate) struct Node<K, N, S, P: Primitives> {
    pub(crate) key: K,
    pub(crate) namespace: N,
    pub(crate) hash: u32,
    version: P::UnsafeCell<u32>,
    next: P::UnsafeCell<NodePtr<K, N, S, P>>,
    // Dropped by hand: `free` drops it, `free_without_state` does not (the state was moved out).
    state: P::UnsafeCell<ManuallyDrop<S>>,
}

impl<K, N, S, P: Primitives> Node<K, N, S, P> {
    /// A node value, not yet stored anywhere.
    pub(crate) fn new(key: K, namespace: N, hash: u32, state: S, next: NodePtr<K, N, S, P>, version: u32) -> Self {
        Node {
            key,
            namespace,
            hash,
            version: P::UnsafeCell::new(version),
            next: P::UnsafeCell::new(next),
            state: P::UnsafeCell::new(ManuallyDrop::new(state)),
        }
    }

    /// Stores a new node in `arena` and returns the owning raw pointer.
    #[inline]
    pub(crate) fn alloc(
        arena: &mut NodeArena<K, N, S, P>,
        key: K,
        namespace: N,
        hash: u32,
        state: S,
        next: NodePtr<K, N, S, P>,
        version: u32,
    ) -> NodePtr<K, N, S, P> {
        arena.alloc(Node::new(key, namespace, hash, state, next, version))
    }

    /// Frees a node and drops its key, namespace and state.
    ///
    /// # Safety
    /// `node` came from [`Node::alloc`] on `arena`, is freed once (I5) and no live snapshot can reach it (I7).
    #[inline]
    pub(crate) unsafe fn free(arena: &mut NodeArena<K, N, S, P>, node: NodePtr<K, N, S, P>) {
        // A drop guard: if the state's `Drop` panics, the key and namespace are still dropped and the slot still
        // returns to the arena (I5) while the panic unwinds; the state is not dropped twice.
        struct Release<'a, K, N, S, P: Primitives> {
            arena: &'a mut NodeArena<K, N, S, P>,
            node: NodePtr<K, N, S, P>,
        }
        impl<K, N, S, P: Primitives> Drop for Release<'_, K, N, S, P> {
            fn drop(&mut self) {
                // SAFETY: per `free`'s caller; `release` drops the other fields (the state is `ManuallyDrop`
                // and was dropped, or unwound out of its drop, before this guard runs).
                unsafe { self.arena.release(self.node) };
            }
        }
        let _release = Release { arena, node };
        // SAFETY: the node is valid and owned by the caller (I5); the state is initialised (only
        // `free_without_state` leaves it moved out) and dropped once here.
        unsafe { (*node).state.with_mut(|s| ManuallyDrop::drop(&mut *s)) };
    }

    /// Frees a node whose state was moved out; drops key and namespace only.
    ///
    /// # Safety
    /// As for [`Node::free`], and the state has been moved out with [`Node::take_state`].
    #[inline]
    pub(crate) unsafe fn free_without_state(arena: &mut NodeArena<K, N, S, P>, node: NodePtr<K, N, S, P>) {
        // SAFETY: per the caller (I5); `ManuallyDrop` keeps the moved-out state from a second drop.
        unsafe { arena.release(node) };
    }

    /// Frees a node and returns its key, namespace and state (moved out, nothing cloned or dropped).
    ///
    /// # Safety
    /// As for [`Node::free`].
    #[inline]
    pub(crate) unsafe fn into_parts(arena: &mut NodeArena<K, N, S, P>, node: NodePtr<K, N, S, P>) -> (K, N, S) {
        // SAFETY: per the caller the node is valid and owned here; its state is moved out once, and the
        // `ManuallyDrop` left behind is never dropped.
        let state = unsafe { (*node).take_state() };
        // SAFETY: per the caller (I5).
        let Node { key, namespace, .. } = unsafe { arena.take(node) };
        (key, namespace, state)
    }

    #[inline]
    pub(crate) fn version(&self) -> u32 {
        // SAFETY: plain read of a Copy field; writers of this field only run when I3 allows (no reader then).
        self.version.with(|v| unsafe { *v })
    }

    /// # Safety
    /// The node is private to the writer (version `>= R`, I3/I4) or no snapshot is live (I12).
    #[inline]
    pub(crate) unsafe fn set_version(&self, version: u32) {
        // SAFETY: per the caller, no snapshot reader can see this node.
        self.version.with_mut(|v| unsafe { *v = version })
    }

    #[inline]
    pub(crate) fn next(&self) -> NodePtr<K, N, S, P> {
        // SAFETY: plain read of a pointer; a concurrent write would break I3, which the caller upholds.
        self.next.with(|n| unsafe { *n })
    }

    /// The `next` cell, for use as a link in a chain.
    #[inline]
    pub(crate) fn next_cell(&self) -> &P::UnsafeCell<NodePtr<K, N, S, P>> {
        &self.next
    }

    /// # Safety
    /// The node is private to the writer (I3).
    #[inline]
    pub(crate) unsafe fn set_next(&self, next: NodePtr<K, N, S, P>) {
        // SAFETY: per the caller, no snapshot reader can see this node.
        self.next.with_mut(|n| unsafe { *n = next })
    }

    /// A shared reference to the state.
    ///
    /// # Safety
    /// Nobody writes the state while the reference lives: the writer holds `&self` of the table, or the node
    /// is reachable from a live snapshot (I3, I9).
    #[inline]
    pub(crate) unsafe fn state<'a>(&self) -> &'a S {
        // SAFETY: per the caller; the pointer is valid while the node lives (I7).
        self.state.with(|s| unsafe { &**s })
    }

    /// A mutable reference to the state.
    ///
    /// # Safety
    /// The node is private to the writer (I3) and no other reference to the state lives.
    #[inline]
    pub(crate) unsafe fn state_mut<'a>(&self) -> &'a mut S {
        // SAFETY: per the caller.
        self.state.with_mut(|s| unsafe { &mut **s })
    }

    /// Moves the state out; the node must then be given a new state or freed with `free_without_state`.
    ///
    /// # Safety
    /// The node is private to the writer (I3).
    #[inline]
    pub(crate) unsafe fn take_state(&self) -> S {
        // SAFETY: per the caller; the caller restores or abandons the slot (no double drop).
        self.state.with_mut(|s| unsafe { ptr::read(&**s) })
    }

    /// Writes a state into a slot emptied by `take_state`.
    ///
    /// # Safety
    /// The node is private and its state was moved out.
    #[inline]
    pub(crate) unsafe fn restore_state(&self, state: S) {
        // SAFETY: per the caller; the old contents were moved out, so overwriting drops nothing.
        self.state
            .with_mut(|s| unsafe { ptr::write(s, ManuallyDrop::new(state)) })
    }

    /// Replaces the state in place and returns the old one.
    ///
    /// # Safety
    /// The node is private to the writer (I3).
    #[inline]
    pub(crate) unsafe fn replace_state(&self, state: S) -> S {
        // SAFETY: per the caller.
        let old = unsafe { self.take_state() };
        // SAFETY: the slot was just emptied.
        unsafe { self.restore_state(state) };
        old
    }
}

impl<K: Clone, N: Clone, S: Clone, P: Primitives> Node<K, N, S, P> {
    /// Copies a node for copy-on-write: clones key and namespace, and the state unless `state` is given.
    /// Everything that can panic (user `Clone`) runs before anything is allocated or linked.
    ///
    /// # Safety
    /// `node` is valid (I7).
    pub(crate) unsafe fn copy(
        arena: &mut NodeArena<K, N, S, P>,
        node: NodePtr<K, N, S, P>,
        state: Option<S>,
        version: u32,
    ) -> NodePtr<K, N, S, P> {
        // SAFETY: valid per the caller; only reads.
        let n = unsafe { &*node };
        let key = n.key.clone();
        let namespace = n.namespace.clone();
        // SAFETY: reading the state of a valid node; the writer writes nothing concurrently (it is us).
        let state = state.unwrap_or_else(|| unsafe { n.state() }.clone());
        Node::alloc(arena, key, namespace, n.hash, state, n.next(), version)
    }
}

/// Hints the CPU to bring `node` into the cache, both ends of it (no effect on the program's meaning; a no-op off
/// x86-64 and under Miri). Used where the next operations will read nodes at addresses known now.
#[inline(always)]
pub(crate) fn prefetch<K, N, S, P: Primitives>(node: NodePtr<K, N, S, P>) {
    prefetch_line(node);
    prefetch_line((node as *const u8).wrapping_add(core::mem::size_of::<Node<K, N, S, P>>() - 1));
}

/// Hints the CPU to bring the cache line at `p` in (the snapshot diff's walk, docs/DESIGN.md C4; the nodes of
/// [`prefetch`]). No access in Rust's memory model, so any address, null included, is fine.
#[inline(always)]
pub(crate) fn prefetch_line<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // `_mm_prefetch` is an `unsafe fn` before Rust 1.87 (the MSRV is 1.82), a safe one since.
    #[allow(unused_unsafe)]
    // SAFETY: a prefetch never faults and reads nothing the program can observe, whatever the address (C4: "a
    // prefetch is a hint … it needs no rule of its own"); SSE is part of every x86_64 target.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}
