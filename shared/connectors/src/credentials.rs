//! Secrets that must never reach a log line, an error message or `Debug` output.

use serde::Deserialize;
use std::fmt;

/// A credential (client secret, access token). `Debug` and `Display` print `***`; the value is
/// only reachable through [`Secret::expose`], which call sites use to build a request.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for putting into a request. Never format it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        // GIVEN a secret
        let secret = Secret::new("hunter2");
        // WHEN it is formatted in every way a log line could
        let shown = format!("{secret} {secret:?} {secret:#?} {:?}", Some(&secret));
        // THEN the value never appears, but it is still usable for a request
        assert!(!shown.contains("hunter2"));
        assert_eq!(shown, "*** *** *** Some(***)");
        assert_eq!(secret.expose(), "hunter2");
    }
}
