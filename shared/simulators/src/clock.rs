//! The virtual clock of one simulated system.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::profile::StampResolution;

/// Real time plus a configurable offset; record stamps never decrease, and with
/// [`StampResolution::UniqueMillisecond`] they are strictly increasing.
#[derive(Debug)]
pub(crate) struct VirtualClock {
    resolution: StampResolution,
    state: Mutex<ClockState>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        VirtualClock::new(StampResolution::UniqueMillisecond)
    }
}

#[derive(Debug, Default)]
struct ClockState {
    offset: Duration,
    last_stamp: Option<DateTime<Utc>>,
}

impl VirtualClock {
    pub(crate) fn new(resolution: StampResolution) -> Self {
        VirtualClock {
            resolution,
            state: Mutex::default(),
        }
    }

    pub(crate) fn set_offset(&self, offset: Duration) {
        self.lock().offset = offset;
    }

    /// The current time of this system, at millisecond precision.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        let offset = self.lock().offset;
        truncate_to_millis(Utc::now() + offset)
    }

    /// A modification stamp. [`StampResolution::UniqueMillisecond`]: the current time, or the
    /// last stamp plus 1 ms when the clock has not moved past it (so stamps are unique and
    /// ordered per system). [`StampResolution::SharedSecond`]: the current time cut to the
    /// whole second, or the last stamp when the clock has not moved past it (so every write of
    /// one second shares its stamp, and stamps never go back).
    pub(crate) fn next_stamp(&self) -> DateTime<Utc> {
        let mut state = self.lock();
        let now = Utc::now() + state.offset;
        let stamp = match self.resolution {
            StampResolution::UniqueMillisecond => {
                let now = truncate_to_millis(now);
                match state.last_stamp {
                    Some(last) if now <= last => last + Duration::milliseconds(1),
                    _ => now,
                }
            }
            StampResolution::SharedSecond => {
                let now = truncate_to_seconds(now);
                match state.last_stamp {
                    Some(last) if now <= last => last,
                    _ => now,
                }
            }
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

fn truncate_to_seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(time.timestamp(), 0).unwrap_or(time)
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
    fn shared_second_stamps_are_whole_seconds_shared_and_never_go_back() {
        // GIVEN a clock stamping at whole seconds
        let clock = VirtualClock::new(StampResolution::SharedSecond);
        let first = clock.next_stamp();
        // WHEN more writes are stamped, then the clock is moved one hour back
        let second = clock.next_stamp();
        clock.set_offset(Duration::hours(-1));
        let third = clock.next_stamp();
        // THEN every stamp is a whole second, and none is before the one before it
        for stamp in [first, second, third] {
            assert_eq!(stamp.timestamp_subsec_nanos(), 0);
        }
        assert!(second >= first && second - first <= Duration::seconds(1));
        assert_eq!(third, second);
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
