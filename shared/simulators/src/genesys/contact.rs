//! The ExternalContact model: what clients may write, how it is validated and normalised,
//! and the contact book of one simulated org.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::entity_id::EntityIds;
use super::external_source::ExternalSources;
use super::phone;
use crate::profile::NoOpWrite;

/// ExternalContact fields a client may write.
const WRITABLE_FIELDS: &[&str] = &[
    "division",
    "firstName",
    "middleName",
    "lastName",
    "salutation",
    "title",
    "workPhone",
    "cellPhone",
    "homePhone",
    "otherPhone",
    "workEmail",
    "personalEmail",
    "otherEmail",
    "address",
    "twitterId",
    "lineId",
    "whatsAppId",
    "facebookId",
    "instagramId",
    "appleOpaqueIds",
    "externalIds",
    "externalOrganization",
    "surveyOptOut",
    "externalSystemUrl",
    "schema",
    "customFields",
];

/// Read-only ExternalContact fields: accepted in bodies and ignored.
const SERVER_FIELDS: &[&str] = &[
    "id",
    "modifyDate",
    "createDate",
    "selfUri",
    "type",
    "identifiers",
    "externalDataSources",
    "canonicalContact",
    "mergeSet",
    "mergedFrom",
    "mergedTo",
    "mergeOperation",
];

/// Server fields a full replace keeps.
const KEPT_ON_REPLACE: &[&str] = &["id", "createDate", "selfUri", "type"];

const PHONE_FIELDS: &[&str] = &["workPhone", "cellPhone", "homePhone", "otherPhone"];
const EMAIL_FIELDS: &[&str] = &["workEmail", "personalEmail", "otherEmail"];
const NAME_FIELDS: &[&str] = &["firstName", "middleName", "lastName", "salutation", "title"];
const ADDRESS_FIELDS: &[(&str, usize)] = &[
    ("address1", 200),
    ("address2", 200),
    ("city", 100),
    ("state", 50),
    ("postalCode", 25),
    ("countryCode", 25),
];
const MAX_EXTERNAL_IDS: usize = 10;

/// One rejected field of a contact body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldProblem {
    pub(crate) field_name: String,
    pub(crate) value: Option<String>,
    pub(crate) message: String,
}

impl FieldProblem {
    fn new(field_name: &str, value: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            field_name: field_name.to_string(),
            value: value.map(str::to_string),
            message: message.into(),
        }
    }

    /// As a BulkErrorDetail `{fieldName, value, message}`.
    pub(crate) fn bulk_detail(&self) -> Value {
        let mut detail = json!({ "fieldName": self.field_name, "message": self.message });
        if let Some(value) = &self.value {
            detail["value"] = Value::String(value.clone());
        }
        detail
    }

    /// As an ErrorBody Detail `{errorCode, fieldName}`.
    pub(crate) fn error_detail(&self) -> Value {
        json!({ "errorCode": "invalid.value", "fieldName": self.field_name })
    }
}

/// A short summary of problems for an error message (field names only, no values).
pub(crate) fn summary(problems: &[FieldProblem]) -> String {
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    format!("Validation failed: {}", messages.join("; "))
}

/// Render a Genesys date-time: `2024-01-01T00:00:00.000Z`.
pub(crate) fn format_datetime(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub(crate) fn self_uri(id: &str) -> String {
    format!("/api/v2/externalcontacts/contacts/{id}")
}

fn is_valid_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !local.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Validate and normalise the writable fields of a contact body (absent and null fields are
/// left out). Read-only fields are ignored; unknown fields are rejected.
pub(crate) fn prepare(
    body: &Map<String, Value>,
    sources: &ExternalSources,
) -> Result<Map<String, Value>, Vec<FieldProblem>> {
    let mut prepared = Map::new();
    let mut problems = Vec::new();
    for (key, value) in body {
        if SERVER_FIELDS.contains(&key.as_str()) || value.is_null() {
            continue;
        }
        if !WRITABLE_FIELDS.contains(&key.as_str()) {
            problems.push(FieldProblem::new(
                key,
                None,
                format!("Unrecognized field '{key}'"),
            ));
            continue;
        }
        match prepare_field(key, value, sources) {
            Ok(value) => {
                prepared.insert(key.clone(), value);
            }
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(prepared)
    } else {
        Err(problems)
    }
}

fn prepare_field(
    key: &str,
    value: &Value,
    sources: &ExternalSources,
) -> Result<Value, FieldProblem> {
    let key_str = key;
    if PHONE_FIELDS.contains(&key_str) {
        return phone::normalize(key, value)
            .map_err(|message| FieldProblem::new(key, None, message));
    }
    if NAME_FIELDS.contains(&key_str)
        || EMAIL_FIELDS.contains(&key_str)
        || key == "externalSystemUrl"
    {
        let Value::String(text) = value else {
            return Err(FieldProblem::new(
                key,
                None,
                format!("{key} must be a string"),
            ));
        };
        let text = text.trim();
        let max = if EMAIL_FIELDS.contains(&key_str) {
            256
        } else {
            1000
        };
        if text.chars().count() > max {
            return Err(FieldProblem::new(
                key,
                None,
                format!("{key} must be at most {max} characters"),
            ));
        }
        if EMAIL_FIELDS.contains(&key_str) && !is_valid_email(text) {
            return Err(FieldProblem::new(
                key,
                Some(text),
                format!("{key} must be a valid email address"),
            ));
        }
        return Ok(Value::String(text.to_string()));
    }
    match key {
        "address" => prepare_address(value),
        "externalIds" => prepare_external_ids(value, sources),
        "surveyOptOut" => match value {
            Value::Bool(_) => Ok(value.clone()),
            _ => Err(FieldProblem::new(
                key,
                None,
                "surveyOptOut must be a boolean",
            )),
        },
        _ => Ok(value.clone()),
    }
}

fn prepare_address(value: &Value) -> Result<Value, FieldProblem> {
    let Value::Object(input) = value else {
        return Err(FieldProblem::new(
            "address",
            None,
            "address must be a ContactAddress object",
        ));
    };
    let mut address = Map::new();
    for (key, value) in input {
        let Some((_, max)) = ADDRESS_FIELDS.iter().find(|(name, _)| name == key) else {
            return Err(FieldProblem::new(
                "address",
                None,
                format!("Unrecognized field 'address.{key}'"),
            ));
        };
        match value {
            Value::Null => {}
            Value::String(text) if text.trim().chars().count() <= *max => {
                address.insert(key.clone(), Value::String(text.trim().to_string()));
            }
            Value::String(_) => {
                return Err(FieldProblem::new(
                    "address",
                    None,
                    format!("address.{key} must be at most {max} characters"),
                ));
            }
            _ => {
                return Err(FieldProblem::new(
                    "address",
                    None,
                    format!("address.{key} must be a string"),
                ));
            }
        }
    }
    Ok(Value::Object(address))
}

fn prepare_external_ids(value: &Value, sources: &ExternalSources) -> Result<Value, FieldProblem> {
    let field = "externalIds";
    let Value::Array(entries) = value else {
        return Err(FieldProblem::new(
            field,
            None,
            "externalIds must be an array",
        ));
    };
    if entries.len() > MAX_EXTERNAL_IDS {
        return Err(FieldProblem::new(
            field,
            None,
            format!("externalIds may hold at most {MAX_EXTERNAL_IDS} ids"),
        ));
    }
    let mut prepared = Vec::with_capacity(entries.len());
    for entry in entries {
        let source_id = entry
            .get("externalSource")
            .and_then(|source| source.get("id"))
            .and_then(Value::as_str);
        let Some(source_id) = source_id else {
            return Err(FieldProblem::new(
                field,
                None,
                "externalIds[].externalSource.id is required",
            ));
        };
        let Some(source) = sources.get(source_id) else {
            return Err(FieldProblem::new(
                field,
                Some(source_id),
                "externalIds[].externalSource does not exist",
            ));
        };
        let Some(Value::String(id_value)) = entry.get("value") else {
            return Err(FieldProblem::new(
                field,
                None,
                "externalIds[].value is required",
            ));
        };
        let id_value = id_value.trim();
        if id_value.is_empty() || id_value.chars().count() > 255 {
            return Err(FieldProblem::new(
                field,
                None,
                "externalIds[].value must be 1 to 255 characters",
            ));
        }
        prepared.push(json!({
            "externalSource": {
                "id": source_id,
                "selfUri": source.get("selfUri").cloned().unwrap_or(Value::Null),
            },
            "value": id_value,
        }));
    }
    Ok(Value::Array(prepared))
}

/// Whether clients may write this top-level field.
/// Sets `modifyDate` of the `updated` version of `existing`: `stamp`, unless the write
/// changed nothing and `no_op` keeps the stamp.
fn restamp(
    existing: &Map<String, Value>,
    updated: &mut Map<String, Value>,
    stamp: DateTime<Utc>,
    no_op: NoOpWrite,
) {
    let unchanged = || {
        let mut kept = updated.clone();
        match existing.get("modifyDate") {
            Some(date) => kept.insert("modifyDate".into(), date.clone()),
            None => kept.remove("modifyDate"),
        };
        &kept == existing
    };
    let keep = no_op == NoOpWrite::KeepsStamp && unchanged();
    let date = match (keep, existing.get("modifyDate")) {
        (true, Some(date)) => date.clone(),
        _ => Value::String(format_datetime(stamp)),
    };
    updated.insert("modifyDate".into(), date);
}

pub(crate) fn is_writable(field: &str) -> bool {
    WRITABLE_FIELDS.contains(&field)
}

/// The values of a prepared contact's `externalIds`.
pub(crate) fn external_id_values(contact: &Map<String, Value>) -> Vec<&str> {
    contact
        .get("externalIds")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|entry| entry.get("value").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default()
}

/// The contacts of one org, with their scan order `(createDate, id)`, and the contacts merged
/// away (out of the scan, still readable by id with `mergedTo`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ContactBook {
    contacts: BTreeMap<String, Map<String, Value>>,
    /// `(createDate, id)` of every live contact: the scan order (rebuilt on restore).
    #[serde(skip)]
    order: BTreeSet<(String, String)>,
    merged: BTreeMap<String, Map<String, Value>>,
    ids: EntityIds,
}

impl Default for ContactBook {
    fn default() -> Self {
        Self {
            contacts: BTreeMap::new(),
            order: BTreeSet::new(),
            merged: BTreeMap::new(),
            ids: EntityIds::seeded(0x6e6e_7973_6573_0001),
        }
    }
}

impl ContactBook {
    /// Rebuilds the scan order after a restore.
    pub(crate) fn reindex(&mut self) {
        self.order = self
            .contacts
            .iter()
            .map(|(id, contact)| {
                let created = contact
                    .get("createDate")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                (created, id.clone())
            })
            .collect();
    }

    /// A live contact (the scan's view; writes go here).
    pub(crate) fn get(&self, id: &str) -> Option<&Map<String, Value>> {
        self.contacts.get(id)
    }

    /// What a read by id returns: a live contact, or a merged-away one carrying `mergedTo`.
    pub(crate) fn read(&self, id: &str) -> Option<&Map<String, Value>> {
        self.contacts.get(id).or_else(|| self.merged.get(id))
    }

    /// Merge `loser` into `survivor`: the loser leaves the scan and reads of its id return it
    /// with `mergedTo: {id, selfUri}`; the survivor's `modifyDate` moves. False when either is
    /// not a live contact or they are the same.
    pub(crate) fn merge(&mut self, loser: &str, survivor: &str, stamp: DateTime<Utc>) -> bool {
        if loser == survivor || !self.contacts.contains_key(survivor) {
            return false;
        }
        let Some(mut gone) = self.contacts.get(loser).cloned() else {
            return false;
        };
        self.remove(loser);
        gone.insert(
            "mergedTo".into(),
            serde_json::json!({ "id": survivor, "selfUri": self_uri(survivor) }),
        );
        self.merged.insert(loser.to_string(), gone);
        if let Some(kept) = self.contacts.get_mut(survivor) {
            kept.insert("modifyDate".into(), Value::String(format_datetime(stamp)));
            // The survivor lists what was merged into it (`mergedFrom`, read-only).
            let from = kept
                .entry("mergedFrom")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = from {
                list.push(serde_json::json!({ "id": loser, "selfUri": self_uri(loser) }));
            }
        }
        true
    }

    /// Store a new contact from prepared fields, filling the server fields.
    pub(crate) fn create(
        &mut self,
        fields: Map<String, Value>,
        stamp: DateTime<Utc>,
    ) -> Map<String, Value> {
        let id = self.ids.next_id();
        let stamp = format_datetime(stamp);
        let mut contact = fields;
        contact.insert("id".into(), Value::String(id.clone()));
        contact.insert("createDate".into(), Value::String(stamp.clone()));
        contact.insert("modifyDate".into(), Value::String(stamp.clone()));
        contact.insert("selfUri".into(), Value::String(self_uri(&id)));
        contact.insert("type".into(), Value::String("Curated".into()));
        self.order.insert((stamp, id.clone()));
        self.contacts.insert(id, contact.clone());
        contact
    }

    /// Replace every writable field of a contact, keeping its server fields.
    pub(crate) fn replace(
        &mut self,
        id: &str,
        fields: Map<String, Value>,
        stamp: DateTime<Utc>,
        no_op: NoOpWrite,
    ) -> Option<Map<String, Value>> {
        let existing = self.contacts.get_mut(id)?;
        let mut contact = fields;
        for key in KEPT_ON_REPLACE {
            if let Some(value) = existing.get(*key) {
                contact.insert((*key).to_string(), value.clone());
            }
        }
        restamp(existing, &mut contact, stamp, no_op);
        *existing = contact.clone();
        Some(contact)
    }

    /// Apply a partial change: prepared keys replace, `removed` keys are dropped.
    pub(crate) fn patch(
        &mut self,
        id: &str,
        fields: Map<String, Value>,
        removed: &[String],
        stamp: DateTime<Utc>,
        no_op: NoOpWrite,
    ) -> Option<Map<String, Value>> {
        let existing = self.contacts.get_mut(id)?;
        let mut contact = existing.clone();
        for key in removed {
            contact.remove(key);
        }
        contact.extend(fields);
        restamp(existing, &mut contact, stamp, no_op);
        *existing = contact.clone();
        Some(contact)
    }

    pub(crate) fn remove(&mut self, id: &str) -> bool {
        let Some(contact) = self.contacts.remove(id) else {
            return false;
        };
        let created = contact
            .get("createDate")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.order.remove(&(created, id.to_string()));
        true
    }

    /// Contacts in scan order, starting after `after` (a `(createDate, id)` key).
    pub(crate) fn in_order_after<'a>(
        &'a self,
        after: Option<&'a (String, String)>,
    ) -> impl Iterator<Item = (&'a (String, String), &'a Map<String, Value>)> + 'a {
        let range = match after {
            Some(key) => self.order.range((
                std::ops::Bound::Excluded(key.clone()),
                std::ops::Bound::Unbounded,
            )),
            None => self.order.range::<(String, String), _>(..),
        };
        range.filter_map(|key| self.contacts.get(&key.1).map(|contact| (key, contact)))
    }

    /// The first live contact in scan order (the oldest) whose `externalIds` hold `value`
    /// under the external source `source`.
    pub(crate) fn with_external_id(
        &self,
        source: &str,
        value: &str,
    ) -> Option<&Map<String, Value>> {
        self.in_order_after(None)
            .map(|(_, contact)| contact)
            .find(|contact| {
                contact
                    .get("externalIds")
                    .and_then(Value::as_array)
                    .is_some_and(|entries| {
                        entries.iter().any(|entry| {
                            entry.pointer("/externalSource/id").and_then(Value::as_str)
                                == Some(source)
                                && entry.get("value").and_then(Value::as_str) == Some(value)
                        })
                    })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn prepare_rejects_invented_field_names_and_bad_emails() {
        // GIVEN bodies using invented names and a bad email
        let sources = ExternalSources::default();
        // WHEN preparing them
        let invented = prepare(&object(json!({"email": "a@example.com"})), &sources);
        let bad_email = prepare(&object(json!({"workEmail": "nope"})), &sources);
        let unknown_source = prepare(
            &object(json!({"externalIds": [{"externalSource": {"id": "x"}, "value": "1"}]})),
            &sources,
        );
        // THEN each is rejected with the field named
        assert_eq!(
            invented.map_err(|p| p[0].field_name.clone()),
            Err("email".into())
        );
        assert_eq!(
            bad_email.map_err(|p| p[0].field_name.clone()),
            Err("workEmail".into())
        );
        assert_eq!(
            unknown_source.map_err(|p| p[0].field_name.clone()),
            Err("externalIds".into())
        );
    }

    #[test]
    fn prepare_trims_and_ignores_read_only_fields() {
        // GIVEN a body with whitespace and server fields
        let sources = ExternalSources::default();
        let body =
            object(json!({"firstName": "  Ana ", "id": "x", "modifyDate": "y", "lastName": null}));
        // WHEN preparing it
        let prepared = prepare(&body, &sources).expect("valid body");
        // THEN names are trimmed and server/null fields are left out
        assert_eq!(prepared.get("firstName"), Some(&json!("Ana")));
        assert!(prepared.get("id").is_none() && prepared.get("lastName").is_none());
    }
}
