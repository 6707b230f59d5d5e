//! Thin reqwest clients for Salesforce REST (Contact) and Genesys Cloud External Contacts,
//! implementing the pipeline's [`ContactSystem`](contact_sync_pipeline::system::ContactSystem)
//! port.
//!
//! - [`salesforce::SalesforceSystem`]: OAuth client credentials, SOQL change reads ordered by
//!   `(SystemModstamp, Id)`, lookups by id and email, sObject Collections writes.
//! - [`genesys::GenesysSystem`]: OAuth client credentials, the "Salesforce" external source,
//!   scan reads, bulk fetch/add/update with byte-size chunking and 413 splitting.
//!
//! Both retry transient failures (network, 429, 5xx) with exponential backoff and jitter,
//! honouring `Retry-After`, re-authenticate once on 401, and never put credentials or field
//! values into errors or logs.

pub mod credentials;
pub mod environment;
pub mod genesys;
pub mod http;
pub mod outcomes;
pub mod salesforce;

pub use credentials::Secret;
pub use genesys::{GenesysConfig, GenesysSystem, api_base_for_region};
pub use salesforce::{SalesforceConfig, SalesforceSystem};
