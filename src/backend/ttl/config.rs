//! The TTL configuration of a state (Flink `StateTtlConfig`, 1.6+).

use super::clock::{SystemClock, TtlTimeProvider};
use std::sync::Arc;
use std::time::Duration;

/// When a value's last-access timestamp is refreshed (Flink `StateTtlConfig.UpdateType`, docs/DESIGN.md T3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpdateType {
    /// Only the write that creates the value stamps it; later writes and reads do not refresh it.
    Disabled,
    /// Every write stamps (the default).
    #[default]
    OnCreateAndWrite,
    /// Every write and every read that returns the value stamps.
    OnReadAndWrite,
}

/// Whether a read may return an expired value not cleaned up yet (Flink `StateTtlConfig.StateVisibility`, T4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateVisibility {
    /// Never (the default).
    #[default]
    NeverReturnExpired,
    /// Yes, until a cleanup removes it.
    ReturnExpiredIfNotCleanedUp,
}

/// Incremental cleanup's parameters (Flink `IncrementalCleanupStrategy`, T6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncrementalCleanup {
    /// Entries visited per state access (Flink `cleanupSize`; default 5).
    pub visit_count: usize,
    /// Also visit on every `record_processed` (Flink `runCleanupForEveryRecord`).
    pub run_for_every_record: bool,
}

impl Default for IncrementalCleanup {
    fn default() -> Self {
        IncrementalCleanup {
            visit_count: IncrementalCleanup::DEFAULT_VISIT_COUNT,
            run_for_every_record: false,
        }
    }
}

impl IncrementalCleanup {
    /// Flink's default `cleanupSize`.
    pub const DEFAULT_VISIT_COUNT: usize = 5;
}

/// A bad TTL configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TtlConfigError {
    /// The time-to-live must be at least one millisecond and fit an `i64` of milliseconds.
    #[error("state TTL must be between 1 ms and i64::MAX ms, got {millis} ms")]
    BadTtl {
        /// The requested time-to-live in milliseconds (saturated).
        millis: u128,
    },
    /// Incremental cleanup must visit at least one entry per access.
    #[error("incremental cleanup must visit at least one entry per access")]
    ZeroVisitCount,
}

/// Time-to-live of a state's values and how expired ones are hidden and cleaned up (Flink `StateTtlConfig`).
///
/// ```
/// use cow_state_table::backend::ttl::{ManualClock, StateTtlConfig, StateVisibility, UpdateType};
/// use std::sync::Arc;
/// use std::time::Duration;
/// let clock = Arc::new(ManualClock::new(0));
/// let config = StateTtlConfig::new(Duration::from_secs(60))?
///     .with_update_type(UpdateType::OnReadAndWrite)
///     .with_state_visibility(StateVisibility::NeverReturnExpired)
///     .cleanup_full_snapshot()
///     .cleanup_incrementally(10, false)?
///     .with_time_provider(clock);
/// assert_eq!(config.ttl_millis(), 60_000);
/// assert!(StateTtlConfig::new(Duration::ZERO).is_err());
/// # Ok::<(), cow_state_table::backend::ttl::TtlConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct StateTtlConfig {
    pub(crate) ttl: i64,
    pub(crate) update_type: UpdateType,
    pub(crate) visibility: StateVisibility,
    pub(crate) full_snapshot: bool,
    pub(crate) incremental: Option<IncrementalCleanup>,
    pub(crate) clock: Arc<dyn TtlTimeProvider>,
}

impl StateTtlConfig {
    /// Values live `ttl` after their last stamp; `OnCreateAndWrite`, `NeverReturnExpired`, no cleanup strategy,
    /// the system clock. Fails on a `ttl` under 1 ms or over `i64::MAX` ms.
    pub fn new(ttl: Duration) -> Result<Self, TtlConfigError> {
        let millis = ttl.as_millis();
        let ttl = i64::try_from(millis)
            .ok()
            .filter(|&m| m > 0)
            .ok_or(TtlConfigError::BadTtl { millis })?;
        Ok(StateTtlConfig {
            ttl,
            update_type: UpdateType::default(),
            visibility: StateVisibility::default(),
            full_snapshot: false,
            incremental: None,
            clock: Arc::new(SystemClock),
        })
    }

    /// Sets the update type (T3).
    pub fn with_update_type(mut self, update_type: UpdateType) -> Self {
        self.update_type = update_type;
        self
    }

    /// Sets the visibility (T4).
    pub fn with_state_visibility(mut self, visibility: StateVisibility) -> Self {
        self.visibility = visibility;
        self
    }

    /// Filters expired values out of every checkpoint, in its asynchronous part (T5; Flink
    /// `cleanupFullSnapshot`).
    pub fn cleanup_full_snapshot(mut self) -> Self {
        self.full_snapshot = true;
        self
    }

    /// Visits `visit_count` entries of the live table per state access (and per `record_processed` if
    /// `run_for_every_record`), removing the expired (T6; Flink `cleanupIncrementally`).
    pub fn cleanup_incrementally(
        mut self,
        visit_count: usize,
        run_for_every_record: bool,
    ) -> Result<Self, TtlConfigError> {
        if visit_count == 0 {
            return Err(TtlConfigError::ZeroVisitCount);
        }
        self.incremental = Some(IncrementalCleanup {
            visit_count,
            run_for_every_record,
        });
        Ok(self)
    }

    /// Sets the clock (T2; Flink injects a `TtlTimeProvider` into the backend).
    pub fn with_time_provider(mut self, clock: Arc<dyn TtlTimeProvider>) -> Self {
        self.clock = clock;
        self
    }

    /// The time-to-live in milliseconds.
    pub fn ttl_millis(&self) -> i64 {
        self.ttl
    }

    /// The update type.
    pub fn update_type(&self) -> UpdateType {
        self.update_type
    }

    /// The visibility.
    pub fn state_visibility(&self) -> StateVisibility {
        self.visibility
    }

    /// Whether checkpoints filter expired values out.
    pub fn is_cleanup_in_full_snapshot(&self) -> bool {
        self.full_snapshot
    }

    /// The incremental cleanup, if configured.
    pub fn incremental_cleanup(&self) -> Option<IncrementalCleanup> {
        self.incremental
    }

    /// The clock's current time.
    #[inline]
    pub fn now(&self) -> i64 {
        self.clock.current_timestamp()
    }
}
