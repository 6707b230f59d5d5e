//! State and Country picklists (an org setting, off by default): the Contact then has
//! `MailingCountryCode` and `MailingStateCode`, picklists of ISO 3166 codes (states depend on
//! the country), and the text fields `MailingCountry` / `MailingState` follow them, holding
//! the picklist labels. A write may set either the code or the label; a value that is in no
//! picklist is refused with `FIELD_INTEGRITY_EXCEPTION`.
//!
//! The codes and labels come from the ISO data of the `keshvar` crate (labels: the ISO English
//! short names and ISO 3166-2 names); a real org's labels may differ (its default list calls
//! US "United States"), which a client reading the code fields never sees.

use serde_json::{Map, Value};

use super::contact::RecordError;

pub(crate) const COUNTRY_CODE: &str = "MailingCountryCode";
pub(crate) const STATE_CODE: &str = "MailingStateCode";
const COUNTRY: &str = "MailingCountry";
const STATE: &str = "MailingState";

/// The code fields the setting adds, in describe order.
pub(crate) const CODE_FIELDS: [&str; 2] = [STATE_CODE, COUNTRY_CODE];

fn country_of_code(code: &str) -> Option<keshvar::Country> {
    let alpha2 = keshvar::Alpha2::try_from(code).ok()?;
    Some(alpha2.to_country())
}

fn country_of_label(label: &str) -> Option<keshvar::Country> {
    keshvar::CountryIterator::new().find(|c| c.iso_short_name().eq_ignore_ascii_case(label))
}

/// `(code, label)` of the state `value` names (its code or its label) in `country`.
fn state_of(country: &keshvar::Country, value: &str) -> Option<(&'static str, &'static str)> {
    country
        .subdivisions()
        .values()
        .find(|s| s.code().eq_ignore_ascii_case(value) || s.name().eq_ignore_ascii_case(value))
        .map(|s| (s.code(), s.name()))
}

/// Every country code with its label (the describe's `picklistValues`).
pub(crate) fn country_values() -> Vec<Value> {
    keshvar::CountryIterator::new()
        .map(|c| {
            serde_json::json!({
                "value": c.alpha2().to_string(),
                "label": c.iso_short_name(),
                "active": true,
                "defaultValue": false,
            })
        })
        .collect()
}

fn integrity(field: &str, what: &str) -> RecordError {
    RecordError {
        status_code: "FIELD_INTEGRITY_EXCEPTION",
        message: format!(
            "There's a problem with this {what}, even though it may appear correct. Please select a {what} from the list of valid {what}s."
        ),
        fields: vec![field.to_string()],
    }
}

fn text(fields: &[(String, Value)], name: &str) -> Option<Option<String>> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str().map(str::to_string))
}

fn set(fields: &mut Vec<(String, Value)>, name: &str, value: Option<&str>) {
    let value = value.map_or(Value::Null, |v| Value::String(v.to_string()));
    match fields.iter_mut().find(|(n, _)| n == name) {
        Some((_, slot)) => *slot = value,
        None => fields.push((name.to_string(), value)),
    }
}

/// Checks the address fields of a validated write against the picklists and makes the code
/// and text fields agree, as the org does. `current` is the record before an update.
pub(crate) fn apply(
    fields: &mut Vec<(String, Value)>,
    current: Option<&Map<String, Value>>,
) -> Result<(), RecordError> {
    let current_text = |name: &str| {
        current
            .and_then(|r| r.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    // The country: the code wins when both are given (they must agree).
    let country = match (text(fields, COUNTRY_CODE), text(fields, COUNTRY)) {
        (Some(Some(code)), label) => {
            let country =
                country_of_code(&code).ok_or_else(|| integrity(COUNTRY_CODE, "country"))?;
            if let Some(Some(label)) = label
                && !country.iso_short_name().eq_ignore_ascii_case(&label)
                && !country.alpha2().to_string().eq_ignore_ascii_case(&label)
            {
                return Err(integrity(COUNTRY, "country"));
            }
            Some(country)
        }
        (Some(None), _) | (None, Some(None)) => None,
        (None, Some(Some(label))) => Some(
            country_of_label(&label)
                .or_else(|| country_of_code(&label))
                .ok_or_else(|| integrity(COUNTRY, "country"))?,
        ),
        (None, None) => current_text(COUNTRY_CODE).and_then(|c| country_of_code(&c)),
    };
    let country_written = text(fields, COUNTRY_CODE).is_some() || text(fields, COUNTRY).is_some();
    if country_written {
        let code = country.as_ref().map(|c| c.alpha2().to_string());
        set(fields, COUNTRY_CODE, code.as_deref());
        set(
            fields,
            COUNTRY,
            country.as_ref().map(|c| c.iso_short_name()),
        );
    }
    // The state, in the record's (new) country.
    let state = match (text(fields, STATE_CODE), text(fields, STATE)) {
        (Some(Some(value)), _) => Some((STATE_CODE, value)),
        (_, Some(Some(value))) => Some((STATE, value)),
        (Some(None), _) | (_, Some(None)) => {
            set(fields, STATE_CODE, None);
            set(fields, STATE, None);
            return Ok(());
        }
        (None, None) if country_written => current_text(STATE_CODE).map(|v| (STATE_CODE, v)),
        (None, None) => None,
    };
    if let Some((field, value)) = state {
        let country = country.as_ref().ok_or_else(|| integrity(field, "state"))?;
        let (code, label) = state_of(country, &value).ok_or_else(|| integrity(field, "state"))?;
        set(fields, STATE_CODE, Some(code));
        set(fields, STATE, Some(label));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::contact::{ContactStore, WriteMode};
    use chrono::Utc;
    use serde_json::{Map, Value, json};

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn store() -> ContactStore {
        let mut store = ContactStore::default();
        store.set_state_country_picklists(true);
        store
    }

    #[test]
    fn the_text_fields_follow_the_codes_and_unknown_values_are_refused() {
        // GIVEN an org with State and Country picklists
        let mut store = store();
        // WHEN a contact is created with codes THEN the text fields hold the labels
        let fields = store
            .validate(
                &object(
                    json!({"LastName": "L", "MailingCountryCode": "US", "MailingStateCode": "IN"}),
                ),
                WriteMode::Create,
            )
            .expect("valid codes");
        let id = store.create(fields, Utc::now());
        let record = store.get(&id).expect("created");
        assert_eq!(record["MailingCountry"], "United States of America");
        assert_eq!(record["MailingState"], "Indiana");
        // WHEN only the state label changes THEN its code follows, in the record's country
        let fields = store
            .validate(
                &object(json!({"Id": id, "MailingState": "Ohio"})),
                WriteMode::Update,
            )
            .expect("a US state");
        store.update(&id, fields, Utc::now());
        assert_eq!(store.get(&id).expect("kept")["MailingStateCode"], "OH");
        // WHEN a code or label is in no picklist THEN the write is refused
        for bad in [
            json!({"LastName": "L", "MailingCountryCode": "ZZ"}),
            json!({"LastName": "L", "MailingCountry": "Atlantis"}),
            json!({"LastName": "L", "MailingCountryCode": "CA", "MailingStateCode": "IN"}),
            json!({"LastName": "L", "MailingCountryCode": "US", "MailingCountry": "Germany"}),
        ] {
            let error = store
                .validate(&object(bad.clone()), WriteMode::Create)
                .expect_err("refused");
            assert_eq!(error.status_code, "FIELD_INTEGRITY_EXCEPTION", "{bad}");
        }
    }

    #[test]
    fn without_the_setting_there_are_no_code_fields() {
        // GIVEN an org without the picklists WHEN a code field is written THEN it is unknown
        let store = ContactStore::default();
        let error = store
            .validate(
                &object(json!({"LastName": "L", "MailingCountryCode": "US"})),
                WriteMode::Create,
            )
            .expect_err("no such column");
        assert_eq!(error.status_code, "INVALID_FIELD");
        assert!(
            store
                .fields()
                .iter()
                .all(|f| f.name != "MailingCountryCode")
        );
    }
}
