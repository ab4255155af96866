//! The std implementation of the seam: plain std types, zero cost.

use super::{ArcOps, AtomicU64Ops, JoinOps, MutexOps, Ordering, Primitives, UnsafeCellOps};

/// The default primitives: `std::sync` and `std::cell`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdSync;

// SAFETY: every associated type is the std type itself (or a transparent wrapper), so it has exactly the std
// semantics the trait's contract asks for.
unsafe impl Primitives for StdSync {
    type AtomicU64 = std::sync::atomic::AtomicU64;
    type Mutex<T> = std::sync::Mutex<T>;
    type Arc<T> = std::sync::Arc<T>;
    type UnsafeCell<T> = StdCell<T>;
    type JoinHandle<T: Send + 'static> = std::thread::JoinHandle<T>;

    fn spawn<F, T>(name: String, f: F) -> std::io::Result<std::thread::JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        std::thread::Builder::new().name(name).spawn(f)
    }
}

impl AtomicU64Ops for std::sync::atomic::AtomicU64 {
    #[inline]
    fn new(v: u64) -> Self {
        std::sync::atomic::AtomicU64::new(v)
    }
    #[inline]
    fn load(&self, order: Ordering) -> u64 {
        std::sync::atomic::AtomicU64::load(self, order)
    }
    #[inline]
    fn store(&self, v: u64, order: Ordering) {
        std::sync::atomic::AtomicU64::store(self, v, order)
    }
}

impl<T> MutexOps<T> for std::sync::Mutex<T> {
    fn new(t: T) -> Self {
        std::sync::Mutex::new(t)
    }
    fn with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
    fn try_with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut guard = match self.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(f(&mut guard))
    }
}

impl<T> JoinOps<T> for std::thread::JoinHandle<T> {
    fn join(self) -> std::thread::Result<T> {
        std::thread::JoinHandle::join(self)
    }
    fn is_finished(&self) -> bool {
        std::thread::JoinHandle::is_finished(self)
    }
}

impl<T> ArcOps<T> for std::sync::Arc<T> {
    fn new(t: T) -> Self {
        std::sync::Arc::new(t)
    }
}

/// `std::cell::UnsafeCell` with loom's `with` / `with_mut` API (the tokio pattern).
#[derive(Debug)]
#[repr(transparent)]
pub struct StdCell<T>(std::cell::UnsafeCell<T>);

impl<T> UnsafeCellOps<T> for StdCell<T> {
    #[inline(always)]
    fn new(t: T) -> Self {
        StdCell(std::cell::UnsafeCell::new(t))
    }
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    #[inline(always)]
    fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
