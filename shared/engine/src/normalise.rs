//! Normalisation: the one form a value has before any comparison, so that `Ana@Example.com`
//! and `ana@example.com`, or `(415) 555-0134` and `+14155550134`, are the same value and never
//! cause a write (DESIGN.md section 2, "echo suppression").

use serde::{Deserialize, Serialize};

pub use crate::phone::PhoneRegion;

/// How a field's values are normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Trimmed text.
    #[default]
    Text,
    /// Trimmed and lower-cased.
    Email,
    /// A phone number: E.164 (`+14155550134`, `+442079460105;ext=45`) when it is valid in
    /// the record's region, else the number as typed, compared by its digits
    /// ([`crate::phone`]).
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
        FieldKind::Phone => crate::phone::canonical(region, trimmed)?,
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

/// True when two normalised values of `kind` are the same value: phones by their digits
/// ([`crate::phone::same`]), everything else by its text.
pub fn same_value(kind: FieldKind, a: &str, b: &str) -> bool {
    match kind {
        FieldKind::Phone => crate::phone::same(a, b),
        _ => a == b,
    }
}

/// [`same_value`] for optional values: two empty values are the same, empty and a value not.
pub fn same_option(kind: FieldKind, a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same_value(kind, a, b),
        (None, None) => true,
        _ => false,
    }
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
            normalise(FieldKind::Phone, gb, "020 7946 0018").as_deref(),
            Some("+442079460018")
        );
        assert_eq!(
            normalise(FieldKind::Phone, gb, "+1 415 555 0134").as_deref(),
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
}
