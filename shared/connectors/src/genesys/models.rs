//! Genesys Cloud External Contacts models, named exactly as in the Platform API
//! (`reference/genesys/externalcontacts_schema.json`). Every field is optional, as in the SDK.
//!
//! The adapter itself keeps contacts as `serde_json::Value` (bodies travel untouched); these
//! typed models document the shapes, and are what the contract tests check the schema against.

use crate::credentials::Secret;
use crate::http::{DecodeError, decode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /oauth/token` (client credentials) → 200.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// OAuth errors: `{"error","error_description"|"description"}`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct OAuthError {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// The Platform API error body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub status: Option<i32>,
    #[serde(default)]
    pub entity_id: Option<String>,
    #[serde(default)]
    pub entity_name: Option<String>,
    #[serde(default)]
    pub message_with_params: Option<String>,
    #[serde(default)]
    pub message_params: BTreeMap<String, String>,
    #[serde(default)]
    pub context_id: Option<String>,
    #[serde(default)]
    pub details: Vec<Detail>,
    #[serde(default)]
    pub errors: Vec<ErrorBody>,
    #[serde(default)]
    pub limit: Option<Limit>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub field_name: Option<String>,
    #[serde(default)]
    pub entity_id: Option<String>,
    #[serde(default)]
    pub entity_name: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limit {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub value: Option<i64>,
}

/// A phone slot (`workPhone`, `cellPhone`, `homePhone`, `otherPhone`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumber {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<i64>,
    #[serde(
        rename = "acceptsSMS",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub accepts_sms: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalization_country_code: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_input: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e164: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContactAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_configuration: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// `{externalSource, value}`: where the Salesforce Contact Id lives on a Genesys contact.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalId {
    pub external_source: ExternalSource,
    pub value: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ContactAddressableEntityRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WritableStarrableDivision {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContactIdentifier {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<WritableStarrableDivision>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_source: Option<ExternalSource>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDataSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// An External Contact. Social identities, organisation, schema and custom fields are kept as
/// JSON: the sync does not interpret them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalContact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<WritableStarrableDivision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salutation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_phone: Option<PhoneNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell_phone: Option<PhoneNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_phone: Option<PhoneNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_phone: Option<PhoneNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<ContactAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twitter_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whats_app_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebook_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram_id: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apple_opaque_ids: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ids: Option<Vec<ExternalId>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifiers: Option<Vec<ContactIdentifier>>,
    /// Read-only, `yyyy-MM-ddTHH:mm:ss[.mmm]Z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modify_date: Option<String>,
    /// Read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_organization: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey_opt_out: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_system_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_data_sources: Option<Vec<ExternalDataSource>>,
    /// `Ephemeral`, `Identified` or `Curated`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_contact: Option<ContactAddressableEntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_set: Option<Vec<ContactAddressableEntityRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<Vec<ContactAddressableEntityRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_to: Option<ContactAddressableEntityRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_operation: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// `{before, after}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cursors {
    #[serde(default)]
    pub before: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
}

/// `CursorContactListing` / `CursorExternalSourceListing`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CursorListing<T> {
    /// Required: a listing without `entities` is a broken answer, never an empty page (an
    /// empty page would read as "no contacts": nothing changed, the link source missing).
    pub entities: Vec<T>,
    #[serde(default)]
    pub next_uri: Option<String>,
    #[serde(default)]
    pub self_uri: Option<String>,
    #[serde(default)]
    pub previous_uri: Option<String>,
    #[serde(default)]
    pub cursors: Option<Cursors>,
}

impl<T> CursorListing<T> {
    /// The cursor of the next page: `cursors.after` while a `nextUri` says there is one
    /// (falling back to the `cursor` parameter of `nextUri`).
    pub fn next_cursor(&self) -> Option<String> {
        let next_uri = self.next_uri.as_deref().filter(|u| !u.is_empty())?;
        if let Some(after) = self
            .cursors
            .as_ref()
            .and_then(|c| c.after.clone())
            .filter(|a| !a.is_empty())
        {
            return Some(after);
        }
        let parsed = url::Url::parse(next_uri)
            .or_else(|_| url::Url::parse("http://relative.invalid").and_then(|b| b.join(next_uri)))
            .ok()?;
        parsed
            .query_pairs()
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.into_owned())
            .filter(|v| !v.is_empty())
    }
}

/// `BulkContactsResponse` / `BulkFetchContactsResponse`: results are NOT in request order.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkResponse<T> {
    /// Required: an answer without `results` is a broken answer, never "no record found"
    /// (which a fetch would read as every requested contact deleted).
    pub results: Vec<BulkResult<T>>,
    #[serde(default)]
    pub error_count: Option<i64>,
    #[serde(default)]
    pub error_indexes: Option<Vec<i64>>,
}

/// `BulkResponseResult…`: `{id, success, entity?, error?, status}`.
#[derive(Debug, Clone, Deserialize)]
pub struct BulkResult<T> {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub success: bool,
    #[serde(default = "Option::default")]
    pub entity: Option<T>,
    #[serde(default = "Option::default")]
    pub error: Option<BulkEntityError<T>>,
    #[serde(default)]
    pub status: Option<i32>,
}

/// `BulkEntityError…`: the failure, echoing the request's entity.
#[derive(Debug, Clone, Deserialize)]
pub struct BulkEntityError<T> {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub status: Option<i32>,
    #[serde(default)]
    pub retryable: Option<bool>,
    #[serde(default)]
    pub details: Vec<BulkErrorDetail>,
    #[serde(default = "Option::default")]
    pub entity: Option<T>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkErrorDetail {
    #[serde(default)]
    pub field_name: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

pub fn parse_token(body: &[u8]) -> Result<TokenResponse, DecodeError> {
    decode(body)
}

pub fn parse_error_body(body: &[u8]) -> Result<ErrorBody, DecodeError> {
    decode(body)
}

pub fn parse_contact_listing(body: &[u8]) -> Result<CursorListing<serde_json::Value>, DecodeError> {
    decode(body)
}

pub fn parse_source_listing(body: &[u8]) -> Result<CursorListing<ExternalSource>, DecodeError> {
    decode(body)
}

pub fn parse_bulk_response(body: &[u8]) -> Result<BulkResponse<serde_json::Value>, DecodeError> {
    decode(body)
}

/// `id` of a contact body.
pub fn contact_id(contact: &serde_json::Value) -> Option<&str> {
    contact
        .get("id")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

/// The `externalIds[]` entries of a contact body as `(source id, value)`.
pub fn external_ids(contact: &serde_json::Value) -> Vec<(Option<&str>, &str)> {
    contact
        .get("externalIds")
        .and_then(|v| v.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    let value = e.get("value")?.as_str()?;
                    let source = e
                        .get("externalSource")
                        .and_then(|s| s.get("id"))
                        .and_then(|v| v.as_str());
                    Some((source, value))
                })
                .collect()
        })
        .unwrap_or_default()
}
