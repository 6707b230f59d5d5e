//! Full enumeration with the scan endpoint (API-NOTES B.1, B.5). There is no modified-since
//! filter: every contact comes back and the caller filters by `modified_at`.

use super::models::{contact_id, parse_contact_listing};
use super::{Inner, SIDE};
use crate::http::{DecodeError, Replay, protocol};
use crate::salesforce::wire::parse_datetime;
use contact_sync_pipeline::system::{ChangePage, RawRecord, SystemResult};

const SCAN: &str = "/api/v2/externalcontacts/scan/contacts";

/// A contact body as a [`RawRecord`]: `id`, `modifyDate` (or `createDate` when a contact has
/// never been modified), and the body untouched.
pub fn contact_to_raw(contact: serde_json::Value) -> Result<RawRecord, DecodeError> {
    let id = contact_id(&contact)
        .ok_or_else(|| DecodeError("contact without an id".into()))?
        .to_owned();
    let stamp = |field: &str| {
        contact
            .get(field)
            .and_then(|v| v.as_str())
            .and_then(parse_datetime)
    };
    let modified_at = stamp("modifyDate")
        .or_else(|| stamp("createDate"))
        .ok_or_else(|| DecodeError(format!("contact {id} without a readable modifyDate")))?;
    Ok(RawRecord {
        id,
        modified_at,
        body: contact,
    })
}

impl Inner {
    pub(crate) async fn scan(&self, cursor: Option<String>) -> SystemResult<ChangePage> {
        let limit = self.page_size.to_string();
        let mut query: Vec<(&str, &str)> = vec![("limit", limit.as_str())];
        if let Some(c) = cursor.as_deref() {
            query.push(("cursor", c));
        }
        let resp = self
            .call(
                "scan contacts",
                reqwest::Method::GET,
                SCAN,
                &query,
                None,
                Replay::Safe,
            )
            .await?;
        let mut page = parse_contact_listing(&resp.body)
            .map_err(|e| protocol(SIDE, resp.status, "scan contacts", e))?;
        let next = page.next_cursor();
        if next.is_some() && next == cursor {
            return Err(protocol(
                SIDE,
                resp.status,
                "scan contacts",
                "cursor did not advance",
            ));
        }
        let records = std::mem::take(&mut page.entities)
            .into_iter()
            .map(|c| contact_to_raw(c).map_err(|e| protocol(SIDE, resp.status, "scan contact", e)))
            .collect::<SystemResult<Vec<_>>>()?;
        tracing::debug!(side = %SIDE, records = records.len(), more = next.is_some(), "genesys scan page");
        Ok(ChangePage { records, next })
    }
}
