//! Value maps for picklists: which Salesforce value stands for which Genesys value.
//!
//! The canonical value of a mapped field is the Salesforce value. A value that has no entry
//! (on either side) is handled by the field's explicit rule: `skip` leaves the field alone for
//! that pair, `default` reads it as the configured default, `review` leaves it alone and opens a
//! review item.

use serde::{Deserialize, Serialize};

/// What happens to a value with no entry in the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmapped {
    /// The field is not synced for this pair until the value is one the map knows.
    Skip,
    /// The value reads as the map's default.
    Default,
    /// Like `skip`, and a review item is opened.
    #[default]
    Review,
    /// Country and subdivision fields only: a value that resolves to none is synced as typed
    /// (their default).
    Copy,
}

/// A validated, two-way value map.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueMap {
    /// `(salesforce, genesys)` entries; each side's values are unique.
    entries: Vec<(String, String)>,
    pub unmapped: Unmapped,
    /// The canonical (Salesforce) value used by `Unmapped::Default`.
    default: Option<String>,
}

/// How one raw value reads through the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// The canonical value.
    Value(String),
    /// No entry, and the rule is `skip` or `review`.
    Unmapped,
}

impl ValueMap {
    /// Validates entries and rule; the error says what is wrong.
    pub fn new(
        entries: Vec<(String, String)>,
        unmapped: Unmapped,
        default: Option<String>,
    ) -> Result<ValueMap, String> {
        if entries.is_empty() {
            return Err("`values` is empty".into());
        }
        for (i, (sf, gz)) in entries.iter().enumerate() {
            if sf.trim().is_empty() || gz.trim().is_empty() {
                return Err(
                    "`values` entries need a non-empty salesforce and genesys value".into(),
                );
            }
            if entries[..i].iter().any(|(s, _)| s == sf) {
                return Err(format!(
                    "`values`: salesforce value `{sf}` is listed twice (the map must work both ways)"
                ));
            }
            if entries[..i].iter().any(|(_, g)| g == gz) {
                return Err(format!(
                    "`values`: genesys value `{gz}` is listed twice (the map must work both ways)"
                ));
            }
        }
        match (unmapped, &default) {
            (Unmapped::Default, None) => {
                return Err("`unmapped: default` needs a `default` (a salesforce value)".into());
            }
            (Unmapped::Default, Some(d)) if !entries.iter().any(|(s, _)| s == d) => {
                return Err(format!(
                    "`default` `{d}` is not one of the salesforce values in `values`"
                ));
            }
            (Unmapped::Skip | Unmapped::Review, Some(_)) => {
                return Err("`default` is only used with `unmapped: default`".into());
            }
            (Unmapped::Copy, _) => {
                return Err(
                    "`unmapped: copy` applies to country and subdivision fields, not to `values` maps"
                        .into(),
                );
            }
            _ => {}
        }
        Ok(ValueMap {
            entries,
            unmapped,
            default,
        })
    }

    fn fallback(&self) -> Mapped {
        match (&self.unmapped, &self.default) {
            (Unmapped::Default, Some(d)) => Mapped::Value(d.clone()),
            _ => Mapped::Unmapped,
        }
    }

    /// Reads a (trimmed, non-empty) Salesforce value.
    pub fn from_salesforce(&self, value: &str) -> Mapped {
        if self.entries.iter().any(|(sf, _)| sf == value) {
            Mapped::Value(value.to_string())
        } else {
            self.fallback()
        }
    }

    /// Reads a (trimmed, non-empty) Genesys value.
    pub fn from_genesys(&self, value: &str) -> Mapped {
        match self.entries.iter().find(|(_, gz)| gz == value) {
            Some((sf, _)) => Mapped::Value(sf.clone()),
            None => self.fallback(),
        }
    }

    /// The Genesys value for a canonical value.
    pub fn to_genesys(&self, canonical: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(sf, _)| sf == canonical)
            .map(|(_, gz)| gz.as_str())
    }

    /// True when `canonical` is a value the map knows (for choices made by a person).
    pub fn knows(&self, canonical: &str) -> bool {
        self.to_genesys(canonical).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<(String, String)> {
        vec![
            ("United States".into(), "US".into()),
            ("Ireland".into(), "IE".into()),
        ]
    }

    #[test]
    fn values_translate_both_ways() {
        // GIVEN a country map
        let m = ValueMap::new(entries(), Unmapped::Review, None).unwrap();
        // WHEN values are read from either side
        // THEN the canonical value is the Salesforce one, and writes to Genesys translate back
        assert_eq!(m.from_genesys("IE"), Mapped::Value("Ireland".into()));
        assert_eq!(
            m.from_salesforce("Ireland"),
            Mapped::Value("Ireland".into())
        );
        assert_eq!(m.to_genesys("United States"), Some("US"));
        assert_eq!(m.from_genesys("FR"), Mapped::Unmapped);
        assert_eq!(m.from_salesforce("France"), Mapped::Unmapped);
    }

    #[test]
    fn the_default_rule_reads_unknown_values_as_the_default() {
        let m = ValueMap::new(entries(), Unmapped::Default, Some("Ireland".into())).unwrap();
        assert_eq!(m.from_genesys("FR"), Mapped::Value("Ireland".into()));
        assert_eq!(m.from_salesforce("France"), Mapped::Value("Ireland".into()));
    }

    #[test]
    fn bad_maps_say_what_is_wrong() {
        // GIVEN maps with one mistake each WHEN validated THEN the error names it
        let mut twice_gz = entries();
        twice_gz.push(("Eire".into(), "IE".into()));
        let cases = [
            ValueMap::new(vec![], Unmapped::Skip, None),
            ValueMap::new(twice_gz, Unmapped::Skip, None),
            ValueMap::new(entries(), Unmapped::Default, None),
            ValueMap::new(entries(), Unmapped::Default, Some("France".into())),
            ValueMap::new(entries(), Unmapped::Skip, Some("Ireland".into())),
        ];
        let expected = [
            "is empty",
            "genesys value `IE` is listed twice",
            "needs a `default`",
            "not one of the salesforce values",
            "only used with `unmapped: default`",
        ];
        for (case, expected) in cases.into_iter().zip(expected) {
            let e = case.unwrap_err();
            assert!(e.contains(expected), "{e}");
        }
    }
}
