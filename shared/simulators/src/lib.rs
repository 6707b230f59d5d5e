//! Stateful fake Salesforce and Genesys Cloud HTTP servers.
//!
//! Both simulators bind `127.0.0.1:0`, serve from a tokio task and answer with the shapes,
//! status codes and error bodies of the real APIs (see `reference/` at the repository root). They are
//! used by unit and end-to-end tests, by benchmarks and by the CLI's `--sandbox` mode.
//!
//! * [`SalesforceSim`]: OAuth client credentials and JWT bearer, SOQL `query`/`queryAll` with
//!   paging, getDeleted, Bulk API 2.0 query jobs, sObject Collections create/update/delete,
//!   single-record sObject calls, merges (`MasterRecordId`), the Recycle Bin and the daily API
//!   allocation (`Sforce-Limit-Info`).
//! * [`GenesysSim`]: OAuth client credentials, External Contacts CRUD, scan, bulk
//!   fetch/add/update/remove, external sources and merges (`mergedTo`).
//! * [`sandbox::seed`]: deterministic demo data for both systems.
//!
//! Each config is built for a [`Profile`]: `Lenient` (the long-standing behaviour) or `Strict`
//! (the least convenient plausible value of every behaviour the real APIs do not document);
//! `Default` reads it from `CONTACT_SYNC_SIM_PROFILE`.
//!
//! Each simulator keeps a virtual clock (real time plus an offset set with
//! `set_clock_offset`) whose stamps never go back (unique per write in the lenient profile), request [`Counters`] (429
//! answers included), and a queue of injected [`Fault`]s (statuses with `Retry-After`, expired
//! tokens, delays before processing, slow answers after it, broken bodies (truncated JSON, wrong
//! types, missing fields, HTML error pages, invalid UTF-8), per-record rejections).

mod clock;
mod counters;
mod fault;
mod http_server;
mod profile;

pub mod genesys;
pub mod salesforce;
pub mod sandbox;

pub use counters::Counters;
pub use fault::{BrokenBody, Fault};
pub use genesys::{GenesysSim, GenesysSimConfig};
pub use profile::{NoOpWrite, PROFILE_ENV, Profile, ResultOrder, StampResolution, UnknownProfile};
pub use salesforce::{
    SANDBOX_JWT_PRIVATE_KEY_PEM, SANDBOX_JWT_PUBLIC_KEY_PEM, SalesforceSim, SalesforceSimConfig,
};
pub use sandbox::SeedReport;
