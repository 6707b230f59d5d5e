//! Deterministic demo data for the CLI's `--sandbox` mode: people as real orgs hold them.
//!
//! 50 fictional people (example.com / example.org addresses; phones from the ranges kept for
//! fiction where a country has one: 555-01xx in North America, Ofcom's drama numbers
//! 020 7946 0xxx and 07700 900xxx in the UK, ARCEP's 01 99 00 / 06 39 98 in France; the
//! German, Spanish and Indian numbers are made up), living in six countries:
//!
//! * people 0..20 are in BOTH systems, typed differently on each side as a real org has
//!   them: email case (`Ana.Lopez@Example.com` vs `ana.lopez@example.com`), phone formats
//!   (national `020 7946 0105` vs international `+44 20 7946 0105`, `(312) 555-0102 x12` vs
//!   `+13125550102` with extension 12), country spellings (`United States` vs `US`, `UK` vs
//!   `GB`, `Deutschland` vs `DE`), a nickname (`Robert "Bob"` vs `Bob`), an accent one side
//!   dropped (`Inès` vs `Ines`), and genuine conflicts (a different title for people 4, 9
//!   and 14; a different mobile for people 7 and 17);
//! * Salesforce holds person 2 twice (a colleague entered her again, same email);
//! * people 20..40 are only in Salesforce (every fifth without an email);
//! * people 40..50 are only in Genesys Cloud; the last one has no last name.
//!
//! Country spellings: `US`, `USA`, `U.S.A.`, `United States`, `usa`, `UK`, `Great Britain`,
//! `United Kingdom`, `GB`, `Deutschland`, `Germany`, `DE`, `España`, `Spain`, `ES`, `France`,
//! `FR`, `India`, `IN`; [`country_spellings`] counts them per system.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::genesys::GenesysSim;
use crate::salesforce::SalesforceSim;

/// How many contacts [`seed`] created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    pub salesforce: usize,
    pub genesys: usize,
    /// People present in both systems.
    pub overlapping: usize,
}

/// How many seeded contacts carry one country spelling, per system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpellingCount {
    /// Salesforce contacts with this `MailingCountry`.
    pub salesforce: usize,
    /// Genesys contacts with this `address.countryCode`.
    pub genesys: usize,
}

const FIRST_NAMES: [&str; 50] = [
    "Ana", "Robert", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Inès", "Jonas", "Kara",
    "Liam", "Mina", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wade", "Xena", "Yusuf", "Zoë", "Arjun", "Bianca", "Carlos", "Dana", "Emil", "Fiona", "Goran",
    "Hana", "Ivan", "Julia", "Kofi", "Lena", "Marco", "Nadia", "Oscar", "Priya", "Rafael", "Sofia",
    "Théo", "Uma", "Victor", "Wendy", "Yara", "Maya",
];

const LAST_NAMES: [&str; 50] = [
    "Lopez",
    "Carter",
    "Nguyen",
    "Patel",
    "Rossi",
    "Haddad",
    "Kim",
    "Tanaka",
    "Moreau",
    "Berg",
    "Osei",
    "Walsh",
    "Sato",
    "Fischer",
    "Ivanova",
    "Novak",
    "Reyes",
    "Silva",
    "Khan",
    "O'Brien",
    "Farouk",
    "Lindqvist",
    "Porter",
    "Quist",
    "Demir",
    "Evans",
    "Mehta",
    "Romano",
    "Vargas",
    "Cohen",
    "Larsen",
    "Byrne",
    "Petrov",
    "Yamada",
    "Sokolov",
    "Keller",
    "Mensah",
    "Bauer",
    "Conti",
    "Aziz",
    "Holm",
    "Raman",
    "Duarte",
    "Greco",
    "Dubois",
    "Iyer",
    "Lindgren",
    "Shaw",
    "Nasser",
    "",
];

const TITLES: [&str; 7] = [
    "Account Manager",
    "Operations Lead",
    "Support Engineer",
    "Procurement Officer",
    "Head of Customer Care",
    "Finance Analyst",
    "Office Manager",
];

/// US cities: area code, city, state, ZIP code.
const US_CITIES: [(&str, &str, &str, &str); 5] = [
    ("415", "San Francisco", "CA", "94105"),
    ("212", "New York", "NY", "10001"),
    ("312", "Chicago", "IL", "60601"),
    ("617", "Boston", "MA", "02110"),
    ("206", "Seattle", "WA", "98101"),
];

const OVERLAP: usize = 20;
const SALESFORCE_ONLY_END: usize = 40;
const TITLE_CONFLICTS: [usize; 3] = [4, 9, 14];
const MOBILE_CONFLICTS: [usize; 2] = [7, 17];
/// The person Salesforce holds twice (same email, entered again by a colleague).
const SALESFORCE_DUPLICATE: usize = 2;
/// People whose Salesforce first name carries a nickname in quotes, and the nickname the
/// contact-centre agent typed in Genesys.
const NICKNAMES: [(usize, &str); 1] = [(1, "Bob")];
/// People whose name Genesys holds without its accent: (index, first name as typed there).
const ACCENT_DROPPED: [(usize, &str); 1] = [(8, "Ines")];

/// A person's country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Country {
    UnitedStates,
    UnitedKingdom,
    Germany,
    France,
    Spain,
    India,
}

impl Country {
    /// Half the people live in the US, the rest in five other countries.
    fn of(index: usize) -> Country {
        match index % 10 {
            0..=4 => Country::UnitedStates,
            5 | 6 => Country::UnitedKingdom,
            7 => Country::Germany,
            8 if (index / 10).is_multiple_of(2) => Country::France,
            8 => Country::Spain,
            _ => Country::India,
        }
    }

    /// The spellings people type for this country (the ISO code last).
    fn spellings(self) -> &'static [&'static str] {
        match self {
            Country::UnitedStates => &["United States", "USA", "U.S.A.", "usa", "US"],
            Country::UnitedKingdom => &["UK", "Great Britain", "United Kingdom", "GB"],
            Country::Germany => &["Deutschland", "Germany", "DE"],
            Country::France => &["France", "FR"],
            Country::Spain => &["Spain", "España", "ES"],
            Country::India => &["India", "IN"],
        }
    }

    fn code(self) -> &'static str {
        let spellings = self.spellings();
        spellings[spellings.len() - 1]
    }

    /// City, state or region, postal code (US people take theirs from [`US_CITIES`]).
    fn place(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Country::UnitedStates => ("", "", ""),
            Country::UnitedKingdom => ("London", "", "EC1A 1BB"),
            Country::Germany => ("Berlin", "", "10117"),
            Country::France => ("Paris", "", "75001"),
            Country::Spain => ("Madrid", "", "28013"),
            Country::India => ("Mumbai", "MH", "400001"),
        }
    }
}

/// One fictional person, as the seed derives them from their index.
struct Person {
    index: usize,
    first: &'static str,
    last: &'static str,
    title: &'static str,
    country: Country,
    area: &'static str,
    city: &'static str,
    state: &'static str,
    postal_code: &'static str,
}

impl Person {
    fn new(index: usize) -> Self {
        let country = Country::of(index);
        let (area, city, state, postal_code) = match country {
            Country::UnitedStates => US_CITIES[index % US_CITIES.len()],
            other => {
                let (city, state, postal_code) = other.place();
                ("", city, state, postal_code)
            }
        };
        Self {
            index,
            first: FIRST_NAMES[index],
            last: LAST_NAMES[index],
            title: TITLES[index % TITLES.len()],
            country,
            area,
            city,
            state,
            postal_code,
        }
    }

    /// The email's local part: the name in lower case, without accents or apostrophes.
    fn email_local(&self) -> String {
        let name = if self.last.is_empty() {
            self.first.to_string()
        } else {
            format!("{}.{}", self.first, self.last)
        };
        name.to_lowercase()
            .chars()
            .filter_map(|c| match c {
                'é' | 'è' | 'ë' => Some('e'),
                '\'' => None,
                other => Some(other),
            })
            .collect()
    }

    fn domain(&self) -> &'static str {
        if self.index % 4 == 3 {
            "example.org"
        } else {
            "example.com"
        }
    }

    /// The first name as the salesperson typed it in Salesforce.
    fn salesforce_first(&self) -> String {
        match NICKNAMES.iter().find(|(index, _)| *index == self.index) {
            Some((_, nickname)) => format!("{} \"{nickname}\"", self.first),
            None => self.first.to_string(),
        }
    }

    /// The first name as the agent typed it in Genesys.
    fn genesys_first(&self) -> &'static str {
        NICKNAMES
            .iter()
            .chain(ACCENT_DROPPED.iter())
            .find(|(index, _)| *index == self.index)
            .map_or(self.first, |(_, name)| name)
    }

    /// The country as typed in Salesforce: one of the spellings, in turn.
    fn salesforce_country(&self) -> &'static str {
        let spellings = self.country.spellings();
        spellings[(self.index + self.index / 10) % spellings.len()]
    }

    /// The country as typed in Genesys: for people in both systems a different spelling than
    /// Salesforce's (the ISO code, or the full name where Salesforce has the code); for the
    /// others, the spellings in turn.
    fn genesys_country(&self) -> &'static str {
        let spellings = self.country.spellings();
        if self.index < OVERLAP {
            let salesforce = self.salesforce_country();
            if salesforce == self.country.code() {
                spellings[0]
            } else {
                self.country.code()
            }
        } else {
            spellings[(self.index / 2) % spellings.len()]
        }
    }

    /// The work phone as typed nationally (Salesforce's habit), with an extension for some
    /// US people.
    fn work_phone_national(&self) -> String {
        let i = self.index;
        match self.country {
            Country::UnitedStates => {
                let line = format!("01{i:02}");
                match (i % 10, i % 2) {
                    (2, _) => format!("({}) 555-{line} x{}", self.area, 10 + i),
                    (_, 0) => format!("({}) 555-{line}", self.area),
                    _ => format!("{}.555.{line}", self.area),
                }
            }
            Country::UnitedKingdom => format!("020 7946 0{}", 100 + i),
            Country::Germany => format!("030 901820{i:02}"),
            Country::France if i == 8 => "01 23 45 67 89".to_string(),
            Country::France => format!("01 99 00 {i:02} {:02}", 50 + i),
            Country::Spain => format!("91 123 45 {i:02}"),
            Country::India => format!("098765 432{:02}", i + 1),
        }
    }

    /// The work phone in international form (the agent's habit), and its extension.
    fn work_phone_international(&self) -> (String, Option<usize>) {
        let i = self.index;
        match self.country {
            Country::UnitedStates => {
                let extension = (i % 10 == 2).then_some(10 + i);
                (format!("+1{}55501{i:02}", self.area), extension)
            }
            Country::UnitedKingdom => (format!("+44 20 7946 0{}", 100 + i), None),
            Country::Germany => (format!("+49 30 901820{i:02}"), None),
            Country::France if i == 8 => ("+33 1 23 45 67 89".to_string(), None),
            Country::France => (format!("+33 1 99 00 {i:02} {:02}", 50 + i), None),
            Country::Spain => (format!("+34 91 123 45 {i:02}"), None),
            Country::India => (format!("+91 98765 432{:02}", i + 1), None),
        }
    }

    /// A mobile in international form; `other` = a different line (a new mobile).
    fn mobile(&self, other: bool) -> String {
        let line = 50 + self.index % 50 + if other { 1 } else { 0 };
        match self.country {
            Country::UnitedStates => format!("+1{}5550{line:03}", self.area),
            Country::UnitedKingdom => format!("+44 7700 900{line:03}"),
            Country::Germany => format!("+49 151 2000 0{line:03}"),
            Country::France => format!("+33 6 39 98 {:02} {:02}", line / 100, line % 100),
            Country::Spain => format!("+34 600 000 {line:03}"),
            Country::India => format!("+91 99999 00{line:03}"),
        }
    }

    fn has_mobile(&self) -> bool {
        self.index.is_multiple_of(4) || MOBILE_CONFLICTS.contains(&self.index)
    }

    fn street(&self) -> String {
        format!("{} Example Street", 100 + self.index)
    }
}

fn salesforce_fields(person: &Person) -> Value {
    let mut fields = Map::new();
    let mut set = |name: &str, value: String| {
        fields.insert(name.to_string(), Value::String(value));
    };
    set("FirstName", person.salesforce_first());
    set("LastName", person.last.to_string());
    set("Title", person.title.to_string());
    let shared = person.index < OVERLAP;
    let without_email = !shared && person.index.is_multiple_of(5);
    if !without_email {
        let email = if person.index.is_multiple_of(3) {
            // Mixed case as typed by a salesperson: Ana.Lopez@Example.com
            let domain = person.domain();
            let domain = format!("{}{}", domain[..1].to_uppercase(), &domain[1..]);
            let local = person.email_local();
            let (first, last) = local.split_once('.').unwrap_or((&local, ""));
            let capital = |part: &str| {
                let mut chars = part.chars();
                chars.next().map_or(String::new(), |c| {
                    c.to_uppercase().chain(chars).collect::<String>()
                })
            };
            format!("{}.{}@{domain}", capital(first), capital(last))
        } else {
            format!("{}@{}", person.email_local(), person.domain())
        };
        set("Email", email);
    }
    set("Phone", person.work_phone_national());
    if person.has_mobile() {
        set("MobilePhone", person.mobile(false));
    }
    set("MailingStreet", person.street());
    set("MailingCity", person.city.to_string());
    if !person.state.is_empty() {
        set("MailingState", person.state.to_string());
    }
    set("MailingPostalCode", person.postal_code.to_string());
    set("MailingCountry", person.salesforce_country().to_string());
    Value::Object(fields)
}

/// The second Salesforce record of [`SALESFORCE_DUPLICATE`]: same name and email, only a
/// mobile, the country typed yet another way.
fn salesforce_duplicate(person: &Person) -> Value {
    json!({
        "FirstName": person.first,
        "LastName": person.last,
        "Email": format!("{}@{}", person.email_local(), person.domain()),
        "MobilePhone": person.mobile(false),
        "MailingCity": person.city,
        "MailingCountry": "USA",
    })
}

fn genesys_contact(person: &Person) -> Value {
    let mut contact = Map::new();
    contact.insert("firstName".into(), json!(person.genesys_first()));
    if !person.last.is_empty() {
        contact.insert("lastName".into(), json!(person.last));
    }
    let title = if TITLE_CONFLICTS.contains(&person.index) {
        // Promoted, and only the contact-centre agent heard about it.
        format!("Senior {}", person.title)
    } else {
        person.title.to_string()
    };
    contact.insert("title".into(), json!(title));
    let email = format!("{}@{}", person.email_local(), person.domain());
    if person.index >= SALESFORCE_ONLY_END && person.index % 2 == 1 {
        contact.insert("personalEmail".into(), json!(email));
    } else {
        contact.insert("workEmail".into(), json!(email));
    }
    let work_phone = match person.index % 3 {
        // Some agents type the number as the customer said it, nationally.
        1 if person.country != Country::UnitedStates => {
            json!({ "display": person.work_phone_national() })
        }
        _ => {
            let (display, extension) = person.work_phone_international();
            match extension {
                Some(extension) => json!({ "display": display, "extension": extension }),
                None => json!({ "display": display }),
            }
        }
    };
    contact.insert("workPhone".into(), work_phone);
    if person.has_mobile() {
        // A new mobile the customer gave the agent.
        let mobile = person.mobile(MOBILE_CONFLICTS.contains(&person.index));
        contact.insert("cellPhone".into(), json!({ "display": mobile }));
    }
    let mut address = Map::new();
    address.insert("address1".into(), json!(person.street()));
    address.insert("city".into(), json!(person.city));
    if !person.state.is_empty() {
        address.insert("state".into(), json!(person.state));
    }
    address.insert("postalCode".into(), json!(person.postal_code));
    address.insert("countryCode".into(), json!(person.genesys_country()));
    contact.insert("address".into(), Value::Object(address));
    Value::Object(contact)
}

/// What [`seed`] writes, in order: `(Salesforce records, Genesys contacts)`.
fn seed_records() -> (Vec<Value>, Vec<Value>) {
    let people: Vec<Person> = (0..FIRST_NAMES.len()).map(Person::new).collect();
    let (mut salesforce, mut genesys) = (Vec::new(), Vec::new());
    for person in &people {
        if person.index < SALESFORCE_ONLY_END {
            salesforce.push(salesforce_fields(person));
        }
        if person.index < OVERLAP || person.index >= SALESFORCE_ONLY_END {
            genesys.push(genesys_contact(person));
        }
    }
    salesforce.push(salesforce_duplicate(&people[SALESFORCE_DUPLICATE]));
    (salesforce, genesys)
}

/// How many seeded contacts carry each country spelling (`MailingCountry` in Salesforce,
/// `address.countryCode` in Genesys), by spelling.
pub fn country_spellings() -> BTreeMap<&'static str, SpellingCount> {
    let (salesforce, genesys) = seed_records();
    let mut counts: BTreeMap<&'static str, SpellingCount> = BTreeMap::new();
    let known = |typed: Option<&str>| {
        let typed = typed?;
        [
            Country::UnitedStates,
            Country::UnitedKingdom,
            Country::Germany,
            Country::France,
            Country::Spain,
            Country::India,
        ]
        .iter()
        .flat_map(|country| country.spellings().iter().copied())
        .find(|spelling| *spelling == typed)
    };
    for record in &salesforce {
        if let Some(spelling) = known(record["MailingCountry"].as_str()) {
            counts.entry(spelling).or_default().salesforce += 1;
        }
    }
    for contact in &genesys {
        if let Some(spelling) = known(contact["address"]["countryCode"].as_str()) {
            counts.entry(spelling).or_default().genesys += 1;
        }
    }
    counts
}

/// Fill both simulators with the demo data set (deterministic content).
pub fn seed(sf: &SalesforceSim, gz: &GenesysSim) -> SeedReport {
    let (salesforce, genesys) = seed_records();
    for record in &salesforce {
        sf.insert(record.clone());
    }
    for contact in &genesys {
        gz.insert(contact.clone());
    }
    let report = SeedReport {
        salesforce: salesforce.len(),
        genesys: genesys.len(),
        overlapping: OVERLAP,
    };
    tracing::info!(
        salesforce = report.salesforce,
        genesys = report.genesys,
        overlapping = report.overlapping,
        "sandbox seeded"
    );
    report
}
