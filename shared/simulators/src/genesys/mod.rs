//! The fake Genesys Cloud org: OAuth client credentials and the External Contacts API.
//!
//! One port serves the login host path (`/oauth/token`) and the API (`/api/v2/...`).
//! Routes under `/api/v2/externalcontacts`, with their [`Counters`] keys (prefix removed):
//!
//! | Route | Counter key | Kind |
//! |---|---|---|
//! | `POST /oauth/token` | `POST /oauth/token` | auth |
//! | `GET /scan/contacts?limit&cursor` | `GET /scan/contacts` | read |
//! | `POST /contacts` | `POST /contacts` | write |
//! | `GET/PUT/DELETE /contacts/{id}` | `GET /contacts/{id}`, ... | read / write |
//! | `POST /bulk/contacts` (fetch) | `POST /bulk/contacts` | read |
//! | `POST /bulk/contacts/{add,update,remove}` | `POST /bulk/contacts/add`, ... | write |
//! | `POST /identifierlookup/contacts` (`ExternalId` identifiers) | `POST /identifierlookup/contacts` | read |
//! | `GET /externalsources`, `GET /externalsources/{id}` | ... | read |
//! | `POST /externalsources` | `POST /externalsources` | write |
//! | `GET /contacts/schemas/{id}` | `GET /contacts/schemas/{id}` | read |
//!
//! Bulk requests carry at most 200 entities; more is a 400 `bad.request` (the real limit is
//! not documented; the request byte limit applies as well).

mod bulk;
mod contact;
mod contacts;
mod cursor;
mod entity_id;
mod error_body;
mod external_source;
mod identifier_lookup;
mod oauth;
mod phone;
mod rate_limit;
mod server;
mod sources;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};

use crate::clock::VirtualClock;
use crate::counters::{CounterBook, Counters};
use crate::fault::{Fault, FaultBook};
use crate::http_server::{self, ServerGuard};
use crate::profile::{NoOpWrite, Profile, ResultOrder};
use contact::ContactBook;
use external_source::ExternalSources;
use rate_limit::TokenRates;

/// Settings of a [`GenesysSim`].
#[derive(Debug, Clone)]
pub struct GenesysSimConfig {
    pub client_id: String,
    pub client_secret: String,
    /// `request.bytes.max`: larger request bodies get 413 (real: 512000).
    pub max_request_bytes: usize,
    /// Requests per token per minute; `None` = unlimited, `Some(300)` = the real limit.
    pub rate_limit_per_minute: Option<u32>,
    /// Most entities one bulk add/update/remove/fetch may carry; more are refused as a whole
    /// with 400 `bad.request` (Genesys documents no limit; public clients send 50).
    pub max_bulk_entities: usize,
    /// The order of bulk fetch/add/update/remove `results`. Genesys documents only that
    /// "Ordering is NOT guaranteed - may be in a different order from the request" (GC SDK
    /// docs BulkContactsResponse.md). Strict: [`ResultOrder::Shuffled`], a different
    /// permutation per request, the least convenient plausible value (a client that pairs
    /// results with requests by position, or learned that they come back reversed, mixes
    /// contacts up). Lenient: [`ResultOrder::Reversed`].
    pub bulk_result_order: ResultOrder,
    /// What a `PUT`/bulk update that changes no field does to `modifyDate`. Not documented
    /// (ExternalContact has no version or ETag; `modifyDate` is read-only, schema
    /// `externalcontacts_schema.json`). Both profiles: [`NoOpWrite::MovesStamp`], the least
    /// convenient plausible value: our own write that changes nothing still looks like a
    /// change on the next scan, so echo and re-write loops must be stopped by comparing
    /// contents, not stamps. (The simulator has always moved it.)
    pub no_op_write: NoOpWrite,
    /// The most entities a scan page holds, whatever `limit` asked for; `None` = `limit`.
    /// Genesys documents `limit` as "between 10 and 200, default is 100" and that each page
    /// returns a new cursor, not that a page holds `limit` entities. Strict: `Some(10)`, the
    /// least `limit` allows, so a client must follow `cursors.after` and never take a short
    /// page for the last one. Lenient: `None`.
    pub scan_page_max: Option<usize>,
}

/// The simulator's default bulk entity cap (an assumption: Genesys documents none).
pub const DEFAULT_MAX_BULK_ENTITIES: usize = 200;

/// The profile named by `CONTACT_SYNC_SIM_PROFILE` (lenient when unset), see
/// [`GenesysSimConfig::for_profile`].
///
/// # Panics
/// If `CONTACT_SYNC_SIM_PROFILE` holds an unknown profile name.
impl Default for GenesysSimConfig {
    fn default() -> Self {
        GenesysSimConfig::for_profile(Profile::from_env_or_panic())
    }
}

impl GenesysSimConfig {
    /// The settings of a `profile`: the sandbox's credentials and limits, and each
    /// undocumented behaviour at the profile's value.
    /// Strict: a bulk cap of 50 entities (the cap is not documented; 50 is what a public tool
    /// batches `bulk/contacts/add` in, API-NOTES B.1), below the client's default start of 100.
    pub fn for_profile(profile: Profile) -> GenesysSimConfig {
        let lenient = GenesysSimConfig {
            client_id: "sandbox-gc-client".into(),
            client_secret: "sandbox-gc-secret".into(),
            max_request_bytes: 512_000,
            rate_limit_per_minute: None,
            max_bulk_entities: DEFAULT_MAX_BULK_ENTITIES,
            bulk_result_order: ResultOrder::Reversed,
            no_op_write: NoOpWrite::MovesStamp,
            scan_page_max: None,
        };
        match profile {
            Profile::Lenient => lenient,
            Profile::Strict => GenesysSimConfig {
                bulk_result_order: ResultOrder::Shuffled {
                    seed: 0x005e_ed0f_b01c,
                },
                no_op_write: NoOpWrite::MovesStamp,
                scan_page_max: Some(10),
                max_bulk_entities: 50,
                ..lenient
            },
        }
    }
}

/// A running fake Genesys Cloud org. Cloning shares the same org; the server stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct GenesysSim {
    org: Arc<Org>,
    _server: Arc<ServerGuard>,
}

impl std::fmt::Debug for GenesysSim {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("GenesysSim")
            .field("url", &self.org.url)
            .finish_non_exhaustive()
    }
}

/// Everything the server and the test-facing handle share.
pub(crate) struct Org {
    config: GenesysSimConfig,
    url: String,
    clock: VirtualClock,
    counters: CounterBook,
    faults: FaultBook,
    /// How many bulk requests were answered: with the seed, what a shuffled order is drawn
    /// from.
    bulk_requests: std::sync::atomic::AtomicU64,
    state: Mutex<OrgState>,
}

#[derive(Default)]
pub(crate) struct OrgState {
    contacts: ContactBook,
    sources: ExternalSources,
    /// Custom-field data schemas (`DataSchema` bodies) by id.
    schemas: std::collections::BTreeMap<String, Value>,
    tokens: HashSet<String>,
    rates: TokenRates,
}

impl Org {
    fn lock(&self) -> MutexGuard<'_, OrgState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a write carrying this contact (or touching `id`) must fail (RejectRecord).
    fn rejects(&self, id: Option<&str>, contact: &Map<String, Value>) -> bool {
        self.faults.has_rejections()
            && (id.is_some_and(|id| self.faults.is_rejected(id))
                || contact::external_id_values(contact)
                    .into_iter()
                    .any(|value| self.faults.is_rejected(value)))
    }
}

impl GenesysSim {
    /// Bind `127.0.0.1:0` and serve the fake org from a tokio task.
    pub async fn start(config: GenesysSimConfig) -> std::io::Result<GenesysSim> {
        let (listener, url) = http_server::bind().await?;
        let org = Arc::new(Org {
            config,
            url,
            clock: VirtualClock::default(),
            counters: CounterBook::default(),
            faults: FaultBook::default(),
            bulk_requests: std::sync::atomic::AtomicU64::new(0),
            state: Mutex::new(OrgState::default()),
        });
        let guard = http_server::serve(listener, server::router(org.clone()));
        tracing::debug!(url = %org.url, "genesys simulator started");
        Ok(GenesysSim {
            org,
            _server: Arc::new(guard),
        })
    }

    /// `http://127.0.0.1:PORT`: the login host and the API host.
    pub fn url(&self) -> String {
        self.org.url.clone()
    }

    pub fn client_id(&self) -> &str {
        &self.org.config.client_id
    }

    pub fn client_secret(&self) -> &str {
        &self.org.config.client_secret
    }

    /// Create a contact as a user or agent would (an ExternalContact body); server fields are
    /// filled and phones normalised like the API does. Returns the new id.
    ///
    /// # Panics
    /// If `contact` is not an object or the API would reject it.
    pub fn insert(&self, contact: Value) -> String {
        let body = as_object(contact, "GenesysSim::insert");
        let mut state = self.org.lock();
        let fields = contact::prepare(&body, &state.sources).unwrap_or_else(|problems| {
            panic!(
                "GenesysSim::insert rejected: {}",
                contact::summary(&problems)
            )
        });
        let created = state.contacts.create(fields, self.org.clock.next_stamp());
        let id = created
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        tracing::debug!(%id, "contact inserted by a user");
        id
    }

    /// Change a contact: top-level keys replace (null removes); bumps `modifyDate`; phones
    /// are normalised.
    ///
    /// # Panics
    /// If the contact does not exist or the change would be rejected by the API.
    pub fn edit(&self, id: &str, patch: Value) {
        let patch = as_object(patch, "GenesysSim::edit");
        let removed: Vec<String> = patch
            .iter()
            .filter(|(key, value)| value.is_null() && contact::is_writable(key))
            .map(|(key, _)| key.clone())
            .collect();
        let mut state = self.org.lock();
        let fields = contact::prepare(&patch, &state.sources).unwrap_or_else(|problems| {
            panic!("GenesysSim::edit rejected: {}", contact::summary(&problems))
        });
        let stamp = self.org.clock.next_stamp();
        assert!(
            state
                .contacts
                .patch(id, fields, &removed, stamp, self.org.config.no_op_write)
                .is_some(),
            "GenesysSim::edit({id}): no such contact"
        );
    }

    /// Delete a contact.
    ///
    /// # Panics
    /// If the contact does not exist.
    pub fn delete(&self, id: &str) {
        let removed = self.org.lock().contacts.remove(id);
        assert!(removed, "GenesysSim::delete({id}): no such contact");
    }

    /// Merge `loser` into `survivor`, as identity resolution or an agent would: the loser
    /// leaves the scan, and `GET`/bulk fetch of its id return it with `mergedTo: {id: survivor}`;
    /// the survivor's `modifyDate` moves.
    ///
    /// # Panics
    /// If either is not a live contact, or they are the same.
    pub fn merge(&self, loser: &str, survivor: &str) {
        let stamp = self.org.clock.next_stamp();
        let merged = self.org.lock().contacts.merge(loser, survivor, stamp);
        assert!(
            merged,
            "GenesysSim::merge({loser}, {survivor}): both must be distinct live contacts"
        );
    }

    /// The contact as the API returns it by id (a merged-away one with `mergedTo`), or `None`.
    pub fn get(&self, id: &str) -> Option<Value> {
        let state = self.org.lock();
        state
            .contacts
            .read(id)
            .map(|contact| Value::Object(contact.clone()))
    }

    /// Every contact, ordered by createDate then id.
    pub fn all(&self) -> Vec<Value> {
        let state = self.org.lock();
        state
            .contacts
            .in_order_after(None)
            .map(|(_, contact)| Value::Object(contact.clone()))
            .collect()
    }

    /// Every external source, in creation order.
    pub fn external_sources(&self) -> Vec<Value> {
        let state = self.org.lock();
        state
            .sources
            .all()
            .iter()
            .map(|source| Value::Object(source.clone()))
            .collect()
    }

    /// Create an external source as an admin would; returns its id.
    ///
    /// # Panics
    /// If the name is empty or already taken.
    pub fn add_external_source(&self, name: &str) -> String {
        let mut body = Map::new();
        body.insert("name".into(), Value::String(name.to_string()));
        let mut state = self.org.lock();
        let source = state.sources.create(&body).unwrap_or_else(|problem| {
            panic!("GenesysSim::add_external_source: {}", problem.message())
        });
        source
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }

    pub fn counters(&self) -> Counters {
        self.org.counters.snapshot()
    }

    pub fn reset_counters(&self) {
        self.org.counters.reset();
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
                tracing::debug!(tokens = state.tokens.len(), "expiring genesys tokens");
                state.tokens.clear();
                state.rates.forget();
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

    /// Define a custom-field data schema for contacts, as an admin would: `fields` become the
    /// properties of its `jsonSchema` (the keys `customFields` may carry).
    pub fn add_data_schema(&self, id: &str, version: u32, fields: &[&str]) {
        let properties: Map<String, Value> = fields
            .iter()
            .map(|name| {
                (
                    (*name).to_string(),
                    serde_json::json!({"type": ["string", "null"]}),
                )
            })
            .collect();
        let schema = serde_json::json!({
            "id": id,
            "name": id,
            "version": version,
            "appliesTo": ["CONTACT"],
            "enabled": true,
            "jsonSchema": {"type": "object", "properties": properties},
            "selfUri": format!("/api/v2/externalcontacts/contacts/schemas/{id}"),
        });
        self.org.lock().schemas.insert(id.to_string(), schema);
    }

    /// The org's data (contacts, merged-away contacts, external sources, data schemas, and how
    /// far the id generators got) as JSON, for [`GenesysSim::restore`] in a later simulator.
    pub fn snapshot(&self) -> Value {
        let state = self.org.lock();
        serde_json::json!({
            "contacts": serde_json::to_value(&state.contacts).unwrap_or(Value::Null),
            "sources": serde_json::to_value(&state.sources).unwrap_or(Value::Null),
            "schemas": state.schemas,
        })
    }

    /// Replaces the org's data with a [`GenesysSim::snapshot`]; new ids continue the saved
    /// org's sequence, so none is handed out twice.
    pub fn restore(&self, snapshot: &Value) -> Result<(), String> {
        let mut contacts: ContactBook = serde_json::from_value(snapshot["contacts"].clone())
            .map_err(|e| format!("genesys snapshot: {e}"))?;
        contacts.reindex();
        let sources: ExternalSources = serde_json::from_value(snapshot["sources"].clone())
            .map_err(|e| format!("genesys snapshot: {e}"))?;
        let schemas = serde_json::from_value(snapshot["schemas"].clone()).unwrap_or_default();
        let mut state = self.org.lock();
        state.contacts = contacts;
        state.sources = sources;
        state.schemas = schemas;
        Ok(())
    }
}

fn as_object(value: Value, caller: &str) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("{caller}: expected a JSON object"),
    }
}
