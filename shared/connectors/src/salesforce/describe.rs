//! `GET /sobjects/Contact/describe`: which Contact fields exist for the integration user and
//! whether it may write them (for `contact-sync check`).

use super::{Inner, SIDE, Target};
use crate::http::{Replay, decode, protocol};
use contact_sync_pipeline::system::SystemResult;
use serde::Deserialize;

/// One field of `DescribeSObjectResult.fields` (the subset a check needs).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldDescription {
    pub name: String,
    /// `string`, `email`, `phone`, `id`, `reference`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub createable: bool,
    #[serde(default)]
    pub updateable: bool,
}

#[derive(Deserialize)]
struct Describe {
    fields: Vec<FieldDescription>,
}

impl Inner {
    pub(crate) async fn describe_contact(&self) -> SystemResult<Vec<FieldDescription>> {
        let resp = self
            .call(
                "describe Contact",
                reqwest::Method::GET,
                Target::Api("sobjects/Contact/describe"),
                None,
                None,
                Replay::Safe,
            )
            .await?;
        let describe: Describe =
            decode(&resp.body).map_err(|e| protocol(SIDE, resp.status, "describe Contact", e))?;
        Ok(describe.fields)
    }
}
