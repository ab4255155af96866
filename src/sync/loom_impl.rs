//! The loom implementation of the seam: every access is a point loom can interleave and check.

use super::{ArcOps, AtomicU64Ops, JoinOps, MutexOps, Ordering, Primitives, UnsafeCellOps};

/// Primitives from `loom`: exhaustive interleavings, race detection on `UnsafeCell`, leak checks on `Arc`.
/// Only usable inside `loom::model`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoomSync;

// SAFETY: loom's types model the std types they stand for (SeqCst is modelled as AcqRel, which only makes the
// model stricter for us: the core never relies on SeqCst).
unsafe impl Primitives for LoomSync {
    type AtomicU64 = loom::sync::atomic::AtomicU64;
    type Mutex<T> = loom::sync::Mutex<T>;
    type Arc<T> = loom::sync::Arc<T>;
    type UnsafeCell<T> = loom::cell::UnsafeCell<T>;
    type JoinHandle<T: Send + 'static> = LoomJoinHandle<T>;

    fn spawn<F, T>(name: String, f: F) -> std::io::Result<LoomJoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = SetOnDrop(finished.clone());
        let handle = loom::thread::Builder::new().name(name).spawn(move || {
            let _flag = flag;
            f()
        })?;
        Ok(LoomJoinHandle { handle, finished })
    }
}

impl AtomicU64Ops for loom::sync::atomic::AtomicU64 {
    fn new(v: u64) -> Self {
        loom::sync::atomic::AtomicU64::new(v)
    }
    fn load(&self, order: Ordering) -> u64 {
        loom::sync::atomic::AtomicU64::load(self, order)
    }
    fn store(&self, v: u64, order: Ordering) {
        loom::sync::atomic::AtomicU64::store(self, v, order)
    }
}

impl<T> MutexOps<T> for loom::sync::Mutex<T> {
    fn new(t: T) -> Self {
        loom::sync::Mutex::new(t)
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

impl<T> ArcOps<T> for loom::sync::Arc<T> {
    fn new(t: T) -> Self {
        loom::sync::Arc::new(t)
    }
}

impl<T> UnsafeCellOps<T> for loom::cell::UnsafeCell<T> {
    fn new(t: T) -> Self {
        loom::cell::UnsafeCell::new(t)
    }
    fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        loom::cell::UnsafeCell::with(self, f)
    }
    fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        loom::cell::UnsafeCell::with_mut(self, f)
    }
}

/// The handle of a thread spawned on loom ([`Primitives::spawn`]), with the `is_finished` the runtime's own
/// handle lacks (a flag the thread sets when its closure has returned or unwound).
#[derive(Debug)]
pub struct LoomJoinHandle<T> {
    handle: loom::thread::JoinHandle<T>,
    finished: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<T> JoinOps<T> for LoomJoinHandle<T> {
    fn join(self) -> std::thread::Result<T> {
        self.handle.join()
    }
    fn is_finished(&self) -> bool {
        self.finished.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Sets the flag when dropped: after the closure returned, or while it unwinds.
struct SetOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}
