//! PhoneNumber normalisation as Genesys does it on write (reference: the `PhoneNumber` model of
//! `genesys/externalcontacts_schema.json`, copied in API-NOTES B.2): `userInput` keeps what was
//! written, `e164`/`countryCode` are computed when the number is readable, and `display` is
//! then rewritten to the international format.
//!
//! A number written without country code is completed with `normalizationCountryCode`, or with
//! the documented default +1 when it is empty. Where the reference is silent this simulator
//! takes the least convenient plausible reading, as libphonenumber parses without a validity
//! check: any national digits are "readable" under +1, so a UK `020 7946 0105` written without
//! `normalizationCountryCode` gets the invented `e164` `+102079460105` and that display. A
//! client must not trust `e164` (or `display`) for a number it wrote without country code.

use serde_json::{Map, Value};

/// Keys of the PhoneNumber model.
const PHONE_KEYS: &[&str] = &[
    "display",
    "extension",
    "acceptsSMS",
    "normalizationCountryCode",
    "userInput",
    "e164",
    "countryCode",
];

/// Two-digit country calling codes; codes starting with 1 or 7 have one digit, every other
/// code has three.
const TWO_DIGIT_CODES: &[&str] = &[
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46", "47",
    "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63", "64", "65",
    "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
];

/// Calling code to ISO region for the regions the simulator knows.
const REGIONS: &[(&str, &str)] = &[
    ("1", "US"),
    ("7", "RU"),
    ("27", "ZA"),
    ("31", "NL"),
    ("32", "BE"),
    ("33", "FR"),
    ("34", "ES"),
    ("39", "IT"),
    ("41", "CH"),
    ("43", "AT"),
    ("44", "GB"),
    ("45", "DK"),
    ("46", "SE"),
    ("47", "NO"),
    ("48", "PL"),
    ("49", "DE"),
    ("52", "MX"),
    ("55", "BR"),
    ("61", "AU"),
    ("64", "NZ"),
    ("65", "SG"),
    ("81", "JP"),
    ("82", "KR"),
    ("86", "CN"),
    ("91", "IN"),
    ("351", "PT"),
    ("353", "IE"),
    ("358", "FI"),
    ("971", "AE"),
    ("972", "IL"),
];

/// Normalise a PhoneNumber object as written by a client. Errors are field messages.
pub(crate) fn normalize(field: &str, input: &Value) -> Result<Value, String> {
    let Value::Object(input) = input else {
        return Err(format!("{field} must be a PhoneNumber object"));
    };
    if let Some(unknown) = input.keys().find(|key| !PHONE_KEYS.contains(&key.as_str())) {
        return Err(format!("Unrecognized field '{field}.{unknown}'"));
    }
    let Some(Value::String(display)) = input.get("display") else {
        return Err(format!("{field}.display is required"));
    };
    if display.chars().count() > 512 {
        return Err(format!("{field}.display must be at most 512 characters"));
    }
    let mut phone = Map::new();
    match input.get("extension") {
        None | Some(Value::Null) => {}
        Some(Value::Number(number))
            if number.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) =>
        {
            phone.insert("extension".into(), Value::Number(number.clone()));
        }
        Some(_) => return Err(format!("{field}.extension must be an integer")),
    }
    match input.get("acceptsSMS") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(flag)) => {
            phone.insert("acceptsSMS".into(), Value::Bool(*flag));
        }
        Some(_) => return Err(format!("{field}.acceptsSMS must be a boolean")),
    }
    let normalization = match input.get("normalizationCountryCode") {
        None | Some(Value::Null) => None,
        Some(Value::String(code)) => {
            phone.insert(
                "normalizationCountryCode".into(),
                Value::String(code.clone()),
            );
            Some(code.as_str())
        }
        Some(_) => return Err(format!("{field}.normalizationCountryCode must be a string")),
    };
    phone.insert("userInput".into(), Value::String(display.clone()));
    let parsed = read_number(display, normalization);
    let shown = match &parsed {
        Some(number) => number.international(),
        None => display.clone(),
    };
    phone.insert("display".into(), Value::String(shown));
    if let Some(number) = parsed {
        phone.insert("e164".into(), Value::String(number.e164()));
        if let Some(region) = number.region() {
            phone.insert("countryCode".into(), Value::String(region.into()));
        }
    }
    Ok(Value::Object(phone))
}

/// A number read as country calling code plus national digits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PhoneNumber {
    calling_code: String,
    national: String,
}

impl PhoneNumber {
    fn e164(&self) -> String {
        format!("+{}{}", self.calling_code, self.national)
    }

    fn international(&self) -> String {
        if self.calling_code == "1" && self.national.len() == 10 {
            let (area, rest) = self.national.split_at(3);
            let (exchange, line) = rest.split_at(3);
            format!("+1 {area}-{exchange}-{line}")
        } else {
            format!("+{} {}", self.calling_code, self.national)
        }
    }

    fn region(&self) -> Option<&'static str> {
        REGIONS
            .iter()
            .find(|(code, _)| *code == self.calling_code)
            .map(|(_, region)| *region)
    }
}

/// Read `text` as a phone number: `+` and digits (E.164), or national digits completed with
/// the normalisation country code (default +1, applied to any national digits: a leading
/// `1` of 11 digits is the +1 trunk prefix, anything else is kept). Separators ` -.()` are
/// ignored; anything else (letters, extensions) makes the number unreadable.
fn read_number(text: &str, normalization_country: Option<&str>) -> Option<PhoneNumber> {
    let text = text.trim();
    let (international, rest) = match text.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    if international {
        let code_length = calling_code_length(&digits)?;
        let (code, national) = digits.split_at(code_length);
        return complete(code, national);
    }
    let code = match normalization_country {
        None => "1".to_string(),
        Some(code) => calling_code_of(code)?,
    };
    if code == "1" {
        let national = match digits.len() {
            11 if digits.starts_with('1') => &digits[1..],
            _ => digits.as_str(),
        };
        return complete("1", national);
    }
    complete(&code, digits.trim_start_matches('0'))
}

fn complete(code: &str, national: &str) -> Option<PhoneNumber> {
    let total = code.len() + national.len();
    // Possible lengths only: no validity check (module doc).
    let valid = national.len() >= 4 && (8..=15).contains(&total);
    valid.then(|| PhoneNumber {
        calling_code: code.to_string(),
        national: national.to_string(),
    })
}

fn calling_code_length(digits: &str) -> Option<usize> {
    let first = digits.chars().next()?;
    if first == '0' {
        return None;
    }
    if matches!(first, '1' | '7') {
        return Some(1);
    }
    let two = digits.get(..2)?;
    Some(if TWO_DIGIT_CODES.contains(&two) { 2 } else { 3 })
}

/// The calling code of a normalisation country given as `+44`, `44` or `GB`.
fn calling_code_of(country: &str) -> Option<String> {
    let country = country.trim();
    let digits = country.strip_prefix('+').unwrap_or(country);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        return Some(digits.to_string());
    }
    if country.eq_ignore_ascii_case("CA") {
        return Some("1".into());
    }
    REGIONS
        .iter()
        .find(|(_, region)| region.eq_ignore_ascii_case(country))
        .map(|(code, _)| (*code).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn normalized(input: Value) -> Value {
        normalize("workPhone", &input).expect("phone normalises")
    }

    #[test]
    fn e164_input_is_reformatted_for_display() {
        // GIVEN a phone written in E.164
        let phone = normalized(json!({"display": "+14155550134"}));
        // WHEN normalised
        // THEN display is international, e164 and userInput are set
        assert_eq!(phone["display"], "+1 415-555-0134");
        assert_eq!(phone["e164"], "+14155550134");
        assert_eq!(phone["userInput"], "+14155550134");
        assert_eq!(phone["countryCode"], "US");
    }

    #[test]
    fn national_input_gets_the_default_plus_one_and_an_international_display() {
        // GIVEN national US formats
        let parenthesised = normalized(json!({"display": "(415) 555-0134"}));
        let dotted = normalized(json!({"display": "1.415.555.0134"}));
        // WHEN normalised
        // THEN e164 uses the default +1, display is rewritten, userInput keeps the input
        assert_eq!(parenthesised["display"], "+1 415-555-0134");
        assert_eq!(parenthesised["userInput"], "(415) 555-0134");
        assert_eq!(parenthesised["e164"], "+14155550134");
        assert_eq!(dotted["e164"], "+14155550134");
    }

    #[test]
    fn a_foreign_national_number_without_normalization_country_gets_an_invented_plus_one() {
        // GIVEN a UK national number written without normalizationCountryCode
        let phone = normalized(json!({"display": "020 7946 0105"}));
        // WHEN normalised
        // THEN the documented +1 default is applied without a validity check (module doc)
        assert_eq!(phone["e164"], "+102079460105");
        assert_eq!(phone["display"], "+1 02079460105");
        assert_eq!(phone["userInput"], "020 7946 0105");
        // AND with the normalisation country it is the UK number
        let gb = normalized(json!({"display": "020 7946 0105", "normalizationCountryCode": "GB"}));
        assert_eq!(gb["e164"], "+442079460105");
    }

    #[test]
    fn other_countries_and_unreadable_numbers() {
        // GIVEN a UK number, a UK national number with a normalisation country, and junk
        let uk = normalized(json!({"display": "+44 20 7946 0018"}));
        let uk_national =
            normalized(json!({"display": "020 7946 0018", "normalizationCountryCode": "GB"}));
        let junk = normalized(json!({"display": "call reception", "e164": "+15550000000"}));
        // WHEN normalised
        // THEN e164 is computed where readable and never taken from the client
        assert_eq!(uk["display"], "+44 2079460018");
        assert_eq!(uk["e164"], "+442079460018");
        assert_eq!(uk_national["e164"], "+442079460018");
        assert_eq!(junk["display"], "call reception");
        assert!(junk.get("e164").is_none());
    }

    #[test]
    fn unknown_keys_and_missing_display_are_rejected() {
        // GIVEN bad phone objects
        // WHEN normalised
        // THEN they are errors
        assert!(normalize("cellPhone", &json!({"number": "+14155550134"})).is_err());
        assert!(normalize("cellPhone", &json!({"e164": "+14155550134"})).is_err());
    }
}
