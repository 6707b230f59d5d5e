//! Ports, adapters and use cases of contact-sync.
//!
//! - Ports: [`store::SyncStore`], [`queue::WorkQueue`], [`system::ContactSystem`] (its halves
//!   [`system::ContactReader`] and [`system::ContactWriter`]),
//!   [`integration::Clock`], [`notify::Alerter`].
//! - Use cases: [`poll`] (changes → pair batches), [`reconcile`] (a batch → merged writes),
//!   [`notify`] (conflict events → alerts), and [`cycle`] running all three in one process.

pub mod audit_retention;
pub mod bulk_limits;
pub mod cycle;
pub mod erasure;
pub mod integration;
pub mod notify;
pub mod poll;
pub mod queue;
pub mod reconcile;
pub mod review;
pub mod run_store;
pub mod stats;
pub mod store;
pub mod system;

pub use integration::{Clock, Integration, PipelineError, RunFacts, Settings, SystemClock};
