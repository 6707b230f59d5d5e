//! Nothing personal or secret reaches a log line: a full sandbox run (the CLI's demo data and
//! distinctive people of our own, matches, creates both ways, edits on both sides, a conflict,
//! a held field, a delete, expired tokens and a 429) with every span and event captured at
//! TRACE, simulators and HTTP stack included; then the `Debug` output of the settings and
//! credentials.

use contact_sync_connectors::environment::ConnectionSettings;
use contact_sync_connectors::{GenesysConfig, JwtBearer, SalesforceConfig, Secret};
use contact_sync_e2e::World;
use contact_sync_simulators::{Fault, sandbox};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every byte any thread logs.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The values of every string field of every record on both sides (ids and stamps aside):
/// names, emails, phones (as stored and as digits), titles, addresses.
fn personal_values(sf: &[Value], gz: &[Value]) -> BTreeSet<String> {
    fn walk(v: &Value, key: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::String(s) => {
                let skip = matches!(
                    key,
                    "Id" | "id" | "attributes" | "type" | "url" | "selfUri" | "value"
                ) || key.ends_with("Date")
                    || key.ends_with("Modstamp")
                    || key == "countryCode"
                    || key == "state";
                if !skip && s.chars().count() >= 5 {
                    out.insert(s.clone());
                    out.insert(s.to_lowercase());
                    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
                    if digits.len() >= 7 {
                        out.insert(digits);
                    }
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    walk(v, k, out);
                }
            }
            Value::Array(items) => {
                for v in items {
                    walk(v, key, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for record in sf.iter().chain(gz) {
        walk(record, "", &mut out);
    }
    // Words every log has anyway (country names are field values too, but also common words).
    out.retain(|v| {
        !["United States", "united states", "Salesforce", "salesforce"].contains(&v.as_str())
    });
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_at_any_level_holds_a_value_an_email_a_phone_a_token_or_a_secret() {
    // GIVEN every span and event of every crate captured at TRACE
    let captured = Captured::default();
    // (`try_init` also routes the `log` crate's records, which reqwest uses, into it)
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(captured.clone())
        .with_ansi(false)
        // (no timestamps: their digits are not the run's data, and a postal code such as
        // 75001 once matched inside `00:59:07.750012Z`)
        .without_time()
        .try_init()
        .expect("the only subscriber of this test binary");
    // AND the sandbox's demo data plus distinctive people, in both systems
    let w = World::new().await;
    sandbox::seed(&w.sf, &w.gz);
    let quill = w.sf.insert(json!({"FirstName": "Quillonia", "LastName": "Vantablack-Oyelaran", "Email": "Quillonia.V@Distinctive-Example.com", "Phone": "(415) 555-0987", "Title": "Chief O'Hara \\ 50% Officer", "MailingCity": "Zyxwvutopolis"}));
    w.gz.insert(json!({"firstName": "Xanthippe", "lastName": "Grzybowska-Nakamura", "workEmail": "xanthippe.gn@unique-example.org", "cellPhone": {"display": "+1 415 555 0765"}, "title": "Archivist Zoë Ærø"}));

    // WHEN a full run happens: first sync, edits on both sides (a conflict among them), a
    // delete, expired tokens and a 429 on the next runs
    let first = w.sync().await;
    assert_eq!(first.stats.failed, 0);
    let quill_gz = w.genesys_linked_to(&quill)[0]["id"]
        .as_str()
        .expect("linked")
        .to_string();
    w.sf.edit(
        &quill,
        json!({"Title": "Grand Vizier Oxblood", "MobilePhone": "415.555.0321"}),
    );
    tokio::time::sleep(Duration::from_millis(15)).await;
    w.gz.edit(&quill_gz, json!({"title": "Lord Chamberlain Umber", "workEmail": "quill.new@Distinctive-Example.com"}));
    w.sf.inject(Fault::ExpireTokens);
    w.gz.inject(Fault::ExpireTokens);
    w.gz.inject(Fault::Status {
        path_contains: "/bulk/contacts/update".into(),
        status: 429,
        times: 1,
        retry_after_secs: Some(0),
    });
    let second = w.sync().await;
    assert!(second.stats.conflicts >= 1, "{:?}", second.stats);
    let someone = w.sf.all()[3]["Id"].as_str().expect("id").to_string();
    w.sf.delete(&someone);
    w.sync().await;

    // THEN no captured line holds any value any record had, nor a credential
    let mut secrets: Vec<String> = vec![
        w.sf.client_secret().to_string(),
        w.gz.client_secret().to_string(),
        "access_token".into(),
        "Bearer ".into(),
        "BEGIN PRIVATE KEY".into(),
    ];
    secrets.retain(|s| !s.is_empty());
    let mut values = personal_values(&w.sf.all(), &w.gz.all());
    for v in [
        "Quillonia",
        "Vantablack-Oyelaran",
        "quillonia.v@distinctive-example.com",
        "4155550987",
        "Zyxwvutopolis",
        "Xanthippe",
        "xanthippe.gn@unique-example.org",
        "4155550765",
        "Grand Vizier Oxblood",
        "Lord Chamberlain Umber",
        "4155550321",
    ] {
        values.insert(v.to_string());
    }
    let text = String::from_utf8(captured.0.lock().expect("log buffer").clone()).expect("utf-8");
    let lines = text.lines().count();
    assert!(lines > 100, "the run was logged at TRACE ({lines} lines)");
    let mut leaks = Vec::new();
    for line in text.lines() {
        for v in values.iter().chain(&secrets) {
            if holds(line, v) {
                leaks.push(format!(
                    "`{v}` in: {}",
                    line.chars().take(300).collect::<String>()
                ));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks in {lines} log lines, e.g.:\n{}",
        leaks.len(),
        leaks
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    println!(
        "log privacy: {lines} TRACE lines checked against {} values and {} secrets",
        values.len(),
        secrets.len()
    );
}

#[test]
fn settings_and_credentials_print_no_secret() {
    // GIVEN settings with a client secret, a JWT private key and an OAuth client secret
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert(
        "SALESFORCE_LOGIN_URL".into(),
        "https://acme.my.salesforce.com".into(),
    );
    vars.insert("SALESFORCE_CLIENT_ID".into(), "sf-client-id".into());
    vars.insert(
        "SALESFORCE_CLIENT_SECRET".into(),
        "sf-s3cret-Hunter2".into(),
    );
    vars.insert("GENESYS_CLIENT_ID".into(), "gz-client-id".into());
    vars.insert("GENESYS_CLIENT_SECRET".into(), "gz-s3cret-Swordfish".into());
    let settings = ConnectionSettings::from_vars(&vars).expect("settings");
    let mut jwt = SalesforceConfig::new("https://acme.my.salesforce.com", "id", "");
    jwt.jwt = Some(JwtBearer {
        username: "integration@acme.example".into(),
        audience: "https://login.salesforce.com".into(),
        private_key_pem: Secret::from(
            "-----BEGIN PRIVATE KEY-----MIIEvQ-----END PRIVATE KEY-----".to_string(),
        ),
    });
    let genesys = GenesysConfig::new("https://api.mypurecloud.com", "id", "gz-s3cret-Swordfish");
    // WHEN each is printed with Debug (also pretty) and Display where it has one
    let printed = [
        format!("{settings:?}"),
        format!("{settings:#?}"),
        format!("{jwt:?}"),
        format!("{genesys:?}"),
        format!("{:?}", Secret::from("sf-s3cret-Hunter2".to_string())),
    ];
    // THEN no secret appears
    for text in printed {
        for secret in [
            "sf-s3cret-Hunter2",
            "gz-s3cret-Swordfish",
            "MIIEvQ",
            "BEGIN PRIVATE KEY",
        ] {
            assert!(!text.contains(secret), "`{secret}` printed in {text}");
        }
    }
}

#[test]
fn plain_http_is_refused_for_every_real_endpoint() {
    // GIVEN settings pointing a system at a non-loopback host over plain http
    for (variable, url) in [
        ("SALESFORCE_LOGIN_URL", "http://acme.my.salesforce.com"),
        ("GENESYS_API_BASE", "http://api.mypurecloud.com"),
        ("GENESYS_LOGIN_BASE", "http://login.mypurecloud.com"),
        ("SALESFORCE_LOGIN_URL", "http://10.0.0.8:8080"),
    ] {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("SALESFORCE_CLIENT_ID".into(), "id".into());
        vars.insert("SALESFORCE_CLIENT_SECRET".into(), "secret".into());
        vars.insert("GENESYS_CLIENT_ID".into(), "id".into());
        vars.insert("GENESYS_CLIENT_SECRET".into(), "secret".into());
        vars.insert(variable.into(), url.into());
        // WHEN the settings are read
        let error = ConnectionSettings::from_vars(&vars).expect_err(url);
        // THEN they are refused, naming the variable
        assert_eq!(error.variable, variable, "{url}");
        assert!(error.problem.contains("https"), "{}", error.problem);
    }
}

/// Whether `line` holds `value`. A short value of digits only (a postal code) counts only where
/// it stands between non-digits, so a duration or a count that happens to contain those digits is
/// not taken for it; a phone's digits (7 or more) count anywhere, as "+1" may precede them.
fn holds(line: &str, value: &str) -> bool {
    if value.len() >= 7 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return line.contains(value);
    }
    line.match_indices(value).any(|(at, _)| {
        let before = line[..at].bytes().next_back();
        let after = line[at + value.len()..].bytes().next();
        !before.is_some_and(|b| b.is_ascii_digit()) && !after.is_some_and(|b| b.is_ascii_digit())
    })
}
