//! The local AWS emulator (moto server, started by `infra/moto start`) for tests and local
//! runs. Tests find it through `CONTACT_SYNC_MOTO_URL`:
//!
//! - set: the tests run against it, each on its own freshly created table and queues;
//! - unset, outside CI: every test that needs it prints a loud `SKIPPED` line and returns;
//! - unset under CI (`CI` set and not `false`/`0`): the test fails, so CI never passes without
//!   running them (`.ci/run` starts moto and sets the variable).

use crate::provision::{Provisioned, provision};
use crate::template::Resources;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

/// The variable naming the emulator's URL, e.g. `http://127.0.0.1:4566`.
pub const MOTO_URL: &str = "CONTACT_SYNC_MOTO_URL";

/// The emulator's URL; `None` (after a loud message) when it is not configured outside CI.
///
/// # Panics
/// Under CI when [`MOTO_URL`] is not set.
pub fn endpoint(test: &str) -> Option<String> {
    if let Some(url) = std::env::var(MOTO_URL)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return Some(url.trim().to_string());
    }
    let ci = std::env::var("CI")
        .ok()
        .is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    if ci {
        panic!("{test}: {MOTO_URL} is not set; CI must run the moto tests (see .ci/run)");
    }
    eprintln!(
        "\n*** SKIPPED {test}: needs moto. Run `eval \"$(infra/moto start)\"` first \
         (sets {MOTO_URL}). ***\n"
    );
    None
}

/// SDK configuration for the emulator: fixed test credentials and region.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// A fresh copy of the template's table and queues in the emulator, under a unique prefix,
/// so that tests running at the same time never see each other's items or messages.
pub struct Stack {
    pub sdk: SdkConfig,
    pub resources: Provisioned,
}

impl Stack {
    /// `None` when the emulator is not configured (see [`endpoint`]).
    pub async fn create(test: &str) -> Option<Stack> {
        let url = endpoint(test)?;
        let sdk = sdk_config(&url).await;
        let resources = Resources::of_template().expect("template.yaml");
        let prefix = format!("cs-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let provisioned = provision(&sdk, &resources, &prefix)
            .await
            .unwrap_or_else(|e| panic!("{test}: cannot provision in moto at {url}: {e}"));
        Some(Stack {
            sdk,
            resources: provisioned,
        })
    }

    /// Stores `value` (JSON) as a new Secrets Manager secret called `name`; its ARN.
    ///
    /// # Panics
    /// When the emulator refuses it (a test or harness set-up step).
    pub async fn create_secret(&self, name: &str, value: &serde_json::Value) -> String {
        aws_sdk_secretsmanager::Client::new(&self.sdk)
            .create_secret()
            .name(name)
            .secret_string(value.to_string())
            .send()
            .await
            .expect("create secret")
            .arn
            .expect("secret ARN")
    }
}
