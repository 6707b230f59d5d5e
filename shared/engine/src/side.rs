//! The two systems a pair of contacts lives in.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One of the two systems kept in sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Salesforce,
    Genesys,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Salesforce, Side::Genesys];

    /// The other system.
    pub fn other(self) -> Side {
        match self {
            Side::Salesforce => Side::Genesys,
            Side::Genesys => Side::Salesforce,
        }
    }

    /// Short stable name used in keys and summaries (`salesforce`, `genesys`).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Salesforce => "salesforce",
            Side::Genesys => "genesys",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
