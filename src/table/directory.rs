//! The bucket array of one sub-table, as a directory of versioned chunks.
//!
//! A chunk holds `min(capacity, CHUNK_LEN)` bucket heads. The directory holds one [`ChunkRef`] (pointer and
//! version) per chunk. A snapshot copies only the directory; the writer copies a chunk the first time it writes
//! a bucket head in it while a live snapshot can see it (I2, I3).

use super::arena::NodeArena;
use super::node::{Node, NodePtr};
use crate::snapshot::reclaim::{Garbage, RetireQueue};
use crate::sync::{Primitives, UnsafeCellOps};
use core::ops::Range;
use core::ptr;

/// log2 of the number of bucket heads per chunk (for tables at least that large).
pub(crate) const CHUNK_BITS: u32 = 9;

/// A bucket head.
pub(crate) type Head<K, N, S, P> = <P as Primitives>::UnsafeCell<NodePtr<K, N, S, P>>;

/// One directory slot: a chunk of bucket heads and the table version it was created (or copied) at. A null
/// `heads` is an empty slot, standing for a chunk of empty buckets (docs/DESIGN.md: chunks are allocated and given
/// up in steps during a rehash, I10); nothing reads or writes through it.
pub(crate) struct ChunkRef<K, N, S, P: Primitives> {
    pub(crate) heads: *mut Head<K, N, S, P>,
    pub(crate) version: u32,
}

impl<K, N, S, P: Primitives> ChunkRef<K, N, S, P> {
    /// Whether the slot holds a chunk.
    #[inline]
    pub(crate) fn is_present(&self) -> bool {
        !self.heads.is_null()
    }

    /// Reads head `slot` of the chunk.
    ///
    /// # Safety
    /// The chunk is present and valid (I5, I7) and not written concurrently (I3); `slot` is below its length.
    #[inline]
    pub(crate) unsafe fn head(&self, slot: usize) -> NodePtr<K, N, S, P> {
        debug_assert!(self.is_present());
        // SAFETY: per the caller: a valid, present chunk, `slot` within it, no concurrent write (I3, I5, I7).
        unsafe { (*self.heads.add(slot)).with(|h| *h) }
    }

    /// The first slot in `from..end` whose head is not null, or `end`. The first few heads are tested one by one
    /// (a table at growth load has short empty runs), then eight at a time, without a branch per head, while they
    /// are all null: a sparse chunk — a shrinking table is below 1/8 load — is mostly such runs.
    ///
    /// # Safety
    /// As for [`ChunkRef::head`], with `end` at most the chunk's length.
    #[inline]
    pub(crate) unsafe fn first_non_null(&self, mut from: usize, end: usize) -> usize {
        const SINGLE: usize = 4;
        const GROUP: usize = 8;
        let singles_end = end.min(from + SINGLE);
        // SAFETY: the caller's contract (a present, valid chunk, I5/I7, not written concurrently, I3); `from <
        // singles_end <= end <= chunk length`.
        while from < singles_end && unsafe { self.head(from) }.is_null() {
            from += 1;
        }
        if from < singles_end {
            return from;
        }
        while from + GROUP <= end {
            let mut all_null = true;
            for j in 0..GROUP {
                // SAFETY: as above (I3, I5, I7); `from + j < end <= chunk length`.
                all_null &= unsafe { self.head(from + j) }.is_null();
            }
            if !all_null {
                break;
            }
            from += GROUP;
        }
        // SAFETY: as above (I3, I5, I7); `from < end <= chunk length`.
        while from < end && unsafe { self.head(from) }.is_null() {
            from += 1;
        }
        from
    }
}

impl<K, N, S, P: Primitives> Clone for ChunkRef<K, N, S, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, N, S, P: Primitives> Copy for ChunkRef<K, N, S, P> {}

/// Allocates a chunk of `len` empty heads.
fn alloc_chunk<K, N, S, P: Primitives>(len: usize) -> *mut Head<K, N, S, P> {
    let heads: Box<[Head<K, N, S, P>]> = (0..len).map(|_| Head::<K, N, S, P>::new(ptr::null_mut())).collect();
    Box::into_raw(heads) as *mut Head<K, N, S, P>
}

/// Frees a chunk's head array (never the nodes it points to, I5).
///
/// # Safety
/// `heads` came from `alloc_chunk(len)`, is freed once, and no live snapshot can reach it (I7).
pub(crate) unsafe fn free_chunk<K, N, S, P: Primitives>(heads: *mut Head<K, N, S, P>, len: usize) {
    // SAFETY: per the caller, this is the unique owner of a `Box<[Head]>` of length `len`.
    drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(heads, len)) });
}

/// The present chunks of `chunks` from index `from` on, with their indices: **W1**, the one place where a walk
/// over a whole directory learns which slots it may read (docs/DESIGN.md). An empty slot stands for a chunk of
/// empty buckets and is never read through (I10); every whole-directory walk — the writer's (`retain`, `clear`,
/// `drain`, renormalisation, teardown, the checker) through [`PresentChunks`] or [`Directory::for_each_node`],
/// the readers' (table and snapshot iteration, and so key-group walks and checkpoint writers) through
/// [`Entries`](super::iter::Entries) — goes through it (the batched `Entries::fold` makes its test in its own loop, for speed).
#[inline]
pub(crate) fn present_chunks<K, N, S, P: Primitives>(
    chunks: &[ChunkRef<K, N, S, P>],
    from: usize,
) -> impl Iterator<Item = (usize, &ChunkRef<K, N, S, P>)> {
    chunks.iter().enumerate().skip(from).filter(|(_, c)| c.is_present())
}

/// A present chunk and its index in the directory.
pub(crate) type PresentChunk<'d, K, N, S, P> = (usize, &'d ChunkRef<K, N, S, P>);

/// The first item of [`present_chunks`]: the first present chunk at or after `from`. `from` itself is tested first,
/// since a walk is usually already inside a present chunk.
#[inline]
pub(crate) fn first_present_chunk<K, N, S, P: Primitives>(
    chunks: &[ChunkRef<K, N, S, P>],
    from: usize,
) -> Option<PresentChunk<'_, K, N, S, P>> {
    match chunks.get(from) {
        Some(c) if c.is_present() => Some((from, c)),
        _ => present_chunks(chunks, from).next(),
    }
}

/// The writer's walk over the buckets of a directory's present chunks (W1), chunk by chunk. It holds an index,
/// not a borrow, so the writer may write the directory between two steps (copy a chunk, unlink a node: neither
/// changes which slots are present).
#[derive(Debug, Default)]
pub(crate) struct PresentChunks {
    next: usize,
}

impl PresentChunks {
    /// The buckets of the next present chunk of `dir`, or `None` after the last one.
    #[inline]
    pub(crate) fn next<K, N, S, P: Primitives>(&mut self, dir: &Directory<K, N, S, P>) -> Option<Range<usize>> {
        let (c, _) = first_present_chunk(&dir.chunks, self.next)?;
        self.next = c + 1;
        Some(c << dir.chunk_bits..(c + 1) << dir.chunk_bits)
    }
}

/// A read-only description of a directory: what a snapshot keeps and what iteration walks.
pub(crate) struct DirView<'a, K, N, S, P: Primitives> {
    pub(crate) chunks: &'a [ChunkRef<K, N, S, P>],
    pub(crate) chunk_len: usize,
}

impl<K, N, S, P: Primitives> Clone for DirView<'_, K, N, S, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, N, S, P: Primitives> Copy for DirView<'_, K, N, S, P> {}

impl<K, N, S, P: Primitives> DirView<'_, K, N, S, P> {
    /// A directory with no chunks.
    pub(crate) fn empty() -> Self {
        DirView {
            chunks: &[],
            chunk_len: 1,
        }
    }

    /// Number of buckets.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.chunks.len() * self.chunk_len
    }

    /// Reads the head of `bucket`.
    ///
    /// # Safety
    /// As for [`DirView::head`]; `bucket < self.capacity()`.
    #[inline]
    pub(crate) unsafe fn bucket_head(&self, bucket: usize) -> NodePtr<K, N, S, P> {
        // SAFETY: per the caller; chunk_len is a power of two.
        unsafe { self.head(bucket / self.chunk_len, bucket & (self.chunk_len - 1)) }
    }

    /// Reads bucket head `slot` of chunk `chunk`.
    ///
    /// # Safety
    /// The chunk is present and valid (I7) and not written concurrently (I3).
    #[inline]
    pub(crate) unsafe fn head(&self, chunk: usize, slot: usize) -> NodePtr<K, N, S, P> {
        debug_assert!(slot < self.chunk_len);
        // SAFETY: per the caller; `slot < chunk_len` is the chunk's length.
        unsafe { self.chunks[chunk].head(slot) }
    }
}

/// The bucket array of one sub-table.
pub(crate) struct Directory<K, N, S, P: Primitives> {
    pub(crate) chunks: Vec<ChunkRef<K, N, S, P>>,
    /// Number of buckets, a power of two (0 only for the empty placeholder).
    pub(crate) capacity: usize,
    /// log2 of the heads per chunk.
    pub(crate) chunk_bits: u32,
    /// `capacity - 1` (the bucket of hash `h` is `h & mask`) and `chunk_len - 1`, kept to shorten lookups.
    mask: usize,
    slot_mask: usize,
    /// Entries stored in this sub-table (I10).
    pub(crate) len: usize,
}

impl<K, N, S, P: Primitives> Directory<K, N, S, P> {
    /// A directory of `capacity` empty buckets (a power of two ≥ 1) in chunks of at most `2^max_chunk_bits` heads
    /// ([`CHUNK_BITS`] but in tests), every chunk created at `version`.
    pub(crate) fn new(capacity: usize, version: u32, max_chunk_bits: u32) -> Self {
        debug_assert!(capacity.is_power_of_two());
        let chunk_bits = max_chunk_bits.min(capacity.trailing_zeros());
        let chunk_len = 1usize << chunk_bits;
        let chunks = (0..capacity >> chunk_bits)
            .map(|_| ChunkRef {
                heads: alloc_chunk::<K, N, S, P>(chunk_len),
                version,
            })
            .collect();
        Directory {
            chunks,
            capacity,
            chunk_bits,
            mask: capacity - 1,
            slot_mask: chunk_len - 1,
            len: 0,
        }
    }

    /// A directory of `capacity` empty buckets whose chunks are not allocated yet: every slot is empty until
    /// [`ensure_chunk`](Self::ensure_chunk) (the new directory of a rehash, I10).
    pub(crate) fn new_unallocated(capacity: usize, version: u32, max_chunk_bits: u32) -> Self {
        debug_assert!(capacity.is_power_of_two());
        let chunk_bits = max_chunk_bits.min(capacity.trailing_zeros());
        let chunk_len = 1usize << chunk_bits;
        let empty = ChunkRef {
            heads: ptr::null_mut(),
            version,
        };
        Directory {
            chunks: vec![empty; capacity >> chunk_bits],
            capacity,
            chunk_bits,
            mask: capacity - 1,
            slot_mask: chunk_len - 1,
            len: 0,
        }
    }

    /// Allocates chunk `c` (empty buckets, created at `version`) if its slot is empty.
    #[inline]
    pub(crate) fn ensure_chunk(&mut self, c: usize, version: u32) {
        if !self.chunks[c].is_present() {
            self.chunks[c] = ChunkRef {
                heads: alloc_chunk::<K, N, S, P>(self.chunk_len()),
                version,
            };
        }
    }

    /// Gives up chunk `c`, whose buckets are all empty: retired if a live snapshot may see it, freed otherwise
    /// (I6); its slot becomes empty.
    #[cold]
    #[inline(never)]
    pub(crate) fn give_up_chunk(&mut self, c: usize, cow: Cow, retired: &mut RetireQueue<K, N, S, P>) {
        let chunk = self.chunks[c];
        if !chunk.is_present() {
            return;
        }
        let chunk_len = self.chunk_len();
        debug_assert!(
            // SAFETY: the live chunk is present and valid (I5); only the writer writes it; `i < chunk_len`.
            (0..chunk_len).all(|i| unsafe { chunk.head(i) }.is_null()),
            "a chunk given up while it holds entries"
        );
        if cow.is_shared(chunk.version) {
            retired.retire(cow.version, Garbage::Chunk(chunk.heads, chunk_len));
        } else {
            // SAFETY: no live snapshot can reach a chunk with version >= R (I2), and we own it (I5).
            unsafe { free_chunk::<K, N, S, P>(chunk.heads, chunk_len) };
        }
        self.chunks[c].heads = ptr::null_mut();
    }

    /// A directory with no buckets, the placeholder left behind by `take`.
    pub(crate) fn empty() -> Self {
        Directory {
            chunks: Vec::new(),
            capacity: 0,
            chunk_bits: 0,
            mask: 0,
            slot_mask: 0,
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn chunk_len(&self) -> usize {
        1 << self.chunk_bits
    }

    #[inline]
    pub(crate) fn bucket(&self, hash: u32) -> usize {
        hash as usize & self.mask
    }

    #[inline]
    pub(crate) fn view(&self) -> DirView<'_, K, N, S, P> {
        DirView {
            chunks: &self.chunks,
            chunk_len: self.chunk_len(),
        }
    }

    /// The directory slot of `bucket`, without a bounds check (this is on every lookup's path).
    ///
    /// Every caller passes a bucket `< capacity` — a `bucket(hash)` result, the rehash index while it is
    /// `< capacity`, or a loop index below it — and `chunks.len() == capacity >> chunk_bits`.
    #[inline(always)]
    fn slot_of(&self, bucket: usize) -> &ChunkRef<K, N, S, P> {
        debug_assert!(bucket < self.capacity, "bucket {bucket} of {}", self.capacity);
        // SAFETY: `bucket < capacity` (above), so `bucket >> chunk_bits < chunks.len()`.
        unsafe { self.chunks.get_unchecked(bucket >> self.chunk_bits) }
    }

    /// Reads the head of `bucket` (`< capacity`).
    ///
    /// # Safety
    /// `bucket`'s chunk is present: I10 places it in one (a lookup's or the rehash step's bucket), or a W1 walk
    /// ([`PresentChunks`]) handed it out. An empty slot has no heads to read.
    #[inline]
    pub(crate) unsafe fn head(&self, bucket: usize) -> NodePtr<K, N, S, P> {
        let chunk = self.slot_of(bucket);
        debug_assert!(
            chunk.is_present(),
            "bucket {bucket} read in an empty directory slot (I10, W1)"
        );
        // SAFETY: the chunk is present (caller); the live directory's present chunks are valid (I5) and only
        // this (the writer's) side writes them.
        unsafe { chunk.head(bucket & self.slot_mask) }
    }

    /// How many buckets from `bucket` on are empty, counting `bucket` itself (whose head the caller has read
    /// as null): at least 1, at most `max`, and never past the end of `bucket`'s chunk. The rehash step skips
    /// such a run in one go instead of one bucket per loop turn.
    ///
    /// # Safety
    /// As for [`Directory::head`]: `bucket`'s chunk is present.
    #[inline]
    pub(crate) unsafe fn empty_run(&self, bucket: usize, max: usize) -> usize {
        let chunk = self.slot_of(bucket);
        debug_assert!(chunk.is_present());
        let start = bucket & self.slot_mask;
        let end = start.saturating_add(max).min(self.chunk_len());
        // SAFETY: the chunk is present (caller) and valid (I5); only the writer writes this directory's heads, and
        // `end <= chunk_len`.
        let first = unsafe { chunk.first_non_null(start + 1, end) };
        first - start
    }

    /// Calls `f` on the head of every bucket in `from..end` (`end <= capacity`); each chunk is looked up once.
    ///
    /// # Safety
    /// As for [`Directory::head`]: every bucket in `from..end` is in a present chunk.
    #[inline]
    pub(crate) unsafe fn for_each_head(&self, from: usize, end: usize, mut f: impl FnMut(NodePtr<K, N, S, P>)) {
        let mut b = from;
        while b < end {
            let chunk = self.slot_of(b);
            debug_assert!(chunk.is_present());
            let chunk_end = end.min((b | self.slot_mask) + 1);
            for i in b..chunk_end {
                // SAFETY: the chunk is present (caller), and the live directory's present chunks are valid (I5)
                // and only this (the writer's) side writes them; `i` is within `b`'s chunk.
                f(unsafe { chunk.head(i & self.slot_mask) });
            }
            b = chunk_end;
        }
    }

    /// The head cell of `bucket`, made writable: if its chunk may be seen by a live snapshot (version `< required`,
    /// I2) the chunk is copied first and the original retired (I3, I6).
    ///
    /// # Safety
    /// As for [`Directory::head`]: `bucket`'s chunk is present.
    #[inline(always)]
    pub(crate) unsafe fn head_cell_for_write(
        &mut self,
        bucket: usize,
        cow: Cow,
        retired: &mut RetireQueue<K, N, S, P>,
    ) -> &Head<K, N, S, P> {
        let chunk = *self.slot_of(bucket);
        debug_assert!(chunk.is_present());
        let heads = if cow.is_shared(chunk.version) && !cfg!(cow_mutant = "chunk-in-place") {
            self.copy_chunk(bucket >> self.chunk_bits, cow, retired)
        } else {
            chunk.heads
        };
        // SAFETY: `bucket & slot_mask` is within the chunk, which is present (caller), valid and now private (I3).
        unsafe { &*heads.add(bucket & self.slot_mask) }
    }

    /// Replaces shared chunk `c` by a private copy and retires the original (I3, I6); returns the copy's heads.
    #[cold]
    #[inline(never)]
    fn copy_chunk(&mut self, c: usize, cow: Cow, retired: &mut RetireQueue<K, N, S, P>) -> *mut Head<K, N, S, P> {
        let chunk_len = self.chunk_len();
        let chunk = &mut self.chunks[c];
        let old = chunk.heads;
        // Built from the old heads in one pass (no zeroing first).
        let heads: Box<[Head<K, N, S, P>]> = (0..chunk_len)
            // SAFETY: the old chunk is valid with `chunk_len` heads and only read (I3).
            .map(|i| Head::<K, N, S, P>::new(unsafe { (*old.add(i)).with(|h| *h) }))
            .collect();
        let copy = Box::into_raw(heads) as *mut Head<K, N, S, P>;
        retired.retire(cow.version, Garbage::Chunk(old, chunk_len));
        *chunk = ChunkRef {
            heads: copy,
            version: cow.version,
        };
        retired.stats.chunk_copies += 1;
        copy
    }

    /// Gives up the chunks: each is retired if a live snapshot may see it, freed otherwise (I6). Nodes are not
    /// touched; the caller has moved them elsewhere.
    pub(crate) fn retire_chunks(self, cow: Cow, retired: &mut RetireQueue<K, N, S, P>) {
        let chunk_len = self.chunk_len();
        for (_, chunk) in present_chunks(&self.chunks, 0) {
            if cow.is_shared(chunk.version) {
                retired.retire(cow.version, Garbage::Chunk(chunk.heads, chunk_len));
            } else {
                // SAFETY: no live snapshot can reach a chunk with version >= R (I2), and we own it (I5).
                unsafe { free_chunk::<K, N, S, P>(chunk.heads, chunk_len) };
            }
        }
    }

    /// Calls `f` on every node of the live structure (the writer's own view).
    pub(crate) fn for_each_node(&self, mut f: impl FnMut(NodePtr<K, N, S, P>)) {
        let mut walk = PresentChunks::default();
        while let Some(buckets) = walk.next(self) {
            for b in buckets {
                // SAFETY: `b` is in a present chunk (W1).
                let mut n = unsafe { self.head(b) };
                while !n.is_null() {
                    // SAFETY: live nodes are valid (I5); read `next` before `f` may free the node.
                    let next = unsafe { (*n).next() };
                    f(n);
                    n = next;
                }
            }
        }
    }

    /// Frees every node and chunk of the live structure; the nodes go back to `arena`.
    ///
    /// # Safety
    /// No live snapshot can reach any of it (I7, I13), it is freed once (I5), and its nodes came from `arena`.
    pub(crate) unsafe fn destroy(self, arena: &mut NodeArena<K, N, S, P>) {
        // Drop guards: if a user `Drop` panics, the walk goes on from the next node and the chunks are freed
        // while the panic unwinds (a second panic aborts, as in std's collections), so nothing leaks.
        struct Chunks<'a, K, N, S, P: Primitives>(&'a Directory<K, N, S, P>);
        impl<K, N, S, P: Primitives> Drop for Chunks<'_, K, N, S, P> {
            fn drop(&mut self) {
                let chunk_len = self.0.chunk_len();
                for (_, chunk) in present_chunks(&self.0.chunks, 0) {
                    // SAFETY: per `destroy`'s caller; each chunk is freed once, after its nodes.
                    unsafe { free_chunk::<K, N, S, P>(chunk.heads, chunk_len) };
                }
            }
        }
        let _chunks = Chunks(&self);
        if !arena.drop_frees_all() {
            // SAFETY: per the caller; each live node is reachable from exactly one bucket (I5, I10).
            unsafe { self.free_nodes_from(arena, 0, ptr::null_mut()) };
        }
    }

    /// Frees the chain from `n` on, then every node of the buckets from `b` on (skipping empty slots, W1); on a
    /// panic in a user `Drop`, a guard frees the rest.
    ///
    /// # Safety
    /// As for [`destroy`](Self::destroy); `n` is null or a node of the chain of bucket `b - 1`.
    unsafe fn free_nodes_from(&self, arena: &mut NodeArena<K, N, S, P>, mut b: usize, mut n: NodePtr<K, N, S, P>) {
        struct Rest<'a, K, N, S, P: Primitives> {
            dir: &'a Directory<K, N, S, P>,
            arena: *mut NodeArena<K, N, S, P>,
            b: usize,
            n: NodePtr<K, N, S, P>,
        }
        impl<K, N, S, P: Primitives> Drop for Rest<'_, K, N, S, P> {
            fn drop(&mut self) {
                // SAFETY: as for `free_nodes_from`; the arena outlives the guard (it is `destroy`'s argument).
                unsafe { self.dir.free_nodes_from(&mut *self.arena, self.b, self.n) };
            }
        }
        loop {
            while n.is_null() {
                if b >= self.capacity {
                    return;
                }
                if b & self.slot_mask == 0 {
                    // The start of a chunk: go on at the first present one (W1).
                    match first_present_chunk(&self.chunks, b >> self.chunk_bits) {
                        Some((c, _)) => b = c << self.chunk_bits,
                        None => return,
                    }
                }
                // SAFETY: `b` is in a present chunk: the one `present_chunks` found at its start (W1).
                n = unsafe { self.head(b) };
                b += 1;
            }
            // SAFETY: live nodes are valid (I5); read `next` before the node is freed.
            let next = unsafe { (*n).next() };
            let rest = Rest {
                dir: self,
                arena: &mut *arena,
                b,
                n: next,
            };
            // SAFETY: per the caller; each live node is reachable from exactly one bucket (I5, I10).
            unsafe { Node::free(&mut *rest.arena, n) };
            core::mem::forget(rest);
            n = next;
        }
    }
}

/// What a write operation knows about the live snapshots: the highest required version `R` it read and the
/// current table version `V` (for new and copied objects and retire tags).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cow {
    pub(crate) required: u32,
    pub(crate) version: u32,
}

impl Cow {
    /// Whether an object created at `version` may be seen by a live snapshot (I2): then it must not be written
    /// (I3) and must be retired, not freed (I6).
    #[inline(always)]
    pub(crate) fn is_shared(self, version: u32) -> bool {
        #[cfg(cow_mutant = "version-off-by-one")]
        {
            return version.saturating_add(1) < self.required;
        }
        #[allow(unreachable_code)]
        {
            version < self.required
        }
    }
}
