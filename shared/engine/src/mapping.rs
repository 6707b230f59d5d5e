//! The mapping configuration: which canonical field lives in which Salesforce field and which
//! Genesys path, in which direction it flows and which policy settles a conflict. Loaded from
//! YAML and validated up front, so a bad config fails before any record is touched, with a
//! message naming the file, the field and what is wrong.
//!
//! The mapping also translates between the systems' raw JSON and canonical contacts, both ways.

use crate::contact::{CanonicalContact, SideRecord};
use crate::normalise::{FieldKind, PhoneRegion, normalise};
use crate::side::Side;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::fmt;

/// The default mapping shipped with the product (see `infra/mapping.default.yaml`).
pub const DEFAULT_MAPPING_YAML: &str = include_str!("../../../infra/mapping.default.yaml");

/// Source name used in errors for the embedded default.
pub const DEFAULT_MAPPING_SOURCE: &str = "<built-in default mapping>";

/// The Genesys phone slots (each a `PhoneNumber` object).
const GENESYS_PHONE_SLOTS: [&str; 4] = ["workPhone", "cellPhone", "homePhone", "otherPhone"];

/// Genesys fields set by the server; never sent back in an update.
const GENESYS_READ_ONLY: [&str; 9] = [
    "selfUri",
    "createDate",
    "modifyDate",
    "externalDataSources",
    "mergeSet",
    "mergedFrom",
    "mergedTo",
    "canonicalContact",
    "mergeOperation",
];

/// Which way a field may flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Both,
    SalesforceToGenesys,
    GenesysToSalesforce,
}

impl Direction {
    /// True when a change made on `from` may be copied to the other side.
    pub fn allows(self, from: Side) -> bool {
        match self {
            Direction::Both => true,
            Direction::SalesforceToGenesys => from == Side::Salesforce,
            Direction::GenesysToSalesforce => from == Side::Genesys,
        }
    }

    /// The side that owns a one-way field; `None` for `both`.
    pub fn owner(self) -> Option<Side> {
        match self {
            Direction::Both => None,
            Direction::SalesforceToGenesys => Some(Side::Salesforce),
            Direction::GenesysToSalesforce => Some(Side::Genesys),
        }
    }
}

/// How a field changed differently on both sides is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    SalesforceWins,
    GenesysWins,
    NewestWins,
    Manual,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::SalesforceWins => "salesforce_wins",
            Policy::GenesysWins => "genesys_wins",
            Policy::NewestWins => "newest_wins",
            Policy::Manual => "manual",
        }
    }
}

/// A dotted path into a Genesys `ExternalContact` (`firstName`, `address.city`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesysPath(Vec<String>);

impl GenesysPath {
    fn parse(path: &str) -> Result<GenesysPath, String> {
        let segments: Vec<String> = path.split('.').map(str::to_string).collect();
        let valid = |s: &String| {
            let mut chars = s.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if segments.iter().all(valid) {
            Ok(GenesysPath(segments))
        } else {
            Err(format!(
                "genesys path `{path}` is not a dotted path of field names (e.g. `address.city`)"
            ))
        }
    }

    fn get<'a>(&self, body: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(body, |node, key| node.get(key))
    }

    fn set(&self, body: &mut Value, value: Option<Value>) {
        let Some((last, parents)) = self.0.split_last() else {
            return;
        };
        let mut node = body;
        for key in parents {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            let Value::Object(map) = node else {
                return;
            };
            node = map
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        if let Value::Object(map) = node {
            match value {
                Some(v) => {
                    map.insert(last.clone(), v);
                }
                None => {
                    map.remove(last);
                }
            }
        }
    }

    fn is_phone_slot(&self) -> bool {
        self.0.len() == 1 && GENESYS_PHONE_SLOTS.contains(&self.0[0].as_str())
    }
}

impl fmt::Display for GenesysPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// One mapped field, validated.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// Canonical name (`email`, `address.city`).
    pub name: String,
    pub kind: FieldKind,
    /// Salesforce Contact field API name.
    pub salesforce: String,
    pub genesys: GenesysPath,
    pub direction: Direction,
    /// `None` only for one-way fields, where the owner always wins.
    pub policy: Option<Policy>,
}

/// A loaded, validated mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub integration: String,
    pub phone_region: PhoneRegion,
    pub link_source_name: String,
    pub fields: Vec<FieldSpec>,
    genesys_match_emails: Vec<GenesysPath>,
    genesys_match_phones: Vec<GenesysPath>,
}

/// A config that cannot be used. Display names the file, the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {}{message}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct MappingError {
    pub source_name: String,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    version: u32,
    #[serde(default)]
    integration: Option<String>,
    #[serde(default)]
    phone_default_region: Option<String>,
    #[serde(default)]
    link: Option<LinkSection>,
    fields: Vec<FieldEntry>,
    #[serde(default)]
    matching: Option<MatchingSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkSection {
    genesys_external_source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldEntry {
    name: String,
    #[serde(default)]
    kind: FieldKind,
    salesforce: String,
    genesys: String,
    direction: Direction,
    #[serde(default)]
    policy: Option<Policy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchingSection {
    #[serde(default)]
    genesys_emails: Vec<String>,
    #[serde(default)]
    genesys_phones: Vec<String>,
}

/// What a Genesys record needs to carry its link to Salesforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesysLink {
    /// Id of the Genesys external source named like [`Mapping::link_source_name`].
    pub source_id: String,
    /// The Salesforce Contact Id (18 characters).
    pub salesforce_id: String,
    /// Salesforce record URL for `externalSystemUrl`, when the instance URL is known.
    pub record_url: Option<String>,
}

impl GenesysLink {
    pub fn new(source_id: &str, salesforce_id: &str, instance_url: Option<&str>) -> GenesysLink {
        GenesysLink {
            source_id: source_id.to_string(),
            salesforce_id: salesforce_id.to_string(),
            record_url: instance_url.map(|base| {
                format!(
                    "{}/lightning/r/Contact/{salesforce_id}/view",
                    base.trim_end_matches('/')
                )
            }),
        }
    }
}

impl Mapping {
    /// The embedded default mapping.
    pub fn default_mapping() -> Mapping {
        Mapping::from_yaml(DEFAULT_MAPPING_YAML, DEFAULT_MAPPING_SOURCE)
            .expect("the built-in default mapping is valid (checked by tests)")
    }

    /// Parses and validates a mapping; `source_name` (usually the file path) names it in errors.
    pub fn from_yaml(yaml: &str, source_name: &str) -> Result<Mapping, MappingError> {
        let err = |field: Option<&str>, message: String| MappingError {
            source_name: source_name.to_string(),
            field: field.map(str::to_string),
            message,
        };
        let file: MappingFile =
            serde_yaml_ng::from_str(yaml).map_err(|e| err(None, e.to_string()))?;
        if file.version != 1 {
            return Err(err(
                None,
                format!(
                    "unsupported version {} (this build reads version 1)",
                    file.version
                ),
            ));
        }
        let phone_region = match &file.phone_default_region {
            None => PhoneRegion::default(),
            Some(code) => PhoneRegion::parse(code).ok_or_else(|| {
                err(
                    None,
                    format!("phone_default_region `{code}` is not an ISO 3166-1 alpha-2 region"),
                )
            })?,
        };
        if file.fields.is_empty() {
            return Err(err(None, "no fields are mapped".into()));
        }
        let mut names = BTreeSet::new();
        let mut sf_targets = BTreeSet::new();
        let mut gz_targets = BTreeSet::new();
        let mut fields = Vec::with_capacity(file.fields.len());
        for entry in file.fields {
            let name = entry.name.as_str();
            let ferr = |message: String| err(Some(name), message);
            if !is_canonical_name(name) {
                return Err(ferr(
                    "name must be lower-case letters, digits, `_` and `.` (e.g. `address.city`)"
                        .into(),
                ));
            }
            if !names.insert(name.to_string()) {
                return Err(ferr("mapped twice".into()));
            }
            if !is_salesforce_field_name(&entry.salesforce) {
                return Err(ferr(format!(
                    "salesforce field `{}` is not a valid API name (letters, digits, `_`; e.g. `Phone`, `Score__c`)",
                    entry.salesforce
                )));
            }
            if matches!(
                entry.salesforce.as_str(),
                "Id" | "SystemModstamp" | "IsDeleted"
            ) {
                return Err(ferr(format!(
                    "salesforce field `{}` is managed by the sync and cannot be mapped",
                    entry.salesforce
                )));
            }
            if !sf_targets.insert(entry.salesforce.to_ascii_lowercase()) {
                return Err(ferr(format!(
                    "duplicate target: salesforce field `{}` is already mapped",
                    entry.salesforce
                )));
            }
            let genesys = GenesysPath::parse(&entry.genesys).map_err(&ferr)?;
            if matches!(
                genesys.0[0].as_str(),
                "id" | "externalIds" | "externalSystemUrl"
            ) || GENESYS_READ_ONLY.contains(&genesys.0[0].as_str())
            {
                return Err(ferr(format!(
                    "genesys path `{genesys}` is managed by the sync or read-only and cannot be mapped"
                )));
            }
            if !gz_targets.insert(genesys.to_string()) {
                return Err(ferr(format!(
                    "duplicate target: genesys path `{genesys}` is already mapped"
                )));
            }
            if entry.kind == FieldKind::Phone && !genesys.is_phone_slot() {
                return Err(ferr(format!(
                    "a phone field must map to a Genesys phone slot ({}), not `{genesys}`",
                    GENESYS_PHONE_SLOTS.join(", ")
                )));
            }
            if entry.kind != FieldKind::Phone && genesys.is_phone_slot() {
                return Err(ferr(format!(
                    "`{genesys}` is a Genesys phone slot: set `kind: phone`"
                )));
            }
            let policy = match (entry.direction.owner(), entry.policy) {
                (None, None) => {
                    return Err(ferr(
                        "direction `both` needs a policy (salesforce_wins, genesys_wins, newest_wins or manual)"
                            .into(),
                    ));
                }
                (None, Some(p)) => Some(p),
                (Some(_), None) => None,
                (Some(owner), Some(p)) => {
                    let consistent = matches!(
                        (owner, p),
                        (Side::Salesforce, Policy::SalesforceWins)
                            | (Side::Genesys, Policy::GenesysWins)
                    );
                    if !consistent {
                        return Err(ferr(format!(
                            "direction `{}` contradicts policy `{}`: on a one-way field the {owner} side always wins (drop the policy)",
                            match entry.direction {
                                Direction::SalesforceToGenesys => "salesforce_to_genesys",
                                _ => "genesys_to_salesforce",
                            },
                            p.as_str()
                        )));
                    }
                    None
                }
            };
            fields.push(FieldSpec {
                name: entry.name.clone(),
                kind: entry.kind,
                salesforce: entry.salesforce,
                genesys,
                direction: entry.direction,
                policy,
            });
        }
        let matching = file.matching.unwrap_or(MatchingSection {
            genesys_emails: vec![
                "workEmail".into(),
                "personalEmail".into(),
                "otherEmail".into(),
            ],
            genesys_phones: GENESYS_PHONE_SLOTS.iter().map(|s| s.to_string()).collect(),
        });
        let parse_paths =
            |paths: &[String], phones: bool| -> Result<Vec<GenesysPath>, MappingError> {
                paths
                    .iter()
                    .map(|p| {
                        let path = GenesysPath::parse(p)
                            .map_err(|m| err(None, format!("matching: {m}")))?;
                        if phones && !path.is_phone_slot() {
                            return Err(err(
                                None,
                                format!("matching: `{p}` is not a Genesys phone slot"),
                            ));
                        }
                        Ok(path)
                    })
                    .collect()
            };
        let link_source_name = file
            .link
            .map(|l| l.genesys_external_source)
            .unwrap_or_else(|| "Salesforce".to_string());
        if link_source_name.trim().is_empty() || link_source_name.len() > 200 {
            return Err(err(
                None,
                "link.genesys_external_source must be 1 to 200 characters".into(),
            ));
        }
        Ok(Mapping {
            integration: file.integration.unwrap_or_else(|| "default".to_string()),
            phone_region,
            link_source_name,
            genesys_match_emails: parse_paths(&matching.genesys_emails, false)?,
            genesys_match_phones: parse_paths(&matching.genesys_phones, true)?,
            fields,
        })
    }

    /// Salesforce fields a read must select (besides `Id` and `SystemModstamp`).
    pub fn salesforce_fields(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.salesforce.clone()).collect()
    }

    /// The Salesforce field holding the email used for matching, if one is mapped.
    pub fn salesforce_email_field(&self) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.kind == FieldKind::Email)
            .map(|f| f.salesforce.as_str())
    }

    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    fn norm(&self, kind: FieldKind, value: &Value) -> Option<String> {
        match value {
            Value::String(s) => normalise(kind, self.phone_region, s),
            Value::Number(n) => normalise(kind, self.phone_region, &n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn genesys_phone(&self, value: &Value) -> Option<String> {
        match value {
            Value::Object(phone) => phone
                .get("e164")
                .and_then(|v| self.norm(FieldKind::Phone, v))
                .or_else(|| {
                    phone
                        .get("display")
                        .and_then(|v| self.norm(FieldKind::Phone, v))
                }),
            other => self.norm(FieldKind::Phone, other),
        }
    }

    /// Maps a Salesforce Contact record (as the REST API returns it) to canonical form.
    pub fn salesforce_record(
        &self,
        id: &str,
        modified_at: DateTime<Utc>,
        body: &Value,
    ) -> SideRecord {
        let mut fields = CanonicalContact::new();
        let mut match_emails = Vec::new();
        let mut match_phones = Vec::new();
        for spec in &self.fields {
            let value = body
                .get(&spec.salesforce)
                .and_then(|v| self.norm(spec.kind, v));
            if let Some(v) = &value {
                match spec.kind {
                    FieldKind::Email => match_emails.push(v.clone()),
                    FieldKind::Phone if v.starts_with('+') => match_phones.push(v.clone()),
                    _ => {}
                }
            }
            fields.set(spec.name.clone(), value);
        }
        SideRecord {
            side: Side::Salesforce,
            id: salesforce_id18(id).unwrap_or_else(|| id.to_string()),
            modified_at,
            fields,
            link: None,
            match_emails,
            match_phones,
            // Salesforce updates carry only the changed fields: the body is not kept.
            raw: Value::Null,
        }
    }

    /// Maps a Genesys `ExternalContact` to canonical form, keeping the body (Genesys updates
    /// are full replaces built from it). `link_source_id` is the id of the
    /// "Salesforce" external source; without it the link is recognised by the source's name.
    pub fn genesys_record(
        &self,
        id: &str,
        modified_at: DateTime<Utc>,
        raw: Value,
        link_source_id: Option<&str>,
    ) -> SideRecord {
        let body = &raw;
        // Each phone slot is normalised once, for its field and for matching.
        let mut phones: Vec<(String, Option<String>)> = Vec::new();
        let mut phone_at = |path: &GenesysPath| -> Option<String> {
            let key = path.to_string();
            if let Some((_, v)) = phones.iter().find(|(k, _)| *k == key) {
                return v.clone();
            }
            let v = path.get(body).and_then(|v| self.genesys_phone(v));
            phones.push((key, v.clone()));
            v
        };
        let mut fields = CanonicalContact::new();
        for spec in &self.fields {
            let value = match spec.kind {
                FieldKind::Phone => phone_at(&spec.genesys),
                kind => spec.genesys.get(body).and_then(|v| self.norm(kind, v)),
            };
            fields.set(spec.name.clone(), value);
        }
        let mut match_emails: Vec<String> = self
            .genesys_match_emails
            .iter()
            .filter_map(|p| p.get(body).and_then(|v| self.norm(FieldKind::Email, v)))
            .collect();
        match_emails.dedup();
        let mut match_phones: Vec<String> = self
            .genesys_match_phones
            .iter()
            .filter_map(&mut phone_at)
            .filter(|p| p.starts_with('+'))
            .collect();
        match_phones.dedup();
        let link = self.genesys_link_of(body, link_source_id);
        SideRecord {
            side: Side::Genesys,
            id: id.to_string(),
            modified_at,
            fields,
            link,
            match_emails,
            match_phones,
            raw,
        }
    }

    /// The Salesforce Id a Genesys contact carries in `externalIds`, if any.
    pub fn genesys_link_of(&self, body: &Value, link_source_id: Option<&str>) -> Option<String> {
        body.get("externalIds")?
            .as_array()?
            .iter()
            .find(|entry| {
                let source = entry.get("externalSource");
                match link_source_id {
                    Some(sid) => {
                        source.and_then(|s| s.get("id")).and_then(Value::as_str) == Some(sid)
                    }
                    None => {
                        source.and_then(|s| s.get("name")).and_then(Value::as_str)
                            == Some(self.link_source_name.as_str())
                    }
                }
            })
            .and_then(|entry| entry.get("value"))
            .and_then(Value::as_str)
            .map(|v| salesforce_id18(v).unwrap_or_else(|| v.to_string()))
    }

    /// Body of a Salesforce create (sObject Collections record) from canonical values.
    pub fn salesforce_create_body(&self, values: &CanonicalContact) -> Value {
        let mut body = Map::new();
        body.insert("attributes".into(), json!({"type": "Contact"}));
        for spec in &self.fields {
            if let Some(v) = values.get(&spec.name) {
                body.insert(spec.salesforce.clone(), Value::String(v.to_string()));
            }
        }
        Value::Object(body)
    }

    /// Body of a Salesforce update: only the changed fields; `None` clears a field.
    pub fn salesforce_update_body(&self, id: &str, changes: &[(String, Option<String>)]) -> Value {
        let mut body = Map::new();
        body.insert("attributes".into(), json!({"type": "Contact"}));
        body.insert("id".into(), Value::String(id.to_string()));
        for (name, value) in changes {
            if let Some(spec) = self.field(name) {
                body.insert(
                    spec.salesforce.clone(),
                    value.clone().map(Value::String).unwrap_or(Value::Null),
                );
            }
        }
        Value::Object(body)
    }

    /// Body of a Genesys create, carrying the link to its Salesforce record.
    pub fn genesys_create_body(&self, values: &CanonicalContact, link: &GenesysLink) -> Value {
        let mut body = Value::Object(Map::new());
        for spec in &self.fields {
            if let Some(v) = values.get(&spec.name) {
                self.set_genesys(&mut body, spec, Some(v));
            }
        }
        set_genesys_link(&mut body, link);
        body
    }

    /// Body of a Genesys update: the whole contact as read (bulk update replaces it), minus
    /// server-set fields, with `changes` applied and the link set when given.
    pub fn genesys_update_body(
        &self,
        raw: &Value,
        changes: &[(String, Option<String>)],
        link: Option<&GenesysLink>,
    ) -> Value {
        let mut body = raw.clone();
        if let Value::Object(map) = &mut body {
            for key in GENESYS_READ_ONLY {
                map.remove(key);
            }
        }
        for (name, value) in changes {
            if let Some(spec) = self.field(name) {
                self.set_genesys(&mut body, spec, value.as_deref());
            }
        }
        if let Some(link) = link {
            set_genesys_link(&mut body, link);
        }
        body
    }

    fn set_genesys(&self, body: &mut Value, spec: &FieldSpec, value: Option<&str>) {
        let new = match (spec.kind, value) {
            (_, None) => None,
            (FieldKind::Phone, Some(v)) => {
                // Keep extension / acceptsSMS; the server recomputes e164 from display.
                let mut phone = spec
                    .genesys
                    .get(body)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for derived in ["e164", "userInput", "countryCode"] {
                    phone.remove(derived);
                }
                phone.insert("display".into(), Value::String(v.to_string()));
                Some(Value::Object(phone))
            }
            (_, Some(v)) => Some(Value::String(v.to_string())),
        };
        spec.genesys.set(body, new);
    }
}

/// Adds (or replaces) the `externalIds` entry of the link source and sets `externalSystemUrl`.
fn set_genesys_link(body: &mut Value, link: &GenesysLink) {
    let Value::Object(map) = body else {
        return;
    };
    let mut ids: Vec<Value> = map
        .get("externalIds")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    ids.retain(|entry| {
        entry
            .get("externalSource")
            .and_then(|s| s.get("id"))
            .and_then(Value::as_str)
            != Some(link.source_id.as_str())
    });
    ids.push(json!({
        "externalSource": {"id": link.source_id},
        "value": link.salesforce_id,
    }));
    map.insert("externalIds".into(), Value::Array(ids));
    if let Some(url) = &link.record_url {
        map.insert("externalSystemUrl".into(), Value::String(url.clone()));
    }
}

fn is_canonical_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        && !name.ends_with('.')
        && !name.contains("..")
}

/// A Salesforce field API name: letters, digits and `_`, starting with a letter. Nothing else
/// can reach a SOQL statement through the mapping.
pub fn is_salesforce_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 80
}

/// The 18-character, case-safe form of a Salesforce Id (reference API-NOTES A.6); `None` when
/// `id` is not a 15- or 18-character Id.
pub fn salesforce_id18(id: &str) -> Option<String> {
    if !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    match id.len() {
        18 => Some(id.to_string()),
        15 => {
            const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
            let bytes = id.as_bytes();
            let mut out = id.to_string();
            for chunk in bytes.chunks(5) {
                let bits = chunk
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_ascii_uppercase())
                    .fold(0usize, |acc, (i, _)| acc | (1 << i));
                out.push(ALPHABET[bits] as char);
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Mapping, MappingError> {
        Mapping::from_yaml(yaml, "test.yaml")
    }

    #[test]
    fn default_mapping_loads_with_the_seeds_table() {
        // GIVEN the built-in default WHEN loaded THEN it has the fields and policies
        let m = Mapping::default_mapping();
        let policy = |n: &str| m.field(n).and_then(|f| f.policy);
        assert_eq!(policy("first_name"), Some(Policy::SalesforceWins));
        assert_eq!(policy("email"), Some(Policy::NewestWins));
        assert_eq!(policy("phone_work"), Some(Policy::NewestWins));
        assert_eq!(
            m.field("address.country").map(|f| f.salesforce.as_str()),
            Some("MailingCountry")
        );
        assert_eq!(m.link_source_name, "Salesforce");
        assert_eq!(m.salesforce_email_field(), Some("Email"));
    }

    #[test]
    fn salesforce_id18_matches_reference_vectors() {
        // GIVEN the test vectors from the reference notes (A.6)
        assert_eq!(
            salesforce_id18("a0BA0000000L2ZC").as_deref(),
            Some("a0BA0000000L2ZCMA0")
        );
        assert_eq!(
            salesforce_id18("AAaAAbbBBBCcCCC").as_deref(),
            Some("AAaAAbbBBBCcCCC123")
        );
        assert_eq!(salesforce_id18("not-an-id"), None);
    }

    const ONE_FIELD: &str = "version: 1\nfields:\n  - name: title\n    salesforce: Title\n    genesys: title\n    direction: both\n    policy: newest_wins\n";

    #[test]
    fn bad_configs_name_the_file_the_field_and_the_problem() {
        // GIVEN configs with one mistake each WHEN loaded THEN the error says where and what
        let cases = [
            (
                ONE_FIELD.replace("policy: newest_wins", "policy: loudest_wins"),
                "unknown variant",
            ),
            (
                ONE_FIELD.replace("salesforce: Title", "salesforce: \"Title; DROP\""),
                "field `title`: salesforce field",
            ),
            (
                ONE_FIELD.replace("    policy: newest_wins\n", ""),
                "field `title`: direction `both` needs a policy",
            ),
            (
                ONE_FIELD
                    .replace("direction: both", "direction: salesforce_to_genesys")
                    .replace("newest_wins", "genesys_wins"),
                "contradicts policy",
            ),
            (
                ONE_FIELD.replace("genesys: title", "genesys: workPhone"),
                "set `kind: phone`",
            ),
            (
                format!(
                    "{ONE_FIELD}  - name: job\n    salesforce: Title\n    genesys: department\n    direction: both\n    policy: manual\n"
                ),
                "field `job`: duplicate target",
            ),
            (
                format!(
                    "{ONE_FIELD}  - name: title\n    salesforce: Dept\n    genesys: department\n    direction: both\n    policy: manual\n"
                ),
                "field `title`: mapped twice",
            ),
            (
                ONE_FIELD.replace(
                    "    policy: newest_wins\n",
                    "    policy: newest_wins\n    colour: red\n",
                ),
                "unknown field `colour`",
            ),
            (
                ONE_FIELD.replace("version: 1", "version: 2"),
                "unsupported version 2",
            ),
            (
                format!("phone_default_region: ZZ\n{ONE_FIELD}"),
                "phone_default_region `ZZ`",
            ),
        ];
        for (yaml, expected) in cases {
            let error = load(&yaml).expect_err(expected).to_string();
            assert!(error.starts_with("test.yaml: "), "{error}");
            assert!(
                error.contains(expected),
                "{error} should contain {expected}"
            );
        }
    }

    #[test]
    fn genesys_record_reads_phones_by_e164_and_the_link_by_source() {
        // GIVEN a Genesys contact as the API returns it
        let m = Mapping::default_mapping();
        let body = json!({
            "id": "g1", "firstName": " Ana ", "workEmail": "Ana@Example.com",
            "personalEmail": "ana.home@example.org",
            "workPhone": {"display": "+1 415-555-0134", "e164": "+14155550134"},
            "cellPhone": {"display": "(415) 555-0199"},
            "address": {"city": "Oakland"},
            "externalIds": [{"externalSource": {"id": "src-1", "name": "Salesforce"}, "value": "003000000000001"}],
        });
        // WHEN mapped
        let r = m.genesys_record("g1", Utc::now(), body, Some("src-1"));
        // THEN values are normalised, emails from every slot are match keys, and the link is 18 chars
        assert_eq!(r.fields.get("first_name"), Some("Ana"));
        assert_eq!(r.fields.get("email"), Some("ana@example.com"));
        assert_eq!(r.fields.get("phone_work"), Some("+14155550134"));
        assert_eq!(r.fields.get("phone_mobile"), Some("+14155550199"));
        assert_eq!(r.fields.get("address.city"), Some("Oakland"));
        assert_eq!(
            r.match_emails,
            vec!["ana@example.com", "ana.home@example.org"]
        );
        assert_eq!(r.link.as_deref(), Some("003000000000001AAA"));
    }

    #[test]
    fn genesys_update_body_keeps_unmapped_data_and_drops_server_fields() {
        // GIVEN a raw Genesys contact with unmapped data and server-set fields
        let m = Mapping::default_mapping();
        let raw = json!({
            "id": "g1", "lastName": "Lopez", "twitterId": {"screenName": "x"},
            "workPhone": {"display": "+1 415-555-0134", "e164": "+14155550134", "extension": 12},
            "modifyDate": "2024-01-01T00:00:00.000Z", "selfUri": "/x",
        });
        let link = GenesysLink::new(
            "src-1",
            "003000000000001AAA",
            Some("https://org.my.salesforce.com"),
        );
        // WHEN a phone change, a cleared last name and the link are applied
        let body = m.genesys_update_body(
            &raw,
            &[
                ("phone_work".into(), Some("+14155550100".into())),
                ("last_name".into(), None),
            ],
            Some(&link),
        );
        // THEN only those change, the extension survives, e164 is left to the server
        assert_eq!(
            body["workPhone"],
            json!({"display": "+14155550100", "extension": 12})
        );
        assert!(body.get("lastName").is_none());
        assert_eq!(body["twitterId"]["screenName"], "x");
        assert!(body.get("modifyDate").is_none() && body.get("selfUri").is_none());
        assert_eq!(body["externalIds"][0]["value"], "003000000000001AAA");
        assert_eq!(
            body["externalSystemUrl"],
            "https://org.my.salesforce.com/lightning/r/Contact/003000000000001AAA/view"
        );
    }

    #[test]
    fn salesforce_bodies_carry_type_and_clear_with_null() {
        let m = Mapping::default_mapping();
        let body = m.salesforce_update_body(
            "003000000000001AAA",
            &[
                ("title".into(), None),
                ("email".into(), Some("a@example.com".into())),
            ],
        );
        assert_eq!(
            body,
            json!({"attributes": {"type": "Contact"}, "id": "003000000000001AAA", "Title": null, "Email": "a@example.com"})
        );
    }
}
