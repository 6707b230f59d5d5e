//! Deterministic demo data for the CLI's `--sandbox` mode.
//!
//! 50 fictional people (example.com / example.org addresses, 555-01xx numbers):
//!
//! * people 0..20 are in BOTH systems, with the differences a real org has: email case
//!   (`Ana.Lopez@Example.com` vs `ana.lopez@example.com`), phone formats (`(415) 555-0100`
//!   vs `+14155550100` vs `415.555.0100`), and genuine conflicts (a different title for
//!   people 4, 9 and 14; a different mobile for people 7 and 17);
//! * people 20..40 are only in Salesforce (every fifth without an email);
//! * people 40..50 are only in Genesys Cloud; the last one has no last name.

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

const FIRST_NAMES: [&str; 50] = [
    "Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara",
    "Liam", "Mina", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wade", "Xena", "Yusuf", "Zoe", "Arjun", "Bianca", "Carlos", "Dana", "Emil", "Fiona", "Goran",
    "Hana", "Ivan", "Julia", "Kofi", "Lena", "Marco", "Nadia", "Oscar", "Priya", "Rafael", "Sofia",
    "Theo", "Uma", "Victor", "Wendy", "Yara", "Maya",
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
    "Murphy",
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

const CITIES: [(&str, &str, &str, &str); 5] = [
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

/// One fictional person, as the seed derives them from their index.
struct Person {
    index: usize,
    first: &'static str,
    last: &'static str,
    title: &'static str,
    area: &'static str,
    city: &'static str,
    state: &'static str,
    postal_code: &'static str,
}

impl Person {
    fn new(index: usize) -> Self {
        let (area, city, state, postal_code) = CITIES[index % CITIES.len()];
        Self {
            index,
            first: FIRST_NAMES[index],
            last: LAST_NAMES[index],
            title: TITLES[index % TITLES.len()],
            area,
            city,
            state,
            postal_code,
        }
    }

    fn email_local(&self) -> String {
        if self.last.is_empty() {
            self.first.to_lowercase()
        } else {
            format!("{}.{}", self.first, self.last).to_lowercase()
        }
    }

    fn domain(&self) -> &'static str {
        if self.index % 4 == 3 {
            "example.org"
        } else {
            "example.com"
        }
    }

    /// Work phone line: 555-0100 + index.
    fn line(&self) -> String {
        format!("01{:02}", self.index)
    }

    /// Mobile line: 555-0150 + index (people 0..50 never collide with work lines).
    fn mobile_line(&self) -> String {
        format!("01{:02}", 50 + self.index % 50)
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
    set("FirstName", person.first.to_string());
    set("LastName", person.last.to_string());
    set("Title", person.title.to_string());
    let shared = person.index < OVERLAP;
    let without_email = !shared && person.index.is_multiple_of(5);
    if !without_email {
        let email = if person.index.is_multiple_of(3) {
            // Mixed case as typed by a salesperson: Ana.Lopez@Example.com
            let domain = person.domain();
            let domain = format!("{}{}", domain[..1].to_uppercase(), &domain[1..]);
            format!("{}.{}@{domain}", person.first, person.last)
        } else {
            format!("{}@{}", person.email_local(), person.domain())
        };
        set("Email", email);
    }
    let phone = if person.index.is_multiple_of(2) {
        format!("({}) 555-{}", person.area, person.line())
    } else {
        format!("{}.555.{}", person.area, person.line())
    };
    set("Phone", phone);
    if person.has_mobile() {
        set(
            "MobilePhone",
            format!("{}-555-{}", person.area, person.mobile_line()),
        );
    }
    set("MailingStreet", person.street());
    set("MailingCity", person.city.to_string());
    set("MailingState", person.state.to_string());
    set("MailingPostalCode", person.postal_code.to_string());
    set("MailingCountry", "United States".to_string());
    Value::Object(fields)
}

fn genesys_contact(person: &Person) -> Value {
    let mut contact = Map::new();
    contact.insert("firstName".into(), json!(person.first));
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
        0 => format!("+1{}555{}", person.area, person.line()),
        1 => format!("{}.555.{}", person.area, person.line()),
        _ => format!("({}) 555-{}", person.area, person.line()),
    };
    contact.insert("workPhone".into(), json!({ "display": work_phone }));
    if person.has_mobile() {
        let mobile = if MOBILE_CONFLICTS.contains(&person.index) {
            // A new mobile the customer gave the agent.
            format!(
                "+1{}555{}",
                CITIES[(person.index + 1) % CITIES.len()].0,
                person.mobile_line()
            )
        } else {
            format!("+1{}555{}", person.area, person.mobile_line())
        };
        contact.insert("cellPhone".into(), json!({ "display": mobile }));
    }
    contact.insert(
        "address".into(),
        json!({
            "address1": person.street(),
            "city": person.city,
            "state": person.state,
            "postalCode": person.postal_code,
            "countryCode": "US",
        }),
    );
    Value::Object(contact)
}

/// Fill both simulators with the demo data set (deterministic content).
pub fn seed(sf: &SalesforceSim, gz: &GenesysSim) -> SeedReport {
    let people: Vec<Person> = (0..FIRST_NAMES.len()).map(Person::new).collect();
    let mut report = SeedReport {
        salesforce: 0,
        genesys: 0,
        overlapping: 0,
    };
    for person in &people {
        let in_salesforce = person.index < SALESFORCE_ONLY_END;
        let in_genesys = person.index < OVERLAP || person.index >= SALESFORCE_ONLY_END;
        if in_salesforce {
            sf.insert(salesforce_fields(person));
            report.salesforce += 1;
        }
        if in_genesys {
            gz.insert(genesys_contact(person));
            report.genesys += 1;
        }
        if in_salesforce && in_genesys {
            report.overlapping += 1;
        }
    }
    tracing::info!(
        salesforce = report.salesforce,
        genesys = report.genesys,
        overlapping = report.overlapping,
        "sandbox seeded"
    );
    report
}
