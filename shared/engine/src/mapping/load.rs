//! Loading and validating a mapping file (YAML, `version: 1`).

use super::{
    AuditOptions, DeleteBreaker, DeletePolicy, Direction, FieldSpec, GENESYS_PHONE_SLOTS,
    GENESYS_READ_ONLY, GenesysPath, GenesysSchema, Mapping, MappingError, Mode, Policy,
    is_canonical_name, is_salesforce_field_name,
};
use crate::country::CountryStyle;
use crate::derivation::{Condition, Derivation, Template};
use crate::normalise::{Case, FieldKind, PhoneRegion};
use crate::side::Side;
use crate::value_map::{Unmapped, ValueMap};
use serde::Deserialize;
use std::collections::BTreeSet;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    version: u32,
    #[serde(default)]
    integration: Option<String>,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    phone_default_region: Option<String>,
    #[serde(default)]
    link: Option<LinkSection>,
    #[serde(default)]
    deletes: Option<DeletesSection>,
    #[serde(default)]
    genesys_schema: Option<GenesysSchema>,
    fields: Vec<FieldEntry>,
    #[serde(default)]
    matching: Option<MatchingSection>,
    #[serde(default)]
    audit: AuditOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkSection {
    genesys_external_source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeletesSection {
    #[serde(default)]
    policy: DeletePolicy,
    #[serde(default)]
    breaker: DeleteBreaker,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldEntry {
    name: String,
    #[serde(default)]
    kind: FieldKind,
    #[serde(default)]
    case: Option<Case>,
    #[serde(default)]
    salesforce: Option<String>,
    #[serde(default)]
    genesys: Option<String>,
    #[serde(default)]
    direction: Option<Direction>,
    #[serde(default)]
    policy: Option<Policy>,
    #[serde(default = "default_reject_empty")]
    reject_empty: bool,
    #[serde(default)]
    values: Option<Vec<ValueEntry>>,
    #[serde(default)]
    unmapped: Option<Unmapped>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    when: Option<String>,
    #[serde(default)]
    then: Option<String>,
    #[serde(default, rename = "else")]
    otherwise: Option<String>,
    #[serde(default)]
    country_style: Option<CountryStyle>,
    #[serde(default)]
    country_field: Option<String>,
}

fn default_reject_empty() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValueEntry {
    salesforce: String,
    genesys: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchingSection {
    #[serde(default)]
    genesys_emails: Vec<String>,
    #[serde(default)]
    genesys_phones: Vec<String>,
}

/// Targets already taken, for duplicate detection.
#[derive(Default)]
struct Targets {
    names: BTreeSet<String>,
    salesforce: BTreeSet<String>,
    genesys: BTreeSet<String>,
}

impl Mapping {
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
        let deletes = file.deletes.unwrap_or(DeletesSection {
            policy: DeletePolicy::default(),
            breaker: DeleteBreaker::default(),
        });
        if file.audit.value_retention_days == 0 {
            return Err(err(
                None,
                "audit.value_retention_days must be at least 1 (values of an entry are kept that \
                 many days)"
                    .into(),
            ));
        }
        let breaker = deletes.breaker;
        if !(0.0..=1.0).contains(&breaker.max_share) {
            return Err(err(
                None,
                format!(
                    "deletes.breaker.max_share {} must be between 0 and 1",
                    breaker.max_share
                ),
            ));
        }
        let mut targets = Targets::default();
        let mut synced = Vec::new();
        let mut derived = Vec::new();
        for entry in file.fields {
            let name = entry.name.clone();
            let spec = field_spec(entry, file.mode, &mut targets)
                .map_err(|message| err(Some(&name), message))?;
            if spec.derive.is_some() {
                derived.push(spec);
            } else {
                synced.push(spec);
            }
        }
        // Derived fields read synced fields only (their values are merged first).
        for spec in &derived {
            for used in spec
                .derive
                .as_ref()
                .map(Derivation::fields)
                .unwrap_or_default()
            {
                if !synced.iter().any(|s| &*s.name == used) {
                    let what = if derived.iter().any(|d| &*d.name == used) {
                        "a derived field (derived fields read synced fields only)"
                    } else {
                        "not a mapped field"
                    };
                    return Err(err(
                        Some(&spec.name),
                        format!("unknown field `{used}` in template or condition: {what}"),
                    ));
                }
            }
        }
        // Subdivision fields are resolved in the record's country: the country field they name,
        // or the only one.
        let countries: Vec<std::sync::Arc<str>> = synced
            .iter()
            .filter(|f| f.kind == FieldKind::Country)
            .map(|f| f.name.clone())
            .collect();
        for spec in synced.iter_mut().chain(derived.iter_mut()) {
            if spec.kind != FieldKind::Subdivision {
                continue;
            }
            let country = match spec.in_country.take() {
                Some(named) => countries
                    .iter()
                    .find(|c| c.as_ref() == named.as_ref())
                    .cloned()
                    .ok_or_else(|| {
                        err(
                            Some(&spec.name),
                            format!(
                                "country_field `{named}` is not a synced field of `kind: country`"
                            ),
                        )
                    })?,
                None => match countries.as_slice() {
                    [one] => one.clone(),
                    [] => {
                        return Err(err(
                            Some(&spec.name),
                            "a subdivision is resolved in the record's country: map a field of `kind: country`".into(),
                        ));
                    }
                    _ => {
                        return Err(err(
                            Some(&spec.name),
                            "several fields are of `kind: country`: name this one's with `country_field`".into(),
                        ));
                    }
                },
            };
            spec.in_country = Some(country);
        }
        let mut fields = synced;
        fields.extend(derived);
        if file.genesys_schema.is_none()
            && let Some(custom) = fields
                .iter()
                .find(|f| f.genesys.as_ref().is_some_and(GenesysPath::is_custom_field))
        {
            return Err(err(
                Some(&custom.name),
                "Genesys customFields need `genesys_schema: {id, version}` (the data schema they belong to)"
                    .into(),
            ));
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
        let mut genesys_match_extra = Vec::new();
        let slots = parse_paths(&matching.genesys_emails, false)?
            .into_iter()
            .map(|p| (p, FieldKind::Email))
            .chain(
                parse_paths(&matching.genesys_phones, true)?
                    .into_iter()
                    .map(|p| (p, FieldKind::Phone)),
            );
        for (path, kind) in slots {
            // A field of the same kind that reads this slot as a match key would (no case
            // transform, no value map) gives the key; otherwise the slot is read on its own.
            let reader = fields.iter_mut().find(|f| {
                f.genesys.as_ref() == Some(&path)
                    && f.kind == kind
                    && f.case.is_none()
                    && f.values.is_none()
                    && f.derive.is_none()
            });
            match reader {
                Some(field) => field.genesys_match = Some(kind),
                None => genesys_match_extra.push((path, kind)),
            }
        }
        let country_field = fields
            .iter()
            .position(|f| f.kind == FieldKind::Country && f.derive.is_none());
        Ok(Mapping {
            country_field,
            integration: file.integration.unwrap_or_else(|| "default".to_string()),
            mode: file.mode,
            phone_region,
            link_source_name,
            genesys_match_extra,
            fields,
            delete_policy: deletes.policy,
            delete_breaker: breaker,
            genesys_schema: file.genesys_schema,
            audit: file.audit,
        })
    }
}

/// Validates one field entry; the error is the message (the caller adds file and field).
fn field_spec(entry: FieldEntry, mode: Mode, targets: &mut Targets) -> Result<FieldSpec, String> {
    let name = entry.name.as_str();
    if !is_canonical_name(name) {
        return Err(
            "name must be lower-case letters, digits, `_` and `.` (e.g. `address.city`)".into(),
        );
    }
    if !targets.names.insert(name.to_string()) {
        return Err("mapped twice".into());
    }
    let salesforce = entry
        .salesforce
        .as_deref()
        .map(|sf| salesforce_target(sf, targets))
        .transpose()?;
    let genesys = entry
        .genesys
        .as_deref()
        .map(|gz| genesys_target(gz, entry.kind, targets))
        .transpose()?;
    let derive = derivation(&entry)?;
    if entry.case.is_some() && entry.kind != FieldKind::Text {
        return Err("`case` applies to text fields only".into());
    }
    let (country_style, unresolved) = place_options(&entry)?;
    let in_country = entry.country_field.as_deref().map(Into::into);

    if let Some(derive) = derive {
        let into = match (&salesforce, &genesys) {
            (Some(_), None) => Side::Salesforce,
            (None, Some(_)) => Side::Genesys,
            _ => {
                return Err(
                    "a derived field (template / when) is written to one side: give `salesforce` or `genesys`, not both"
                        .into(),
                );
            }
        };
        if entry.direction.is_some() || entry.policy.is_some() {
            return Err(
                "a derived field takes no direction or policy (it is computed, then written to its side)"
                    .into(),
            );
        }
        if entry.values.is_some() {
            return Err("`values` cannot be combined with `template` / `when`".into());
        }
        if mode == Mode::OneWay && into == Side::Salesforce {
            return Err(
                "mode `one_way` never writes Salesforce: a derived field must target `genesys`"
                    .into(),
            );
        }
        return Ok(FieldSpec {
            genesys_match: None,
            name: entry.name.into(),
            kind: entry.kind,
            case: entry.case,
            direction: match into {
                Side::Salesforce => Direction::GenesysToSalesforce,
                Side::Genesys => Direction::SalesforceToGenesys,
            },
            salesforce,
            genesys,
            policy: None,
            reject_empty: entry.reject_empty,
            values: None,
            derive: Some(derive),
            country_style,
            unresolved,
            in_country,
        });
    }

    let (Some(salesforce), Some(genesys)) = (salesforce, genesys) else {
        return Err(
            "needs both `salesforce` and `genesys` (or a `template` / `when` to derive it into one side)"
                .into(),
        );
    };
    let direction = match (mode, entry.direction) {
        (Mode::OneWay, None | Some(Direction::SalesforceToGenesys)) => {
            Direction::SalesforceToGenesys
        }
        (Mode::OneWay, Some(d)) => {
            return Err(format!(
                "direction `{}` contradicts mode `one_way` (everything flows salesforce_to_genesys)",
                d.as_str()
            ));
        }
        (Mode::Both, Some(d)) => d,
        (Mode::Both, None) => {
            return Err(
                "`direction` is required (both, salesforce_to_genesys or genesys_to_salesforce)"
                    .into(),
            );
        }
    };
    let policy = match (direction.owner(), entry.policy) {
        (None, None) => {
            return Err(
                "direction `both` needs a policy (salesforce_wins, genesys_wins, newest_wins or manual)"
                    .into(),
            );
        }
        (None, Some(p)) => Some(p),
        (Some(_), None) => None,
        (Some(owner), Some(p)) => {
            let consistent = matches!(
                (owner, p),
                (Side::Salesforce, Policy::SalesforceWins) | (Side::Genesys, Policy::GenesysWins)
            );
            if !consistent {
                return Err(format!(
                    "direction `{}` contradicts policy `{}`: on a one-way field the {owner} side always wins (drop the policy)",
                    direction.as_str(),
                    p.as_str()
                ));
            }
            None
        }
    };
    let values = match entry.values {
        None if matches!(entry.kind, FieldKind::Country | FieldKind::Subdivision) => None,
        None => {
            if entry.unmapped.is_some() || entry.default.is_some() {
                return Err("`unmapped` and `default` belong to a `values` map".into());
            }
            None
        }
        Some(values) => {
            if !matches!(entry.kind, FieldKind::Text) {
                return Err("`values` maps apply to text (picklist) fields".into());
            }
            Some(ValueMap::new(
                values
                    .into_iter()
                    .map(|v| (v.salesforce.trim().into(), v.genesys.trim().into()))
                    .collect(),
                entry.unmapped.unwrap_or_default(),
                entry.default.map(|d| d.trim().to_string()),
            )?)
        }
    };
    Ok(FieldSpec {
        genesys_match: None,
        name: entry.name.into(),
        kind: entry.kind,
        case: entry.case,
        salesforce: Some(salesforce),
        genesys: Some(genesys),
        direction,
        policy,
        reject_empty: entry.reject_empty,
        values,
        derive: None,
        country_style,
        unresolved,
        in_country,
    })
}

/// The options of country and subdivision fields: the Salesforce style and the rule for a
/// value that resolves to none (default `copy`); refused on other kinds.
fn place_options(entry: &FieldEntry) -> Result<(CountryStyle, Unmapped), String> {
    let place = matches!(entry.kind, FieldKind::Country | FieldKind::Subdivision);
    if !place {
        if entry.country_style.is_some() {
            return Err(
                "`country_style` applies to fields of `kind: country` or `kind: subdivision`"
                    .into(),
            );
        }
        if entry.country_field.is_some() {
            return Err("`country_field` applies to fields of `kind: subdivision`".into());
        }
        return Ok((CountryStyle::default(), Unmapped::Copy));
    }
    if entry.country_field.is_some() && entry.kind != FieldKind::Subdivision {
        return Err("`country_field` applies to fields of `kind: subdivision`".into());
    }
    if entry.values.is_some() {
        return Err(
            "a field of `kind: country` or `kind: subdivision` resolves ISO codes itself: drop `values` (or keep a value map on a `kind: text` field)"
                .into(),
        );
    }
    if entry.default.is_some() {
        return Err("`default` belongs to a `values` map".into());
    }
    let unresolved = match entry.unmapped {
        None => Unmapped::Copy,
        Some(Unmapped::Default) => {
            return Err(
                "`unmapped: default` needs a `values` map; a country or subdivision takes copy, skip or review"
                    .into(),
            );
        }
        Some(rule) => rule,
    };
    Ok((entry.country_style.unwrap_or_default(), unresolved))
}

fn salesforce_target(sf: &str, targets: &mut Targets) -> Result<String, String> {
    if !is_salesforce_field_name(sf) {
        return Err(format!(
            "salesforce field `{sf}` is not a valid API name (letters, digits, `_`; e.g. `Phone`, `Score__c`)"
        ));
    }
    if matches!(sf, "Id" | "SystemModstamp" | "IsDeleted" | "MasterRecordId") {
        return Err(format!(
            "salesforce field `{sf}` is managed by the sync and cannot be mapped"
        ));
    }
    if !targets.salesforce.insert(sf.to_ascii_lowercase()) {
        return Err(format!(
            "duplicate target: salesforce field `{sf}` is already mapped"
        ));
    }
    Ok(sf.to_string())
}

fn genesys_target(gz: &str, kind: FieldKind, targets: &mut Targets) -> Result<GenesysPath, String> {
    let genesys = GenesysPath::parse(gz)?;
    let root = genesys.0[0].as_str();
    if matches!(root, "id" | "externalIds" | "externalSystemUrl" | "schema")
        || GENESYS_READ_ONLY.contains(&root)
    {
        return Err(format!(
            "genesys path `{genesys}` is managed by the sync or read-only and cannot be mapped"
        ));
    }
    if genesys.is_custom_field() && genesys.0.len() != 2 {
        return Err(format!(
            "genesys path `{genesys}`: a custom field is `customFields.<name>`"
        ));
    }
    if !targets.genesys.insert(genesys.to_string()) {
        return Err(format!(
            "duplicate target: genesys path `{genesys}` is already mapped"
        ));
    }
    if kind == FieldKind::Phone && !genesys.is_phone_slot() {
        return Err(format!(
            "a phone field must map to a Genesys phone slot ({}), not `{genesys}`",
            GENESYS_PHONE_SLOTS.join(", ")
        ));
    }
    if kind != FieldKind::Phone && genesys.is_phone_slot() {
        return Err(format!(
            "`{genesys}` is a Genesys phone slot: set `kind: phone`"
        ));
    }
    Ok(genesys)
}

fn derivation(entry: &FieldEntry) -> Result<Option<Derivation>, String> {
    let bad = |e: crate::derivation::DerivationError| e.to_string();
    match (&entry.template, &entry.when, &entry.then, &entry.otherwise) {
        (None, None, None, None) => Ok(None),
        (Some(t), None, None, None) => {
            Ok(Some(Derivation::Template(Template::parse(t).map_err(bad)?)))
        }
        (None, Some(when), Some(then), Some(otherwise)) => Ok(Some(Derivation::Conditional {
            when: Condition::parse(when).map_err(bad)?,
            then: Template::parse(then).map_err(bad)?,
            otherwise: Template::parse(otherwise).map_err(bad)?,
        })),
        (Some(_), _, _, _) => Err("use either `template` or `when`/`then`/`else`, not both".into()),
        _ => Err("a conditional needs all of `when`, `then` and `else`".into()),
    }
}
