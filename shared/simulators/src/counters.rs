//! Request counters exposed to tests and benchmarks.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// What a simulator has received since it started (or since `reset_counters`).
///
/// Every request is counted in `total` and `by_route` (key = method plus the route with the
/// API prefix removed, e.g. `"GET /query"`, `"POST /bulk/contacts/update"`), including
/// requests answered with an injected fault, a 401 or a 429. `reads`/`writes` classify API
/// requests the same way. `records_written` counts the records carried by write requests that
/// reached the write logic (whatever each record's outcome).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Every HTTP request received, including token requests.
    pub total: u64,
    /// Token requests.
    pub auth: u64,
    /// API reads: queries, query pages, scans, single gets, Genesys bulk fetch.
    pub reads: u64,
    /// API write requests: collections, single-record writes, Genesys bulk add/update/remove,
    /// contact POST/PUT/DELETE, external source POST.
    pub writes: u64,
    /// Requests per route.
    pub by_route: BTreeMap<String, u64>,
    /// Records carried by processed write requests.
    pub records_written: u64,
    /// Requests answered 429 (rate limit or an injected fault).
    pub rate_limited: u64,
    /// Bulk / Collections requests refused as a whole for carrying more records than the cap
    /// (`max_bulk_entities`, `max_collection_records`).
    pub over_record_cap: u64,
}

/// How a request is classified in [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Auth,
    Read,
    Write,
    Other,
}

#[derive(Debug, Default)]
pub(crate) struct CounterBook {
    counters: Mutex<Counters>,
}

impl CounterBook {
    pub(crate) fn record_request(&self, route: &str, kind: RequestKind) {
        let mut counters = self.lock();
        counters.total += 1;
        match kind {
            RequestKind::Auth => counters.auth += 1,
            RequestKind::Read => counters.reads += 1,
            RequestKind::Write => counters.writes += 1,
            RequestKind::Other => {}
        }
        *counters.by_route.entry(route.to_string()).or_insert(0) += 1;
    }

    pub(crate) fn record_status(&self, status: u16) {
        if status == 429 {
            self.lock().rate_limited += 1;
        }
    }

    pub(crate) fn record_over_cap(&self) {
        self.lock().over_record_cap += 1;
    }

    pub(crate) fn record_written(&self, records: usize) {
        self.lock().records_written += records as u64;
    }

    pub(crate) fn snapshot(&self) -> Counters {
        self.lock().clone()
    }

    pub(crate) fn reset(&self) {
        *self.lock() = Counters::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
