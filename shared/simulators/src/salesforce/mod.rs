//! The fake Salesforce org: OAuth client credentials and JWT bearer, SOQL query/queryAll with
//! paging, getDeleted, Bulk API 2.0 query jobs, sObject Collections and single-record sObject
//! calls on Contact.
//!
//! Routes (any `/services/data/vNN.N` version), with their [`Counters`] keys:
//!
//! | Route | Counter key | Kind |
//! |---|---|---|
//! | `POST /services/oauth2/token` | `POST /services/oauth2/token` | auth |
//! | `GET .../query?q=` / `GET .../queryAll?q=` | `GET /query` / `GET /queryAll` | read |
//! | `GET .../query/01g…-N` (nextRecordsUrl) | `GET /query/{locator}` | read |
//! | `GET .../sobjects/Contact/deleted?start&end` | `GET /sobjects/Contact/deleted` | read |
//! | `GET .../sobjects/Contact/describe` | `GET /sobjects/Contact/describe` | read |
//! | `POST .../jobs/query`, `GET .../jobs/query/{id}[/results]` | `POST /jobs/query`, ... | read |
//! | `POST/PATCH/DELETE .../composite/sobjects` | `POST /composite/sobjects`, ... | write |
//! | `POST .../sobjects/Contact` | `POST /sobjects/Contact` | write |
//! | `GET/PATCH/DELETE .../sobjects/Contact/{id}` | `GET /sobjects/Contact/{id}`, ... | read / write |

mod address_picklists;
mod bulk_query;
mod collections;
mod contact;
mod deleted;
mod describe;
mod oauth;
mod query;
mod record_id;
mod rest_error;
mod server;
mod sobject;
mod soql;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};

use crate::clock::VirtualClock;
use crate::counters::{CounterBook, Counters};
use crate::fault::{Fault, FaultBook};
use crate::http_server::{self, ServerGuard};
use crate::profile::{Profile, StampResolution};
use contact::{ContactStore, WriteMode};
use query::QueryCursors;

/// Settings of a [`SalesforceSim`].
#[derive(Debug, Clone)]
pub struct SalesforceSimConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Records per query page (real default 2000). A `Sforce-Query-Options: batchSize=N`
    /// header (clamped to 200..=2000) can only lower it.
    pub query_batch_size: usize,
    /// Daily API request allocation reported in `Sforce-Limit-Info`; beyond it API calls get
    /// 403 `REQUEST_LIMIT_EXCEEDED`.
    pub daily_api_limit: u64,
    /// The connected app's certificate (public key, PEM) that JWT bearer assertions must be
    /// signed for; `None` refuses the JWT bearer flow.
    pub jwt_public_key_pem: Option<String>,
    /// The integration user a JWT bearer assertion must name in `sub`.
    pub jwt_username: String,
    /// Bulk API 2.0 query jobs answer `InProgress` to this many status requests before
    /// `JobComplete`.
    pub bulk_polls_until_complete: u32,
    /// Most records per Bulk API 2.0 results page (fewer when the client's `maxRecords` is
    /// lower).
    pub bulk_results_page_size: usize,
    /// The org has State and Country picklists: describe lists `MailingCountryCode` and
    /// `MailingStateCode` (ISO codes, validated on write) and the text fields follow them.
    pub state_country_picklists: bool,
    /// Most records (or ids) one sObject Collections request may carry (documented: 200);
    /// more are refused as a whole with 400 `EXCEEDED_ID_LIMIT`.
    pub max_collection_records: usize,
    /// How `SystemModstamp`, `LastModifiedDate` and `CreatedDate` are stamped. Salesforce
    /// documents the fields as "date and time" and writes them as `…T00:37:00.000+0000`
    /// (System Fields doc; restforce and SF docs examples), but not their precision, nor that
    /// two writes get different stamps. Strict: [`StampResolution::SharedSecond`] (whole
    /// seconds, `.000`, and unrelated writes within one second share the stamp), the least
    /// convenient plausible value: a `(SystemModstamp, Id)` watermark then meets many records
    /// at its own stamp, some of them written after the read that set it. Lenient: unique,
    /// strictly increasing milliseconds.
    ///
    /// Collections results are NOT shuffled in any profile: Salesforce documents them in
    /// request order ("SaveResults come back in the same order", SF docs
    /// resources-composite-sobjects-collections-create; upsert and delete likewise).
    pub stamps: StampResolution,
}

/// A throwaway RSA key pair for the sandbox and tests (never use it for a real org): the
/// simulator trusts the public half by default.
pub const SANDBOX_JWT_PRIVATE_KEY_PEM: &str = include_str!("sandbox_jwt_key.pem");
/// The public half of [`SANDBOX_JWT_PRIVATE_KEY_PEM`].
pub const SANDBOX_JWT_PUBLIC_KEY_PEM: &str = include_str!("sandbox_jwt_key.pub.pem");

/// The profile named by `CONTACT_SYNC_SIM_PROFILE` (lenient when unset), see
/// [`SalesforceSimConfig::for_profile`].
///
/// # Panics
/// If `CONTACT_SYNC_SIM_PROFILE` holds an unknown profile name.
impl Default for SalesforceSimConfig {
    fn default() -> Self {
        SalesforceSimConfig::for_profile(Profile::from_env_or_panic())
    }
}

impl SalesforceSimConfig {
    /// The settings of a `profile`: the sandbox's credentials and limits, and each
    /// undocumented behaviour at the profile's value.
    ///
    /// Strict, besides [`SalesforceSimConfig::stamps`]: `query_batch_size` 200, the smallest
    /// page the `Sforce-Query-Options` header may ask for; Salesforce's default is 2,000 but
    /// "the requested size is not guaranteed" (SF docs Query Options Header), so a page may
    /// be smaller than asked.
    /// `max_collection_records` stays 200 in both: the documented Collections limit.
    pub fn for_profile(profile: Profile) -> SalesforceSimConfig {
        let lenient = SalesforceSimConfig {
            client_id: "sandbox-sf-client".into(),
            client_secret: "sandbox-sf-secret".into(),
            query_batch_size: 2000,
            daily_api_limit: 100_000,
            jwt_public_key_pem: Some(SANDBOX_JWT_PUBLIC_KEY_PEM.into()),
            jwt_username: "integration@sandbox.example".into(),
            bulk_polls_until_complete: 1,
            bulk_results_page_size: 10_000,
            state_country_picklists: false,
            max_collection_records: 200,
            stamps: StampResolution::UniqueMillisecond,
        };
        match profile {
            Profile::Lenient => lenient,
            Profile::Strict => SalesforceSimConfig {
                query_batch_size: 200,
                stamps: StampResolution::SharedSecond,
                ..lenient
            },
        }
    }
}

/// A running fake Salesforce org. Cloning shares the same org; the server stops when the last
/// clone is dropped.
#[derive(Clone)]
pub struct SalesforceSim {
    org: Arc<Org>,
    _server: Arc<ServerGuard>,
}

impl std::fmt::Debug for SalesforceSim {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SalesforceSim")
            .field("url", &self.org.url)
            .finish_non_exhaustive()
    }
}

/// Everything the server and the test-facing handle share.
pub(crate) struct Org {
    config: SalesforceSimConfig,
    url: String,
    clock: VirtualClock,
    counters: CounterBook,
    faults: FaultBook,
    state: Mutex<OrgState>,
}

#[derive(Default)]
pub(crate) struct OrgState {
    contacts: ContactStore,
    tokens: HashSet<String>,
    cursors: QueryCursors,
    api_usage: u64,
    /// Since when the Recycle Bin holds every delete (`getDeleted` `earliestDateAvailable`);
    /// moves when it is purged.
    earliest_deleted_available: Option<chrono::DateTime<chrono::Utc>>,
    bulk_jobs: bulk_query::BulkJobs,
}

impl Org {
    fn lock(&self) -> MutexGuard<'_, OrgState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SalesforceSim {
    /// Bind `127.0.0.1:0` and serve the fake org from a tokio task.
    pub async fn start(config: SalesforceSimConfig) -> std::io::Result<SalesforceSim> {
        let (listener, url) = http_server::bind().await?;
        let mut state = OrgState::default();
        state
            .contacts
            .set_state_country_picklists(config.state_country_picklists);
        let org = Arc::new(Org {
            clock: VirtualClock::new(config.stamps),
            config,
            url,
            counters: CounterBook::default(),
            faults: FaultBook::default(),
            state: Mutex::new(state),
        });
        let guard = http_server::serve(listener, server::router(org.clone()));
        tracing::debug!(url = %org.url, "salesforce simulator started");
        Ok(SalesforceSim {
            org,
            _server: Arc::new(guard),
        })
    }

    /// `http://127.0.0.1:PORT`: both the login URL and the `instance_url`.
    pub fn url(&self) -> String {
        self.org.url.clone()
    }

    pub fn client_id(&self) -> &str {
        &self.org.config.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.org.config.client_secret
    }

    /// Create a Contact as a user would in the UI. `fields` is a JSON object of Contact
    /// fields; returns the new 18-character Id.
    ///
    /// # Panics
    /// If `fields` is not an object or would be rejected by the API (e.g. no LastName).
    pub fn insert(&self, fields: Value) -> String {
        let input = as_object(fields, "SalesforceSim::insert");
        let mut state = self.org.lock();
        let prepared = state
            .contacts
            .validate(&input, WriteMode::Create)
            .unwrap_or_else(|error| {
                panic!(
                    "SalesforceSim::insert rejected: {} on {:?}",
                    error.status_code, error.fields
                )
            });
        let id = state.contacts.create(prepared, self.org.clock.next_stamp());
        tracing::debug!(%id, "contact inserted by a user");
        id
    }

    /// Inserts `count` numbered contacts as users would (`First{i}`, `Last{i}`,
    /// `person{i}@example.com`, `+1415` and `i` in seven digits, title `Customer`): the
    /// benchmarks' data at any scale.
    pub fn insert_numbered(&self, count: usize) {
        for i in 0..count {
            self.insert(serde_json::json!({
                "FirstName": format!("First{i}"),
                "LastName": format!("Last{i}"),
                "Email": format!("person{i}@example.com"),
                "Phone": format!("+1415{:07}", i % 10_000_000),
                "Title": "Customer",
            }));
        }
    }

    /// Set fields of a live Contact (null clears a field), bumping SystemModstamp and
    /// LastModifiedDate.
    ///
    /// # Panics
    /// If the record does not exist, is deleted, or the fields are rejected by the API.
    pub fn edit(&self, id: &str, fields: Value) {
        let mut input = as_object(fields, "SalesforceSim::edit");
        let mut state = self.org.lock();
        let id = state
            .contacts
            .writable_id(id)
            .unwrap_or_else(|error| panic!("SalesforceSim::edit({id}): {}", error.status_code));
        // The record's Id (ignored as a field on update) tells the picklists its current country.
        input.insert("Id".into(), Value::String(id.clone()));
        let prepared = state
            .contacts
            .validate(&input, WriteMode::Update)
            .unwrap_or_else(|error| {
                panic!(
                    "SalesforceSim::edit rejected: {} on {:?}",
                    error.status_code, error.fields
                )
            });
        state
            .contacts
            .update(&id, prepared, self.org.clock.next_stamp());
    }

    /// Soft-delete a Contact (IsDeleted = true), as a user would. Deleting an already deleted
    /// record does nothing.
    ///
    /// # Panics
    /// If the record never existed.
    pub fn delete(&self, id: &str) {
        let mut state = self.org.lock();
        let id = record_id::to_18(id).unwrap_or_else(|| id.to_string());
        assert!(
            state.contacts.get(&id).is_some(),
            "SalesforceSim::delete({id}): no such record"
        );
        if state.contacts.is_live(&id) {
            state.contacts.soft_delete(&id, self.org.clock.next_stamp());
        }
    }

    /// Merge `loser` into `master`, as a user would in the UI: the loser is soft-deleted with
    /// `MasterRecordId = master` (visible to `queryAll`), and the master's SystemModstamp moves.
    ///
    /// # Panics
    /// If either is not a live record, or they are the same.
    pub fn merge(&self, master: &str, loser: &str) {
        let mut state = self.org.lock();
        let master = record_id::to_18(master).unwrap_or_else(|| master.to_string());
        let loser = record_id::to_18(loser).unwrap_or_else(|| loser.to_string());
        assert!(
            master != loser && state.contacts.is_live(&master) && state.contacts.is_live(&loser),
            "SalesforceSim::merge({master}, {loser}): both must be distinct live records"
        );
        let stamps = [self.org.clock.next_stamp(), self.org.clock.next_stamp()];
        state.contacts.merge_away(&loser, &master, stamps);
    }

    /// Empty the Recycle Bin, as Salesforce does on its own when it fills up: deleted records
    /// vanish from `queryAll`, and `getDeleted` reports `earliestDateAvailable` = now, so a
    /// client whose watermark is older knows it may have missed deletes. Returns the count.
    pub fn purge_recycle_bin(&self) -> usize {
        let now = self.org.clock.next_stamp();
        let mut state = self.org.lock();
        state.earliest_deleted_available = Some(now);
        state.contacts.purge_deleted()
    }

    /// The full record (every standard field, null when empty, plus custom fields), or `None`
    /// if it never existed. Deleted records come back with `IsDeleted: true`.
    pub fn get(&self, id: &str) -> Option<Value> {
        let id = record_id::to_18(id)?;
        let state = self.org.lock();
        state
            .contacts
            .get(&id)
            .map(|record| Value::Object(record.clone()))
    }

    /// Every non-deleted record, ordered by Id.
    pub fn all(&self) -> Vec<Value> {
        let state = self.org.lock();
        state
            .contacts
            .records()
            .filter(|record| record.get("IsDeleted") != Some(&Value::Bool(true)))
            .map(|record| Value::Object(record.clone()))
            .collect()
    }

    pub fn counters(&self) -> Counters {
        self.org.counters.snapshot()
    }

    pub fn reset_counters(&self) {
        self.org.counters.reset();
    }

    /// API requests counted against the daily allocation so far.
    pub fn api_usage(&self) -> u64 {
        self.org.lock().api_usage
    }

    /// Skew this org's clock by `offset` (stamps never go back).
    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        self.org.clock.set_offset(offset);
    }

    /// Queue a fault for upcoming matching requests.
    pub fn inject(&self, fault: Fault) {
        match fault {
            Fault::ExpireTokens => {
                let mut state = self.org.lock();
                tracing::debug!(tokens = state.tokens.len(), "expiring salesforce tokens");
                state.tokens.clear();
            }
            other => self.org.faults.push(other),
        }
    }

    /// Write answers held so far by [`Fault::HoldWriteAnswersAfter`] (each write processed,
    /// its answer never sent).
    pub fn answers_held(&self) -> u64 {
        self.org.faults.answers_held()
    }

    /// Drop every pending fault, including `RejectRecord` ones.
    pub fn clear_faults(&self) {
        self.org.faults.clear();
    }

    /// Take write access to a Contact field away from the integration user (field-level
    /// security): `describe` reports it neither createable nor updateable and writes of it
    /// fail with `INVALID_FIELD_FOR_INSERT_UPDATE`.
    pub fn set_field_read_only(&self, field: &str) {
        self.org.lock().contacts.set_read_only(field);
    }

    /// The org's data (every Contact, deleted ones included, the id sequence and the Recycle
    /// Bin horizon) as JSON, to be given to [`SalesforceSim::restore`] by a later simulator.
    pub fn snapshot(&self) -> Value {
        let state = self.org.lock();
        serde_json::json!({
            "contacts": serde_json::to_value(&state.contacts).unwrap_or(Value::Null),
            "earliest_deleted_available": state.earliest_deleted_available,
        })
    }

    /// Replaces the org's data with a [`SalesforceSim::snapshot`]; ids keep counting from
    /// where the snapshot's org stopped.
    pub fn restore(&self, snapshot: &Value) -> Result<(), String> {
        let mut contacts: ContactStore = serde_json::from_value(snapshot["contacts"].clone())
            .map_err(|e| format!("salesforce snapshot: {e}"))?;
        contacts.set_state_country_picklists(self.org.config.state_country_picklists);
        let earliest = serde_json::from_value(snapshot["earliest_deleted_available"].clone())
            .map_err(|e| format!("salesforce snapshot: {e}"))?;
        let mut state = self.org.lock();
        state.contacts = contacts;
        state.earliest_deleted_available = earliest;
        Ok(())
    }
}

fn as_object(value: Value, caller: &str) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("{caller}: expected a JSON object of Contact fields"),
    }
}
