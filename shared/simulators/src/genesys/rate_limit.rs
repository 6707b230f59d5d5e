//! `client.credentials.token.rate.per.minute`: requests per token per fixed minute window.

use std::collections::HashMap;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(crate) struct TokenRates {
    windows: HashMap<String, (Instant, u32)>,
}

impl TokenRates {
    /// Count a request of `token`; `Some(retry_after_secs)` once over `limit` in this window.
    pub(crate) fn admit(&mut self, token: &str, limit: u32) -> Option<u64> {
        let now = Instant::now();
        let window = self.windows.entry(token.to_string()).or_insert((now, 0));
        if now.duration_since(window.0) >= WINDOW {
            *window = (now, 0);
        }
        window.1 = window.1.saturating_add(1);
        if window.1 <= limit {
            return None;
        }
        let remaining = WINDOW.saturating_sub(now.duration_since(window.0));
        Some(remaining.as_secs().max(1))
    }

    pub(crate) fn forget(&mut self) {
        self.windows.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_over_the_limit_get_a_retry_after() {
        // GIVEN a limit of 3 per minute
        let mut rates = TokenRates::default();
        // WHEN 4 requests arrive on one token and 1 on another
        let admitted: Vec<_> = (0..4).map(|_| rates.admit("a", 3)).collect();
        let other = rates.admit("b", 3);
        // THEN only the 4th is refused, with a retry delay within the minute
        assert!(admitted[..3].iter().all(Option::is_none));
        assert!(admitted[3].is_some_and(|secs| (1..=60).contains(&secs)));
        assert!(other.is_none());
    }
}
