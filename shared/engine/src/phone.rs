//! Phone numbers: reading one as typed in either system, its canonical form, how two forms are
//! compared, and the text written back to each system.
//!
//! # Reading
//!
//! A value is split into the number and an optional extension (`x123`, `ext. 45`, `ext 45`,
//! `extension 45`, `#45`, `;ext=45`, any case). The number is parsed by libphonenumber in the
//! record's region (its own country, else the mapping's `phone_default_region`; see
//! [`crate::mapping`]). A number written with `+`, with `00`, or with the region's own
//! international prefix keeps its own country whatever the region. The result is taken only
//! when libphonenumber says the number is **valid**; a number that only parses (right shape,
//! wrong country) is never given a country code of our invention.
//!
//! # Canonical form (what [`crate::contact::CanonicalContact`] holds)
//!
//! - a valid number: its E.164 form, `+442079460105`; with an extension,
//!   `+442079460105;ext=45` (the RFC 3966 parameter);
//! - a number we do not understand (invalid in the record's region, too short, text): the
//!   number as typed, trimmed, `020 7946 0105`; with an extension, `020 7946 0105;ext=45`.
//!
//! Reading a canonical value again gives the same value (the form is a fixed point).
//!
//! # Comparison
//!
//! Two values are the same phone when their [`key`]s are equal: the leading `+` if any, the
//! digits of the number, and `;ext=` with the extension's digits (text with letters in it is
//! compared as text). For a valid number the key
//! is the canonical form itself; a number we do not understand is compared by its digits, so
//! `020 7946 0105` and `02079460105` on the two sides are the same value and never cause a
//! write (the merge compares with [`crate::normalise::same_value`]).
//!
//! # Writing
//!
//! Salesforce gets the number and ` x45` for an extension ([`salesforce_text`]); Genesys gets
//! the number in `display` and the extension in the `PhoneNumber.extension` integer
//! ([`GenesysPhone`]). A valid number is written in E.164, so both systems read it back to the
//! same canonical value whatever their region (Genesys computes `e164` from `display`, with +1
//! as its default country: an E.164 `display` leaves it nothing to guess). A number we do not
//! understand is written as typed.
//!
//! Matching keys are valid numbers only, without extension ([`Phone::match_key`]).

use phonenumber::metadata::{DATABASE, Metadata};
use std::sync::OnceLock;

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
        let code = code.trim();
        if code.len() != 2 {
            return None;
        }
        let code = code.to_ascii_uppercase();
        let id = code.parse::<phonenumber::country::Id>().ok()?;
        Some(PhoneRegion {
            id,
            nanp: NANP_REGIONS.contains(&code.as_str()),
        })
    }

    /// The main region of a country calling code given as `+44` or `44`.
    pub fn of_calling_code(code: &str) -> Option<PhoneRegion> {
        let digits = code.trim().trim_start_matches('+');
        let code: u16 = digits.parse().ok()?;
        let regions = DATABASE.region(&code)?;
        PhoneRegion::parse(regions.first()?)
    }

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

/// The RFC 3966 extension parameter used in canonical values.
const EXT: &str = ";ext=";

/// An extension longer than this is not an extension (and not an `int32` in Genesys).
const MAX_EXTENSION_DIGITS: usize = 9;

/// A phone value as read.
#[derive(Clone, PartialEq, Eq)]
pub enum Phone<'a> {
    /// Valid in its country: E.164 and the extension's digits.
    Valid {
        e164: String,
        extension: Option<&'a str>,
    },
    /// Not a number we understand: the number as typed (trimmed) and the extension's digits.
    Typed {
        text: &'a str,
        extension: Option<&'a str>,
    },
}

impl std::fmt::Debug for Phone<'_> {
    // Phone numbers are personal data: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Phone::Valid { .. } => write!(f, "Phone::Valid(..)"),
            Phone::Typed { .. } => write!(f, "Phone::Typed(..)"),
        }
    }
}

impl<'a> Phone<'a> {
    /// Reads a phone value typed in a record of `region`; `None` when it is blank.
    pub fn read(region: PhoneRegion, value: &'a str) -> Option<Phone<'a>> {
        let value = value.trim();
        match split_extension(value) {
            // An extension without a number is no phone number: kept as typed.
            ("", Some(_)) => Self::read_parts(region, value, None),
            (number, extension) => Self::read_parts(region, number, extension),
        }
    }

    /// Reads a number and an extension held apart (Genesys `display` and `extension`).
    pub fn read_parts(
        region: PhoneRegion,
        number: &'a str,
        extension: Option<&'a str>,
    ) -> Option<Phone<'a>> {
        let number = number.trim();
        if number.is_empty() {
            return extension.map(|_| Phone::Typed {
                text: "",
                extension,
            });
        }
        Some(match e164(region, number) {
            Some(e164) => Phone::Valid { e164, extension },
            None => Phone::Typed {
                text: number,
                extension,
            },
        })
    }

    /// The canonical form (module doc).
    pub fn canonical(&self) -> String {
        let (number, extension) = self.parts();
        match extension {
            None => number.to_string(),
            Some(ext) => format!("{number}{EXT}{ext}"),
        }
    }

    /// The E.164 form used as a matching key: valid numbers only, without extension.
    pub fn match_key(&self) -> Option<&str> {
        match self {
            Phone::Valid { e164, .. } => Some(e164),
            Phone::Typed { .. } => None,
        }
    }

    fn parts(&self) -> (&str, Option<&str>) {
        match self {
            Phone::Valid { e164, extension } => (e164, *extension),
            Phone::Typed { text, extension } => (text, *extension),
        }
    }
}

/// Splits a trailing extension off a phone value: `(number, Some(digits))`, or the value and
/// `None` when it carries no extension we recognise.
pub fn split_extension(value: &str) -> (&str, Option<&str>) {
    let bytes = value.as_bytes();
    let digits_start = bytes
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    let digits = &value[digits_start..];
    if digits.is_empty() || digits.len() > MAX_EXTENSION_DIGITS {
        return (value, None);
    }
    // Before the digits: optional blanks, `.`, `:` or `=`, then a marker.
    let head = value[..digits_start].trim_end_matches([' ', '.', ':', '=']);
    for marker in [";ext", "extension", "extn", "ext", "x", "#"] {
        let Some(at) = head.len().checked_sub(marker.len()) else {
            continue;
        };
        if !head.is_char_boundary(at) || !head[at..].eq_ignore_ascii_case(marker) {
            continue;
        }
        // `x` and `ext` must not be the tail of a word ("box 12"): a digit, a blank or a
        // separator comes before them.
        let word_tail = marker != "#"
            && marker != ";ext"
            && head.as_bytes()[..at]
                .last()
                .is_some_and(u8::is_ascii_alphabetic);
        if !word_tail {
            return (head[..at].trim_end(), Some(digits));
        }
    }
    (value, None)
}

/// The canonical value of a phone typed in a record of `region`; `None` when blank.
pub fn canonical(region: PhoneRegion, value: &str) -> Option<String> {
    Phone::read(region, value).map(|p| p.canonical())
}

/// The comparison key of a canonical phone value (module doc). Text that is not shaped like a
/// number (letters, no digits) is its own key: `call reception` and `ask for Bob` differ.
pub fn key(value: &str) -> String {
    let (number, extension) = split_canonical(value);
    let number_shaped = number.bytes().any(|b| b.is_ascii_digit())
        && number
            .bytes()
            .all(|b| b.is_ascii_digit() || b" +-.()/".contains(&b));
    let mut key = String::with_capacity(value.len());
    if !number_shaped {
        key.push_str(number.trim());
    } else {
        if number.trim_start().starts_with('+') {
            key.push('+');
        }
        key.extend(number.chars().filter(char::is_ascii_digit));
    }
    if let Some(ext) = extension {
        key.push_str(EXT);
        key.extend(ext.chars().filter(char::is_ascii_digit));
    }
    key
}

/// True when two canonical phone values are the same phone.
pub fn same(a: &str, b: &str) -> bool {
    a == b || key(a) == key(b)
}

/// A canonical value's number and extension.
fn split_canonical(value: &str) -> (&str, Option<&str>) {
    match value.rfind(EXT) {
        Some(at) => (&value[..at], Some(&value[at + EXT.len()..])),
        None => (value, None),
    }
}

/// The text written to a Salesforce phone field for a canonical value: the number, then
/// ` x45` for an extension. Read back in any region, it is the same canonical value.
pub fn salesforce_text(value: &str) -> String {
    match split_canonical(value) {
        ("", Some(ext)) => format!("x{ext}"),
        (number, Some(ext)) => format!("{number} x{ext}"),
        (number, None) => number.to_string(),
    }
}

/// What is written to a Genesys `PhoneNumber` for a canonical value.
#[derive(Clone, PartialEq, Eq)]
pub struct GenesysPhone {
    pub display: String,
    /// The `extension` integer; `None` when there is none, or when it cannot be one (leading
    /// zeros, too large for `int32`): then it is written into `display` as ` x0045`.
    pub extension: Option<i32>,
}

impl GenesysPhone {
    pub fn of(value: &str) -> GenesysPhone {
        let (number, ext) = split_canonical(value);
        match ext {
            None => GenesysPhone {
                display: number.to_string(),
                extension: None,
            },
            Some(ext) => match ext.parse::<i32>() {
                Ok(n) if !ext.starts_with('0') && n > 0 => GenesysPhone {
                    display: number.to_string(),
                    extension: Some(n),
                },
                _ => GenesysPhone {
                    display: salesforce_text(value),
                    extension: None,
                },
            },
        }
    }
}

/// The E.164 form of a number (no extension) that is valid when read in `region`; `None` for
/// anything else.
///
/// North American numbers written with digits and the usual separators take a fast path that
/// gives libphonenumber's answer (a property test holds the two together) at a fraction of
/// the cost; everything else is parsed by libphonenumber.
pub fn e164(region: PhoneRegion, number: &str) -> Option<String> {
    match nanp_fast_path(region, number) {
        FastPath::Valid(e164) => return Some(e164),
        FastPath::Invalid => return None,
        FastPath::NotNanp => {}
    }
    libphonenumber_e164(region, number)
}

/// libphonenumber's reading: valid numbers only; `00` leads an international number in every
/// region.
fn libphonenumber_e164(region: PhoneRegion, number: &str) -> Option<String> {
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    // libphonenumber accepts very short strings as numbers; real ones have at least 7 digits.
    if digits < 7 {
        return None;
    }
    if number.starts_with('+') {
        return valid_e164(None, number);
    }
    // An international prefix (`00` anywhere, or the region's own, `011` in the US) leads a
    // number with its country code: read it as written with `+`.
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let international = DATABASE
        .by_id(region.id.as_ref())
        .and_then(Metadata::international_prefix)
        .and_then(|idd| idd.find(&digits))
        .filter(|m| m.start() == 0)
        .map(|m| m.end())
        .or_else(|| digits.starts_with("00").then_some(2));
    if let Some(end) = international
        && let Some(e164) = valid_e164(None, &format!("+{}", &digits[end..]))
    {
        return Some(e164);
    }
    valid_e164(Some(region), number)
}

/// libphonenumber's E.164 of a valid number. `region` is `None` for a number written with
/// `+`: the crate (0.3.10) would otherwise strip the region's national prefix from the digits
/// after the country code (`+44 121…` read in the US loses its `1`).
fn valid_e164(region: Option<PhoneRegion>, number: &str) -> Option<String> {
    let parsed = phonenumber::parse(region.map(|r| r.id), number).ok()?;
    // An extension libphonenumber finds that we did not split off makes the text ambiguous:
    // keep it as typed rather than drop the extension.
    if parsed.extension().is_some() || !phonenumber::is_valid(&parsed) {
        return None;
    }
    Some(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

/// The fast path's answer.
#[derive(Debug, PartialEq, Eq)]
enum FastPath {
    /// A valid +1 number.
    Valid(String),
    /// A +1 number in the plan's shape that libphonenumber says is not valid.
    Invalid,
    /// Not for the fast path: libphonenumber decides.
    NotNanp,
}

/// `+1NXXNXXXXXX` for a North American number written only with digits and the separators
/// ` -.()`, optionally led by `+1` or `1` (and for 10 digits, only in a +1 region).
fn nanp_fast_path(region: PhoneRegion, value: &str) -> FastPath {
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
            b'0'..=b'9' => return FastPath::NotNanp,
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => return FastPath::NotNanp,
        }
    }
    let national = match (explicit_plus, len) {
        (_, 11) if digits[0] == b'1' && (explicit_plus || region.is_nanp()) => &digits[1..],
        (false, 10) if region.is_nanp() => &digits[..10],
        _ => return FastPath::NotNanp,
    };
    // NANP: area code and exchange both start with 2-9; anything else goes to libphonenumber.
    if !(b'2'..=b'9').contains(&national[0]) || !(b'2'..=b'9').contains(&national[3]) {
        return FastPath::NotNanp;
    }
    // Only ASCII digits were kept, so the bytes are valid UTF-8.
    let Ok(national) = std::str::from_utf8(national) else {
        return FastPath::NotNanp;
    };
    if !nanp_is_valid(national) {
        return FastPath::Invalid;
    }
    let mut e164 = String::with_capacity(12);
    e164.push_str("+1");
    e164.push_str(national);
    FastPath::Valid(e164)
}

/// libphonenumber's validity rule for a +1 national number, on its metadata, without parsing:
/// the number belongs to the first +1 region whose leading digits it starts with (or, for a
/// region without leading digits, whose patterns it matches), and is valid when it matches one
/// of that region's number types.
///
/// The patterns are compiled here once: the crate's own matchers share one 100-entry regex
/// cache behind a lock for the whole database, and recompile on eviction.
fn nanp_is_valid(national: &str) -> bool {
    static REGIONS: OnceLock<Vec<NanpRegion>> = OnceLock::new();
    let regions = REGIONS.get_or_init(|| {
        DATABASE
            .region(&1)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|id| DATABASE.by_id(id))
            .map(NanpRegion::of)
            .collect()
    });
    for region in regions {
        match &region.leading {
            Some(leading) => {
                if leading.is_match(national) {
                    return region.has_known_type(national);
                }
            }
            None => {
                if region.has_known_type(national) {
                    return true;
                }
            }
        }
    }
    false
}

/// One +1 region's patterns, compiled.
struct NanpRegion {
    leading: Option<regex::Regex>,
    general: Pattern,
    types: Vec<Pattern>,
}

/// A number type's pattern: matched from the start (as the crate's `Descriptor::is_match`),
/// for the type's possible lengths only.
struct Pattern {
    lengths: Vec<u16>,
    regex: regex::Regex,
}

/// A metadata pattern matched from the start of the number, as libphonenumber's metadata
/// means it (whitespace in the pattern is layout).
fn from_start(pattern: &str) -> regex::Regex {
    regex::RegexBuilder::new(&format!("^(?:{pattern})"))
        .ignore_whitespace(true)
        .build()
        .expect("libphonenumber's metadata patterns compile")
}

impl Pattern {
    fn of(desc: &phonenumber::metadata::Descriptor) -> Pattern {
        Pattern {
            lengths: desc.possible_length().to_vec(),
            regex: from_start(desc.national_number().as_str()),
        }
    }

    fn is_match(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16)))
            && self.regex.is_match(national)
    }
}

impl NanpRegion {
    fn of(meta: &Metadata) -> NanpRegion {
        let d = meta.descriptors();
        NanpRegion {
            leading: meta.leading_digits().map(|r| from_start(r.as_str())),
            general: Pattern::of(d.general()),
            // Fixed line and mobile first: the usual answer comes soonest.
            types: [
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.voip(),
                d.personal_number(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
            .into_iter()
            .flatten()
            .map(Pattern::of)
            .collect(),
        }
    }

    /// True when the number matches one of the region's number types.
    fn has_known_type(&self, national: &str) -> bool {
        self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str) -> PhoneRegion {
        PhoneRegion::parse(code).expect("known region")
    }

    fn read(code: &str, value: &str) -> Option<String> {
        canonical(region(code), value)
    }

    #[test]
    fn national_numbers_are_read_in_the_records_own_country() {
        // GIVEN national numbers typed on contacts of their own country
        // WHEN read THEN each is its country's E.164
        let cases = [
            ("GB", "020 7946 0105", "+442079460105"),
            ("GB", "07400 123456", "+447400123456"),
            ("DE", "030 123456", "+4930123456"),
            ("DE", "0151 23456789", "+4915123456789"),
            ("FR", "01 23 45 67 89", "+33123456789"),
            ("FR", "06 12 34 56 78", "+33612345678"),
            ("IN", "098765 43210", "+919876543210"),
            ("IN", "98765 43210", "+919876543210"),
            ("US", "(415) 555-0134", "+14155550134"),
        ];
        for (country, typed, expected) in cases {
            assert_eq!(read(country, typed).as_deref(), Some(expected), "{typed}");
        }
    }

    #[test]
    fn a_number_invalid_in_the_region_is_kept_as_typed_never_given_a_country_code() {
        // GIVEN a UK national number on a contact without country (default region US)
        // WHEN read THEN it is kept as typed, never "+102079460105"
        assert_eq!(
            read("US", "020 7946 0105").as_deref(),
            Some("020 7946 0105")
        );
        // AND it is the same phone as the same digits typed otherwise
        assert!(same("020 7946 0105", "02079460105"));
        assert!(!same("020 7946 0105", "020 7946 0106"));
        assert!(same("020 7946 0105;ext=45", "02079460105;ext=45"));
        assert!(!same("020 7946 0105;ext=45", "020 7946 0105;ext=46"));
        // AND text that is no number is compared as text
        assert!(!same("call reception", "ask for Bob"));
        assert!(!same("ext. 12", "ext. 13"));
        // AND an invalid +1 number in the plan's shape is not taken either
        assert_eq!(
            read("US", "(123) 555-0134").as_deref(),
            Some("(123) 555-0134")
        );
    }

    #[test]
    fn international_numbers_keep_their_own_country() {
        // GIVEN a US number written with +1 or 001 on a UK contact, and a UK one with 00 on a
        // US contact WHEN read THEN each keeps its own country
        assert_eq!(
            read("GB", "+1 415 555 0134").as_deref(),
            Some("+14155550134")
        );
        assert_eq!(
            read("GB", "001 415 555 0134").as_deref(),
            Some("+14155550134")
        );
        assert_eq!(
            read("US", "0044 20 7946 0105").as_deref(),
            Some("+442079460105")
        );
        assert_eq!(
            read("US", "011 44 20 7946 0105").as_deref(),
            Some("+442079460105")
        );
        assert_eq!(
            read("DE", "+44 20 7946 0105").as_deref(),
            Some("+442079460105")
        );
        // AND a national prefix of the region is never stripped from an international number
        for (country, typed) in [
            ("US", "+44 121 234 0000"),
            ("US", "011 44 121 234 0000"),
            ("IN", "0044 121 234 0000"),
        ] {
            assert_eq!(
                read(country, typed).as_deref(),
                Some("+441212340000"),
                "{typed}"
            );
        }
    }

    #[test]
    fn extensions_in_every_usual_spelling() {
        // GIVEN one UK number with extension 45 written the usual ways
        for typed in [
            "020 7946 0105 x45",
            "020 7946 0105 X 45",
            "020 7946 0105 ext. 45",
            "020 7946 0105 ext 45",
            "020 7946 0105 Ext: 45",
            "020 7946 0105 extension 45",
            "020 7946 0105 #45",
            "+442079460105;ext=45",
            "+44 20 7946 0105 x45",
        ] {
            // WHEN read on a UK contact THEN the canonical value carries the extension
            assert_eq!(
                read("GB", typed).as_deref(),
                Some("+442079460105;ext=45"),
                "{typed}"
            );
        }
        // AND an extension on a number we do not understand is kept with it
        assert_eq!(
            read("US", "020 7946 0105 ext. 45").as_deref(),
            Some("020 7946 0105;ext=45")
        );
        // AND a word ending in x is no extension marker
        assert_eq!(split_extension("box 12"), ("box 12", None));
    }

    #[test]
    fn written_forms_read_back_to_the_same_value() {
        // GIVEN canonical values with and without extensions, valid or as typed (US region)
        for (code, value) in [
            ("GB", "+442079460105"),
            ("US", "+442079460105;ext=45"),
            ("GB", "+442079460105;ext=0045"),
            ("US", "020 7946 0105;ext=45"),
            ("US", "020 7946 0105"),
        ] {
            let region = region(code);
            // WHEN written to Salesforce and read back THEN the same value
            assert_eq!(
                canonical(region, &salesforce_text(value)).as_deref(),
                Some(value)
            );
            // AND written to Genesys (display + extension) and read back THEN the same value
            let g = GenesysPhone::of(value);
            let ext = g.extension.map(|e| e.to_string());
            let (number, typed_ext) = split_extension(&g.display);
            let back = Phone::read_parts(region, number, typed_ext.or(ext.as_deref()))
                .map(|p| p.canonical());
            assert_eq!(back.as_deref(), Some(value));
        }
        // AND a plain extension becomes the Genesys integer, a zero-led one stays in display
        assert_eq!(GenesysPhone::of("+442079460105;ext=45").extension, Some(45));
        let zero_led = GenesysPhone::of("+442079460105;ext=0045");
        assert_eq!(
            (zero_led.display.as_str(), zero_led.extension),
            ("+442079460105 x0045", None)
        );
    }

    #[test]
    fn match_keys_are_valid_numbers_without_extension() {
        let gb = region("GB");
        assert_eq!(
            Phone::read(gb, "020 7946 0105 x45").and_then(|p| p.match_key().map(str::to_string)),
            Some("+442079460105".to_string())
        );
        assert_eq!(
            Phone::read(region("US"), "020 7946 0105")
                .and_then(|p| p.match_key().map(str::to_string)),
            None
        );
    }

    #[test]
    fn calling_codes_name_their_main_region() {
        assert_eq!(PhoneRegion::of_calling_code("+44"), Some(region("GB")));
        assert_eq!(PhoneRegion::of_calling_code("1"), Some(region("US")));
        assert_eq!(PhoneRegion::of_calling_code("GB"), None);
        assert!(PhoneRegion::parse("XX").is_none());
    }

    mod fast_path_agrees_with_libphonenumber {
        use super::super::*;
        use proptest::prelude::*;

        /// libphonenumber alone: parse, then take the number only when it is valid.
        fn libphonenumber(region: PhoneRegion, value: &str) -> Option<String> {
            let n = phonenumber::parse(Some(region.id), value).ok()?;
            phonenumber::is_valid(&n).then(|| n.format().mode(phonenumber::Mode::E164).to_string())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

            #[test]
            fn on_north_american_numbers_in_any_usual_format(
                area in 200u32..1000, exchange in 200u32..1000, line in 0u32..10_000,
                format in 0usize..8, region in prop::sample::select(vec!["US", "CA", "PR", "JM", "GB", "DE"]),
            ) {
                // GIVEN a +1-shaped number (valid or not) written the ways people and systems write it
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
                // WHEN the fast path answers THEN it is libphonenumber's answer, validity included
                match nanp_fast_path(region, &value) {
                    FastPath::Valid(fast) => prop_assert_eq!(Some(fast), libphonenumber(region, &value), "{}", value),
                    FastPath::Invalid => prop_assert_eq!(None, libphonenumber(region, &value), "{}", value),
                    FastPath::NotNanp => {}
                }
                // AND in a +1 region every one of these formats takes the fast path
                if region.is_nanp() {
                    prop_assert!(nanp_fast_path(region, &value) != FastPath::NotNanp, "{}", value);
                }
                // AND the reading as a whole is libphonenumber's
                prop_assert_eq!(e164(region, &value), libphonenumber(region, &value), "{}", value);
            }

            #[test]
            fn never_answers_for_other_countries_or_text(value in "[+0-9 ().a-z-]{7,20}") {
                // GIVEN arbitrary phone-ish text WHEN the fast path answers THEN it agrees
                let region = PhoneRegion::default();
                match nanp_fast_path(region, &value) {
                    FastPath::Valid(fast) => prop_assert_eq!(Some(fast), libphonenumber(region, &value), "{}", value),
                    FastPath::Invalid => prop_assert_eq!(None, libphonenumber(region, &value), "{}", value),
                    FastPath::NotNanp => {}
                }
            }
        }
    }
}
