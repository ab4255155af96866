//! The primitives seam: one trait, [`Primitives`], supplies every atomic, mutex, `Arc` and `UnsafeCell` the
//! core uses, so the very same table code runs on std (the zero-cost default, [`StdSync`]), under loom
//! (feature `loom`, `LoomSync`) and under shuttle (feature `shuttle`, `ShuttleSync`).
//!
//! Every cross-thread hand-off in the core goes through these types; the orderings used are argued at the
//! call sites against the invariants of `docs/DESIGN.md` (I7, I8).

use core::ops::Deref;
pub use core::sync::atomic::Ordering;

mod std_impl;
pub use std_impl::StdSync;

#[cfg(feature = "loom")]
mod loom_impl;
#[cfg(feature = "loom")]
#[cfg_attr(docsrs, doc(cfg(feature = "loom")))]
pub use loom_impl::{LoomJoinHandle, LoomSync};

#[cfg(feature = "shuttle")]
mod shuttle_impl;
#[cfg(feature = "shuttle")]
#[cfg_attr(docsrs, doc(cfg(feature = "shuttle")))]
pub use shuttle_impl::{ShuttleJoinHandle, ShuttleSync};

/// A family of synchronization primitives.
///
/// # Safety
///
/// The core implements `Send` and `Sync` for `StateTable` and `Snapshot` by hand, for *every* `P: Primitives`,
/// and its `SAFETY:` arguments (I5, I7, I8, I9, I13) assume that each associated type is a faithful stand-in for
/// its std counterpart. An implementation must guarantee all of the following, whatever the payload type `T`:
///
/// 1. **`AtomicU64`** is one atomic memory location: `load`/`store` are atomic (no torn values) and honour the
///    given `Ordering` at least as strongly as the C++20 model does (a `Release` store synchronises with an
///    `Acquire` load that reads it). It is `Send + Sync`.
/// 2. **`Mutex<T>`**: `with_lock` runs its closure with exclusive access to `T` (never two closures at once,
///    on any threads), unlock *releases* and lock *acquires* (everything done under one lock happens-before the
///    next locker's closure), it never hands out `&mut T` after a panic left it poisoned without running the
///    closure to completion on a consistent `T` (entering anyway, as std's `into_inner` on poison does, is
///    fine), and it is `Send + Sync` when `T: Send` — **including** for payloads that are not `Sync` and hold
///    raw pointers (the registry holds `*const View`), because the core only touches them under the lock.
/// 3. **`Arc<T>`** is an atomically reference-counted shared pointer: `clone` and drop may run concurrently on
///    any threads, the last drop happens-after every other clone's drop (`Release` decrements, `Acquire` before
///    freeing, as std does) and drops `T` exactly once, `Deref` gives the same `&T` on every thread, and it is
///    `Send + Sync` when `T: Send + Sync` (the core's `Shared` is, given 1 and 2).
/// 4. **`UnsafeCell<T>`**: `with` / `with_mut` hand their closure a raw pointer to the *same* contents on every
///    call, valid for the duration of the call, like `std::cell::UnsafeCell::get`; several `with` calls may run
///    **concurrently on different threads** on one cell (snapshot readers), and a `with_mut` may run while no
///    `with` does (the writer, ordered by 1 and 2 per I3/I8). It adds no synchronisation of its own and must
///    not itself be the cause of undefined behaviour in those uses (loom's tracking cell is fine: it *reports*
///    the races it sees). The cell must be `Sync`-able by the core's manual impls, i.e. it holds `T` inline or
///    behind a stable pointer and never moves it.
/// 5. None of the operations re-enters the core, blocks forever while uncontended, or unwinds except by
///    propagating a panic of the closure passed to it.
/// 6. **`spawn`** runs its closure on a new thread of the same runtime (std, loom or shuttle), and
///    **`JoinHandle::join`** returns after that closure returned (everything the thread did happens-before the
///    return), with its value or with the panic that ended it (the asynchronous checkpoint part, B25).
///
/// `StdSync` meets this by being the std types; `LoomSync` and `ShuttleSync` meet it under their own runtimes
/// (inside `loom::model` / `shuttle::check_*` only).
pub unsafe trait Primitives: 'static + Sized {
    /// A 64-bit atomic (std: `AtomicU64`).
    type AtomicU64: AtomicU64Ops;
    /// A mutex (std: `Mutex`), used through a closure so that every backend can implement it.
    type Mutex<T>: MutexOps<T>;
    /// An atomically reference-counted pointer (std: `Arc`).
    type Arc<T>: ArcOps<T>;
    /// An interior-mutability cell for every node and chunk field a snapshot reader may see
    /// (std: `UnsafeCell`; loom's tracks each access and reports races).
    type UnsafeCell<T>: UnsafeCellOps<T>;
    /// The handle of a thread started by [`spawn`](Self::spawn) (std: `JoinHandle`).
    type JoinHandle<T: Send + 'static>: JoinOps<T>;

    /// Starts a thread named `name` running `f` (std: `thread::Builder::spawn`); fails only if the runtime
    /// cannot start one.
    fn spawn<F, T>(name: String, f: F) -> std::io::Result<Self::JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;
}

/// The operations the backend needs of a thread handle (std: `JoinHandle`).
pub trait JoinOps<T> {
    /// Waits for the thread; its value, or the payload of the panic that ended it.
    fn join(self) -> std::thread::Result<T>;
    /// Whether the thread's closure has returned (or unwound).
    fn is_finished(&self) -> bool;
}

/// The operations the core needs of a 64-bit atomic.
pub trait AtomicU64Ops {
    /// Creates the atomic.
    fn new(v: u64) -> Self;
    /// Atomic load.
    fn load(&self, order: Ordering) -> u64;
    /// Atomic store.
    fn store(&self, v: u64, order: Ordering);
}

/// The operations the core needs of a mutex.
pub trait MutexOps<T> {
    /// Creates the mutex.
    fn new(t: T) -> Self;
    /// Runs `f` with the lock held. A poisoned lock is entered anyway: the core never leaves the protected
    /// data inconsistent across a panic.
    fn with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R;
    /// Runs `f` with the lock held if it is free, without waiting: `None` if another thread holds it. A poisoned
    /// lock is entered, as in [`with_lock`](Self::with_lock).
    fn try_with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R>;
}

/// The operations the core needs of an `Arc`.
pub trait ArcOps<T>: Clone + Deref<Target = T> {
    /// Creates the `Arc`.
    fn new(t: T) -> Self;
}

/// The operations the core needs of an `UnsafeCell` (loom's `with` / `with_mut` API).
pub trait UnsafeCellOps<T> {
    /// Creates the cell.
    fn new(t: T) -> Self;
    /// Immutable access to the contents, as a raw pointer valid during the call.
    fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R;
    /// Mutable access to the contents, as a raw pointer valid during the call.
    fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R;
}
