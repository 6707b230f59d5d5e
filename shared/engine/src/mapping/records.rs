//! Translating between the systems' raw JSON and canonical contacts, both ways.

use super::{FieldSpec, GENESYS_READ_ONLY, GenesysLink, Mapping, salesforce_id18};
use crate::contact::{CanonicalContact, SideRecord};
use crate::normalise::{FieldKind, normalise};
use crate::side::Side;
use crate::value_map::Mapped;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// One field's value as read from a record.
enum Read {
    Value(Option<String>),
    /// The value has no entry in the field's value map (rule `skip` / `review`).
    Unmapped,
}

impl Mapping {
    /// Normalises text as the field's kind and case say; `None` when empty.
    pub(crate) fn normalise_text(&self, spec: &FieldSpec, raw: &str) -> Option<String> {
        let value = normalise(spec.kind, self.phone_region, raw)?;
        Some(match spec.case {
            Some(case) => case.apply(&value),
            None => value,
        })
    }

    fn scalar(&self, spec: &FieldSpec, value: &Value) -> Option<String> {
        match value {
            Value::String(s) => self.normalise_text(spec, s),
            Value::Number(n) => self.normalise_text(spec, &n.to_string()),
            Value::Bool(b) => self.normalise_text(spec, &b.to_string()),
            _ => None,
        }
    }

    fn norm_as(&self, kind: FieldKind, value: &Value) -> Option<String> {
        match value {
            Value::String(s) => normalise(kind, self.phone_region, s),
            Value::Number(n) => normalise(kind, self.phone_region, &n.to_string()),
            Value::Bool(b) => normalise(kind, self.phone_region, &b.to_string()),
            _ => None,
        }
    }

    fn genesys_phone(&self, value: &Value) -> Option<String> {
        match value {
            Value::Object(phone) => phone
                .get("e164")
                .and_then(|v| self.norm_as(FieldKind::Phone, v))
                .or_else(|| {
                    phone
                        .get("display")
                        .and_then(|v| self.norm_as(FieldKind::Phone, v))
                }),
            other => self.norm_as(FieldKind::Phone, other),
        }
    }

    fn through_map(spec: &FieldSpec, value: Option<String>, side: Side) -> Read {
        match (&spec.values, value) {
            (Some(map), Some(v)) => {
                let mapped = match side {
                    Side::Salesforce => map.from_salesforce(&v),
                    Side::Genesys => map.from_genesys(&v),
                };
                match mapped {
                    Mapped::Value(c) => Read::Value(Some(c)),
                    Mapped::Unmapped => Read::Unmapped,
                }
            }
            (_, value) => Read::Value(value),
        }
    }

    /// Maps a Salesforce Contact record (as the REST API returns it) to canonical form.
    pub fn salesforce_record(
        &self,
        id: &str,
        modified_at: DateTime<Utc>,
        body: &Value,
    ) -> SideRecord {
        let mut fields = CanonicalContact::with_capacity(self.fields.len());
        let mut unmapped = Vec::new();
        let mut match_emails = Vec::with_capacity(2);
        let mut match_phones = Vec::with_capacity(2);
        for spec in &self.fields {
            let Some(sf) = &spec.salesforce else { continue };
            let value = body.get(sf).and_then(|v| self.scalar(spec, v));
            if let Some(v) = &value
                && spec.derive.is_none()
            {
                match spec.kind {
                    FieldKind::Email => match_emails.push(v.clone()),
                    FieldKind::Phone if v.starts_with('+') => match_phones.push(v.clone()),
                    _ => {}
                }
            }
            match Self::through_map(spec, value, Side::Salesforce) {
                Read::Value(v) => fields.add_new(spec.name.clone(), v),
                Read::Unmapped => unmapped.push(spec.name.to_string()),
            }
        }
        SideRecord {
            side: Side::Salesforce,
            id: salesforce_id18(id).unwrap_or_else(|| id.to_string()),
            modified_at,
            fields,
            unmapped,
            link: None,
            merged_into: None,
            merged_from: Vec::new(),
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
        let mut fields = CanonicalContact::with_capacity(self.fields.len());
        let mut unmapped = Vec::new();
        let mut match_emails: Vec<String> = Vec::with_capacity(2);
        let mut match_phones: Vec<String> = Vec::with_capacity(2);
        let mut add_key = |kind: FieldKind, key: &str| {
            let keys = match kind {
                FieldKind::Email => &mut match_emails,
                FieldKind::Phone if key.starts_with('+') => &mut match_phones,
                _ => return,
            };
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_string());
            }
        };
        for spec in &self.fields {
            let Some(path) = &spec.genesys else { continue };
            let value = match spec.kind {
                FieldKind::Phone => path.get(body).and_then(|v| self.genesys_phone(v)),
                _ => path.get(body).and_then(|v| self.scalar(spec, v)),
            };
            if let (Some(kind), Some(v)) = (spec.genesys_match, &value) {
                add_key(kind, v);
            }
            match Self::through_map(spec, value, Side::Genesys) {
                Read::Value(v) => fields.add_new(spec.name.clone(), v),
                Read::Unmapped => unmapped.push(spec.name.to_string()),
            }
        }
        for (path, kind) in &self.genesys_match_extra {
            let key = path.get(body).and_then(|v| match kind {
                FieldKind::Phone => self.genesys_phone(v),
                _ => self.norm_as(*kind, v),
            });
            if let Some(key) = key {
                add_key(*kind, &key);
            }
        }
        let link = self.genesys_link_of(body, link_source_id);
        let merged_into = body
            .get("mergedTo")
            .and_then(|m| m.get("id"))
            .and_then(Value::as_str)
            .filter(|m| *m != id)
            .map(str::to_string);
        let merged_from = body
            .get("mergedFrom")
            .and_then(Value::as_array)
            .map(|refs| {
                refs.iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        SideRecord {
            side: Side::Genesys,
            id: id.to_string(),
            modified_at,
            fields,
            unmapped,
            link,
            merged_into,
            merged_from,
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

    /// The JSON value written for a canonical value: numbers and booleans typed, picklist
    /// values translated for Genesys.
    fn json_for(&self, spec: &FieldSpec, value: &str, side: Side) -> Value {
        match spec.kind {
            FieldKind::Number => {
                if let Ok(i) = value.parse::<i64>() {
                    return Value::from(i);
                }
                if let Some(n) = value
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                {
                    return Value::Number(n);
                }
            }
            FieldKind::Boolean => {
                if let Some(b) = crate::normalise::boolean(value) {
                    return Value::Bool(b);
                }
            }
            _ => {}
        }
        if side == Side::Genesys
            && let Some(g) = spec.values.as_ref().and_then(|m| m.to_genesys(value))
        {
            return Value::String(g.to_string());
        }
        Value::String(value.to_string())
    }

    /// Body of a Salesforce create (sObject Collections record) from canonical values.
    pub fn salesforce_create_body(&self, values: &CanonicalContact) -> Value {
        let mut body = Map::new();
        body.insert("attributes".into(), json!({"type": "Contact"}));
        for spec in &self.fields {
            if let (Some(sf), Some(v)) = (&spec.salesforce, values.get(&spec.name)) {
                body.insert(sf.clone(), self.json_for(spec, v, Side::Salesforce));
            }
        }
        Value::Object(body)
    }

    /// Body of a Salesforce update: only the changed fields; `None` clears a field.
    pub fn salesforce_update_body(
        &self,
        id: &str,
        changes: &[(Arc<str>, Option<String>)],
    ) -> Value {
        let mut body = Map::new();
        body.insert("attributes".into(), json!({"type": "Contact"}));
        body.insert("id".into(), Value::String(id.to_string()));
        for (name, value) in changes {
            if let Some(spec) = self.field(name)
                && let Some(sf) = &spec.salesforce
            {
                body.insert(
                    sf.clone(),
                    value
                        .as_deref()
                        .map(|v| self.json_for(spec, v, Side::Salesforce))
                        .unwrap_or(Value::Null),
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
        changes: &[(Arc<str>, Option<String>)],
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

    /// Body of a Genesys update that unlinks a contact from a Salesforce record that is gone:
    /// the whole contact as read (bulk update replaces it), minus server-set fields, without
    /// the link (see [`remove_genesys_link`]). `None` when the contact carries no link to that
    /// record (already unlinked: nothing to write).
    pub fn genesys_unlink_body(
        &self,
        raw: &Value,
        link_source_id: &str,
        salesforce_id: &str,
    ) -> Option<Value> {
        let mut body = raw.clone();
        if !remove_genesys_link(&mut body, link_source_id, salesforce_id) {
            return None;
        }
        if let Value::Object(map) = &mut body {
            for key in GENESYS_READ_ONLY {
                map.remove(key);
            }
        }
        Some(body)
    }

    fn set_genesys(&self, body: &mut Value, spec: &FieldSpec, value: Option<&str>) {
        let Some(path) = &spec.genesys else { return };
        let new = match (spec.kind, value) {
            (_, None) => None,
            (FieldKind::Phone, Some(v)) => {
                // Keep extension / acceptsSMS; the server recomputes e164 from display.
                let mut phone = path
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
            (_, Some(v)) => Some(self.json_for(spec, v, Side::Genesys)),
        };
        if path.is_custom_field()
            && let (Some(schema), Value::Object(map)) = (&self.genesys_schema, &mut *body)
        {
            map.entry("schema")
                .or_insert_with(|| json!({"id": schema.id, "version": schema.version}));
        }
        path.set(body, new);
    }
}

/// Adds (or replaces) the `externalIds` entry of the link source and sets `externalSystemUrl`.
pub fn set_genesys_link(body: &mut Value, link: &GenesysLink) {
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

/// The inverse of [`set_genesys_link`] for one Salesforce record: removes the `externalIds`
/// entry of the link source that names `salesforce_id` (15- or 18-character form), and
/// `externalSystemUrl` when it is the record URL we write for that Id (any instance host:
/// `…/lightning/r/Contact/<Id>/view`). Entries of other sources, an entry of the link source
/// naming another record, and a URL someone else set are kept: they are not ours. `externalIds`
/// stays an array (empty when nothing is left), so the update says "no link" explicitly.
/// Returns whether anything was removed.
pub fn remove_genesys_link(body: &mut Value, link_source_id: &str, salesforce_id: &str) -> bool {
    let Value::Object(map) = body else {
        return false;
    };
    let gone = salesforce_id18(salesforce_id).unwrap_or_else(|| salesforce_id.to_string());
    let names_gone =
        |value: &str| salesforce_id18(value).is_some_and(|v| v == gone) || value == salesforce_id;
    let mut removed = false;
    if let Some(Value::Array(ids)) = map.get_mut("externalIds") {
        let before = ids.len();
        ids.retain(|entry| {
            let of_source = entry
                .get("externalSource")
                .and_then(|s| s.get("id"))
                .and_then(Value::as_str)
                == Some(link_source_id);
            let value = entry.get("value").and_then(Value::as_str).unwrap_or("");
            !(of_source && names_gone(value))
        });
        removed |= ids.len() != before;
    }
    let ours = map
        .get("externalSystemUrl")
        .and_then(Value::as_str)
        .and_then(|url| url.trim_end_matches('/').strip_suffix("/view"))
        .and_then(|rest| rest.rsplit_once("/lightning/r/Contact/"))
        .is_some_and(|(_, id)| names_gone(id));
    if ours {
        map.remove("externalSystemUrl");
        removed = true;
    }
    removed
}
