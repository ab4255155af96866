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
pub use loom_impl::LoomSync;

#[cfg(feature = "shuttle")]
mod shuttle_impl;
#[cfg(feature = "shuttle")]
#[cfg_attr(docsrs, doc(cfg(feature = "shuttle")))]
pub use shuttle_impl::ShuttleSync;

/// A family of synchronization primitives.
///
/// # Safety
///
/// Implementations must behave like their std counterparts: `AtomicU64` is an atomic with the given
/// orderings, `Mutex` gives mutual exclusion with acquire/release semantics on lock/unlock, `Arc` is an
/// atomically reference-counted pointer, and all of them are `Send + Sync` whenever the std type would be.
/// `UnsafeCell` hands out raw pointers to its contents exactly like `std::cell::UnsafeCell::get`. The core
/// relies on this to implement `Send`/`Sync` for its public types.
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
