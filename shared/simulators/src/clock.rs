//! The virtual clock of one simulated system.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Real time plus a configurable offset; record stamps are strictly increasing.
#[derive(Debug, Default)]
pub(crate) struct VirtualClock {
    state: Mutex<ClockState>,
}

#[derive(Debug, Default)]
struct ClockState {
    offset: Duration,
    last_stamp: Option<DateTime<Utc>>,
}

impl VirtualClock {
    pub(crate) fn set_offset(&self, offset: Duration) {
        self.lock().offset = offset;
    }

    /// The current time of this system, at millisecond precision.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let offset = self.lock().offset;
        truncate_to_millis(Utc::now() + offset)
    }

    /// A modification stamp: the current time, or the last stamp plus 1 ms when the clock has
    /// not moved past it (so stamps are unique and ordered per system).
    pub(crate) fn next_stamp(&self) -> DateTime<Utc> {
        let mut state = self.lock();
        let now = truncate_to_millis(Utc::now() + state.offset);
        let stamp = match state.last_stamp {
            Some(last) if now <= last => last + Duration::milliseconds(1),
            _ => now,
        };
        state.last_stamp = Some(stamp);
        stamp
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn truncate_to_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(time.timestamp_millis()).unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_strictly_increasing_even_when_the_clock_goes_back() {
        // GIVEN a clock that produced a stamp
        let clock = VirtualClock::default();
        let first = clock.next_stamp();
        // WHEN the clock is moved one hour back
        clock.set_offset(Duration::hours(-1));
        let second = clock.next_stamp();
        let third = clock.next_stamp();
        // THEN later stamps still increase by at least one millisecond
        assert!(second > first);
        assert!(third > second);
        assert_eq!(second - first, Duration::milliseconds(1));
    }

    #[test]
    fn now_follows_the_offset() {
        // GIVEN a clock skewed one day ahead
        let clock = VirtualClock::default();
        clock.set_offset(Duration::days(1));
        // WHEN reading the time
        let skew = clock.now() - Utc::now();
        // THEN it is about one day ahead
        assert!(skew > Duration::hours(23));
    }
}
