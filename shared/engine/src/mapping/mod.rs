//! The mapping configuration: which canonical field lives in which Salesforce field and which
//! Genesys path, in which direction it flows, which policy settles a conflict, and how values
//! are transformed on the way (case, E.164, value maps, templates, conditionals). Loaded from
//! YAML and validated up front ([`load`]), so a bad config fails before any record is touched,
//! with a message naming the file, the field and what is wrong.
//!
//! The mapping also translates between the systems' raw JSON and canonical contacts, both ways
//! ([`records`]).

mod load;
mod records;

use crate::country::CountryStyle;
use crate::derivation::Derivation;
use crate::normalise::{Case, FieldKind, PhoneRegion};
use crate::side::Side;
use crate::value_map::{Unmapped, ValueMap};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::Arc;

pub use records::{remove_genesys_link, set_genesys_link};

/// The default mapping shipped with the product (see `infra/mapping.default.yaml`).
pub const DEFAULT_MAPPING_YAML: &str = include_str!("../../../../infra/mapping.default.yaml");

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

/// What the integration does as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Fields flow as each one's `direction` says.
    #[default]
    Both,
    /// Salesforce → Genesys mirror: every field flows one way and nothing is ever written to
    /// Salesforce (the integration holds no Salesforce writer at all).
    OneWay,
}

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

    fn as_str(self) -> &'static str {
        match self {
            Direction::Both => "both",
            Direction::SalesforceToGenesys => "salesforce_to_genesys",
            Direction::GenesysToSalesforce => "genesys_to_salesforce",
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

/// What happens to the other record when a linked record is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletePolicy {
    /// Delete the other record too (never from Salesforce in one-way mode).
    Propagate,
    /// Keep the other record, stop syncing it, and notify.
    #[default]
    Unlink,
    /// Keep the other record and stop syncing it, without a notification.
    Ignore,
}

/// The delete circuit breaker: a run (or a reconcile batch) that would delete or unlink more
/// than `max_count` records, or more than `max_share` of at least `min_population` records,
/// holds its deletes and alerts instead.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteBreaker {
    #[serde(default = "DeleteBreaker::default_max_count")]
    pub max_count: usize,
    #[serde(default = "DeleteBreaker::default_max_share")]
    pub max_share: f64,
    #[serde(default = "DeleteBreaker::default_min_population")]
    pub min_population: usize,
}

impl DeleteBreaker {
    fn default_max_count() -> usize {
        100
    }
    fn default_max_share() -> f64 {
        0.2
    }
    fn default_min_population() -> usize {
        20
    }

    /// True when `deletes` out of `population` records is too many to apply unattended.
    pub fn trips(&self, deletes: usize, population: usize) -> bool {
        deletes > self.max_count
            || (population >= self.min_population
                && deletes as f64 > self.max_share * population as f64)
    }
}

impl Default for DeleteBreaker {
    fn default() -> Self {
        DeleteBreaker {
            max_count: Self::default_max_count(),
            max_share: Self::default_max_share(),
            min_population: Self::default_min_population(),
        }
    }
}

/// What the audit keeps: the values in audit entries (base, Salesforce, Genesys, a refusal's
/// message) are dropped `value_retention_days` after the entry was recorded, while ids, fields,
/// decisions and times stay. Open review items keep their values until they are closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditOptions {
    #[serde(default = "AuditOptions::default_value_retention_days")]
    pub value_retention_days: u32,
}

impl AuditOptions {
    fn default_value_retention_days() -> u32 {
        90
    }

    /// How long an audit entry keeps its values.
    pub fn value_retention(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.value_retention_days))
    }
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            value_retention_days: Self::default_value_retention_days(),
        }
    }
}

/// The Genesys data schema custom fields belong to (`schema` on a contact).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesysSchema {
    pub id: String,
    pub version: u32,
}

/// A dotted path into a Genesys `ExternalContact` (`firstName`, `address.city`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesysPath(pub(crate) Vec<String>);

impl GenesysPath {
    pub(crate) fn parse(path: &str) -> Result<GenesysPath, String> {
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

    pub(crate) fn get<'a>(&self, body: &'a Value) -> Option<&'a Value> {
        self.0.iter().try_fold(body, |node, key| node.get(key))
    }

    pub(crate) fn set(&self, body: &mut Value, value: Option<Value>) {
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

    pub(crate) fn is_phone_slot(&self) -> bool {
        self.0.len() == 1 && GENESYS_PHONE_SLOTS.contains(&self.0[0].as_str())
    }
}

impl fmt::Display for GenesysPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

impl GenesysPath {
    /// True for a path under `customFields` (needs the contact's `schema`).
    pub(crate) fn is_custom_field(&self) -> bool {
        self.0.first().is_some_and(|s| s == "customFields")
    }
}

/// One mapped field, validated.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// Canonical name (`email`, `address.city`); shared with every record's keys.
    pub name: Arc<str>,
    pub kind: FieldKind,
    /// Case transform for text.
    pub case: Option<Case>,
    /// Salesforce Contact field API name; `None` for a field derived into Genesys.
    pub salesforce: Option<String>,
    /// Genesys path; `None` for a field derived into Salesforce.
    pub genesys: Option<GenesysPath>,
    pub direction: Direction,
    /// `None` for one-way and derived fields, where the owner always wins.
    pub policy: Option<Policy>,
    /// An empty value never overwrites a non-empty one (default true).
    pub reject_empty: bool,
    /// Picklist value map (canonical = Salesforce value).
    pub values: Option<ValueMap>,
    /// For a derived field: how its value is computed from the other fields.
    pub derive: Option<Derivation>,
    /// Country and subdivision fields: how values are written to Salesforce.
    pub country_style: CountryStyle,
    /// Country and subdivision fields: what a value that resolves to no country (or no
    /// subdivision) does; `copy` (the default) syncs it as typed.
    pub unresolved: Unmapped,
    /// A subdivision field: the canonical name of the country field its values are resolved in.
    pub in_country: Option<Arc<str>>,
    /// Set when this field's Genesys value, as read, is also a match key (its path is one of
    /// the matching slots): the record reads the slot once for both.
    pub(crate) genesys_match: Option<FieldKind>,
}

impl FieldSpec {
    /// For a derived field, the one side it is written to.
    pub fn derived_into(&self) -> Option<Side> {
        self.derive.as_ref()?;
        Some(if self.salesforce.is_some() {
            Side::Salesforce
        } else {
            Side::Genesys
        })
    }

    /// The rule for a value the field cannot translate (a value map's, or a country's), if
    /// the field has one.
    pub fn unmapped_rule(&self) -> Option<Unmapped> {
        match (&self.values, self.kind) {
            (Some(map), _) => Some(map.unmapped),
            (None, FieldKind::Country | FieldKind::Subdivision) => Some(self.unresolved),
            _ => None,
        }
    }

    /// True when the side has a place for this field.
    pub fn exists_on(&self, side: Side) -> bool {
        match side {
            Side::Salesforce => self.salesforce.is_some(),
            Side::Genesys => self.genesys.is_some(),
        }
    }
}

/// A loaded, validated mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub integration: String,
    pub mode: Mode,
    pub phone_region: PhoneRegion,
    pub link_source_name: String,
    /// Synced fields first (in file order), then derived fields (in file order).
    pub fields: Vec<FieldSpec>,
    pub delete_policy: DeletePolicy,
    pub delete_breaker: DeleteBreaker,
    pub genesys_schema: Option<GenesysSchema>,
    pub audit: AuditOptions,
    /// Matching slots no field reads (each read on its own), with the key's kind.
    genesys_match_extra: Vec<(GenesysPath, FieldKind)>,
    /// The first synced `kind: country` field: a record's phones are read in its country.
    country_field: Option<usize>,
}

/// A config that cannot be used. Display names the file, the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {}{message}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct MappingError {
    pub source_name: String,
    pub field: Option<String>,
    pub message: String,
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

    /// Salesforce fields a read must select (besides `Id` and `SystemModstamp`).
    pub fn salesforce_fields(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter_map(|f| f.salesforce.clone())
            .collect()
    }

    /// Switches country and subdivision fields mapped to a standard Salesforce address field
    /// (`MailingCountry`, `MailingState`, ...) to its code field (`MailingCountryCode`, ...)
    /// when the org has it (State and Country picklists enabled; `has_field` answers from the
    /// Contact describe): the code field is then read and written, with codes. Returns the
    /// `(canonical field, code field)` pairs switched. Custom fields (`__c`) never switch.
    pub fn use_salesforce_code_fields(
        &mut self,
        has_field: impl Fn(&str) -> bool,
    ) -> Vec<(Arc<str>, String)> {
        let mut switched = Vec::new();
        for i in 0..self.fields.len() {
            let spec = &self.fields[i];
            if !matches!(spec.kind, FieldKind::Country | FieldKind::Subdivision) {
                continue;
            }
            let Some(sf) = spec.salesforce.as_deref() else {
                continue;
            };
            if sf.ends_with("__c") || !(sf.ends_with("Country") || sf.ends_with("State")) {
                continue;
            }
            let code = format!("{sf}Code");
            let taken = self.fields.iter().any(|f| {
                f.salesforce
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&code))
            });
            if taken || !has_field(&code) {
                continue;
            }
            let spec = &mut self.fields[i];
            spec.salesforce = Some(code.clone());
            spec.country_style = CountryStyle::Alpha2;
            switched.push((spec.name.clone(), code));
        }
        switched
    }

    /// The Salesforce field holding the email used for matching, if one is mapped.
    pub fn salesforce_email_field(&self) -> Option<&str> {
        self.fields
            .iter()
            .filter(|f| f.kind == FieldKind::Email && f.derive.is_none())
            .find_map(|f| f.salesforce.as_deref())
    }

    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| &*f.name == name)
    }

    /// True when nothing may ever be written to Salesforce.
    pub fn is_one_way(&self) -> bool {
        self.mode == Mode::OneWay
    }

    /// A value chosen by a person for `field` (manual resolution), normalised like a read
    /// value. Errors say why the value cannot be used.
    pub fn normalise_choice(&self, field: &str, value: &str) -> Result<Option<String>, String> {
        let spec = self
            .field(field)
            .ok_or_else(|| format!("`{field}` is not a mapped field"))?;
        if spec.derive.is_some() {
            return Err(format!("`{field}` is derived; it cannot be chosen"));
        }
        let normalised = self.normalise_text(spec, self.phone_region, value);
        if spec.kind == FieldKind::Subdivision
            && let Some(v) = &normalised
            && crate::country::subdivision(None, v).is_none()
            && spec.unresolved != Unmapped::Copy
        {
            return Err(format!(
                "`{v}` is no full ISO 3166-2 code (e.g. `US-IN`); `{field}` keeps only resolved values"
            ));
        }
        if spec.kind == FieldKind::Country
            && let Some(v) = &normalised
            && crate::country::resolve(v).is_none()
            && spec.unresolved != Unmapped::Copy
        {
            return Err(format!(
                "`{v}` names no country; `{field}` keeps only resolved values"
            ));
        }
        if let (Some(map), Some(v)) = (&spec.values, &normalised)
            && !map.knows(v)
        {
            return Err(format!(
                "`{v}` is not one of the salesforce values of `{field}`'s value map"
            ));
        }
        Ok(normalised)
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
    if !id.bytes().all(|c| c.is_ascii_alphanumeric()) {
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
    use crate::contact::CanonicalContact;
    use chrono::Utc;
    use serde_json::json;

    fn load(yaml: &str) -> Result<Mapping, MappingError> {
        Mapping::from_yaml(yaml, "test.yaml")
    }

    #[test]
    fn default_mapping_loads_with_the_seeds_table() {
        // GIVEN the built-in default WHEN loaded THEN it has the issue's fields and policies
        let m = Mapping::default_mapping();
        let policy = |n: &str| m.field(n).and_then(|f| f.policy);
        assert_eq!(policy("first_name"), Some(Policy::SalesforceWins));
        assert_eq!(policy("email"), Some(Policy::NewestWins));
        assert_eq!(policy("phone_work"), Some(Policy::NewestWins));
        assert_eq!(
            m.field("address.country")
                .and_then(|f| f.salesforce.as_deref()),
            Some("MailingCountry")
        );
        assert_eq!(m.link_source_name, "Salesforce");
        // Country names in Salesforce, ISO codes in Genesys: one value, no conflict
        let sf = m.salesforce_record(
            "003000000000001AAA",
            Utc::now(),
            &json!({"MailingCountry": "Ireland"}),
        );
        let gz = m.genesys_record(
            "g1",
            Utc::now(),
            json!({"address": {"countryCode": "IE"}}),
            None,
        );
        assert_eq!(
            sf.fields.get("address.country"),
            gz.fields.get("address.country")
        );
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
            (
                format!("{ONE_FIELD}  - name: full_name\n    salesforce: Full_Name__c\n    template: \"{{first_name}} {{last_name}}\"\n"),
                "field `full_name`: unknown field `first_name` in template or condition: not a mapped field",
            ),
            (
                format!("{ONE_FIELD}  - name: full_name\n    salesforce: Full_Name__c\n    template: \"{{title\"\n"),
                "field `full_name`: bad template",
            ),
            (
                format!("{ONE_FIELD}  - name: full_name\n    salesforce: Full_Name__c\n    genesys: customFields.full_name\n    template: \"{{title}}\"\n"),
                "written to one side",
            ),
            (
                format!("{ONE_FIELD}  - name: temperature\n    genesys: department\n    when: \"title >= \"\n    then: Hot\n    else: Warm\n"),
                "field `temperature`: bad condition",
            ),
            (
                format!("mode: one_way\n{ONE_FIELD}"),
                "direction `both` contradicts mode `one_way`",
            ),
            (
                format!("mode: one_way\n{ONE_FIELD}  - name: x\n    salesforce: X__c\n    template: \"{{title}}\"\n").replace("    direction: both\n    policy: newest_wins\n", ""),
                "field `x`: mode `one_way` never writes Salesforce",
            ),
            (
                ONE_FIELD.replace("genesys: title", "genesys: customFields.title"),
                "customFields need `genesys_schema",
            ),
            (
                ONE_FIELD.replace("    policy: newest_wins\n", "    policy: newest_wins\n    values:\n      - {salesforce: Hot, genesys: HOT}\n    unmapped: default\n"),
                "field `title`: `unmapped: default` needs a `default`",
            ),
            (
                ONE_FIELD.replace("    policy: newest_wins\n", "    policy: newest_wins\n    default: Hot\n"),
                "belong to a `values` map",
            ),
            (
                format!("deletes:\n  policy: shred\n{ONE_FIELD}"),
                "unknown variant `shred`",
            ),
            (
                format!("deletes:\n  breaker: {{max_share: 3}}\n{ONE_FIELD}"),
                "max_share 3 must be between 0 and 1",
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

    const RICH: &str = r#"
version: 1
mode: both
genesys_schema: {id: schema-1, version: 4}
deletes: {policy: propagate, breaker: {max_count: 10}}
fields:
  - {name: first_name, salesforce: FirstName, genesys: firstName, direction: both, policy: salesforce_wins, case: title}
  - {name: last_name, salesforce: LastName, genesys: lastName, direction: both, policy: salesforce_wins}
  - name: country
    salesforce: MailingCountry
    genesys: address.countryCode
    direction: both
    policy: salesforce_wins
    values:
      - {salesforce: United States, genesys: US}
      - {salesforce: Ireland, genesys: IE}
    unmapped: review
  - {name: lead_score, kind: number, salesforce: Lead_Score__c, genesys: customFields.lead_score, direction: salesforce_to_genesys}
  - {name: vip, kind: boolean, salesforce: VIP__c, genesys: customFields.vip, direction: both, policy: newest_wins, reject_empty: false}
  - {name: full_name, salesforce: Full_Name__c, template: "{first_name} {last_name}"}
  - {name: temperature, genesys: customFields.temperature, when: "lead_score >= 75", then: Hot, else: Warm}
"#;

    #[test]
    fn a_rich_mapping_loads_with_every_feature() {
        // GIVEN a mapping with case, value map, custom fields, typed kinds, template, conditional
        let m = load(RICH).expect("valid");
        // THEN derived fields come after the synced ones and know their side
        let names: Vec<&str> = m.fields.iter().map(|f| &*f.name).collect();
        assert_eq!(
            names,
            vec![
                "first_name",
                "last_name",
                "country",
                "lead_score",
                "vip",
                "full_name",
                "temperature"
            ]
        );
        assert_eq!(
            m.field("full_name").unwrap().derived_into(),
            Some(Side::Salesforce)
        );
        assert_eq!(
            m.field("temperature").unwrap().derived_into(),
            Some(Side::Genesys)
        );
        assert!(!m.field("vip").unwrap().reject_empty);
        assert!(m.field("country").unwrap().reject_empty);
        assert_eq!(m.delete_policy, DeletePolicy::Propagate);
        assert_eq!(m.delete_breaker.max_count, 10);
        assert_eq!(m.salesforce_fields().len(), 6);
    }

    #[test]
    fn rich_records_read_through_transforms_and_value_maps() {
        // GIVEN records of both sides with typed, cased and picklist values
        let m = load(RICH).unwrap();
        let sf = m.salesforce_record(
            "003000000000001AAA",
            Utc::now(),
            &json!({"FirstName": "ANA", "MailingCountry": "Ireland", "Lead_Score__c": 80.0, "VIP__c": true, "Full_Name__c": "Ana Lopez"}),
        );
        let gz = m.genesys_record(
            "g1",
            Utc::now(),
            json!({"firstName": "ana", "address": {"countryCode": "FR"}, "customFields": {"lead_score": 80, "vip": "yes", "temperature": "Hot"}}),
            None,
        );
        // THEN both read the same canonical values, and the unknown Genesys country is unmapped
        assert_eq!(sf.fields.get("first_name"), Some("Ana"));
        assert_eq!(gz.fields.get("first_name"), Some("Ana"));
        assert_eq!(sf.fields.get("country"), Some("Ireland"));
        assert_eq!(gz.fields.get("country"), None);
        assert_eq!(gz.unmapped, vec!["country".to_string()]);
        assert_eq!(sf.fields.get("lead_score"), Some("80"));
        assert_eq!(gz.fields.get("lead_score"), Some("80"));
        assert_eq!(
            (sf.fields.get("vip"), gz.fields.get("vip")),
            (Some("true"), Some("true"))
        );
        assert_eq!(sf.fields.get("full_name"), Some("Ana Lopez"));
        assert_eq!(gz.fields.get("temperature"), Some("Hot"));
    }

    #[test]
    fn rich_bodies_are_typed_translated_and_carry_the_schema() {
        // GIVEN canonical values
        let m = load(RICH).unwrap();
        let values = CanonicalContact::new()
            .with("country", "United States")
            .with("lead_score", "80")
            .with("vip", "false")
            .with("full_name", "Ana Lopez")
            .with("temperature", "Hot");
        // WHEN bodies are built for both sides
        let link = GenesysLink::new("src-1", "003000000000001AAA", None);
        let gz = m.genesys_create_body(&values, &link);
        let sf = m.salesforce_create_body(&values);
        // THEN Genesys gets its picklist value, typed custom fields and the schema
        assert_eq!(gz["address"]["countryCode"], "US");
        assert_eq!(
            gz["customFields"],
            json!({"lead_score": 80, "vip": false, "temperature": "Hot"})
        );
        assert_eq!(gz["schema"], json!({"id": "schema-1", "version": 4}));
        assert!(gz.get("full_name").is_none());
        // AND Salesforce gets typed fields and the template, but nothing derived for Genesys
        assert_eq!(sf["Lead_Score__c"], json!(80));
        assert_eq!(sf["VIP__c"], json!(false));
        assert_eq!(sf["Full_Name__c"], "Ana Lopez");
        assert_eq!(sf["MailingCountry"], "United States");
        assert!(sf.as_object().unwrap().keys().all(|k| k != "temperature"));
    }

    #[test]
    fn choices_are_normalised_and_checked_against_value_maps() {
        let m = load(RICH).unwrap();
        assert_eq!(
            m.normalise_choice("first_name", " ana "),
            Ok(Some("Ana".into()))
        );
        assert!(
            m.normalise_choice("country", "France")
                .unwrap_err()
                .contains("not one of")
        );
        assert!(
            m.normalise_choice("full_name", "x")
                .unwrap_err()
                .contains("derived")
        );
        assert!(
            m.normalise_choice("nope", "x")
                .unwrap_err()
                .contains("not a mapped field")
        );
    }

    #[test]
    fn audit_value_retention_defaults_to_90_days_and_refuses_zero() {
        // GIVEN the built-in mapping, and the same with an audit section of 30 and of 0 days
        let default = Mapping::default_mapping();
        let with = |days: &str| {
            Mapping::from_yaml(
                &format!("{DEFAULT_MAPPING_YAML}\naudit:\n  value_retention_days: {days}\n"),
                "test",
            )
        };
        // THEN the default keeps values 90 days, 30 is taken as written, and 0 is refused
        assert_eq!(default.audit.value_retention(), chrono::Duration::days(90));
        assert_eq!(with("30").unwrap().audit.value_retention_days, 30);
        let error = with("0").unwrap_err();
        assert!(error.message.contains("value_retention_days"), "{error}");
        // AND an unknown key in the section is refused too
        assert!(
            Mapping::from_yaml(
                &format!("{DEFAULT_MAPPING_YAML}\naudit:\n  retention: 3\n"),
                "test"
            )
            .is_err()
        );
    }

    #[test]
    fn the_breaker_trips_on_count_or_share() {
        // GIVEN the default breaker (100 records, 20% of at least 20)
        let b = DeleteBreaker::default();
        // THEN small populations only trip on the count, large ones on the share
        assert!(!b.trips(5, 10));
        assert!(!b.trips(4, 20));
        assert!(b.trips(5, 20));
        assert!(b.trips(101, 1_000_000));
        assert!(!b.trips(100, 1_000_000));
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
            "cellPhone": {"display": "+1 02079460105", "userInput": "020 7946 0105", "e164": "+102079460105", "acceptsSMS": true},
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
        // THEN only those change (the extension is part of the phone's value, so a value
        // without one clears it), e164 is left to the server
        assert_eq!(body["workPhone"], json!({"display": "+14155550100"}));
        // AND an unchanged phone is sent back as it was written, not as Genesys rewrote it
        assert_eq!(
            body["cellPhone"],
            json!({"display": "020 7946 0105", "acceptsSMS": true})
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
