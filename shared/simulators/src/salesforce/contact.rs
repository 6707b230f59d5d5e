//! The simulated Contact sObject: its fields, write validation and record store.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{address_picklists, record_id};

/// Standard Contact fields known to the simulator, in describe order.
pub(crate) const STANDARD_FIELDS: &[&str] = &[
    "Id",
    "IsDeleted",
    "MasterRecordId",
    "AccountId",
    "LastName",
    "FirstName",
    "Title",
    "Email",
    "Phone",
    "MobilePhone",
    "MailingStreet",
    "MailingCity",
    "MailingState",
    "MailingPostalCode",
    "MailingCountry",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
];

/// Fields the API never lets a client write.
const READ_ONLY_FIELDS: &[&str] = &[
    "Id",
    "IsDeleted",
    "MasterRecordId",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
];

/// The type of a Contact field, as far as SOQL and validation care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Id,
    Text,
    DateTime,
    Boolean,
    /// A `*__c` field: untyped in the simulator.
    Custom,
}

/// A resolved field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) kind: FieldType,
}

/// A per-record failure, rendered as `{statusCode, message, fields}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordError {
    pub(crate) status_code: &'static str,
    pub(crate) message: String,
    pub(crate) fields: Vec<String>,
}

impl RecordError {
    pub(crate) fn new(status_code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status_code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    fn on_field(status_code: &'static str, message: impl Into<String>, field: &str) -> Self {
        Self {
            status_code,
            message: message.into(),
            fields: vec![field.to_string()],
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        serde_json::json!({
            "statusCode": self.status_code,
            "message": self.message,
            "fields": self.fields,
        })
    }
}

/// Whether a write creates a record or updates one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    Create,
    Update,
}

fn field_type(name: &str) -> FieldType {
    match name {
        "Id" | "MasterRecordId" | "AccountId" => FieldType::Id,
        "IsDeleted" => FieldType::Boolean,
        "CreatedDate" | "LastModifiedDate" | "SystemModstamp" => FieldType::DateTime,
        _ => FieldType::Text,
    }
}

pub(crate) fn max_length(name: &str) -> Option<usize> {
    match name {
        "FirstName" | "MailingCity" => Some(40),
        "LastName" | "Email" | "MailingState" | "MailingCountry" => Some(80),
        "MailingStateCode" | "MailingCountryCode" => Some(10),
        "Phone" | "MobilePhone" => Some(40),
        "Title" => Some(128),
        "MailingStreet" => Some(255),
        "MailingPostalCode" => Some(20),
        _ => None,
    }
}

pub(crate) fn field_label(name: &str) -> &str {
    match name {
        "FirstName" => "First Name",
        "LastName" => "Last Name",
        "MobilePhone" => "Mobile Phone",
        "MailingStreet" => "Mailing Street",
        "MailingCity" => "Mailing City",
        "MailingState" => "Mailing State/Province",
        "MailingPostalCode" => "Mailing Zip/Postal Code",
        "MailingCountry" => "Mailing Country",
        "MailingStateCode" => "Mailing State/Province Code",
        "MailingCountryCode" => "Mailing Country Code",
        other => other,
    }
}

/// Render a datetime the way the REST API does: `2024-01-01T00:00:00.000+0000`.
pub(crate) fn format_datetime(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Parse a datetime as the API renders it or as SOQL / ISO-8601 writes it.
pub(crate) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// A plausible email address, as the Email field type accepts it.
pub(crate) fn is_valid_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let allowed_local = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c);
    let allowed_domain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    !local.is_empty()
        && local.chars().all(allowed_local)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && domain.contains('.')
        && domain.chars().all(allowed_domain)
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with(['.', '-'])
        && !domain.contains("..")
}

/// All Contact records of one simulated org, soft-deleted ones included.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct ContactStore {
    records: BTreeMap<String, Map<String, Value>>,
    /// Custom field names seen so far, lower-case name to the spelling first used.
    custom_fields: BTreeMap<String, String>,
    sequence: u64,
    /// Fields the integration user may read but not write (field-level security).
    #[serde(default)]
    read_only: BTreeSet<String>,
    /// State and Country picklists are on: `MailingCountryCode` / `MailingStateCode` exist.
    #[serde(default)]
    state_country_picklists: bool,
}

/// One Contact field as `describe` reports it.
pub(crate) struct FieldInfo {
    pub(crate) name: String,
    pub(crate) kind: FieldType,
    pub(crate) writable: bool,
}

impl ContactStore {
    /// Turns State and Country picklists on or off (see [`address_picklists`]).
    pub(crate) fn set_state_country_picklists(&mut self, on: bool) {
        self.state_country_picklists = on;
    }

    /// The standard fields of this org: [`STANDARD_FIELDS`], and the address code fields when
    /// State and Country picklists are on.
    fn standard_fields(&self) -> impl Iterator<Item = &'static str> {
        let codes: &[&'static str] = if self.state_country_picklists {
            &address_picklists::CODE_FIELDS
        } else {
            &[]
        };
        STANDARD_FIELDS.iter().copied().chain(codes.iter().copied())
    }

    /// Resolve a field name case-insensitively, as the API does.
    pub(crate) fn resolve_field(&self, name: &str) -> Option<Field> {
        if let Some(standard) = self
            .standard_fields()
            .find(|known| known.eq_ignore_ascii_case(name))
        {
            return Some(Field {
                name: (*standard).to_string(),
                kind: field_type(standard),
            });
        }
        let is_custom = name.len() > 3
            && name.to_ascii_lowercase().ends_with("__c")
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && name.starts_with(|c: char| c.is_ascii_alphabetic());
        if !is_custom {
            return None;
        }
        let canonical = self
            .custom_fields
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| name.to_string());
        Some(Field {
            name: canonical,
            kind: FieldType::Custom,
        })
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Map<String, Value>> {
        self.records.get(id)
    }

    /// Every field of the Contact object: the standard ones in describe order, then the custom
    /// fields seen so far.
    pub(crate) fn fields(&self) -> Vec<FieldInfo> {
        let standard = self
            .standard_fields()
            .map(|name| (name.to_string(), field_type(name)));
        let custom = self
            .custom_fields
            .values()
            .map(|name| (name.clone(), FieldType::Custom));
        standard
            .chain(custom)
            .map(|(name, kind)| FieldInfo {
                writable: !READ_ONLY_FIELDS.contains(&name.as_str())
                    && !self.read_only.contains(&name),
                name,
                kind,
            })
            .collect()
    }

    /// Makes a field read-only for the integration user (describe says so, writes are refused).
    pub(crate) fn set_read_only(&mut self, name: &str) {
        if let Some(field) = self.resolve_field(name) {
            self.read_only.insert(field.name);
        }
    }

    /// Every record, ordered by Id.
    pub(crate) fn records(&self) -> impl Iterator<Item = &Map<String, Value>> {
        self.records.values()
    }

    pub(crate) fn is_live(&self, id: &str) -> bool {
        self.records
            .get(id)
            .is_some_and(|record| record.get("IsDeleted") != Some(&Value::Bool(true)))
    }

    /// Check the fields of a create or update and return them under their canonical names.
    pub(crate) fn validate(
        &self,
        input: &Map<String, Value>,
        mode: WriteMode,
    ) -> Result<Vec<(String, Value)>, RecordError> {
        let mut fields = Vec::new();
        for (key, value) in input {
            if key == "attributes" {
                continue;
            }
            if key.eq_ignore_ascii_case("id") {
                if mode == WriteMode::Create {
                    return Err(RecordError::on_field(
                        "INVALID_FIELD",
                        "cannot specify Id in an insert call",
                        "Id",
                    ));
                }
                continue;
            }
            let Some(field) = self.resolve_field(key) else {
                return Err(RecordError::on_field(
                    "INVALID_FIELD",
                    format!("No such column '{key}' on sobject of type Contact"),
                    key,
                ));
            };
            if READ_ONLY_FIELDS.contains(&field.name.as_str())
                || self.read_only.contains(&field.name)
            {
                return Err(RecordError::on_field(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    format!(
                        "Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
                        field.name
                    ),
                    &field.name,
                ));
            }
            let value = check_value(&field, value)?;
            fields.push((field.name, value));
        }
        if self.state_country_picklists {
            let current = input
                .get("id")
                .or_else(|| input.get("Id"))
                .and_then(Value::as_str)
                .and_then(record_id::to_18)
                .and_then(|id| self.records.get(&id))
                .filter(|_| mode == WriteMode::Update);
            address_picklists::apply(&mut fields, current)?;
        }
        let last_name = fields.iter().find(|(name, _)| name == "LastName");
        let missing_last_name = match (mode, last_name) {
            (WriteMode::Create, None) => true,
            (_, Some((_, value))) => value.is_null(),
            (WriteMode::Update, None) => false,
        };
        if missing_last_name {
            return Err(RecordError::on_field(
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [LastName]",
                "LastName",
            ));
        }
        Ok(fields)
    }

    /// Create a record from validated fields; returns its Id.
    pub(crate) fn create(&mut self, fields: Vec<(String, Value)>, stamp: DateTime<Utc>) -> String {
        self.sequence += 1;
        let id = record_id::contact_id(self.sequence);
        let mut record: Map<String, Value> = self
            .standard_fields()
            .map(|name| (name.to_string(), Value::Null))
            .collect();
        let stamp = Value::String(format_datetime(stamp));
        record.insert("Id".into(), Value::String(id.clone()));
        record.insert("IsDeleted".into(), Value::Bool(false));
        record.insert("CreatedDate".into(), stamp.clone());
        record.insert("LastModifiedDate".into(), stamp.clone());
        record.insert("SystemModstamp".into(), stamp);
        self.apply(&mut record, fields);
        self.records.insert(id.clone(), record);
        id
    }

    /// Update a live record with validated fields, bumping its stamps.
    pub(crate) fn update(&mut self, id: &str, fields: Vec<(String, Value)>, stamp: DateTime<Utc>) {
        let Some(mut record) = self.records.remove(id) else {
            return;
        };
        self.apply(&mut record, fields);
        let stamp = Value::String(format_datetime(stamp));
        record.insert("LastModifiedDate".into(), stamp.clone());
        record.insert("SystemModstamp".into(), stamp);
        self.records.insert(id.to_string(), record);
    }

    /// Soft-delete a live record (it moves to the Recycle Bin).
    pub(crate) fn soft_delete(&mut self, id: &str, stamp: DateTime<Utc>) {
        if let Some(record) = self.records.get_mut(id) {
            let stamp = Value::String(format_datetime(stamp));
            record.insert("IsDeleted".into(), Value::Bool(true));
            record.insert("LastModifiedDate".into(), stamp.clone());
            record.insert("SystemModstamp".into(), stamp);
        }
    }

    /// Empty the Recycle Bin: soft-deleted records are gone for good (queryAll no longer sees
    /// them). Returns how many were purged.
    pub(crate) fn purge_deleted(&mut self) -> usize {
        let before = self.records.len();
        self.records
            .retain(|_, record| record.get("IsDeleted") != Some(&Value::Bool(true)));
        before - self.records.len()
    }

    /// Merge a live `loser` into a live `master`: the loser is soft-deleted with
    /// `MasterRecordId = master`, and the master's stamps move (`merge` edits the master).
    pub(crate) fn merge_away(&mut self, loser: &str, master: &str, stamps: [DateTime<Utc>; 2]) {
        self.soft_delete(loser, stamps[0]);
        if let Some(record) = self.records.get_mut(loser) {
            record.insert("MasterRecordId".into(), Value::String(master.to_string()));
        }
        self.update(master, Vec::new(), stamps[1]);
    }

    fn apply(&mut self, record: &mut Map<String, Value>, fields: Vec<(String, Value)>) {
        for (name, value) in fields {
            if !STANDARD_FIELDS.contains(&name.as_str())
                && !address_picklists::CODE_FIELDS.contains(&name.as_str())
            {
                self.custom_fields
                    .entry(name.to_ascii_lowercase())
                    .or_insert_with(|| name.clone());
            }
            record.insert(name, value);
        }
    }

    /// Why a write to `id` cannot happen, if it cannot: malformed, unknown or deleted id.
    /// On success returns the 18-character id.
    pub(crate) fn writable_id(&self, id: &str) -> Result<String, RecordError> {
        let Some(id18) = record_id::to_18(id) else {
            return Err(RecordError::new(
                "MALFORMED_ID",
                format!("malformed id {id}"),
            ));
        };
        match self.records.get(&id18) {
            None => Err(RecordError::new(
                "INVALID_CROSS_REFERENCE_KEY",
                "invalid cross reference id",
            )),
            Some(_) if !self.is_live(&id18) => {
                Err(RecordError::new("ENTITY_IS_DELETED", "entity is deleted"))
            }
            Some(_) => Ok(id18),
        }
    }
}

/// Check one value against its field; empty text becomes null, as in Salesforce.
fn check_value(field: &Field, value: &Value) -> Result<Value, RecordError> {
    let type_error = || {
        RecordError::on_field(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            format!("{}: value not of required type", field_label(&field.name)),
            &field.name,
        )
    };
    match (field.kind, value) {
        (_, Value::Null) => Ok(Value::Null),
        (FieldType::Custom, Value::Array(_) | Value::Object(_)) => Err(type_error()),
        (FieldType::Custom, Value::String(text)) if text.is_empty() => Ok(Value::Null),
        (FieldType::Custom, other) => Ok(other.clone()),
        (FieldType::Text | FieldType::Id, Value::String(text)) => {
            if text.is_empty() {
                return Ok(Value::Null);
            }
            if let Some(max) = max_length(&field.name)
                && text.chars().count() > max
            {
                return Err(RecordError::on_field(
                    "STRING_TOO_LONG",
                    format!(
                        "{}: data value too large: (max length={max})",
                        field_label(&field.name)
                    ),
                    &field.name,
                ));
            }
            if field.name == "Email" && !is_valid_email(text) {
                return Err(RecordError::on_field(
                    "INVALID_EMAIL_ADDRESS",
                    format!("Email: invalid email address: {text}"),
                    "Email",
                ));
            }
            if field.kind == FieldType::Id && record_id::to_18(text).is_none() {
                return Err(RecordError::on_field(
                    "MALFORMED_ID",
                    format!("{}: id value of incorrect type: {text}", field.name),
                    &field.name,
                ));
            }
            Ok(Value::String(text.clone()))
        }
        _ => Err(type_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn create_requires_last_name_and_valid_email() {
        // GIVEN an empty store
        let store = ContactStore::default();
        // WHEN validating creates without LastName / with a bad email / with an unknown field
        let no_last = store.validate(&object(json!({"FirstName": "A"})), WriteMode::Create);
        let bad_email = store.validate(
            &object(json!({"LastName": "B", "Email": "not-an-email"})),
            WriteMode::Create,
        );
        let unknown = store.validate(
            &object(json!({"LastName": "B", "Nope": "x"})),
            WriteMode::Create,
        );
        // THEN each fails with the real status code
        assert_eq!(
            no_last.map_err(|e| e.status_code),
            Err("REQUIRED_FIELD_MISSING")
        );
        assert_eq!(
            bad_email.map_err(|e| e.status_code),
            Err("INVALID_EMAIL_ADDRESS")
        );
        assert_eq!(unknown.map_err(|e| e.status_code), Err("INVALID_FIELD"));
    }

    #[test]
    fn field_names_resolve_case_insensitively() {
        // GIVEN a store
        let store = ContactStore::default();
        // WHEN resolving differently cased names
        // THEN standard names come back canonical and custom names are accepted
        assert_eq!(
            store.resolve_field("systemmodstamp").map(|f| f.name),
            Some("SystemModstamp".into())
        );
        assert_eq!(
            store.resolve_field("Genesys_Id__c").map(|f| f.kind),
            Some(FieldType::Custom)
        );
        assert!(store.resolve_field("Bogus").is_none());
    }

    #[test]
    fn email_shapes() {
        // GIVEN typical good and bad addresses
        // WHEN checking them
        // THEN only plausible ones pass
        assert!(is_valid_email("Ana.Lopez@Example.com"));
        assert!(!is_valid_email("ana@"));
        assert!(!is_valid_email("ana example.com"));
        assert!(!is_valid_email("ana@example"));
    }
}
