//! The shuttle implementation of the seam: random and PCT schedules over the real core.
//!
//! Shuttle has no `UnsafeCell` of its own (it does not detect data races; it explores schedules and checks
//! assertions), so the cell is std's. Shuttle treats every atomic as `SeqCst`: ordering bugs are loom's job.

use super::{AtomicU64Ops, MutexOps, Ordering, Primitives};

/// Primitives from `shuttle`. Only usable inside a shuttle test (`shuttle::check_random`, `check_pct`, …).
#[derive(Debug, Clone, Copy, Default)]
pub struct ShuttleSync;

// SAFETY: shuttle's types behave like the std types they stand for (and stronger, for atomics).
unsafe impl Primitives for ShuttleSync {
    type AtomicU64 = shuttle::sync::atomic::AtomicU64;
    type Mutex<T> = shuttle::sync::Mutex<T>;
    type Arc<T> = shuttle::sync::Arc<T>;
    type UnsafeCell<T> = super::std_impl::StdCell<T>;
}

impl AtomicU64Ops for shuttle::sync::atomic::AtomicU64 {
    fn new(v: u64) -> Self {
        shuttle::sync::atomic::AtomicU64::new(v)
    }
    fn load(&self, order: Ordering) -> u64 {
        shuttle::sync::atomic::AtomicU64::load(self, order)
    }
    fn store(&self, v: u64, order: Ordering) {
        shuttle::sync::atomic::AtomicU64::store(self, v, order)
    }
}

impl<T> MutexOps<T> for shuttle::sync::Mutex<T> {
    fn new(t: T) -> Self {
        shuttle::sync::Mutex::new(t)
    }
    fn with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

// `shuttle::sync::Arc` is a re-export of `std::sync::Arc` (shuttle does not model `Arc`), whose `ArcOps` impl is
// in `std_impl`; a second impl here would conflict.
