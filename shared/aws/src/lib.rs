//! AWS adapters of contact-sync and the wiring the three Lambdas share:
//!
//! - [`store::DynamoDbStore`]: the `SyncStore` port on one DynamoDB table ([`table`]).
//!   Batch writes go in transactions of many entries ([`transaction`]).
//! - [`queue::SqsQueue`]: the `WorkQueue` port on the reconcile and conflict queues.
//! - [`secrets`]: credentials from Secrets Manager, cached per cold start.
//! - [`webhook::WebhookAlerter`]: conflict digests to a Slack-compatible webhook.
//! - [`deployment::Deployment`]: all of the above from the variables `template.yaml` sets.
//! - [`deployed_mapping`]: the mapping in SSM Parameter Store, read per cold start.
//! - [`metrics`]: the functions' CloudWatch Embedded Metric Format lines.
//! - [`dead_letters::DeadLetters`]: listing and replaying the dead-letter queues.
//! - [`template`] / [`provision`] / [`emulator`]: the template's table and queues, created in
//!   moto for tests and local runs.

pub mod dead_letters;
pub mod deployed_mapping;
pub mod deployment;
pub mod emulator;
pub mod metrics;
pub mod provision;
pub mod queue;
pub mod secrets;
pub mod store;
pub mod table;
pub mod template;
pub mod transaction;
pub mod webhook;

pub use deployment::{Deployment, DeploymentError};
pub use queue::SqsQueue;
pub use store::DynamoDbStore;
