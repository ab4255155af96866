//! A hint to the processor to bring a cache line in: the snapshot diff's walk (C4) and the incremental visit (T6)
//! hide their cache misses with it.

/// A hint to the processor to bring the cache line at `p` in (C4, T6); no access in Rust's memory model, so any
/// address, null included, is fine.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // `_mm_prefetch` is an `unsafe fn` before Rust 1.87 (the MSRV is 1.82), a safe one since.
    #[allow(unused_unsafe)]
    // SAFETY: a prefetch never faults and reads nothing the program can observe, whatever the address (C4, T6);
    // SSE is part of every x86_64 target.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}
