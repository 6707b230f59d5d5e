//! The API budget guard: every REST answer carries `Sforce-Limit-Info: api-usage=N/M`
//! (API-NOTES A.5), N requests used of the rolling 24-hour allocation M. Once N reaches the
//! configured share of M, calls stop with [`SystemError::Budget`] before they are sent, so a
//! sync never eats the allocation other integrations of the org need; the next run resumes.

use super::SIDE;
use contact_sync_pipeline::system::SystemError;
use reqwest::header::HeaderMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Stop at 80% of the daily allocation.
pub const DEFAULT_SHARE: f64 = 0.8;

/// Usage as last reported, shared by every clone of the system.
pub(crate) struct Budget {
    share: f64,
    used: AtomicU64,
    max: AtomicU64,
}

/// `api-usage=N/M` out of a `Sforce-Limit-Info` value (other entries such as `api-bursts` or
/// `per-app-api-usage` are ignored).
pub fn parse_limit_info(value: &str) -> Option<(u64, u64)> {
    value.split([';', ',']).find_map(|entry| {
        let (name, usage) = entry.trim().split_once('=')?;
        if name.trim() != "api-usage" {
            return None;
        }
        let (used, max) = usage.trim().split_once('/')?;
        Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
    })
}

impl Budget {
    pub fn new(share: f64) -> Self {
        Budget {
            share,
            used: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records the usage an answer reports.
    pub fn observe(&self, headers: &HeaderMap) {
        let Some((used, max)) = headers
            .get("sforce-limit-info")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_limit_info)
        else {
            return;
        };
        self.used.store(used, Ordering::Relaxed);
        self.max.store(max, Ordering::Relaxed);
    }

    /// The share of the allocation after which calls stop.
    pub fn share(&self) -> f64 {
        self.share
    }

    /// `(used, max)` as last reported; `None` before any answer carried the header.
    pub fn usage(&self) -> Option<(u64, u64)> {
        let max = self.max.load(Ordering::Relaxed);
        (max > 0).then(|| (self.used.load(Ordering::Relaxed), max))
    }

    fn spent(&self) -> Option<SystemError> {
        let (used, max) = (
            self.used.load(Ordering::Relaxed),
            self.max.load(Ordering::Relaxed),
        );
        (max > 0 && used as f64 >= self.share * max as f64).then_some(SystemError::Budget {
            side: SIDE,
            used,
            max,
        })
    }

    /// `Err(Budget)` once usage has reached the share: no call is sent.
    pub fn check(&self) -> Result<(), SystemError> {
        match self.spent() {
            Some(e) => {
                tracing::warn!(side = %SIDE, "API budget reached; stopping until the next run");
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// The error for an org out of allocation (403 `REQUEST_LIMIT_EXCEEDED`): a budget stop,
    /// not a transient failure to retry within the run.
    pub fn exhausted(&self) -> SystemError {
        let max = self.max.load(Ordering::Relaxed);
        SystemError::Budget {
            side: SIDE,
            used: self.used.load(Ordering::Relaxed).max(max),
            max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_info_is_read_with_and_without_other_entries() {
        // GIVEN the header shapes of old and new orgs
        // WHEN parsed
        // THEN api-usage is found, other entries ignored, garbage refused
        assert_eq!(
            parse_limit_info("api-usage=10018/100000"),
            Some((10_018, 100_000))
        );
        assert_eq!(
            parse_limit_info("api-usage=25/5000; api-bursts=1/750"),
            Some((25, 5_000))
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=17/250(appName=x), api-usage=9/10"),
            Some((9, 10))
        );
        assert_eq!(parse_limit_info("api-bursts=1/750"), None);
        assert_eq!(parse_limit_info("api-usage=lots"), None);
    }

    #[test]
    fn calls_stop_at_the_share() {
        // GIVEN a guard at 80% and answers reporting 79% then 80% usage
        let budget = Budget::new(0.8);
        let mut headers = HeaderMap::new();
        headers.insert(
            "sforce-limit-info",
            "api-usage=79/100".parse().expect("value"),
        );
        budget.observe(&headers);
        // WHEN checked
        // THEN 79% passes and 80% stops with the counts
        assert!(budget.check().is_ok());
        headers.insert(
            "sforce-limit-info",
            "api-usage=80/100".parse().expect("value"),
        );
        budget.observe(&headers);
        assert!(matches!(
            budget.check(),
            Err(SystemError::Budget {
                used: 80,
                max: 100,
                ..
            })
        ));
    }
}
