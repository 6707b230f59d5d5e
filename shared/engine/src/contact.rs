//! The canonical contact: what both systems' records look like once mapped and normalised.

use crate::side::Side;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Canonical field values, normalised. An absent key and an empty value are the same thing:
/// [`CanonicalContact::set`] drops empty values so that comparisons never see `""` vs missing.
///
/// `Debug` prints field names only: values are personal data and must never reach a log.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CanonicalContact {
    fields: BTreeMap<String, String>,
}

impl CanonicalContact {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a canonical field, `None` when empty.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// Sets a field; `None` or an empty string removes it.
    pub fn set(&mut self, field: impl Into<String>, value: Option<String>) {
        let field = field.into();
        match value {
            Some(v) if !v.is_empty() => {
                self.fields.insert(field, v);
            }
            _ => {
                self.fields.remove(&field);
            }
        }
    }

    /// Builder form of [`CanonicalContact::set`].
    pub fn with(mut self, field: &str, value: &str) -> Self {
        self.set(field, Some(value.to_string()));
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl fmt::Debug for CanonicalContact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanonicalContact")
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A record as read from one system and mapped to canonical form.
#[derive(Clone)]
pub struct SideRecord {
    pub side: Side,
    /// Salesforce 18-character Id or Genesys contact UUID.
    pub id: String,
    /// The system's own modification stamp (Salesforce `SystemModstamp`, Genesys `modifyDate`).
    pub modified_at: DateTime<Utc>,
    /// Mapped, normalised values.
    pub fields: CanonicalContact,
    /// Fields whose value has no entry in their value map (rule `skip` / `review`): the merge
    /// leaves them alone for this pair.
    pub unmapped: Vec<String>,
    /// Genesys: the contact this one was merged into (`mergedTo`), when it was merged away.
    pub merged_into: Option<String>,
    /// Genesys: the contacts merged into this one (`mergedFrom`).
    pub merged_from: Vec<String>,
    /// For a Genesys record: the Salesforce Id it carries in `externalIds` (source "Salesforce").
    pub link: Option<String>,
    /// Every normalised email on the record (Genesys: all email slots), for matching.
    pub match_emails: Vec<String>,
    /// Every E.164 phone on the record, for matching.
    pub match_phones: Vec<String>,
    /// Genesys: the body as the API returned it (updates are full replaces built from it).
    /// Salesforce: `Null` (updates carry only the changed fields).
    pub raw: serde_json::Value,
}

impl fmt::Debug for SideRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SideRecord")
            .field("side", &self.side)
            .field("id", &self.id)
            .field("modified_at", &self.modified_at)
            .field("fields", &self.fields)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}
