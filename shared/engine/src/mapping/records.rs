//! Translating between the systems' raw JSON and canonical contacts, both ways.

use super::{
    FieldSpec, GENESYS_PHONE_SLOTS, GENESYS_READ_ONLY, GenesysLink, Mapping, salesforce_id18,
};
use crate::contact::{CanonicalContact, SideRecord};
use crate::country;
use crate::normalise::{FieldKind, PhoneRegion, normalise};
use crate::phone::{GenesysPhone, Phone, split_extension};
use crate::side::Side;
use crate::value_map::{Mapped, Unmapped};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// One field's value as read from a record.
enum Read {
    Value(Option<String>),
    /// The value has no entry in the field's value map (rule `skip` / `review`).
    Unmapped,
}

/// A phone as read: its canonical value and, for a valid number, its matching key.
struct ReadPhone {
    value: String,
    key: Option<String>,
}

impl From<Phone<'_>> for ReadPhone {
    fn from(phone: Phone<'_>) -> ReadPhone {
        ReadPhone {
            value: phone.canonical(),
            key: phone.match_key().map(str::to_string),
        }
    }
}

/// A JSON scalar as text (numbers and booleans as written).
fn scalar_text(value: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        Value::String(s) => Some(s.as_str().into()),
        Value::Number(n) => Some(n.to_string().into()),
        Value::Bool(b) => Some(b.to_string().into()),
        _ => None,
    }
}

impl Mapping {
    /// Normalises text as the field's kind and case say (phones in `region`); `None` when
    /// empty.
    pub(crate) fn normalise_text(
        &self,
        spec: &FieldSpec,
        region: PhoneRegion,
        raw: &str,
    ) -> Option<String> {
        let value = normalise(spec.kind, region, raw)?;
        Some(match spec.case {
            Some(case) => case.apply(&value),
            None => value,
        })
    }

    fn scalar(&self, spec: &FieldSpec, region: PhoneRegion, value: &Value) -> Option<String> {
        self.normalise_text(spec, region, &scalar_text(value)?)
    }

    fn norm_as(&self, kind: FieldKind, value: &Value) -> Option<String> {
        normalise(kind, self.phone_region, &scalar_text(value)?)
    }

    /// The region a record's phones are read in: the record's own country (the mapping's
    /// `kind: country` field, when its value is a region libphonenumber knows), else
    /// `phone_default_region`.
    fn record_region(&self, side: Side, body: &Value) -> PhoneRegion {
        let Some(spec) = self.country_field.map(|i| &self.fields[i]) else {
            return self.phone_region;
        };
        let raw = match side {
            Side::Salesforce => spec.salesforce.as_ref().and_then(|sf| body.get(sf)),
            Side::Genesys => spec.genesys.as_ref().and_then(|path| path.get(body)),
        };
        raw.and_then(Value::as_str)
            .and_then(|c| normalise(FieldKind::Country, self.phone_region, c))
            .and_then(|code| PhoneRegion::parse(&code))
            .unwrap_or(self.phone_region)
    }

    /// A phone typed in a text field (Salesforce) or a bare JSON value.
    fn text_phone(region: PhoneRegion, value: &Value) -> Option<ReadPhone> {
        Phone::read(region, &scalar_text(value)?).map(ReadPhone::from)
    }

    /// A Genesys `PhoneNumber`: the number as last written (`userInput`, else `display`, else
    /// `e164`) read in the record's region (or the phone's own `normalizationCountryCode`),
    /// with the `extension` integer. Genesys' own `e164` is not preferred: for a number written
    /// without country code it is computed with +1 unless told otherwise.
    fn genesys_phone(region: PhoneRegion, value: &Value) -> Option<ReadPhone> {
        let Value::Object(phone) = value else {
            return Self::text_phone(region, value);
        };
        let region = phone
            .get("normalizationCountryCode")
            .and_then(Value::as_str)
            .and_then(|c| PhoneRegion::parse(c).or_else(|| PhoneRegion::of_calling_code(c)))
            .unwrap_or(region);
        let text = ["userInput", "display", "e164"].into_iter().find_map(|k| {
            phone
                .get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|t| !t.is_empty())
        });
        let extension = phone.get("extension").and_then(|e| match e {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        });
        let (number, typed_extension) = match text.map(split_extension) {
            Some(("", Some(_))) => (text, None),
            Some((number, ext)) => (Some(number), ext),
            None => (None, None),
        };
        let extension = typed_extension.or(extension.as_deref());
        Phone::read_parts(region, number.unwrap_or(""), extension).map(ReadPhone::from)
    }

    /// The canonical country (alpha-2) of a record, read from the country field a subdivision
    /// field is resolved in.
    fn record_country(&self, spec: &FieldSpec, body: &Value, side: Side) -> Option<&'static str> {
        let country = self.field(spec.in_country.as_deref()?)?;
        let raw = match side {
            Side::Salesforce => body.get(country.salesforce.as_deref()?)?,
            Side::Genesys => country.genesys.as_ref()?.get(body)?,
        };
        country::resolve(raw.as_str()?)
    }

    /// A country or subdivision value as read: its code when it resolves, else the field's
    /// rule for unresolved values (`copy` keeps it as typed).
    fn place(&self, spec: &FieldSpec, value: Option<String>, body: &Value, side: Side) -> Read {
        let Some(value) = value else {
            return Read::Value(None);
        };
        match spec.kind {
            // `normalise` already resolved it: a code, or the text when it named none.
            FieldKind::Country if country::resolve(&value).is_some() => {
                return Read::Value(Some(value));
            }
            FieldKind::Subdivision => {
                let country = self.record_country(spec, body, side);
                if let Some(full) = country::subdivision(country, &value) {
                    return Read::Value(Some(full.to_string()));
                }
            }
            _ => {}
        }
        match spec.unresolved {
            Unmapped::Copy => Read::Value(Some(value)),
            _ => Read::Unmapped,
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
        let region = self.record_region(Side::Salesforce, body);
        for spec in &self.fields {
            let Some(sf) = &spec.salesforce else { continue };
            let raw = body.get(sf);
            let value = match spec.kind {
                FieldKind::Phone => raw.and_then(|v| Self::text_phone(region, v)).map(|p| {
                    if let Some(key) = p.key.filter(|_| spec.derive.is_none()) {
                        match_phones.push(key);
                    }
                    p.value
                }),
                _ => raw.and_then(|v| self.scalar(spec, region, v)),
            };
            if let Some(v) = &value
                && spec.derive.is_none()
                && spec.kind == FieldKind::Email
            {
                match_emails.push(v.clone());
            }
            let read = match spec.kind {
                FieldKind::Country | FieldKind::Subdivision => {
                    self.place(spec, value, body, Side::Salesforce)
                }
                _ => Self::through_map(spec, value, Side::Salesforce),
            };
            match read {
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
        // Phone keys are valid E.164 numbers only (`ReadPhone::key`).
        let mut add_key = |kind: FieldKind, key: &str| {
            let keys = match kind {
                FieldKind::Email => &mut match_emails,
                FieldKind::Phone => &mut match_phones,
                _ => return,
            };
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_string());
            }
        };
        let region = self.record_region(Side::Genesys, body);
        for spec in &self.fields {
            let Some(path) = &spec.genesys else { continue };
            let value = match spec.kind {
                FieldKind::Phone => path
                    .get(body)
                    .and_then(|v| Self::genesys_phone(region, v))
                    .map(|p| {
                        if let (Some(kind), Some(key)) = (spec.genesys_match, &p.key) {
                            add_key(kind, key);
                        }
                        p.value
                    }),
                _ => {
                    let value = path.get(body).and_then(|v| self.scalar(spec, region, v));
                    if let (Some(kind), Some(v)) = (spec.genesys_match, &value) {
                        add_key(kind, v);
                    }
                    value
                }
            };
            let read = match spec.kind {
                FieldKind::Country | FieldKind::Subdivision => {
                    self.place(spec, value, body, Side::Genesys)
                }
                _ => Self::through_map(spec, value, Side::Genesys),
            };
            match read {
                Read::Value(v) => fields.add_new(spec.name.clone(), v),
                Read::Unmapped => unmapped.push(spec.name.to_string()),
            }
        }
        for (path, kind) in &self.genesys_match_extra {
            let key = path.get(body).and_then(|v| match kind {
                FieldKind::Phone => Self::genesys_phone(region, v).and_then(|p| p.key),
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
            // Genesys holds ISO codes; Salesforce the field's style.
            FieldKind::Country => {
                let style = match side {
                    Side::Genesys => country::CountryStyle::Alpha2,
                    Side::Salesforce => spec.country_style,
                };
                return Value::String(country::written_country(value, style).to_string());
            }
            FieldKind::Subdivision => {
                let style = match side {
                    Side::Genesys => country::CountryStyle::Alpha2,
                    Side::Salesforce => spec.country_style,
                };
                return Value::String(country::written_subdivision(value, style).to_string());
            }
            FieldKind::Phone if side == Side::Salesforce => {
                return Value::String(crate::phone::salesforce_text(value));
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
            // A phone sent back as read would be re-entered from the display Genesys rewrote
            // (`+1 02079460105` for a national `020 7946 0105`): send what was written.
            for slot in GENESYS_PHONE_SLOTS {
                if let Some(Value::Object(phone)) = map.get_mut(slot) {
                    if let Some(input) = phone.remove("userInput")
                        && input.is_string()
                    {
                        phone.insert("display".into(), input);
                    }
                    phone.remove("e164");
                    phone.remove("countryCode");
                }
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
                // Keep acceptsSMS / normalizationCountryCode; the server recomputes e164 from
                // display. The extension is part of the value.
                let mut phone = path
                    .get(body)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                for derived in ["e164", "userInput", "countryCode", "extension"] {
                    phone.remove(derived);
                }
                let written = GenesysPhone::of(v);
                phone.insert("display".into(), Value::String(written.display));
                if let Some(extension) = written.extension {
                    phone.insert("extension".into(), Value::from(extension));
                }
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
