//! The simplest program that does the initial-sync job, as a baseline for the CLI's wall time
//! (`--bench cli_sync`): it reads both sides whole (a paged SOQL query, a Genesys scan), pairs
//! records through its state file and then by email (lower-cased), creates each unpaired
//! record on the other side in bulk (Salesforce Collections, 200 a request; Genesys bulk add,
//! 200 a request), updates pairs whose values differ (the side modified last wins, in bulk
//! too), and keeps its state — the pairs — in one JSON file, rewritten at the end of a run.
//!
//! What it leaves out on purpose (it is the lower bound, not a rival): no crash safety (a
//! crash before the state file is written re-creates everything the run created), no deletes,
//! no conflict policy or audit, no normalisation beyond the phone's digits and the email's
//! case, five fields only (names, email, work phone, title).
//!
//! It talks HTTP to the simulators directly (not through the connectors), so the simulators
//! count its requests exactly as they count the CLI's.

use crate::seed_style::Endpoints;
use contact_sync_e2e::record_stamp as stamp;
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

const API: &str = "/services/data/v62.0";
const GENESYS_API: &str = "/api/v2/externalcontacts";
/// Records per bulk request on either side.
const CHUNK: usize = 200;
/// Salesforce fields ↔ Genesys paths this baseline keeps in sync.
const FIELDS: [(&str, &str); 5] = [
    ("FirstName", "firstName"),
    ("LastName", "lastName"),
    ("Email", "workEmail"),
    ("Phone", "workPhone"),
    ("Title", "title"),
];

/// Why a run failed.
#[derive(Debug)]
pub struct ScriptError(pub String);

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScriptError {}

type Result<T> = std::result::Result<T, ScriptError>;

fn failed(what: &str, error: impl std::fmt::Display) -> ScriptError {
    ScriptError(format!("{what}: {error}"))
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptRun {
    pub salesforce_read: usize,
    pub genesys_read: usize,
    pub paired: usize,
    pub created_salesforce: usize,
    pub created_genesys: usize,
    pub updated_salesforce: usize,
    pub updated_genesys: usize,
}

/// The baseline, with its state file.
pub struct BulkScript {
    http: Client,
    endpoints: Endpoints,
    state_file: PathBuf,
}

impl BulkScript {
    pub fn new(endpoints: Endpoints, state_file: PathBuf) -> BulkScript {
        BulkScript {
            http: Client::new(),
            endpoints,
            state_file,
        }
    }

    /// One run: read, pair, create and update in bulk, write the state file.
    pub async fn run(&self) -> Result<ScriptRun> {
        let sf_token = self.salesforce_token().await?;
        let gz_token = self.genesys_token().await?;
        let (sf, gz) =
            tokio::try_join!(self.salesforce_all(&sf_token), self.genesys_all(&gz_token))?;
        let mut run = ScriptRun {
            salesforce_read: sf.len(),
            genesys_read: gz.len(),
            ..ScriptRun::default()
        };
        let sf_by_id: HashMap<String, &Value> = sf.iter().map(|r| (text(r, "Id"), r)).collect();
        let gz_by_id: HashMap<String, &Value> = gz.iter().map(|c| (text(c, "id"), c)).collect();

        // Pairs from the state file whose records both still exist.
        let mut pairs: Vec<(String, String)> = self
            .load_state()?
            .into_iter()
            .filter(|(s, g)| sf_by_id.contains_key(s) && gz_by_id.contains_key(g))
            .collect();
        let paired_sf: HashSet<String> = pairs.iter().map(|(s, _)| s.clone()).collect();
        let paired_gz: HashSet<String> = pairs.iter().map(|(_, g)| g.clone()).collect();
        // Then by email.
        let mut gz_by_email: HashMap<String, String> = HashMap::new();
        for c in &gz {
            let id = text(c, "id");
            if let Some(email) = email(&c["workEmail"])
                && !paired_gz.contains(&id)
            {
                gz_by_email.entry(email).or_insert(id);
            }
        }
        let mut sf_only = Vec::new();
        for r in &sf {
            let id = text(r, "Id");
            if paired_sf.contains(&id) {
                continue;
            }
            match email(&r["Email"]).and_then(|e| gz_by_email.remove(&e)) {
                Some(gz_id) => pairs.push((id, gz_id)),
                None => sf_only.push(r),
            }
        }
        let now_paired: HashSet<&str> = pairs.iter().map(|(_, g)| g.as_str()).collect();
        let gz_only: Vec<&Value> = gz
            .iter()
            .filter(|c| !now_paired.contains(c["id"].as_str().unwrap_or_default()))
            .collect();
        run.paired = pairs.len();

        // Updates of pairs that differ: the side modified last wins.
        let mut sf_updates = Vec::new();
        let mut gz_updates = Vec::new();
        for (s, g) in &pairs {
            let (record, contact) = (sf_by_id[s], gz_by_id[g]);
            if FIELDS
                .iter()
                .all(|(f, p)| same(f, &record[*f], &genesys_value(contact, p)))
            {
                continue;
            }
            if stamp(record, "SystemModstamp") >= stamp(contact, "modifyDate") {
                let mut replaced = contact.clone();
                copy_to_genesys(record, &mut replaced);
                gz_updates.push(replaced);
            } else {
                let mut fields = salesforce_fields(contact);
                fields.insert("Id".into(), json!(s));
                fields.insert("attributes".into(), json!({"type": "Contact"}));
                sf_updates.push(Value::Object(fields));
            }
        }
        run.updated_genesys = gz_updates.len();
        run.updated_salesforce = sf_updates.len();
        for chunk in gz_updates.chunks(CHUNK) {
            let url = format!("{}{GENESYS_API}/bulk/contacts/update", self.gz());
            self.json(
                self.http
                    .post(url)
                    .bearer_auth(&gz_token)
                    .json(&json!({"entities": chunk})),
            )
            .await?;
        }
        for chunk in sf_updates.chunks(CHUNK) {
            let url = format!("{}{API}/composite/sobjects", self.sf());
            let body = json!({"allOrNone": false, "records": chunk});
            self.json(
                self.http
                    .request(Method::PATCH, url)
                    .bearer_auth(&sf_token)
                    .json(&body),
            )
            .await?;
        }

        // Creates: Salesforce-only records into Genesys (results matched by email: the bulk
        // answers come back in any order), Genesys-only ones into Salesforce (in order).
        for chunk in sf_only.chunks(CHUNK) {
            let entities: Vec<Value> = chunk
                .iter()
                .map(|r| {
                    let mut c = json!({});
                    copy_to_genesys(r, &mut c);
                    c
                })
                .collect();
            let url = format!("{}{GENESYS_API}/bulk/contacts/add", self.gz());
            let answer = self
                .json(
                    self.http
                        .post(url)
                        .bearer_auth(&gz_token)
                        .json(&json!({"entities": entities})),
                )
                .await?;
            let by_email: HashMap<String, String> = chunk
                .iter()
                .filter_map(|r| Some((email(&r["Email"])?, text(r, "Id"))))
                .collect();
            for result in answer["results"].as_array().into_iter().flatten() {
                if result["success"] != true {
                    continue;
                }
                let entity = &result["entity"];
                if let Some(sf_id) = email(&entity["workEmail"]).and_then(|e| by_email.get(&e)) {
                    pairs.push((sf_id.clone(), text(entity, "id")));
                    run.created_genesys += 1;
                }
            }
        }
        for chunk in gz_only.chunks(CHUNK) {
            let records: Vec<Value> = chunk
                .iter()
                .map(|c| {
                    let mut fields = salesforce_fields(c);
                    fields.insert("attributes".into(), json!({"type": "Contact"}));
                    Value::Object(fields)
                })
                .collect();
            let url = format!("{}{API}/composite/sobjects", self.sf());
            let body = json!({"allOrNone": false, "records": records});
            let answer = self
                .json(self.http.post(url).bearer_auth(&sf_token).json(&body))
                .await?;
            for (contact, result) in chunk.iter().zip(answer.as_array().into_iter().flatten()) {
                if result["success"] == true {
                    pairs.push((text(result, "id"), text(contact, "id")));
                    run.created_salesforce += 1;
                }
            }
        }
        self.save_state(&pairs)?;
        Ok(run)
    }

    fn sf(&self) -> &str {
        &self.endpoints.salesforce_url
    }

    fn gz(&self) -> &str {
        &self.endpoints.genesys_url
    }

    fn load_state(&self) -> Result<Vec<(String, String)>> {
        match std::fs::read(&self.state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| failed("state file", e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(failed("state file", e)),
        }
    }

    fn save_state(&self, pairs: &[(String, String)]) -> Result<()> {
        let partial = self.state_file.with_extension("partial");
        let bytes = serde_json::to_vec(pairs).map_err(|e| failed("state file", e))?;
        std::fs::write(&partial, bytes).map_err(|e| failed("state file", e))?;
        std::fs::rename(&partial, &self.state_file).map_err(|e| failed("state file", e))
    }

    async fn salesforce_token(&self) -> Result<String> {
        let (id, secret) = &self.endpoints.salesforce_client;
        let url = format!("{}/services/oauth2/token", self.sf());
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
        let url = format!("{}/oauth/token", self.gz());
        let request = self
            .http
            .post(url)
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")]);
        Ok(text(&self.json(request).await?, "access_token"))
    }

    /// Every Contact, through the query and its next pages.
    async fn salesforce_all(&self, token: &str) -> Result<Vec<Value>> {
        let fields: Vec<&str> = FIELDS.iter().map(|(sf, _)| *sf).collect();
        let soql = format!(
            "SELECT Id, SystemModstamp, {} FROM Contact ORDER BY Id",
            fields.join(", ")
        );
        let base = self.sf();
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

    /// The whole Genesys org, 200 a page.
    async fn genesys_all(&self, token: &str) -> Result<Vec<Value>> {
        let mut contacts = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "200".to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let url = format!("{}{GENESYS_API}/scan/contacts", self.gz());
            let mut page = self
                .json(self.http.get(url).query(&query).bearer_auth(token))
                .await?;
            if let Some(Value::Array(found)) = page.get_mut("entities").map(Value::take) {
                contacts.extend(found);
            }
            match page["cursors"]["after"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return Ok(contacts),
            }
        }
    }

    async fn json(&self, request: RequestBuilder) -> Result<Value> {
        let response = request.send().await.map_err(|e| failed("request", e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| failed("body", e))?;
        if !status.is_success() {
            return Err(ScriptError(format!("answer {status}")));
        }
        serde_json::from_slice(&body).map_err(|e| failed("JSON", e))
    }
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_string()
}

fn email(value: &Value) -> Option<String> {
    value
        .as_str()
        .filter(|e| !e.is_empty())
        .map(str::to_lowercase)
}

/// A Genesys value as the Salesforce field would hold it.
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
        "Email" => email(a) == email(b),
        _ => a == b || (a.is_null() && b.is_null()),
    }
}

/// Copies the Salesforce record's mapped values into the Genesys contact.
fn copy_to_genesys(record: &Value, contact: &mut Value) {
    for (sf_field, gz_path) in FIELDS {
        let value = &record[sf_field];
        if value.is_null() {
            continue;
        }
        contact[gz_path] = match gz_path {
            "workPhone" => json!({"display": value}),
            _ => value.clone(),
        };
    }
}

/// The Genesys contact's mapped values as Salesforce fields.
fn salesforce_fields(contact: &Value) -> Map<String, Value> {
    FIELDS
        .iter()
        .filter_map(|(sf_field, gz_path)| {
            let value = genesys_value(contact, gz_path);
            (!value.is_null()).then(|| ((*sf_field).to_string(), value))
        })
        .collect()
}
