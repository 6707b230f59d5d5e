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

    /// The link source's id when it exists; never creates it.
    pub(crate) async fn find_source(&self) -> SystemResult<Option<String>> {
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

/// A custom-field data schema, as far as a check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSchemaInfo {
    pub version: u32,
    /// The keys `customFields` may carry (`jsonSchema.properties`).
    pub fields: Vec<String>,
}

impl Inner {
    /// `GET /contacts/schemas/{id}`; `None` when the org has no such schema (404).
    pub(crate) async fn data_schema(&self, id: &str) -> SystemResult<Option<DataSchemaInfo>> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(super::config_error("the data schema id is not an id"));
        }
        let path = format!("/api/v2/externalcontacts/contacts/schemas/{id}");
        let resp = match self
            .call(
                "data schema",
                reqwest::Method::GET,
                &path,
                &[],
                None,
                Replay::Safe,
            )
            .await
        {
            Ok(resp) => resp,
            Err(SystemError::Rejected { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let body: serde_json::Value = crate::http::decode(&resp.body)
            .map_err(|e| protocol(SIDE, resp.status, "data schema", e))?;
        let version = body["version"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| protocol(SIDE, resp.status, "data schema", "no version"))?;
        let fields = body["jsonSchema"]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        Ok(Some(DataSchemaInfo { version, fields }))
    }
}
