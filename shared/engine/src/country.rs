//! Countries and their subdivisions as people type them: the one form a country has before
//! any comparison is its ISO 3166-1 alpha-2 code (`USA`, `U.S.A.`, `United States` and `us`
//! are all `US`), and a state or province is its ISO 3166-2 code (`Indiana` and `IN` on a US
//! contact are both `US-IN`).
//!
//! The ISO data (codes, English short and official names, the unofficial names that include
//! native ones like `Deutschland`, and the subdivisions) come from the `keshvar` crate; a small
//! alias table adds what it lacks ([`ALIASES`]). Names are compared folded: accents
//! transliterated (`deunicode`), case ignored, and everything but letters and digits dropped
//! (`U.S.A.` = `usa`), with a leading `the` ignored. A folded name that two countries share at
//! the same precedence resolves to neither (it is kept as typed rather than guessed).
//!
//! The lookup tables are built once, on first use.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::LazyLock;

/// How a country or subdivision field is written to Salesforce (Genesys always gets codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountryStyle {
    /// The ISO English short name (`Germany`), or the subdivision's ISO 3166-2 name
    /// (`Indiana`).
    #[default]
    Name,
    /// The ISO 3166-1 alpha-2 code (`DE`), or the subdivision's code within its country
    /// (`IN`).
    #[serde(alias = "code")]
    Alpha2,
}

/// Spellings the ISO data lacks, folded before use: `(spelling, alpha-2)`.
const ALIASES: [(&str, &str); 18] = [
    ("U.S.", "US"),
    ("America", "US"),
    ("United States America", "US"),
    ("Great Britain", "GB"),
    ("Britain", "GB"),
    ("Scotland", "GB"),
    ("Wales", "GB"),
    ("Northern Ireland", "GB"),
    ("U.K.", "GB"),
    ("Holland", "NL"),
    ("UAE", "AE"),
    ("Ivory Coast", "CI"),
    ("Czech Republic", "CZ"),
    ("South Korea", "KR"),
    ("Republic of Korea", "KR"),
    ("Russia", "RU"),
    ("Vatican", "VA"),
    ("Burma", "MM"),
];

/// How strongly a spelling names a country: a lower rank wins over a higher one, and two
/// countries with one spelling at the same rank make it ambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Code,
    IsoName,
    UnofficialName,
    Alias,
}

/// One spelling's meaning: the entry it names, or `None` when ambiguous.
#[derive(Debug, Clone, Copy)]
struct Meaning {
    rank: Rank,
    target: Option<u16>,
}

/// A country of the ISO data.
struct CountryData {
    alpha2: String,
    /// ISO 3166-1 English short name.
    name: &'static str,
}

/// A subdivision of the ISO data.
struct SubdivisionData {
    /// The full ISO 3166-2 code, `US-IN`.
    full: String,
    /// The code within its country, `IN`.
    code: &'static str,
    name: &'static str,
}

struct Index {
    countries: Vec<CountryData>,
    /// `[first letter][second letter]` of an alpha-2 code → country: the fast path.
    by_alpha2: [[Option<u16>; 26]; 26],
    /// Folded spelling → country.
    by_spelling: HashMap<String, Meaning>,
    subdivisions: Vec<SubdivisionData>,
    /// Alpha-2 code followed by the folded spelling (`usindiana`) → subdivision.
    subdivision_by_spelling: HashMap<String, Meaning>,
    /// Full ISO 3166-2 code, upper-case (`US-IN`) → subdivision.
    subdivision_by_code: HashMap<String, u16>,
    /// Country and code of up to three letters or digits, upper-case and zero-padded
    /// (`US`, `IN` → `USIN\0`) → subdivision: the fast path for codes.
    subdivision_by_short_code: HashMap<[u8; 5], u16>,
}

/// The fast-path key of a subdivision code of one to three ASCII letters or digits.
fn short_code_key(country: &str, code: &str) -> Option<[u8; 5]> {
    let (country, code) = (country.as_bytes(), code.as_bytes());
    if country.len() != 2 || code.is_empty() || code.len() > 3 {
        return None;
    }
    let mut key = [0u8; 5];
    key[0] = country[0].to_ascii_uppercase();
    key[1] = country[1].to_ascii_uppercase();
    for (slot, b) in key[2..].iter_mut().zip(code) {
        if !b.is_ascii_alphanumeric() {
            return None;
        }
        *slot = b.to_ascii_uppercase();
    }
    Some(key)
}

fn learn(map: &mut HashMap<String, Meaning>, key: String, rank: Rank, target: u16) {
    if key.is_empty() {
        return;
    }
    match map.entry(key) {
        Entry::Vacant(slot) => {
            slot.insert(Meaning {
                rank,
                target: Some(target),
            });
        }
        Entry::Occupied(mut slot) => {
            let known = slot.get_mut();
            if rank < known.rank {
                *known = Meaning {
                    rank,
                    target: Some(target),
                };
            } else if rank == known.rank && known.target != Some(target) {
                known.target = None;
            }
        }
    }
}

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let mut index = Index {
        countries: Vec::with_capacity(250),
        by_alpha2: [[None; 26]; 26],
        by_spelling: HashMap::with_capacity(4096),
        subdivisions: Vec::with_capacity(5200),
        subdivision_by_spelling: HashMap::with_capacity(16_384),
        subdivision_by_code: HashMap::with_capacity(5200),
        subdivision_by_short_code: HashMap::with_capacity(5200),
    };
    for country in keshvar::CountryIterator::new() {
        let id = index.countries.len() as u16;
        let alpha2 = country.alpha2().to_string();
        let bytes = alpha2.as_bytes();
        index.by_alpha2[usize::from(bytes[0] - b'A')][usize::from(bytes[1] - b'A')] = Some(id);
        let spellings = &mut index.by_spelling;
        learn(spellings, fold(&alpha2), Rank::Code, id);
        learn(
            spellings,
            fold(&country.alpha3().to_string()),
            Rank::Code,
            id,
        );
        learn(spellings, fold(country.iso_short_name()), Rank::IsoName, id);
        learn(spellings, fold(country.iso_long_name()), Rank::IsoName, id);
        for name in country.unofficial_name_list() {
            learn(spellings, fold(name), Rank::UnofficialName, id);
        }
        let prefix = alpha2.to_ascii_lowercase();
        for sub in country.subdivisions().values() {
            // A few entries of the data carry codes that are no ISO 3166-2 code (`X1~`).
            if !sub.code().bytes().all(|b| b.is_ascii_alphanumeric()) {
                continue;
            }
            let sid = index.subdivisions.len() as u16;
            let full = format!("{alpha2}-{}", sub.code().to_ascii_uppercase());
            index.subdivision_by_code.insert(full.clone(), sid);
            if let Some(key) = short_code_key(&alpha2, sub.code()) {
                index.subdivision_by_short_code.insert(key, sid);
            }
            let subs = &mut index.subdivision_by_spelling;
            learn(subs, prefixed(&prefix, sub.code()), Rank::Code, sid);
            learn(subs, prefixed(&prefix, sub.name()), Rank::IsoName, sid);
            for name in sub.unofficial_name_list() {
                learn(subs, prefixed(&prefix, name), Rank::UnofficialName, sid);
            }
            index.subdivisions.push(SubdivisionData {
                full,
                code: sub.code(),
                name: sub.name(),
            });
        }
        index.countries.push(CountryData {
            alpha2,
            name: country.iso_short_name(),
        });
    }
    for (spelling, alpha2) in ALIASES {
        if let Some(id) = index.country_id(alpha2) {
            learn(&mut index.by_spelling, fold(spelling), Rank::Alias, id);
        }
    }
    index
});

fn prefixed(prefix: &str, name: &str) -> String {
    let folded = fold(name);
    if folded.is_empty() {
        return folded;
    }
    format!("{prefix}{folded}")
}

impl Index {
    /// The country of a plain two-letter code, any case.
    fn country_id(&self, code: &str) -> Option<u16> {
        let [a, b] = code.as_bytes() else {
            return None;
        };
        let (a, b) = (a.to_ascii_uppercase(), b.to_ascii_uppercase());
        if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() {
            return None;
        }
        self.by_alpha2[usize::from(a - b'A')][usize::from(b - b'A')]
    }
}

/// The form spellings are compared in: transliterated to ASCII, lower-case, letters and
/// digits only (the separators people put in names, ` .-',()`, dropped; `&` read as `and`),
/// without a leading `the`. Empty for text with any other character (`N/A` names no country, not Namibia).
fn fold(value: &str) -> String {
    let ascii;
    let value = if value.is_ascii() {
        value
    } else {
        ascii = deunicode::deunicode(value);
        ascii.as_str()
    };
    let value = value.trim_start();
    let value = match value.get(..4) {
        Some(head)
            if head[..3].eq_ignore_ascii_case("the")
                && !head.as_bytes()[3].is_ascii_alphanumeric() =>
        {
            &value[4..]
        }
        _ => value,
    };
    let mut folded = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => folded.push(char::from(b)),
            b'A'..=b'Z' => folded.push(char::from(b.to_ascii_lowercase())),
            b'&' => folded.push_str("and"),
            b' ' | b'\t' | b'.' | b'-' | b'\'' | b',' | b'(' | b')' => {}
            _ => return String::new(),
        }
    }
    folded
}

/// The ISO 3166-1 alpha-2 code a country value stands for (`U.S.A.` → `US`), `None` when it
/// resolves to none.
pub fn alpha2(value: &str) -> Option<String> {
    resolve(value).map(str::to_string)
}

/// Like [`alpha2`], borrowing the code from the ISO data.
pub fn resolve(value: &str) -> Option<&'static str> {
    let index = &*INDEX;
    let value = value.trim();
    // Fast path: a plain two-letter code (what Genesys holds, and what many orgs type).
    let id = match index.country_id(value) {
        Some(id) => Some(id),
        None => index.by_spelling.get(&fold(value)).and_then(|m| m.target),
    }?;
    Some(index.countries[usize::from(id)].alpha2.as_str())
}

/// The ISO 3166-1 English short name of an alpha-2 code (`DE` → `Germany`).
pub fn name(alpha2: &str) -> Option<&'static str> {
    let index = &*INDEX;
    let id = index.country_id(alpha2)?;
    Some(index.countries[usize::from(id)].name)
}

/// The ISO 3166-2 code (`US-IN`) a state or province value stands for in the country
/// `country` (an alpha-2 code): its code (`IN`), name (`Indiana`) or unofficial name, folded
/// like country names; a full code (`US-IN`) resolves whatever the country. `None` when it
/// resolves to none, or when the country is unknown and the value is no full code.
pub fn subdivision(country: Option<&str>, value: &str) -> Option<&'static str> {
    let index = &*INDEX;
    let value = value.trim();
    if let Some(id) = full_code(index, value) {
        return Some(index.subdivisions[usize::from(id)].full.as_str());
    }
    let country = country.and_then(|c| index.country_id(c))?;
    let prefix = &index.countries[usize::from(country)].alpha2;
    // Fast path: a code (`IN`, what Genesys and many orgs hold).
    if let Some(id) =
        short_code_key(prefix, value).and_then(|key| index.subdivision_by_short_code.get(&key))
    {
        return Some(index.subdivisions[usize::from(*id)].full.as_str());
    }
    let folded = fold(value);
    if folded.is_empty() {
        return None;
    }
    let mut key = String::with_capacity(2 + folded.len());
    key.push_str(&prefix.to_ascii_lowercase());
    key.push_str(&folded);
    let id = index.subdivision_by_spelling.get(&key)?.target?;
    Some(index.subdivisions[usize::from(id)].full.as_str())
}

/// A full ISO 3166-2 code as typed (`us-in`, ` US-IN `).
fn full_code(index: &Index, value: &str) -> Option<u16> {
    let (country, code) = value.split_once('-')?;
    if country.len() != 2 || code.is_empty() || code.len() > 3 {
        return None;
    }
    let key = format!("{}-{}", country, code).to_ascii_uppercase();
    index.subdivision_by_code.get(&key).copied()
}

/// The code within its country (`US-IN` → `IN`) of a full ISO 3166-2 code.
pub fn subdivision_code(full: &str) -> Option<&'static str> {
    let index = &*INDEX;
    let id = index.subdivision_by_code.get(full)?;
    Some(index.subdivisions[usize::from(*id)].code)
}

/// The ISO 3166-2 name (`US-IN` → `Indiana`) of a full ISO 3166-2 code.
pub fn subdivision_name(full: &str) -> Option<&'static str> {
    let index = &*INDEX;
    let id = index.subdivision_by_code.get(full)?;
    Some(index.subdivisions[usize::from(*id)].name)
}

/// How a canonical country value (an alpha-2 code, or text that resolved to none) is written
/// in `style`: a code is written as its name or itself, other text as it is.
pub fn written_country(canonical: &str, style: CountryStyle) -> &str {
    match style {
        CountryStyle::Name => name(canonical).unwrap_or(canonical),
        CountryStyle::Alpha2 => canonical,
    }
}

/// How a canonical subdivision value (a full ISO 3166-2 code, or text that resolved to none)
/// is written in `style`: its name (when the name reads back as the same subdivision, else
/// its code) or its code within its country; other text as it is.
pub fn written_subdivision(canonical: &str, style: CountryStyle) -> &str {
    let Some(code) = subdivision_code(canonical) else {
        return canonical;
    };
    match style {
        CountryStyle::Alpha2 => code,
        CountryStyle::Name => subdivision_name(canonical)
            .filter(|name| subdivision(Some(&canonical[..2]), name) == Some(canonical))
            .unwrap_or(code),
    }
}

/// Every alpha-2 code of the ISO data (for tests and diagnostics).
pub fn all_alpha2() -> impl Iterator<Item = &'static str> {
    INDEX.countries.iter().map(|c| c.alpha2.as_str())
}

/// Every full ISO 3166-2 code of the ISO data (for tests and diagnostics).
pub fn all_subdivisions() -> impl Iterator<Item = &'static str> {
    INDEX.subdivisions.iter().map(|s| s.full.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spellings_people_type_resolve_to_one_code() {
        // GIVEN countries as they are typed in Salesforce orgs and Genesys
        let table = [
            ("US", "US"),
            ("us", "US"),
            ("USA", "US"),
            ("usa", "US"),
            ("U.S.A.", "US"),
            ("U.S.", "US"),
            ("United States", "US"),
            ("united states of america", "US"),
            ("The United States of America", "US"),
            ("  United   States ", "US"),
            ("America", "US"),
            ("Estados Unidos", "US"),
            ("UK", "GB"),
            ("U.K.", "GB"),
            ("GBR", "GB"),
            ("Great Britain", "GB"),
            ("United Kingdom", "GB"),
            ("England", "GB"),
            ("Scotland", "GB"),
            ("Deutschland", "DE"),
            ("Germany", "DE"),
            ("DEU", "DE"),
            ("España", "ES"),
            ("Espana", "ES"),
            ("ESPAÑA", "ES"),
            ("Spain", "ES"),
            ("Holland", "NL"),
            ("The Netherlands", "NL"),
            ("Nederland", "NL"),
            ("Schweiz", "CH"),
            ("Italia", "IT"),
            ("Côte d'Ivoire", "CI"),
            ("Cote d Ivoire", "CI"),
            ("Türkiye", "TR"),
            ("Turkey", "TR"),
            ("South Korea", "KR"),
            ("Czech Republic", "CZ"),
            ("Canada", "CA"),
            ("can", "CA"),
            ("Thailand", "TH"),
            ("Trinidad & Tobago", "TT"),
            ("Bosnia and Herzegovina", "BA"),
        ];
        // WHEN resolved THEN each is its ISO 3166-1 alpha-2 code
        for (typed, code) in table {
            assert_eq!(alpha2(typed).as_deref(), Some(code), "{typed}");
        }
    }

    #[test]
    fn what_names_no_country_resolves_to_none() {
        // GIVEN values that name no country (or could name several)
        // WHEN resolved THEN none is guessed
        for typed in [
            "Atlantis", "", "  ", "ZZ", "XYZ", "Europe", "N/A", "the", "U$A",
        ] {
            assert_eq!(alpha2(typed), None, "{typed}");
        }
    }

    #[test]
    fn states_and_provinces_resolve_in_their_country() {
        // GIVEN states typed as codes, names, unofficial names and full codes
        let table = [
            (Some("US"), "IN", "US-IN"),
            (Some("US"), "Indiana", "US-IN"),
            (Some("US"), "indiana ", "US-IN"),
            (Some("US"), "CA", "US-CA"),
            (Some("US"), "California", "US-CA"),
            (Some("US"), "N.Y.", "US-NY"),
            (Some("US"), "District of Columbia", "US-DC"),
            (Some("CA"), "QC", "CA-QC"),
            (Some("CA"), "Québec", "CA-QC"),
            (Some("CA"), "Quebec", "CA-QC"),
            (Some("CA"), "Ontario", "CA-ON"),
            (Some("DE"), "Bayern", "DE-BY"),
            (Some("IN"), "Karnataka", "IN-KA"),
            (None, "us-in", "US-IN"),
            (Some("GB"), "US-TX", "US-TX"),
        ];
        // WHEN resolved in the record's country THEN each is its ISO 3166-2 code
        for (country, typed, full) in table {
            assert_eq!(
                subdivision(country, typed),
                Some(full),
                "{typed} in {country:?}"
            );
        }
        // AND "IN" is Indiana only in the US, and nothing without a country
        assert_eq!(subdivision(Some("CA"), "IN"), None);
        assert_eq!(subdivision(None, "IN"), None);
        assert_eq!(subdivision(Some("US"), "Atlantis"), None);
        assert_eq!(subdivision_code("US-IN"), Some("IN"));
        assert_eq!(subdivision_name("US-IN"), Some("Indiana"));
    }

    #[test]
    fn names_are_the_iso_english_short_names() {
        assert_eq!(name("DE"), Some("Germany"));
        assert_eq!(name("es"), Some("Spain"));
        assert_eq!(name("ZZ"), None);
        assert!(all_alpha2().count() >= 249);
        assert!(all_subdivisions().count() > 4000);
    }

    /// Every country of the ISO data: alpha-2, alpha-3, English short name.
    static COUNTRIES: LazyLock<Vec<(String, String, &'static str)>> = LazyLock::new(|| {
        keshvar::CountryIterator::new()
            .map(|c| {
                (
                    c.alpha2().to_string(),
                    c.alpha3().to_string(),
                    c.iso_short_name(),
                )
            })
            .collect()
    });

    /// A spelling of `value` in random case, with dots or spaces between letters and around.
    fn messy(value: &str, seed: &[u8]) -> String {
        let mut out = String::new();
        if seed.first().is_some_and(|b| b % 2 == 0) {
            out.push_str("  ");
        }
        for (i, c) in value.chars().enumerate() {
            let roll = seed.get(i % seed.len().max(1)).copied().unwrap_or(0);
            if roll % 3 == 0 {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            match roll % 7 {
                0 => out.push('.'),
                1 => out.push(' '),
                _ => {}
            }
        }
        out.push(' ');
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn every_country_resolves_from_its_codes_and_name_and_back(
            pick in any::<prop::sample::Index>(),
            form in 0usize..3,
            seed in prop::collection::vec(any::<u8>(), 1..8),
        ) {
            // GIVEN any country of the ISO data, written as its alpha-2, alpha-3 or English
            // short name, in random case with random dots and spaces
            let (code, alpha3, english) = pick.get(&COUNTRIES).clone();
            let written = match form {
                0 => code.clone(),
                1 => alpha3,
                _ => english.to_string(),
            };
            let typed = messy(&written, &seed);
            // WHEN resolved THEN it is the country's alpha-2 code
            prop_assert_eq!(resolve(&typed), Some(code.as_str()), "{}", typed);
            // AND the canonical value written in each style resolves back to the same code
            let as_name = name(&code).expect("a name");
            prop_assert_eq!(resolve(as_name), Some(code.as_str()), "{}", as_name);
            prop_assert_eq!(resolve(&code), Some(code.as_str()));
        }

    }

    #[test]
    fn every_subdivision_resolves_from_what_is_written_for_it() {
        // GIVEN every subdivision of the ISO data
        let mut failures = Vec::new();
        for full in all_subdivisions() {
            let country = &full[..2];
            // WHEN its code, its full code, and its name when that names it alone, are read
            // in its country THEN each resolves back to it (what is written reads back the
            // same: no ping-pong)
            let code = subdivision_code(full).expect("code");
            if subdivision(Some(country), code) != Some(full)
                || subdivision(None, full) != Some(full)
            {
                failures.push(format!("{full}: code {code}"));
            }
            let name = subdivision_name(full).expect("name");
            if let Some(named) = subdivision(Some(country), name)
                && named != full
            {
                failures.push(format!("{full}: name {name} reads as {named}"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn every_country_name_and_alpha3_resolves_to_its_own_code() {
        // GIVEN every country WHEN its ISO names and alpha-3 are resolved THEN none is lost
        // to an ambiguity (the exhaustive form of the property above)
        for country in keshvar::CountryIterator::new() {
            let code = country.alpha2().to_string();
            for written in [
                country.iso_short_name().to_string(),
                country.alpha3().to_string(),
            ] {
                assert_eq!(resolve(&written), Some(code.as_str()), "{written}");
            }
        }
    }
}
