//! The seed scripts' way of syncing both ways, as a baseline: one record per call.
//!
//! What it models: the bidirectional seed scripts find changes with the same list calls the
//! pipeline uses (a SOQL query on `SystemModstamp` after a watermark, paged; a full Genesys
//! scan, since Genesys has no modified-since filter), then handle each changed record on its
//! own: one `GET` of the linked record on the other side (`/contacts/{id}` or
//! `/sobjects/Contact/{id}`), and, when a mapped value differs, one `PUT /contacts/{id}` (a full
//! replace built from the `GET`) or `PATCH /sobjects/Contact/{id}`. It is given every advantage
//! the seeds' loop allows: the links come free with the scan (`externalIds`), unchanged records
//! are not written, and pages are as large as the APIs allow. It maps the five fields of the
//! benchmark's contacts (names, email, work phone, title), the changed side winning.
//!
//! It talks HTTP to the simulators directly (it is not the connectors' code), so the
//! simulators count its calls exactly as they count the pipeline's.

use chrono::{DateTime, Utc};
use contact_sync_e2e::record_stamp as stamp;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

const API: &str = "/services/data/v62.0";
const GENESYS_API: &str = "/api/v2/externalcontacts";
/// Salesforce fields ↔ Genesys paths this baseline keeps in sync.
const FIELDS: [(&str, &str); 5] = [
    ("FirstName", "firstName"),
    ("LastName", "lastName"),
    ("Email", "workEmail"),
    ("Phone", "workPhone"),
    ("Title", "title"),
];

/// Why a baseline run failed.
#[derive(Debug)]
pub struct BaselineError(pub String);

impl std::fmt::Display for BaselineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BaselineError {}

type Result<T> = std::result::Result<T, BaselineError>;

fn failed(what: &str, error: impl std::fmt::Display) -> BaselineError {
    BaselineError(format!("{what}: {error}"))
}

/// Where each system is and how to log in (the simulators' client credentials).
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub salesforce_url: String,
    pub salesforce_client: (String, String),
    pub genesys_url: String,
    pub genesys_client: (String, String),
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BaselineRun {
    pub salesforce_changes: usize,
    pub genesys_changes: usize,
    pub salesforce_writes: usize,
    pub genesys_writes: usize,
}

/// The seed-style sync loop with its watermarks.
pub struct SeedStyleSync {
    http: Client,
    endpoints: Endpoints,
    salesforce_watermark: DateTime<Utc>,
    genesys_watermark: DateTime<Utc>,
}

impl SeedStyleSync {
    /// A loop that considers everything modified after the two watermarks a change.
    pub fn new(
        endpoints: Endpoints,
        salesforce_watermark: DateTime<Utc>,
        genesys_watermark: DateTime<Utc>,
    ) -> SeedStyleSync {
        SeedStyleSync {
            http: Client::new(),
            endpoints,
            salesforce_watermark,
            genesys_watermark,
        }
    }

    /// One run: find both sides' changes, then one read and at most one write per change.
    pub async fn run(&mut self) -> Result<BaselineRun> {
        let sf_token = self.salesforce_token().await?;
        let gz_token = self.genesys_token().await?;
        let sf_changes = self.salesforce_changes(&sf_token).await?;
        let (gz_changes, gz_by_link) = self.genesys_scan(&gz_token).await?;
        let mut run = BaselineRun {
            salesforce_changes: sf_changes.len(),
            genesys_changes: gz_changes.len(),
            ..BaselineRun::default()
        };
        let sf = self.endpoints.salesforce_url.clone();
        let gz = self.endpoints.genesys_url.clone();
        for record in &sf_changes {
            let id = text(record, "Id");
            let Some(gz_id) = gz_by_link.get(&id) else {
                continue;
            };
            let url = format!("{gz}{GENESYS_API}/contacts/{gz_id}");
            let mut contact = self
                .json(self.http.get(&url).bearer_auth(&gz_token))
                .await?;
            if copy_to_genesys(record, &mut contact) {
                self.send(self.http.put(&url).bearer_auth(&gz_token).json(&contact))
                    .await?;
                run.genesys_writes += 1;
            }
        }
        for contact in &gz_changes {
            let Some(sf_id) = link_of(contact) else {
                continue;
            };
            let url = format!("{sf}{API}/sobjects/Contact/{sf_id}");
            let record = self
                .json(self.http.get(&url).bearer_auth(&sf_token))
                .await?;
            if let Some(patch) = salesforce_patch(contact, &record) {
                let request = self.http.request(Method::PATCH, &url);
                self.send(request.bearer_auth(&sf_token).json(&patch))
                    .await?;
                run.salesforce_writes += 1;
            }
        }
        if let Some(newest) = sf_changes
            .iter()
            .filter_map(|r| stamp(r, "SystemModstamp"))
            .max()
        {
            self.salesforce_watermark = newest;
        }
        if let Some(newest) = gz_changes
            .iter()
            .filter_map(|c| stamp(c, "modifyDate"))
            .max()
        {
            self.genesys_watermark = newest;
        }
        Ok(run)
    }

    async fn salesforce_token(&self) -> Result<String> {
        let (id, secret) = &self.endpoints.salesforce_client;
        let url = format!("{}/services/oauth2/token", self.endpoints.salesforce_url);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ];
        let body = self.json(self.http.post(url).form(&form)).await?;
        Ok(text(&body, "access_token"))
    }

    async fn genesys_token(&self) -> Result<String> {
        let (id, secret) = &self.endpoints.genesys_client;
        let url = format!("{}/oauth/token", self.endpoints.genesys_url);
        let request = self
            .http
            .post(url)
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")]);
        Ok(text(&self.json(request).await?, "access_token"))
    }

    /// Every Contact modified after the watermark, through the query and its next pages.
    async fn salesforce_changes(&self, token: &str) -> Result<Vec<Value>> {
        let fields: Vec<&str> = FIELDS.iter().map(|(sf, _)| *sf).collect();
        let soql = format!(
            "SELECT Id, SystemModstamp, {} FROM Contact WHERE SystemModstamp > {} ORDER BY SystemModstamp, Id",
            fields.join(", "),
            self.salesforce_watermark.format("%Y-%m-%dT%H:%M:%S%.3fZ")
        );
        let base = &self.endpoints.salesforce_url;
        let mut request = self
            .http
            .get(format!("{base}{API}/query"))
            .query(&[("q", soql)]);
        let mut records = Vec::new();
        loop {
            let mut page = self.json(request.bearer_auth(token)).await?;
            if let Some(Value::Array(found)) = page.get_mut("records").map(Value::take) {
                records.extend(found);
            }
            match page["nextRecordsUrl"].as_str() {
                Some(next) if page["done"] == false => {
                    request = self.http.get(format!("{base}{next}"));
                }
                _ => return Ok(records),
            }
        }
    }

    /// The whole Genesys org (200 a page): the contacts modified after the watermark, and the
    /// Genesys id of every linked Salesforce Id.
    async fn genesys_scan(&self, token: &str) -> Result<(Vec<Value>, HashMap<String, String>)> {
        let base = &self.endpoints.genesys_url;
        let mut changes = Vec::new();
        let mut by_link = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "200".to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let url = format!("{base}{GENESYS_API}/scan/contacts");
            let page = self
                .json(self.http.get(url).query(&query).bearer_auth(token))
                .await?;
            for contact in page["entities"].as_array().into_iter().flatten() {
                if let Some(link) = link_of(contact) {
                    by_link.insert(link, text(contact, "id"));
                }
                if stamp(contact, "modifyDate").is_some_and(|m| m > self.genesys_watermark) {
                    changes.push(contact.clone());
                }
            }
            match page["cursors"]["after"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return Ok((changes, by_link)),
            }
        }
    }

    async fn json(&self, request: RequestBuilder) -> Result<Value> {
        let response = request.send().await.map_err(|e| failed("request", e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| failed("body", e))?;
        if !status.is_success() {
            return Err(BaselineError(format!("answer {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| failed("JSON", e))
    }

    async fn send(&self, request: RequestBuilder) -> Result<()> {
        let response = request.send().await.map_err(|e| failed("request", e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(BaselineError(format!("answer {}", response.status())))
        }
    }
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

/// The Salesforce Id a Genesys contact carries in `externalIds`.
fn link_of(contact: &Value) -> Option<String> {
    contact["externalIds"]
        .as_array()?
        .iter()
        .find_map(|e| e["value"].as_str().map(str::to_string))
}

/// A Genesys value as the Salesforce field would hold it (phones: digits only, both sides).
fn genesys_value(contact: &Value, path: &str) -> Value {
    match path {
        "workPhone" => contact[path]["display"].clone(),
        _ => contact[path].clone(),
    }
}

fn same(sf_field: &str, a: &Value, b: &Value) -> bool {
    let digits = |v: &Value| -> String {
        v.as_str()
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_digit)
            .collect()
    };
    match sf_field {
        "Phone" => digits(a) == digits(b),
        "Email" => {
            a.as_str().map(str::to_lowercase) == b.as_str().map(str::to_lowercase)
                || (a.is_null() && b.is_null())
        }
        _ => a == b || (a.is_null() && b.is_null()),
    }
}

/// Copies the Salesforce record's values into the Genesys contact; true when any changed.
fn copy_to_genesys(record: &Value, contact: &mut Value) -> bool {
    let mut changed = false;
    for (sf_field, gz_path) in FIELDS {
        let value = &record[sf_field];
        if same(sf_field, value, &genesys_value(contact, gz_path)) {
            continue;
        }
        changed = true;
        contact[gz_path] = match gz_path {
            "workPhone" => json!({"display": value}),
            _ => value.clone(),
        };
    }
    changed
}

/// The fields of the Salesforce record that differ from the Genesys contact, as a PATCH body.
fn salesforce_patch(contact: &Value, record: &Value) -> Option<Value> {
    let patch: Map<String, Value> = FIELDS
        .iter()
        .filter_map(|(sf_field, gz_path)| {
            let value = genesys_value(contact, gz_path);
            (!same(sf_field, &record[*sf_field], &value)).then(|| ((*sf_field).to_string(), value))
        })
        .collect();
    (!patch.is_empty()).then_some(Value::Object(patch))
}
