//! Where a TTL state's time comes from (Flink `TtlTimeProvider`): the system clock, or a manual clock for tests
//! (docs/DESIGN.md T2).

use core::fmt;
use core::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in milliseconds (Flink `TtlTimeProvider.currentTimestamp`).
pub trait TtlTimeProvider: Send + Sync + fmt::Debug {
    /// The current time in milliseconds.
    fn current_timestamp(&self) -> i64;
}

/// The wall clock: milliseconds since the Unix epoch (Flink `TtlTimeProvider.DEFAULT`). A clock set before 1970
/// reads as 0.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl TtlTimeProvider for SystemClock {
    fn current_timestamp(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to (Flink's tests' `MockTtlTimeProvider`); share it with an `Arc`.
///
/// ```
/// use cow_state_table::backend::ttl::{ManualClock, TtlTimeProvider};
/// let clock = ManualClock::new(100);
/// clock.advance(50);
/// assert_eq!(clock.current_timestamp(), 150);
/// clock.set(7);
/// assert_eq!(clock.current_timestamp(), 7);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock reading `now` milliseconds.
    pub fn new(now: i64) -> Self {
        ManualClock {
            now: AtomicI64::new(now),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: i64) {
        self.now.store(now, Ordering::Relaxed);
    }

    /// Moves the time forward by `millis` (saturating).
    pub fn advance(&self, millis: i64) {
        let now = self.now.load(Ordering::Relaxed);
        self.now.store(now.saturating_add(millis), Ordering::Relaxed);
    }
}

impl TtlTimeProvider for ManualClock {
    fn current_timestamp(&self) -> i64 {
        self.now.load(Ordering::Relaxed)
    }
}
