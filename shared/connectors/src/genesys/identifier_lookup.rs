//! Finding a contact by the Salesforce Id it carries: `POST /identifierlookup/contacts` with a
//! `ContactIdentifier` `{type: "ExternalId", value, externalSource: {id}}` (API-NOTES B.1 and
//! B.5; `reference/genesys/externalcontacts_schema.json`, `ContactIdentifier`), answered with
//! the `ExternalContact`. The API has no bulk form: one call per id.

use super::models::parse_error_body;
use super::scan::contact_to_raw;
use super::{Inner, SIDE, classify};
use crate::http::{Replay, protocol};
use contact_sync_pipeline::system::{RawRecord, SystemResult};
use serde_json::json;
use std::collections::HashSet;

const LOOKUP: &str = "/api/v2/externalcontacts/identifierlookup/contacts";
const WHAT: &str = "identifier lookup";

/// What one lookup answered.
#[derive(Debug)]
enum Lookup {
    Found(RawRecord),
    /// A 404 whose body is a Genesys `ErrorBody` with code `not.found`: no contact carries the
    /// identifier. Any other 404 (an HTML page, a body that does not decode) is an error, so
    /// a broken answer is never read as an absence.
    NotFound,
}

impl Inner {
    /// The contacts carrying one of `linked_ids` as their `ExternalId` under the link source;
    /// ids no contact carries are absent from the result.
    pub(crate) async fn find_by_links(
        &self,
        linked_ids: &[String],
    ) -> SystemResult<Vec<RawRecord>> {
        let mut seen = HashSet::new();
        let wanted: Vec<&str> = linked_ids
            .iter()
            .map(String::as_str)
            .filter(|id| !id.is_empty() && seen.insert(*id))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let source = self.link_source_id().await?;
        let mut out = Vec::new();
        for id in &wanted {
            if let Lookup::Found(record) = self.lookup(&source, id).await? {
                out.push(record);
            }
        }
        tracing::debug!(side = %SIDE, looked_up = wanted.len(), found = out.len(), "genesys identifier lookup");
        Ok(out)
    }

    async fn lookup(&self, source: &str, value: &str) -> SystemResult<Lookup> {
        let body = json!({
            "type": "ExternalId",
            "value": value,
            "externalSource": { "id": source },
        });
        let body = serde_json::to_vec(&body).map_err(|e| protocol(SIDE, 0, WHAT, e))?;
        let resp = self
            .answer(
                WHAT,
                reqwest::Method::POST,
                LOOKUP,
                &[],
                Some(&body),
                Replay::Safe,
            )
            .await?;
        if resp.status == 404
            && parse_error_body(&resp.body)
                .ok()
                .and_then(|b| b.code)
                .is_some_and(|code| code == "not.found")
        {
            return Ok(Lookup::NotFound);
        }
        if !resp.is_success() {
            return Err(classify(WHAT, &resp));
        }
        let contact: serde_json::Value = serde_json::from_slice(&resp.body)
            .map_err(|_| protocol(SIDE, resp.status, WHAT, "the answer is not JSON"))?;
        let record = contact_to_raw(contact).map_err(|e| protocol(SIDE, resp.status, WHAT, e))?;
        Ok(Lookup::Found(record))
    }
}
