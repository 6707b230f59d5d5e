//! Normalisation: the one form a value has before any comparison, so that `Ana@Example.com`
//! and `ana@example.com`, or `(415) 555-0134` and `+14155550134`, are the same value and never
//! cause a write (DESIGN.md section 2, "echo suppression").

use serde::{Deserialize, Serialize};

/// How a field's values are normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Trimmed text.
    #[default]
    Text,
    /// Trimmed and lower-cased.
    Email,
    /// E.164 (`+14155550134`) via libphonenumber's metadata; the default region applies to
    /// numbers written without a country code. Unparseable input is kept trimmed.
    Phone,
    /// A number (`75`, `75.0` and `7.5e1` are the same value, `75`); written as a JSON number.
    /// Text that is no number is kept trimmed.
    Number,
    /// `true` / `false` (also read from `yes`/`no`, `1`/`0`, any case); written as a JSON bool.
    Boolean,
    /// A country: its ISO 3166-1 alpha-2 code when the value resolves to one
    /// ([`crate::country`]), else the value as typed, trimmed.
    Country,
    /// A state or province (`kind: subdivision`, or `kind: state`): its ISO 3166-2 code
    /// (`US-IN`) when the value resolves to one in the record's country (the mapping reads it
    /// with the record's country field), else the value as typed, trimmed. On its own, without
    /// a country, only a full code (`us-in`) resolves.
    #[serde(alias = "state")]
    Subdivision,
}

/// A case transform for text fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    Lower,
    Upper,
    /// First letter of each word upper-case, the rest lower-case.
    Title,
}

impl Case {
    pub fn apply(self, value: &str) -> String {
        match self {
            Case::Lower => value.to_lowercase(),
            Case::Upper => value.to_uppercase(),
            Case::Title => {
                let mut out = String::with_capacity(value.len());
                let mut start = true;
                for c in value.chars() {
                    if start {
                        out.extend(c.to_uppercase());
                    } else {
                        out.extend(c.to_lowercase());
                    }
                    start = c.is_whitespace() || c == '-' || c == '\'';
                }
                out
            }
        }
    }
}

/// A phone region (ISO 3166-1 alpha-2, e.g. `US`, `GB`) for numbers without a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneRegion {
    id: phonenumber::country::Id,
    /// Whether the region belongs to the North American Numbering Plan (computed once).
    nanp: bool,
}

/// Regions of the North American Numbering Plan (country code 1).
const NANP_REGIONS: [&str; 25] = [
    "US", "CA", "AG", "AI", "AS", "BB", "BM", "BS", "DM", "DO", "GD", "GU", "JM", "KN", "KY", "LC",
    "MP", "MS", "PR", "SX", "TC", "TT", "VC", "VG", "VI",
];

impl PhoneRegion {
    /// Parses an ISO 3166-1 alpha-2 code; `None` when libphonenumber does not know it.
    pub fn parse(code: &str) -> Option<PhoneRegion> {
        let code = code.trim().to_ascii_uppercase();
        let id = code.parse::<phonenumber::country::Id>().ok()?;
        Some(PhoneRegion {
            id,
            nanp: NANP_REGIONS.contains(&code.as_str()),
        })
    }
}

impl PhoneRegion {
    fn is_nanp(self) -> bool {
        self.nanp
    }
}

impl Default for PhoneRegion {
    fn default() -> Self {
        PhoneRegion {
            id: phonenumber::country::Id::US,
            nanp: true,
        }
    }
}

/// Normalises one value; empty results are `None`.
pub fn normalise(kind: FieldKind, region: PhoneRegion, value: &str) -> Option<String> {
    let trimmed = trim(value);
    if trimmed.is_empty() {
        return None;
    }
    Some(match kind {
        FieldKind::Text => trimmed.to_string(),
        // ASCII (nearly every address) lower-cases byte by byte: same result, far cheaper.
        FieldKind::Email if trimmed.is_ascii() => trimmed.to_ascii_lowercase(),
        FieldKind::Email => trimmed.to_lowercase(),
        FieldKind::Phone => phone_e164(region, trimmed).unwrap_or_else(|| trimmed.to_string()),
        FieldKind::Number => number(trimmed).unwrap_or_else(|| trimmed.to_string()),
        FieldKind::Boolean => boolean(trimmed)
            .map(|b| b.to_string())
            .unwrap_or_else(|| trimmed.to_string()),
        FieldKind::Country => crate::country::resolve(trimmed)
            .unwrap_or(trimmed)
            .to_string(),
        FieldKind::Subdivision => crate::country::subdivision(None, trimmed)
            .unwrap_or(trimmed)
            .to_string(),
    })
}

/// `str::trim`, skipping the Unicode scan when both ends are visible ASCII (most values).
fn trim(value: &str) -> &str {
    match (value.as_bytes().first(), value.as_bytes().last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => value,
        _ => value.trim(),
    }
}

/// The one text form of a number: integers without a fraction, others in Rust's shortest
/// round-trip form. `None` for text that is no finite number.
pub fn number(value: &str) -> Option<String> {
    let n: f64 = value.parse().ok()?;
    if !n.is_finite() {
        return None;
    }
    Some(if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    })
}

/// A boolean from the usual spellings.
pub fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// The E.164 form of a phone number, `None` when it does not parse as one.
///
/// North American numbers (the +1 plan), written with or without `+1` and with any of the
/// usual separators, take a fast path that gives the same result as libphonenumber (a property
/// test holds the two together) at a fraction of the cost; everything else is parsed by
/// libphonenumber.
pub fn phone_e164(region: PhoneRegion, value: &str) -> Option<String> {
    // The fast path only accepts 10 or 11 digits, so it may run before the length check.
    if let Some(e164) = nanp_fast_path(region, value) {
        return Some(e164);
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    // libphonenumber accepts very short strings as numbers; real ones have at least 7 digits.
    if digits < 7 {
        return None;
    }
    let number = phonenumber::parse(Some(region.id), value).ok()?;
    Some(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// `+1NXXNXXXXXX` for a North American number written only with digits and the separators
/// ` -.()`, optionally led by `+1` or `1` (and for 10 digits, only in a +1 region); `None` for
/// anything else, which then goes to libphonenumber.
fn nanp_fast_path(region: PhoneRegion, value: &str) -> Option<String> {
    let value = trim(value);
    let (explicit_plus, rest) = match value.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    // Up to 11 digits on the stack; anything longer is not a North American number.
    let mut digits = [0u8; 11];
    let mut len = 0;
    for c in rest.bytes() {
        match c {
            b'0'..=b'9' if len < digits.len() => {
                digits[len] = c;
                len += 1;
            }
            b'0'..=b'9' => return None,
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => return None,
        }
    }
    let national = match (explicit_plus, len) {
        (_, 11) if digits[0] == b'1' && (explicit_plus || region.is_nanp()) => &digits[1..],
        (false, 10) if region.is_nanp() => &digits[..10],
        _ => return None,
    };
    // NANP: area code and exchange both start with 2-9.
    if !(b'2'..=b'9').contains(&national[0]) || !(b'2'..=b'9').contains(&national[3]) {
        return None;
    }
    // Only ASCII digits were kept, so the bytes are valid UTF-8.
    let national = std::str::from_utf8(national).ok()?;
    let mut e164 = String::with_capacity(12);
    e164.push_str("+1");
    e164.push_str(national);
    Some(e164)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        // GIVEN an email as a person typed it WHEN normalised THEN trimmed and lower-cased
        assert_eq!(
            normalise(
                FieldKind::Email,
                PhoneRegion::default(),
                "  Ana.Lopez@Example.COM "
            ),
            Some("ana.lopez@example.com".to_string())
        );
    }

    #[test]
    fn phone_formats_of_one_number_normalise_to_the_same_e164() {
        // GIVEN one US number in the formats both systems hold
        let region = PhoneRegion::default();
        let forms = [
            "(415) 555-0134",
            "415.555.0134",
            "+1 415-555-0134",
            "+14155550134",
            "1-415-555-0134",
        ];
        // WHEN normalised THEN every form is the same E.164 string
        for form in forms {
            assert_eq!(
                normalise(FieldKind::Phone, region, form).as_deref(),
                Some("+14155550134"),
                "{form}"
            );
        }
    }

    #[test]
    fn default_region_applies_only_without_country_code() {
        // GIVEN the UK as default region
        let gb = PhoneRegion::parse("gb").expect("GB is a region");
        // WHEN a national UK number and an explicit US number are normalised
        // THEN the first gets +44, the second keeps +1
        assert_eq!(
            phone_e164(gb, "020 7946 0018").as_deref(),
            Some("+442079460018")
        );
        assert_eq!(
            phone_e164(gb, "+1 415 555 0134").as_deref(),
            Some("+14155550134")
        );
    }

    #[test]
    fn unparseable_phones_are_kept_trimmed_and_empty_is_none() {
        // GIVEN text that is no phone number WHEN normalised THEN kept as typed, trimmed
        let region = PhoneRegion::default();
        assert_eq!(
            normalise(FieldKind::Phone, region, " ext. 12 ").as_deref(),
            Some("ext. 12")
        );
        // GIVEN blanks WHEN normalised THEN no value at all
        assert_eq!(normalise(FieldKind::Text, region, "   "), None);
    }

    #[test]
    fn numbers_and_booleans_have_one_form() {
        // GIVEN spellings of one number and one boolean WHEN normalised THEN one form each
        let region = PhoneRegion::default();
        for n in ["75", " 75.0", "7.5e1"] {
            assert_eq!(
                normalise(FieldKind::Number, region, n).as_deref(),
                Some("75")
            );
        }
        assert_eq!(
            normalise(FieldKind::Number, region, "0.25").as_deref(),
            Some("0.25")
        );
        assert_eq!(
            normalise(FieldKind::Number, region, "n/a").as_deref(),
            Some("n/a")
        );
        for b in ["TRUE", "yes", "1"] {
            assert_eq!(
                normalise(FieldKind::Boolean, region, b).as_deref(),
                Some("true")
            );
        }
    }

    #[test]
    fn case_transforms() {
        assert_eq!(
            Case::Title.apply("ANA maría o'neil-smith"),
            "Ana María O'Neil-Smith"
        );
        assert_eq!(Case::Upper.apply("ie"), "IE");
        assert_eq!(Case::Lower.apply("ANA"), "ana");
    }

    #[test]
    fn unknown_region_code_is_refused() {
        assert!(PhoneRegion::parse("XX").is_none());
        assert!(PhoneRegion::parse("de").is_some());
    }

    mod fast_path_agrees_with_libphonenumber {
        use super::super::*;
        use proptest::prelude::*;

        fn libphonenumber(region: PhoneRegion, value: &str) -> Option<String> {
            let n = phonenumber::parse(Some(region.id), value).ok()?;
            Some(n.format().mode(phonenumber::Mode::E164).to_string())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

            #[test]
            fn on_north_american_numbers_in_any_usual_format(
                area in 200u32..1000, exchange in 200u32..1000, line in 0u32..10_000,
                format in 0usize..8, region in prop::sample::select(vec!["US", "CA", "PR", "GB", "DE"]),
            ) {
                // GIVEN a +1 number written the ways people and systems write it
                let value = match format {
                    0 => format!("({area}) {exchange}-{line:04}"),
                    1 => format!("{area}.{exchange}.{line:04}"),
                    2 => format!("{area}{exchange}{line:04}"),
                    3 => format!("+1 {area}-{exchange}-{line:04}"),
                    4 => format!("+1{area}{exchange}{line:04}"),
                    5 => format!("1-{area}-{exchange}-{line:04}"),
                    6 => format!("1 ({area}) {exchange} {line:04}"),
                    _ => format!("+1 ({area}) {exchange}.{line:04}"),
                };
                let region = PhoneRegion::parse(region).expect("region");
                // WHEN normalised THEN the result is libphonenumber's whenever the fast path answers
                if let Some(fast) = nanp_fast_path(region, &value) {
                    prop_assert_eq!(Some(fast), libphonenumber(region, &value), "{}", value);
                }
                // AND in a +1 region every one of these formats takes the fast path
                if region.is_nanp() {
                    prop_assert!(nanp_fast_path(region, &value).is_some(), "{}", value);
                }
            }

            #[test]
            fn never_answers_for_other_countries_or_text(value in "[+0-9 ().a-z-]{7,20}") {
                // GIVEN arbitrary phone-ish text WHEN the fast path answers THEN it agrees
                let region = PhoneRegion::default();
                if let Some(fast) = nanp_fast_path(region, &value) {
                    prop_assert_eq!(Some(fast), libphonenumber(region, &value), "{}", value);
                }
            }
        }
    }
}
