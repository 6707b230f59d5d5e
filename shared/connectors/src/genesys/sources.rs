//! The external source ("Salesforce") whose id every link in `externalIds` refers to.

use super::models::{ExternalSource, parse_source_listing};
use super::{Inner, SIDE};
use crate::http::{Replay, protocol};
use contact_sync_pipeline::system::{SystemError, SystemResult};
use serde_json::json;

const SOURCES: &str = "/api/v2/externalcontacts/externalsources";
/// Bound on listing pages, in case a server keeps returning a cursor.
const MAX_PAGES: usize = 1_000;

impl Inner {
    /// The link source id: cached, else found by name, else created. Concurrent callers wait for
    /// one lookup, so the source is created at most once per process.
    pub(crate) async fn link_source_id(&self) -> SystemResult<String> {
        let mut slot = self.link_source_id.lock().await;
        if let Some(id) = slot.as_ref() {
            return Ok(id.clone());
        }
        let id = match self.find_source().await? {
            Some(id) => id,
            None => match self.create_source().await {
                Ok(id) => id,
                // Created meanwhile by another process: the name is unique, so look again.
                Err(SystemError::Rejected {
                    status: 400 | 409, ..
                }) => self.find_source().await?.ok_or_else(|| {
                    protocol(
                        SIDE,
                        409,
                        "external source",
                        "refused to create and not found",
                    )
                })?,
                Err(e) => return Err(e),
            },
        };
        *slot = Some(id.clone());
        Ok(id)
    }

    async fn find_source(&self) -> SystemResult<Option<String>> {
        let name = self.link_source_name.as_str();
        let mut cursor: Option<String> = None;
        let mut inexact: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query: Vec<(&str, &str)> = vec![("limit", "200"), ("name", name)];
            if let Some(c) = cursor.as_deref() {
                query.push(("cursor", c));
            }
            let resp = self
                .call(
                    "list external sources",
                    reqwest::Method::GET,
                    SOURCES,
                    &query,
                    None,
                    Replay::Safe,
                )
                .await?;
            let page = parse_source_listing(&resp.body)
                .map_err(|e| protocol(SIDE, resp.status, "list external sources", e))?;
            for source in &page.entities {
                let (Some(id), Some(n)) = (source.id.as_deref(), source.name.as_deref()) else {
                    continue;
                };
                if n == name {
                    tracing::debug!(side = %SIDE, source_id = id, "external source found");
                    return Ok(Some(id.to_owned()));
                }
                if inexact.is_none() && n.eq_ignore_ascii_case(name) {
                    inexact = Some(id.to_owned());
                }
            }
            match page.next_cursor() {
                Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => return Ok(inexact),
            }
        }
        Err(protocol(
            SIDE,
            200,
            "list external sources",
            "too many pages",
        ))
    }

    async fn create_source(&self) -> SystemResult<String> {
        let body = json!({ "name": self.link_source_name, "active": true }).to_string();
        let resp = self
            .call(
                "create external source",
                reqwest::Method::POST,
                SOURCES,
                &[],
                Some(body.as_bytes()),
                Replay::OnlyIfUnprocessed,
            )
            .await?;
        let source: ExternalSource = crate::http::decode(&resp.body)
            .map_err(|e| protocol(SIDE, resp.status, "create external source", e))?;
        let id = source
            .id
            .ok_or_else(|| protocol(SIDE, resp.status, "create external source", "no id"))?;
        tracing::debug!(side = %SIDE, source_id = %id, "external source created");
        Ok(id)
    }
}
