//! Bulk endpoints (API-NOTES B.1): fetch by ids, add, update, remove. Results are NOT in
//! request order: fetch, update and remove results are matched by contact id, add results by
//! the Salesforce id each request carries in `externalIds`.

use super::models::{BulkResponse, BulkResult, contact_id, external_ids, parse_bulk_response};
use super::scan::contact_to_raw;
use super::{Inner, SIDE};
use crate::batch_limit::Splitter;
use crate::http::{Replay, protocol};
use crate::outcomes::{REQUEST_REFUSED, after_failed_call, cut_short};
use contact_sync_pipeline::system::{
    CreateRequest, RawRecord, RecordError, SystemError, SystemResult, UpdateRequest, WriteOutcome,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

const FETCH: &str = "/api/v2/externalcontacts/bulk/contacts";
const ADD: &str = "/api/v2/externalcontacts/bulk/contacts/add";
const UPDATE: &str = "/api/v2/externalcontacts/bulk/contacts/update";
const REMOVE: &str = "/api/v2/externalcontacts/bulk/contacts/remove";

/// Ids per bulk fetch, at most (fewer when the entity limit is lower).
pub(crate) const IDS_PER_FETCH: usize = 100;
/// The default starting entity limit of a bulk request (`GENESYS_BULK_ENTITIES`): Genesys
/// documents none; public clients send 50; lowered when a request is refused as a whole.
pub const DEFAULT_BULK_ENTITIES: usize = 100;
/// The largest starting entity limit accepted.
pub const MAX_BULK_ENTITIES: usize = 200;
/// `{"entities":[` + `]}`.
const ENVELOPE_BYTES: usize = 15;

/// A single contact whose request alone exceeds the byte limit.
pub const REQUEST_TOO_LARGE: &str = "request.too.large";
/// No result of the call could be matched to this request.
pub const RESULT_UNMATCHED: &str = "result.unmatched";
/// A create whose body does not carry its key in `externalIds[].value`.
pub const MISSING_LINK: &str = "request.missing.link";
/// A second request with the same key in one batch.
pub const DUPLICATE_KEY: &str = "request.duplicate.key";
/// An update whose body names another contact than the request.
pub const ID_MISMATCH: &str = "request.id.mismatch";
/// An id that is not a contact id (a UUID): never sent.
pub const NOT_A_CONTACT_ID: &str = "request.not.a.contact.id";

/// One serialised entity of a bulk write and the key its outcome is reported under.
struct Item {
    key: String,
    bytes: Vec<u8>,
}

#[derive(Clone, Copy)]
enum MatchBy<'a> {
    /// Creates: the `externalIds[].value` for this link source id.
    Link(&'a str),
    /// Updates: the contact id.
    Id,
}

fn refused(key: String, code: &str, message: &str, retryable: bool) -> WriteOutcome {
    WriteOutcome {
        key,
        result: Err(RecordError {
            code: code.into(),
            message: message.into(),
            retryable,
        }),
    }
}

fn looks_like_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn envelope(items: &[Item]) -> Vec<u8> {
    let mut body = Vec::with_capacity(envelope_len(items));
    body.extend_from_slice(b"{\"entities\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&item.bytes);
    }
    body.extend_from_slice(b"]}");
    body
}

fn envelope_len(items: &[Item]) -> usize {
    ENVELOPE_BYTES
        + items.iter().map(|i| i.bytes.len()).sum::<usize>()
        + items.len().saturating_sub(1)
}

/// Greedy packing: each chunk's request body ≤ `max_bytes` and ≤ `max_count` entities.
fn pack(items: Vec<Item>, max_bytes: usize, max_count: usize) -> Vec<Vec<Item>> {
    let mut chunks = Vec::new();
    let mut current: Vec<Item> = Vec::new();
    let mut size = ENVELOPE_BYTES;
    for item in items {
        let added = item.bytes.len() + usize::from(!current.is_empty());
        if !current.is_empty() && (current.len() >= max_count || size + added > max_bytes) {
            chunks.push(std::mem::take(&mut current));
            size = ENVELOPE_BYTES;
        }
        size += item.bytes.len() + usize::from(!current.is_empty());
        current.push(item);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// The outcome a matched result reports.
fn outcome_of(result: &BulkResult<Value>) -> Result<String, RecordError> {
    if result.success {
        return result
            .id
            .clone()
            .or_else(|| {
                result
                    .entity
                    .as_ref()
                    .and_then(contact_id)
                    .map(str::to_owned)
            })
            .ok_or_else(|| RecordError {
                code: "result.missing.id".into(),
                message: "Genesys reported success without a contact id".into(),
                retryable: false,
            });
    }
    let status = result
        .error
        .as_ref()
        .and_then(|e| e.status)
        .or(result.status);
    let error = result.error.as_ref();
    let code = error
        .and_then(|e| e.code.clone())
        .unwrap_or_else(|| format!("http.{}", status.unwrap_or(0)));
    let mut message = error.and_then(|e| e.message.clone()).unwrap_or_default();
    if let Some(e) = error {
        for d in &e.details {
            let field = d.field_name.as_deref().unwrap_or("?");
            let text = d.message.as_deref().unwrap_or("");
            message.push_str(&format!("; {field}: {text}"));
        }
    }
    let retryable = error.and_then(|e| e.retryable).unwrap_or(false)
        || status.is_some_and(|s| s == 429 || s >= 500);
    Err(RecordError {
        code,
        message,
        retryable,
    })
}

/// Which pending request a result belongs to.
fn result_key<'p>(
    result: &'p BulkResult<Value>,
    by: MatchBy<'_>,
    pending: &HashMap<&str, usize>,
) -> Option<&'p str> {
    let entity = if result.success {
        result.entity.as_ref()
    } else {
        result.error.as_ref().and_then(|e| e.entity.as_ref())
    };
    match by {
        MatchBy::Link(source) => {
            let links = entity.map(external_ids).unwrap_or_default();
            links
                .iter()
                .find(|(s, v)| *s == Some(source) && pending.contains_key(v))
                .or_else(|| links.iter().find(|(_, v)| pending.contains_key(v)))
                .map(|(_, v)| *v)
        }
        MatchBy::Id => [result.id.as_deref(), entity.and_then(contact_id)]
            .into_iter()
            .flatten()
            .find(|id| pending.contains_key(id)),
    }
}

/// One outcome per item of `chunk`, from unordered results.
fn match_results(
    chunk: &[Item],
    results: &[BulkResult<Value>],
    by: MatchBy<'_>,
) -> Vec<WriteOutcome> {
    let pending: HashMap<&str, usize> = chunk
        .iter()
        .enumerate()
        .map(|(i, it)| (it.key.as_str(), i))
        .collect();
    let mut done: Vec<Option<Result<String, RecordError>>> = vec![None; chunk.len()];
    let mut unmatched = 0usize;
    let mut unmatched_success = false;
    for result in results {
        match result_key(result, by, &pending).and_then(|k| pending.get(k).copied()) {
            Some(i) if done[i].is_none() => done[i] = Some(outcome_of(result)),
            _ => {
                unmatched += 1;
                unmatched_success |= result.success;
            }
        }
    }
    if unmatched > 0 {
        tracing::debug!(side = %SIDE, unmatched, unmatched_success, "bulk results that match no request");
    }
    chunk
        .iter()
        .zip(done)
        .map(|(item, outcome)| WriteOutcome {
            key: item.key.clone(),
            result: outcome.unwrap_or_else(|| {
                Err(RecordError {
                    code: RESULT_UNMATCHED.into(),
                    message: if unmatched_success {
                        "no bulk result matched this request; an unmatched result reported a \
                         success, so the contact may exist"
                            .into()
                    } else {
                        "no bulk result matched this request".into()
                    },
                    retryable: !unmatched_success,
                })
            }),
        })
        .collect()
}

impl Inner {
    pub(crate) async fn fetch(&self, ids: &[String]) -> SystemResult<Vec<RawRecord>> {
        let mut seen = HashSet::new();
        let wanted: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|id| looks_like_uuid(id) && seen.insert(*id))
            .collect();
        if wanted.len() < ids.len() {
            tracing::debug!(side = %SIDE, skipped = ids.len() - wanted.len(), "fetch: ids that are not contact ids or repeated are skipped");
        }
        let wanted_set: HashSet<&str> = wanted.iter().copied().collect();
        let mut out = Vec::with_capacity(wanted.len());
        let mut absent = 0usize;
        let mut merged = 0usize;
        let splitter = Splitter {
            limit: &self.batch_limit,
            what: "bulk fetch",
            send: Box::new(|ids: &[&str]| Box::pin(self.fetch_request(ids))),
            // A one-id fetch refused as a whole: nothing to say about that id but the error.
            refused_alone: Box::new(|_, e| Err(e)),
            failed_after: Box::new(|_, e| Err(e)),
        };
        for chunk in wanted.chunks(IDS_PER_FETCH) {
            let answers = splitter.send_all(chunk).await?;
            // Every requested id gets a result (found, or an error such as 404): fewer results
            // than ids is a broken answer, never the missing ids deleted.
            let results: usize = answers.iter().map(|(_, parsed)| parsed.results.len()).sum();
            if results < chunk.len() {
                let status = answers.first().map_or(200, |(status, _)| *status);
                return Err(protocol(
                    SIDE,
                    status,
                    "bulk fetch",
                    format!("{results} results for {} requested ids", chunk.len()),
                ));
            }
            for (http_status, parsed) in answers {
                for result in parsed.results {
                    let status = result
                        .error
                        .as_ref()
                        .and_then(|e| e.status)
                        .or(result.status);
                    if result.success {
                        let entity = result.entity.ok_or_else(|| {
                            protocol(SIDE, http_status, "bulk fetch", "success without entity")
                        })?;
                        let mut raw = contact_to_raw(entity)
                            .map_err(|e| protocol(SIDE, http_status, "bulk fetch", e))?;
                        let requested = result.id.as_deref().filter(|id| wanted_set.contains(id));
                        if let Some(requested) = requested.filter(|id| *id != raw.id) {
                            // The requested id now resolves to another contact (merged away):
                            // report it under the requested id, marked with where it went.
                            if let Value::Object(body) = &mut raw.body {
                                body.entry("mergedTo")
                                    .or_insert_with(|| json!({ "id": raw.id }));
                            }
                            raw.id = requested.to_owned();
                        }
                        if raw.body.get("mergedTo").is_some_and(|m| !m.is_null()) {
                            merged += 1;
                        }
                        out.push(raw);
                        continue;
                    }
                    let code = result
                        .error
                        .as_ref()
                        .and_then(|e| e.code.clone())
                        .unwrap_or_default();
                    if status == Some(404) || code.contains("not.found") {
                        absent += 1;
                        continue;
                    }
                    let retryable = result
                        .error
                        .as_ref()
                        .and_then(|e| e.retryable)
                        .unwrap_or(false)
                        || status.is_some_and(|s| s == 429 || s >= 500);
                    let message = format!(
                        "bulk fetch: a record failed with {}",
                        if code.is_empty() {
                            "no error code"
                        } else {
                            &code
                        }
                    );
                    return Err(if retryable {
                        SystemError::Transient {
                            side: SIDE,
                            message,
                        }
                    } else {
                        SystemError::Rejected {
                            side: SIDE,
                            status: status
                                .and_then(|s| u16::try_from(s).ok())
                                .unwrap_or(http_status),
                            message,
                        }
                    });
                }
            }
        }
        tracing::debug!(side = %SIDE, requested = wanted.len(), found = out.len(), absent, merged, "genesys bulk fetch");
        Ok(out)
    }

    /// One bulk fetch request: its HTTP status and parsed results.
    async fn fetch_request(&self, ids: &[&str]) -> SystemResult<Vec<(u16, BulkResponse<Value>)>> {
        let body =
            json!({ "entities": ids.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>() })
                .to_string();
        let resp = self
            .call(
                "bulk fetch",
                reqwest::Method::POST,
                FETCH,
                &[],
                Some(body.as_bytes()),
                Replay::Safe,
            )
            .await?;
        let parsed = parse_bulk_response(&resp.body)
            .map_err(|e| protocol(SIDE, resp.status, "bulk fetch", e))?;
        Ok(vec![(resp.status, parsed)])
    }

    pub(crate) async fn create(
        &self,
        records: Vec<CreateRequest>,
    ) -> SystemResult<Vec<WriteOutcome>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let source = self.link_source_id().await?;
        let mut early = Vec::new();
        let mut items = Vec::with_capacity(records.len());
        let mut seen = HashSet::new();
        for r in records {
            if !external_ids(&r.body).iter().any(|(_, v)| *v == r.key) {
                early.push(refused(
                    r.key,
                    MISSING_LINK,
                    "the key is not among the body's externalIds values",
                    false,
                ));
            } else if !seen.insert(r.key.clone()) {
                early.push(refused(
                    r.key,
                    DUPLICATE_KEY,
                    "another request of this batch has the same key",
                    false,
                ));
            } else {
                match serde_json::to_vec(&r.body) {
                    Ok(bytes) => items.push(Item { key: r.key, bytes }),
                    Err(_) => early.push(refused(
                        r.key,
                        "request.unserializable",
                        "body cannot be serialised",
                        false,
                    )),
                }
            }
        }
        self.write(
            "bulk add",
            ADD,
            Replay::OnlyIfUnprocessed,
            items,
            MatchBy::Link(&source),
            early,
        )
        .await
    }

    pub(crate) async fn update(
        &self,
        records: Vec<UpdateRequest>,
    ) -> SystemResult<Vec<WriteOutcome>> {
        let mut early = Vec::new();
        let mut items = Vec::with_capacity(records.len());
        let mut seen = HashSet::new();
        for r in records {
            let mut body = r.body;
            let Value::Object(map) = &mut body else {
                early.push(refused(
                    r.id,
                    "request.not.an.object",
                    "body is not a JSON object",
                    false,
                ));
                continue;
            };
            let body_id = map
                .entry("id")
                .or_insert_with(|| Value::String(r.id.clone()));
            if body_id.as_str() != Some(r.id.as_str()) {
                early.push(refused(
                    r.id,
                    ID_MISMATCH,
                    "body id differs from the request id",
                    false,
                ));
            } else if !seen.insert(r.id.clone()) {
                early.push(refused(
                    r.id,
                    DUPLICATE_KEY,
                    "another request of this batch has the same id",
                    false,
                ));
            } else {
                match serde_json::to_vec(&body) {
                    Ok(bytes) => items.push(Item { key: r.id, bytes }),
                    Err(_) => early.push(refused(
                        r.id,
                        "request.unserializable",
                        "body cannot be serialised",
                        false,
                    )),
                }
            }
        }
        self.write(
            "bulk update",
            UPDATE,
            Replay::Safe,
            items,
            MatchBy::Id,
            early,
        )
        .await
    }

    /// Bulk remove by id. Ids that are not contact ids are refused without a call; repeated
    /// ids are sent once. A contact that is already gone (404 for its entry) counts as removed.
    pub(crate) async fn delete(&self, ids: Vec<String>) -> SystemResult<Vec<WriteOutcome>> {
        let mut early = Vec::new();
        let mut items = Vec::with_capacity(ids.len());
        let mut seen = HashSet::new();
        for id in ids {
            if !looks_like_uuid(&id) {
                early.push(refused(
                    id,
                    NOT_A_CONTACT_ID,
                    "not a Genesys contact id; not sent",
                    false,
                ));
            } else if seen.insert(id.clone()) {
                let bytes = json!({ "id": id }).to_string().into_bytes();
                items.push(Item { key: id, bytes });
            }
        }
        let mut outcomes = self
            .write(
                "bulk remove",
                REMOVE,
                Replay::Safe,
                items,
                MatchBy::Id,
                early,
            )
            .await?;
        for outcome in &mut outcomes {
            if let Err(e) = &outcome.result
                && (e.code.contains("not.found") || e.code == "http.404")
            {
                outcome.result = Ok(outcome.key.clone());
            }
        }
        Ok(outcomes)
    }

    /// Packs the items under the byte and count limits and sends the chunks. When a call fails
    /// after an earlier one succeeded, known outcomes are kept (see `outcomes`).
    async fn write(
        &self,
        what: &'static str,
        path: &'static str,
        replay: Replay,
        items: Vec<Item>,
        by: MatchBy<'_>,
        mut outcomes: Vec<WriteOutcome>,
    ) -> SystemResult<Vec<WriteOutcome>> {
        let max = self.max_request_bytes;
        let (items, too_large): (Vec<Item>, Vec<Item>) = items
            .into_iter()
            .partition(|i| ENVELOPE_BYTES + i.bytes.len() <= max);
        for item in too_large {
            outcomes.push(refused(
                item.key,
                REQUEST_TOO_LARGE,
                "the contact alone exceeds the request size limit",
                false,
            ));
        }
        let chunks = pack(items, max, self.batch_limit.current());
        let splitter = Splitter {
            limit: &self.batch_limit,
            what,
            send: Box::new(move |chunk: &[Item]| {
                Box::pin(self.write_request(what, path, replay, chunk, by))
            }),
            refused_alone: Box::new(|item: &Item, e| {
                Ok(match e {
                    SystemError::Rejected { status: 413, .. } => refused(
                        item.key.clone(),
                        REQUEST_TOO_LARGE,
                        "the contact alone exceeds the request size limit",
                        false,
                    ),
                    other => refused(item.key.clone(), REQUEST_REFUSED, &other.to_string(), false),
                })
            }),
            failed_after: Box::new(|rest: &[Item], e| {
                Ok(after_failed_call(rest.iter().map(|i| i.key.clone()), &e))
            }),
        };
        for (index, chunk) in chunks.iter().enumerate() {
            match splitter.send_all(chunk).await {
                Ok(done) => outcomes.extend(done),
                Err(e) => {
                    cut_short(&chunks, index, e, |i: &Item| i.key.clone(), &mut outcomes)?;
                    break;
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
        tracing::debug!(side = %SIDE, what, records = outcomes.len(), failed, chunks = chunks.len(), "genesys bulk write");
        Ok(outcomes)
    }

    /// Sends one bulk write request and matches its results to the chunk's items.
    async fn write_request(
        &self,
        what: &'static str,
        path: &'static str,
        replay: Replay,
        chunk: &[Item],
        by: MatchBy<'_>,
    ) -> SystemResult<Vec<WriteOutcome>> {
        let body = envelope(chunk);
        let resp = self
            .call(what, reqwest::Method::POST, path, &[], Some(&body), replay)
            .await?;
        let parsed =
            parse_bulk_response(&resp.body).map_err(|e| protocol(SIDE, resp.status, what, e))?;
        Ok(match_results(chunk, &parsed.results, by))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, size: usize) -> Item {
        // A JSON string literal of exactly `size` bytes.
        let bytes = format!("\"{}\"", "x".repeat(size.saturating_sub(2))).into_bytes();
        Item {
            key: key.into(),
            bytes,
        }
    }

    #[test]
    fn packing_respects_bytes_and_count() {
        // GIVEN 10 items of 100 bytes and a 350-byte limit
        let items: Vec<Item> = (0..10).map(|i| item(&i.to_string(), 100)).collect();
        // WHEN packed
        let chunks = pack(items, 350, 200);
        // THEN every body fits (15 + 3×100 + 2 = 317 ≤ 350) and nothing is lost
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        for c in &chunks {
            assert!(envelope(c).len() <= 350);
            assert_eq!(envelope(c).len(), envelope_len(c));
        }
        // AND the count bound holds too
        let many: Vec<Item> = (0..450).map(|i| item(&i.to_string(), 10)).collect();
        assert_eq!(
            pack(many, 500_000, 200)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            vec![200, 200, 50]
        );
    }

    #[test]
    fn envelope_is_valid_json() {
        // GIVEN two serialised entities
        let items = vec![
            Item {
                key: "a".into(),
                bytes: br#"{"id":"a"}"#.to_vec(),
            },
            Item {
                key: "b".into(),
                bytes: br#"{"id":"b"}"#.to_vec(),
            },
        ];
        // WHEN wrapped
        let v: Value = serde_json::from_slice(&envelope(&items)).expect("json");
        // THEN it is {"entities":[...]}
        assert_eq!(v, json!({"entities":[{"id":"a"},{"id":"b"}]}));
    }

    fn bulk(results: Value) -> Vec<BulkResult<Value>> {
        serde_json::from_value(results).expect("results")
    }

    #[test]
    fn add_results_are_matched_by_external_id_whatever_their_order() {
        // GIVEN three creates keyed by Salesforce ids, and shuffled results: a success, a
        // failure echoing its entity, and a success
        let src = "src-1";
        let chunk = vec![item("003A", 10), item("003B", 10), item("003C", 10)];
        let link =
            |v: &str| json!([{"externalSource": {"id": src, "name": "Salesforce"}, "value": v}]);
        let results = bulk(json!([
            {"id": "g-3", "success": true, "status": 200, "entity": {"id": "g-3", "externalIds": link("003C")}},
            {"success": false, "status": 400, "error": {"code": "invalid.value", "message": "bad email", "status": 400,
                "retryable": false, "details": [{"fieldName": "workEmail", "message": "invalid"}],
                "entity": {"externalIds": link("003B")}}},
            {"id": "g-1", "success": true, "status": 200, "entity": {"id": "g-1", "externalIds": link("003A")}}
        ]));
        // WHEN matched
        let out = match_results(&chunk, &results, MatchBy::Link(src));
        // THEN each request gets its own result
        let by_key: HashMap<_, _> = out.into_iter().map(|o| (o.key, o.result)).collect();
        assert_eq!(by_key["003A"], Ok("g-1".to_owned()));
        assert_eq!(by_key["003C"], Ok("g-3".to_owned()));
        let err = by_key["003B"].clone().expect_err("refused");
        assert_eq!(err.code, "invalid.value");
        assert!(err.message.contains("workEmail"));
        assert!(!err.retryable);
    }

    #[test]
    fn unmatched_results_fail_the_unmatched_requests_clearly() {
        // GIVEN two creates and results of which one cannot be matched (a success without links)
        let chunk = vec![item("003A", 10), item("003B", 10)];
        let results = bulk(json!([
            {"id": "g-1", "success": true, "entity": {"id": "g-1", "externalIds": [{"externalSource": {"id": "s"}, "value": "003A"}]}},
            {"id": "g-2", "success": true, "entity": {"id": "g-2"}}
        ]));
        // WHEN matched
        let out = match_results(&chunk, &results, MatchBy::Link("s"));
        // THEN the matched one succeeds, the other fails as unmatched, not retryable (it may exist)
        assert_eq!(out[0].result, Ok("g-1".to_owned()));
        let err = out[1].result.clone().expect_err("unmatched");
        assert_eq!(err.code, RESULT_UNMATCHED);
        assert!(!err.retryable);
    }

    #[test]
    fn update_results_are_matched_by_id() {
        // GIVEN two updates and results in the other order, one failing retryably
        let id1 = "11111111-1111-1111-1111-111111111111";
        let id2 = "22222222-2222-2222-2222-222222222222";
        let chunk = vec![item(id1, 10), item(id2, 10)];
        let results = bulk(json!([
            {"id": id2, "success": false, "status": 503, "error": {"code": "service.unavailable", "status": 503}},
            {"id": id1, "success": true, "entity": {"id": id1}}
        ]));
        // WHEN matched
        let out = match_results(&chunk, &results, MatchBy::Id);
        // THEN each gets its own outcome
        assert_eq!(out[0].result, Ok(id1.to_owned()));
        let err = out[1].result.clone().expect_err("failed");
        assert_eq!(err.code, "service.unavailable");
        assert!(err.retryable);
    }

    #[test]
    fn uuid_shape() {
        // GIVEN ids of several shapes THEN only UUIDs are fetched
        assert!(looks_like_uuid("6c7a4f0e-1b2c-4d3e-8f9a-0b1c2d3e4f5a"));
        assert!(!looks_like_uuid("003000000000001AAA"));
        assert!(!looks_like_uuid("6c7a4f0e-1b2c-4d3e-8f9a-0b1c2d3e4f5z"));
    }
}
