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
}

/// A phone region (ISO 3166-1 alpha-2, e.g. `US`, `GB`) for numbers without a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneRegion(phonenumber::country::Id);

impl PhoneRegion {
    /// Parses an ISO 3166-1 alpha-2 code; `None` when libphonenumber does not know it.
    pub fn parse(code: &str) -> Option<PhoneRegion> {
        code.trim()
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .ok()
            .map(PhoneRegion)
    }
}

impl Default for PhoneRegion {
    fn default() -> Self {
        PhoneRegion(phonenumber::country::Id::US)
    }
}

/// Normalises one value; empty results are `None`.
pub fn normalise(kind: FieldKind, region: PhoneRegion, value: &str) -> Option<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return None;
    }
    Some(match kind {
        FieldKind::Text => trimmed.to_string(),
        FieldKind::Email => trimmed.to_lowercase(),
        FieldKind::Phone => phone_e164(region, trimmed).unwrap_or_else(|| trimmed.to_string()),
    })
}

/// The E.164 form of a phone number, `None` when it does not parse as one.
pub fn phone_e164(region: PhoneRegion, value: &str) -> Option<String> {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    // libphonenumber accepts very short strings as numbers; real ones have at least 7 digits.
    if digits < 7 {
        return None;
    }
    let number = phonenumber::parse(Some(region.0), value).ok()?;
    Some(number.format().mode(phonenumber::Mode::E164).to_string())
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
    fn unknown_region_code_is_refused() {
        assert!(PhoneRegion::parse("XX").is_none());
        assert!(PhoneRegion::parse("de").is_some());
    }
}
