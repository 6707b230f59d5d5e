//! The canonical contact: what both systems' records look like once mapped and normalised.

use crate::side::Side;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Canonical field values, normalised. An absent key and an empty value are the same thing:
/// [`CanonicalContact::set`] drops empty values so that comparisons never see `""` vs missing.
///
/// A contact has a dozen fields or so, and its keys are the mapping's own field names
/// (`Arc<str>`, shared): entries are kept in a small vector in insertion order, and a lookup by
/// a mapping name first compares pointers, then text. Equality ignores order; serialisation
/// writes a map sorted by field name (the stored base snapshot's format).
///
/// `Debug` prints field names only: values are personal data and must never reach a log.
#[derive(Clone, Default)]
pub struct CanonicalContact {
    fields: Vec<(Arc<str>, String)>,
}

impl CanonicalContact {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty contact with room for `fields` fields.
    pub(crate) fn with_capacity(fields: usize) -> Self {
        CanonicalContact {
            fields: Vec::with_capacity(fields),
        }
    }

    /// Adds a field the contact does not hold yet (the caller knows: each mapping field is
    /// visited once); empty values are dropped as in [`CanonicalContact::set`].
    pub(crate) fn add_new(&mut self, field: Arc<str>, value: Option<String>) {
        debug_assert!(self.position(&field).is_none(), "field added twice");
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.fields.push((field, v));
        }
    }

    fn position(&self, field: &str) -> Option<usize> {
        let ptr = field.as_ptr();
        self.fields
            .iter()
            .position(|(k, _)| std::ptr::eq(k.as_ptr(), ptr) && k.len() == field.len())
            .or_else(|| self.fields.iter().position(|(k, _)| &**k == field))
    }

    /// The value of a canonical field, `None` when empty.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.position(field).map(|i| self.fields[i].1.as_str())
    }

    /// Sets a field; `None` or an empty string removes it.
    pub fn set(&mut self, field: impl Into<Arc<str>> + AsRef<str>, value: Option<String>) {
        let at = self.position(field.as_ref());
        match (value, at) {
            (Some(v), Some(i)) if !v.is_empty() => self.fields[i].1 = v,
            (Some(v), None) if !v.is_empty() => self.fields.push((field.into(), v)),
            (_, Some(i)) => {
                self.fields.swap_remove(i);
            }
            (_, None) => {}
        }
    }

    /// Builder form of [`CanonicalContact::set`].
    pub fn with(mut self, field: &str, value: &str) -> Self {
        self.set(field, Some(value.to_string()));
        self
    }

    /// Fields and values, sorted by field name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut sorted: Vec<(&str, &str)> = self
            .fields
            .iter()
            .map(|(k, v)| (&**k, v.as_str()))
            .collect();
        sorted.sort_unstable_by_key(|(k, _)| *k);
        sorted.into_iter()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl PartialEq for CanonicalContact {
    fn eq(&self, other: &Self) -> bool {
        self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .all(|(k, v)| other.get(k) == Some(v.as_str()))
    }
}

impl Eq for CanonicalContact {}

impl Serialize for CanonicalContact {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for CanonicalContact {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(deserializer)?;
        let mut contact = CanonicalContact {
            fields: Vec::with_capacity(map.len()),
        };
        for (k, v) in map {
            contact.set(k, Some(v));
        }
        Ok(contact)
    }
}

impl fmt::Debug for CanonicalContact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CanonicalContact")
            .field("fields", &self.iter().map(|(k, _)| k).collect::<Vec<_>>())
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
