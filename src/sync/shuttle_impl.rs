//! The shuttle implementation of the seam: random and PCT schedules over the real core.
//!
//! Shuttle has no `UnsafeCell` of its own (it does not detect data races; it explores schedules and checks
//! assertions), so the cell is std's. Shuttle treats every atomic as `SeqCst`: ordering bugs are loom's job.

use super::{AtomicU64Ops, JoinOps, MutexOps, Ordering, Primitives};

/// Primitives from `shuttle`. Only usable inside a shuttle test (`shuttle::check_random`, `check_pct`, …).
#[derive(Debug, Clone, Copy, Default)]
pub struct ShuttleSync;

// SAFETY: shuttle's types behave like the std types they stand for (and stronger, for atomics).
unsafe impl Primitives for ShuttleSync {
    type AtomicU64 = shuttle::sync::atomic::AtomicU64;
    type Mutex<T> = shuttle::sync::Mutex<T>;
    type Arc<T> = shuttle::sync::Arc<T>;
    type UnsafeCell<T> = super::std_impl::StdCell<T>;
    type JoinHandle<T: Send + 'static> = ShuttleJoinHandle<T>;

    fn spawn<F, T>(name: String, f: F) -> std::io::Result<ShuttleJoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = SetOnDrop(finished.clone());
        let handle = shuttle::thread::Builder::new().name(name).spawn(move || {
            let _flag = flag;
            f()
        })?;
        Ok(ShuttleJoinHandle { handle, finished })
    }
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
    fn try_with_lock<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let mut guard = match self.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(f(&mut guard))
    }
}

// `shuttle::sync::Arc` is a re-export of `std::sync::Arc` (shuttle does not model `Arc`), whose `ArcOps` impl is
// in `std_impl`; a second impl here would conflict.

/// The handle of a thread spawned on shuttle ([`Primitives::spawn`]), with the `is_finished` the runtime's own
/// handle lacks (a flag the thread sets when its closure has returned or unwound).
#[derive(Debug)]
pub struct ShuttleJoinHandle<T> {
    handle: shuttle::thread::JoinHandle<T>,
    finished: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<T> JoinOps<T> for ShuttleJoinHandle<T> {
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
