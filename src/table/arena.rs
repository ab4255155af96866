//! The node arena: the table's own storage for nodes (I5, I13).
//!
//! Nodes live in segments of slots that never move; a freed slot goes on a free list and is reused by the next
//! allocation. This replaces one `malloc` and one `free` per node (and the allocator's per-chunk header) with a
//! pointer bump or a pop. A slot is reused only after the node it held was freed under I6/I7, and segments are
//! released only when the arena is dropped — with the orphans if the table went first (I13).
//!
//! Under Miri the arena hands out one `Box` per node by default, so that a use-after-free of a node is reported
//! as one; with `COW_MIRI_ARENA=1` Miri runs the slab itself (what every real user runs), which
//! `scripts/miri.sh` does under Stacked and Tree Borrows. The slab path also has its own unit tests.

use super::node::{Node, NodePtr};
use crate::sync::Primitives;
use core::mem::MaybeUninit;
use core::ptr;

/// Slots in the first segment; each further segment is as large as all before it, up to [`MAX_SEGMENT`].
const FIRST_SEGMENT: usize = 32;
/// Largest segment, in slots: bounds the memory allocated ahead of need.
const MAX_SEGMENT: usize = 1 << 12;

type Slot<K, N, S, P> = MaybeUninit<Node<K, N, S, P>>;
/// A segment: base pointer (from `Box::<[Slot]>::into_raw`) and length in slots.
type Segment<K, N, S, P> = (*mut Slot<K, N, S, P>, usize);

/// Storage for the nodes of one table (and of its orphans after the table is dropped).
pub(crate) struct NodeArena<K, N, S, P: Primitives> {
    /// The segments, never moved or shrunk.
    segments: Vec<Segment<K, N, S, P>>,
    /// Slots handed out so far from the last segment.
    bump: usize,
    /// Vacant slots below the bump pointers, reused first.
    free: Vec<NodePtr<K, N, S, P>>,
    /// Slots that hold a node (I5: live nodes plus retired nodes).
    occupied: usize,
    /// One `Box` per node instead of slots (Miri's default, so that it sees each node as its own allocation).
    boxed: bool,
}

impl<K, N, S, P: Primitives> NodeArena<K, N, S, P> {
    /// An empty arena: slab storage, or one `Box` per node under Miri unless `COW_MIRI_ARENA=1` asks Miri to
    /// check the slab storage itself (scripts/miri.sh runs both).
    pub(crate) fn new() -> Self {
        Self::with_boxes(cfg!(miri) && !miri_checks_the_slab())
    }

    /// An empty arena in the given mode.
    pub(crate) fn with_boxes(boxed: bool) -> Self {
        NodeArena {
            segments: Vec::new(),
            bump: 0,
            free: Vec::new(),
            occupied: 0,
            boxed,
        }
    }

    /// Stores `node` and returns its (stable) address.
    #[inline]
    pub(crate) fn alloc(&mut self, node: Node<K, N, S, P>) -> NodePtr<K, N, S, P> {
        if self.boxed {
            self.occupied += 1;
            return Box::into_raw(Box::new(node));
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => self.bump_slot(),
        };
        // SAFETY: `slot` is a vacant slot of a live segment (I5): it holds no value and is valid for writes.
        unsafe { ptr::write(slot, node) };
        self.occupied += 1;
        slot
    }

    /// A never-used slot: the next one of the last segment, or the first of a new segment.
    #[inline]
    fn bump_slot(&mut self) -> NodePtr<K, N, S, P> {
        match self.segments.last() {
            Some(&(base, len)) if self.bump < len => {
                self.bump += 1;
                // SAFETY: `bump - 1 < len`, inside the segment's allocation.
                unsafe { base.add(self.bump - 1) }.cast()
            }
            _ => self.new_segment(),
        }
    }

    #[cold]
    fn new_segment(&mut self) -> NodePtr<K, N, S, P> {
        let capacity: usize = self.segments.iter().map(|&(_, len)| len).sum();
        let len = capacity.clamp(FIRST_SEGMENT, MAX_SEGMENT);
        let segment: Box<[Slot<K, N, S, P>]> = (0..len).map(|_| MaybeUninit::uninit()).collect();
        let base = Box::into_raw(segment) as *mut Slot<K, N, S, P>;
        self.segments.push((base, len));
        self.bump = 1;
        base.cast()
    }

    /// Drops the node at `node` (every field, as `drop_in_place` does) and makes its slot vacant.
    ///
    /// # Safety
    /// `node` came from this arena's [`alloc`](Self::alloc), holds a node whose fields have not been dropped, is
    /// released once (I5), and no live snapshot can reach it (I7).
    #[inline]
    pub(crate) unsafe fn release(&mut self, node: NodePtr<K, N, S, P>) {
        self.occupied -= 1;
        if self.boxed {
            // SAFETY: in boxed mode `node` came from `Box::into_raw` (per the caller), and is released once.
            drop(unsafe { Box::from_raw(node) });
            return;
        }
        // The slot goes back on the free list even if a field's `Drop` panics: `drop_in_place` still drops the
        // other fields while unwinding, so the slot holds no value either way (I5).
        struct Vacate<'a, K, N, S, P: Primitives> {
            free: &'a mut Vec<NodePtr<K, N, S, P>>,
            node: NodePtr<K, N, S, P>,
        }
        impl<K, N, S, P: Primitives> Drop for Vacate<'_, K, N, S, P> {
            fn drop(&mut self) {
                self.free.push(self.node);
            }
        }
        let _vacate = Vacate {
            free: &mut self.free,
            node,
        };
        // SAFETY: per the caller the slot holds an initialised node, dropped once here.
        unsafe { ptr::drop_in_place(node) };
    }

    /// Moves the node at `node` out (no field is dropped) and makes its slot vacant.
    ///
    /// # Safety
    /// As for [`release`](Self::release).
    #[inline]
    pub(crate) unsafe fn take(&mut self, node: NodePtr<K, N, S, P>) -> Node<K, N, S, P> {
        self.occupied -= 1;
        if self.boxed {
            // SAFETY: in boxed mode `node` came from `Box::into_raw` (per the caller), and is taken once.
            return *unsafe { Box::from_raw(node) };
        }
        // SAFETY: per the caller the slot holds an initialised node, moved out once here; the slot is vacant after.
        let value = unsafe { ptr::read(node) };
        self.free.push(node);
        value
    }

    /// Number of slots holding a node (for the invariant checker, I5).
    pub(crate) fn occupied(&self) -> usize {
        self.occupied
    }

    /// Whether the arena's own drop would free every node's memory with no per-node work left to do: slab mode
    /// and nothing in a node needs dropping. Teardown then skips walking the chains.
    pub(crate) fn drop_frees_all(&self) -> bool {
        !self.boxed && !core::mem::needs_drop::<Node<K, N, S, P>>() && !core::mem::needs_drop::<S>()
    }
}

/// Under Miri: whether `COW_MIRI_ARENA=1` is set (read once). Never called outside Miri.
fn miri_checks_the_slab() -> bool {
    static SLAB: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SLAB.get_or_init(|| std::env::var_os("COW_MIRI_ARENA").is_some_and(|v| v == "1"))
}

impl<K, N, S, P: Primitives> Drop for NodeArena<K, N, S, P> {
    fn drop(&mut self) {
        // The nodes' values were dropped by their owners before (I5, I13); what remains is plain memory.
        for &(base, len) in &self.segments {
            // SAFETY: each segment came from `Box::<[Slot]>::into_raw` with length `len` and is freed once;
            // `MaybeUninit` slots drop nothing.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, len)) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::StdSync;
    use std::rc::Rc;

    type Arena = NodeArena<u64, u32, Rc<()>, StdSync>;
    type Ptr = NodePtr<u64, u32, Rc<()>, StdSync>;

    fn node(key: u64, state: Rc<()>) -> Node<u64, u32, Rc<()>, StdSync> {
        Node::new(key, 0, 0, state, ptr::null_mut(), 0)
    }

    /// Run by scripts/miri.sh before each pass (ignored otherwise): the interpreted program sees the variables the
    /// script sets — Miri isolates it from the host's environment unless they are forwarded — and the node storage
    /// is the one the pass asks for (`COW_MIRI_ARENA=1`: the slab; `0`: one `Box` per node).
    #[test]
    #[ignore = "run by scripts/miri.sh, which sets COW_MIRI_ARENA and COW_CASES and forwards them"]
    fn miri_runs_the_node_storage_the_script_asks_for() {
        let asked = std::env::var("COW_MIRI_ARENA").expect("COW_MIRI_ARENA reaches the program (forwarded)");
        assert!(
            std::env::var_os("COW_CASES").is_some(),
            "COW_CASES reaches the program (forwarded)"
        );
        let boxed = Arena::new().boxed;
        assert_eq!(
            boxed,
            cfg!(miri) && asked != "1",
            "COW_MIRI_ARENA={asked}, boxed nodes: {boxed}"
        );
    }

    fn exercise(boxed: bool) {
        let token = Rc::new(());
        let mut arena = Arena::with_boxes(boxed);
        // Each held node with the key it was created with: reuse must never hand out a slot still in use.
        let mut held: Vec<(Ptr, u64)> = Vec::new();
        for round in 0..3u64 {
            for k in 0..100 {
                let key = round * 1000 + k;
                held.push((arena.alloc(node(key, token.clone())), key));
            }
            // Free every other node, then allocate again: vacant slots are reused before new ones.
            let mut kept = Vec::new();
            for (i, (n, key)) in held.drain(..).enumerate() {
                if i % 2 == 0 {
                    // SAFETY: allocated above, released once, no snapshot exists.
                    unsafe { Node::free(&mut arena, n) };
                } else {
                    kept.push((n, key));
                }
            }
            held = kept;
            assert_eq!(arena.occupied(), held.len());
            assert_eq!(
                Rc::strong_count(&token),
                1 + held.len(),
                "every freed node dropped its state"
            );
            for &(n, key) in &held {
                // SAFETY: every held pointer is a live node of this arena.
                assert_eq!(unsafe { (*n).key }, key, "a live node was overwritten by a reused slot");
            }
        }
        for (n, _) in held {
            // SAFETY: as above.
            unsafe { Node::free(&mut arena, n) };
        }
        assert_eq!(arena.occupied(), 0);
        assert_eq!(Rc::strong_count(&token), 1);
    }

    #[test]
    fn slab_reuses_slots_and_drops_each_node_once() {
        exercise(false);
        let mut arena = Arena::with_boxes(false);
        let a = arena.alloc(node(1, Rc::new(())));
        // SAFETY: allocated above, released once.
        unsafe { Node::free(&mut arena, a) };
        let b = arena.alloc(node(2, Rc::new(())));
        assert_eq!(a, b, "a vacant slot is reused first");
        // SAFETY: as above.
        unsafe { Node::free(&mut arena, b) };
    }

    #[test]
    fn boxed_mode_drops_each_node_once() {
        exercise(true);
    }

    #[test]
    fn segments_grow_geometrically_up_to_the_cap() {
        let mut arena = NodeArena::<u64, u32, u64, StdSync>::with_boxes(false);
        let nodes: Vec<_> = (0..40_000u64)
            .map(|k| arena.alloc(Node::new(k, 0, 0, k, ptr::null_mut(), 0)))
            .collect();
        let lens: Vec<usize> = arena.segments.iter().map(|&(_, len)| len).collect();
        assert_eq!(&lens[..4], &[32, 32, 64, 128]);
        assert!(lens.iter().all(|&l| l <= MAX_SEGMENT));
        let capacity: usize = lens.iter().sum();
        assert!((40_000..40_000 + MAX_SEGMENT).contains(&capacity));
        // Addresses are stable: every node still reads its own key.
        for (k, &n) in nodes.iter().enumerate() {
            // SAFETY: live nodes of this arena.
            assert_eq!(unsafe { (*n).key }, k as u64);
        }
        assert!(arena.drop_frees_all());
    }
}
