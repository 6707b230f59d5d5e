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
    /// Process the next `times` matching requests as usual, then answer with a broken body in
    /// place of the real one (same status): what a proxy, a bug or a cut connection delivers.
    Malformed {
        path_contains: String,
        body: BrokenBody,
        times: u32,
    },
    /// Per-record validation failure for writes touching this record id, until
    /// `clear_faults`. Updates and deletes match the record id; creates match when a field
    /// value (Salesforce) or an `externalIds[].value` (Genesys) equals it.
    RejectRecord { id: String },
    /// Process every write request as usual, but once `after` write requests have been
    /// answered, never answer another one (it is processed, then its answer is held until the
    /// client goes away): a client killed at that point never learns that its last write
    /// landed. Until `clear_faults`. [`answers_held`](crate::SalesforceSim::answers_held) says
    /// when a write is being held.
    HoldWriteAnswersAfter { after: u64 },
}

/// How a [`Fault::Malformed`] answer is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenBody {
    /// The real JSON cut in half.
    TruncatedJson,
    /// The real JSON with every string turned into a number and every number into a string.
    WrongTypes,
    /// An empty JSON object: every field the client expects is missing.
    MissingFields,
    /// A load balancer's HTML error page (`text/html`).
    HtmlErrorPage,
    /// The real body with bytes that are not UTF-8 in the middle.
    InvalidUtf8,
}

impl BrokenBody {
    pub const ALL: [BrokenBody; 5] = [
        BrokenBody::TruncatedJson,
        BrokenBody::WrongTypes,
        BrokenBody::MissingFields,
        BrokenBody::HtmlErrorPage,
        BrokenBody::InvalidUtf8,
    ];

    /// The broken version of a real body; the content type to send with it.
    pub(crate) fn apply(self, real: &[u8]) -> (Vec<u8>, &'static str) {
        const JSON: &str = "application/json";
        match self {
            BrokenBody::TruncatedJson => (real[..real.len() / 2].to_vec(), JSON),
            BrokenBody::WrongTypes => {
                let swapped = serde_json::from_slice::<serde_json::Value>(real)
                    .map(swap_types)
                    .unwrap_or(serde_json::Value::from(42));
                (swapped.to_string().into_bytes(), JSON)
            }
            BrokenBody::MissingFields => (b"{}".to_vec(), JSON),
            BrokenBody::HtmlErrorPage => (
                b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>".to_vec(),
                "text/html",
            ),
            BrokenBody::InvalidUtf8 => {
                let mut bytes = real.to_vec();
                let middle = bytes.len() / 2;
                bytes.splice(middle..middle, [0xff, 0xfe, 0xc3, 0x28]);
                (bytes, JSON)
            }
        }
    }
}

fn swap_types(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(_) => Value::from(12_345),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(swap_types).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, swap_types(v))).collect())
        }
        Value::Null => Value::Bool(true),
    }
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
    malformed: Vec<(String, BrokenBody, u32)>,
    rejected: BTreeSet<String>,
    /// `HoldWriteAnswersAfter`: the write answers still to send before holding them.
    write_answers_left: Option<u64>,
    /// Write answers held so far.
    held: u64,
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
            Fault::Malformed {
                path_contains,
                body,
                times,
            } if times > 0 => state.malformed.push((path_contains, body, times)),
            Fault::RejectRecord { id } => {
                state.rejected.insert(id);
            }
            Fault::HoldWriteAnswersAfter { after } => state.write_answers_left = Some(after),
            Fault::Status { .. }
            | Fault::Delay { .. }
            | Fault::SlowAnswer { .. }
            | Fault::Malformed { .. }
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

    /// Consume the first broken-body fault matching `path`.
    pub(crate) fn take_malformed(&self, path: &str) -> Option<BrokenBody> {
        let mut state = self.lock();
        let index = state
            .malformed
            .iter()
            .position(|(needle, _, _)| path.contains(needle.as_str()))?;
        let body = state.malformed[index].1;
        state.malformed[index].2 -= 1;
        if state.malformed[index].2 == 0 {
            state.malformed.remove(index);
        }
        Some(body)
    }

    /// Whether the answer of a processed request (`is_write`) is to be held
    /// (`HoldWriteAnswersAfter`); counts it as held if so.
    pub(crate) fn hold_answer(&self, is_write: bool) -> bool {
        let mut state = self.lock();
        match state.write_answers_left.as_mut() {
            Some(0) if is_write => {
                state.held += 1;
                true
            }
            Some(left) if is_write => {
                *left -= 1;
                false
            }
            _ => false,
        }
    }

    /// Write answers held so far (`HoldWriteAnswersAfter`).
    pub(crate) fn answers_held(&self) -> u64 {
        self.lock().held
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
    fn write_answers_are_held_after_the_given_number_until_cleared() {
        // GIVEN answers held after two writes
        let book = FaultBook::default();
        book.push(Fault::HoldWriteAnswersAfter { after: 2 });
        // WHEN reads and writes are answered
        let held: Vec<bool> = [false, true, true, false, true, true]
            .into_iter()
            .map(|is_write| book.hold_answer(is_write))
            .collect();
        // THEN reads always go through, the first two writes too, every later write is held
        assert_eq!(held, [false, false, false, false, true, true]);
        assert_eq!(book.answers_held(), 2);
        // AND once cleared, nothing is held
        book.clear();
        assert!(!book.hold_answer(true));
    }

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
