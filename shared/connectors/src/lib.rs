//! Thin reqwest clients for Salesforce REST (Contact) and Genesys Cloud External Contacts,
//! implementing the pipeline's [`ContactSystem`](contact_sync_pipeline::system::ContactSystem)
//! port.
//!
//! - [`salesforce::SalesforceSystem`]: OAuth client credentials, SOQL change reads ordered by
//!   `(SystemModstamp, Id)`, deletes and merges through `queryAll`, lookups by id and email,
//!   sObject Collections writes and deletes, and an API budget guard on `Sforce-Limit-Info`.
//! - [`genesys::GenesysSystem`]: OAuth client credentials, the "Salesforce" external source,
//!   scan reads, bulk fetch/add/update/remove with byte-size chunking and 413 splitting, merged
//!   contacts (`mergedTo`), and a client-side token bucket (300 requests/min by default).
//!
//! Both retry transient failures (network, 429, 5xx) with exponential backoff and jitter within
//! a total time bound, honouring `Retry-After` (which pauses every caller of the client),
//! re-authenticate once on 401, remember refused credentials instead of asking again, and never
//! put credentials or field values into errors or logs.

mod batch_limit;
pub mod credentials;
pub mod environment;
pub mod genesys;
pub mod http;
pub mod outcomes;
pub mod salesforce;

pub use credentials::Secret;
pub use genesys::{GenesysConfig, GenesysSystem, api_base_for_region};
pub use http::RetryPolicy;
pub use salesforce::{JwtBearer, SalesforceConfig, SalesforceSystem};
