//! Faults injected by tests into a simulator.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

/// A fault queued with `inject` on a simulator.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The next `times` requests whose path contains `path_contains` answer with this status
    /// and the system's real error body (429 with `Retry-After: retry_after_secs`; 401 the
    /// expired-token body; 500/503 the server error bodies). Token requests match too.
    Status {
        path_contains: String,
        status: u16,
        times: u32,
        retry_after_secs: Option<u64>,
    },
    /// Expire every issued token now (the next API call gets the real 401 body).
    ExpireTokens,
    /// Delay the next `times` matching requests by `millis` before they are processed (a
    /// client that gives up first leaves nothing done).
    Delay {
        path_contains: String,
        millis: u64,
        times: u32,
    },
    /// Process the next `times` matching requests at once, then hold their answers for
    /// `millis` (a client that gives up first does not learn that its write happened).
    SlowAnswer {
        path_contains: String,
        millis: u64,
        times: u32,
    },
    /// Per-record validation failure for writes touching this record id, until
    /// `clear_faults`. Updates and deletes match the record id; creates match when a field
    /// value (Salesforce) or an `externalIds[].value` (Genesys) equals it.
    RejectRecord { id: String },
}

/// A status fault that fired for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatusFault {
    pub(crate) status: u16,
    pub(crate) retry_after_secs: Option<u64>,
}

/// The pending faults of one simulator.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    state: Mutex<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    statuses: Vec<(String, StatusFault, u32)>,
    delays: Vec<(String, u64, u32)>,
    slow_answers: Vec<(String, u64, u32)>,
    rejected: BTreeSet<String>,
}

impl FaultBook {
    /// Queue a fault; `ExpireTokens` is handled by the simulator itself and ignored here.
    pub(crate) fn push(&self, fault: Fault) {
        let mut state = self.lock();
        match fault {
            Fault::Status {
                path_contains,
                status,
                times,
                retry_after_secs,
            } if times > 0 => state.statuses.push((
                path_contains,
                StatusFault {
                    status,
                    retry_after_secs,
                },
                times,
            )),
            Fault::Delay {
                path_contains,
                millis,
                times,
            } if times > 0 => state.delays.push((path_contains, millis, times)),
            Fault::SlowAnswer {
                path_contains,
                millis,
                times,
            } if times > 0 => state.slow_answers.push((path_contains, millis, times)),
            Fault::RejectRecord { id } => {
                state.rejected.insert(id);
            }
            Fault::Status { .. }
            | Fault::Delay { .. }
            | Fault::SlowAnswer { .. }
            | Fault::ExpireTokens => {}
        }
    }

    pub(crate) fn clear(&self) {
        *self.lock() = FaultState::default();
    }

    /// Consume the first delay (before processing) matching `path`.
    pub(crate) fn take_delay(&self, path: &str) -> Option<Duration> {
        take_first(&mut self.lock().delays, path)
    }

    /// Consume the first slow answer (after processing) matching `path`.
    pub(crate) fn take_slow_answer(&self, path: &str) -> Option<Duration> {
        take_first(&mut self.lock().slow_answers, path)
    }

    /// Consume the first status fault matching `path`.
    pub(crate) fn take_status(&self, path: &str) -> Option<StatusFault> {
        let mut state = self.lock();
        let index = state
            .statuses
            .iter()
            .position(|(needle, _, _)| path.contains(needle.as_str()))?;
        let fault = state.statuses[index].1;
        state.statuses[index].2 -= 1;
        if state.statuses[index].2 == 0 {
            state.statuses.remove(index);
        }
        Some(fault)
    }

    pub(crate) fn is_rejected(&self, id: &str) -> bool {
        self.lock().rejected.contains(id)
    }

    pub(crate) fn has_rejections(&self) -> bool {
        !self.lock().rejected.is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn take_first(delays: &mut Vec<(String, u64, u32)>, path: &str) -> Option<Duration> {
    let index = delays
        .iter()
        .position(|(needle, _, _)| path.contains(needle.as_str()))?;
    let millis = delays[index].1;
    delays[index].2 -= 1;
    if delays[index].2 == 0 {
        delays.remove(index);
    }
    Some(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_faults_fire_the_requested_number_of_times() {
        // GIVEN a 503 fault for two requests on /query
        let book = FaultBook::default();
        book.push(Fault::Status {
            path_contains: "/query".into(),
            status: 503,
            times: 2,
            retry_after_secs: None,
        });
        // WHEN three matching requests and one other arrive
        let other = book.take_status("/composite/sobjects");
        let fired: Vec<_> = (0..3).map(|_| book.take_status("/query")).collect();
        // THEN only the first two matching requests get it
        assert!(other.is_none());
        assert!(fired[0].is_some() && fired[1].is_some());
        assert!(fired[2].is_none());
    }
}
