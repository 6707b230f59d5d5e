//! sObject Collections writes and deletes (API-NOTES A.2): ≤200 records per call, `allOrNone:false`,
//! results in request order, per-record errors with `statusCode`.

use super::wire::{SaveResult, parse_save_results, save_result_outcome};
use super::{Inner, SIDE, Target, soql};
use crate::batch_limit::Splitter;
use crate::http::{Replay, Response, protocol};
use crate::outcomes::{REQUEST_REFUSED, after_failed_call, cut_short};
use contact_sync_pipeline::system::{
    CreateRequest, RecordError, SystemError, SystemResult, UpdateRequest, WriteOutcome,
};
use serde_json::{Value, json};
use std::collections::HashSet;

/// Records per sObject Collections call (documented); the start of the learned limit.
pub(crate) const RECORDS_PER_CALL: usize = 200;

/// The outcome of a record whose one-record request Salesforce refused as a whole.
fn refused_alone(key: &str, error: SystemError) -> WriteOutcome {
    WriteOutcome {
        key: key.to_owned(),
        result: Err(RecordError {
            code: REQUEST_REFUSED.into(),
            message: error.to_string(),
            retryable: false,
        }),
    }
}

/// The SaveResults of a collections call: one per record sent, in request order.
fn save_results_in_order(
    what: &str,
    resp: &Response,
    sent: usize,
) -> SystemResult<Vec<SaveResult>> {
    let results =
        parse_save_results(&resp.body).map_err(|e| protocol(SIDE, resp.status, what, e))?;
    if results.len() != sent {
        return Err(protocol(
            SIDE,
            resp.status,
            what,
            format!("{} results for {sent} records", results.len()),
        ));
    }
    Ok(results)
}

impl Inner {
    pub(crate) async fn create(
        &self,
        records: Vec<CreateRequest>,
    ) -> SystemResult<Vec<WriteOutcome>> {
        let items: Vec<(String, Value)> = records.into_iter().map(|r| (r.key, r.body)).collect();
        self.write_all(
            "collections create",
            reqwest::Method::POST,
            Replay::OnlyIfUnprocessed,
            items,
        )
        .await
    }

    pub(crate) async fn update(
        &self,
        records: Vec<UpdateRequest>,
    ) -> SystemResult<Vec<WriteOutcome>> {
        let items: Vec<(String, Value)> = records
            .into_iter()
            .map(|r| {
                let mut body = r.body;
                if let Value::Object(map) = &mut body {
                    map.entry("id")
                        .or_insert_with(|| Value::String(r.id.clone()));
                }
                (r.id, body)
            })
            .collect();
        self.write_all(
            "collections update",
            reqwest::Method::PATCH,
            Replay::Safe,
            items,
        )
        .await
    }

    /// Sends the records in chunks of the current limit (see [`cut_short`]), splitting a
    /// request refused as a whole (see `batch_limit`).
    async fn write_all(
        &self,
        what: &'static str,
        method: reqwest::Method,
        replay: Replay,
        items: Vec<(String, Value)>,
    ) -> SystemResult<Vec<WriteOutcome>> {
        let chunks: Vec<&[(String, Value)]> = items.chunks(self.batch_limit.current()).collect();
        let mut outcomes = Vec::with_capacity(items.len());
        let splitter = Splitter {
            limit: &self.batch_limit,
            what,
            send: Box::new(|chunk: &[(String, Value)]| {
                Box::pin(self.write_chunk(what, method.clone(), replay, chunk))
            }),
            refused_alone: Box::new(|(key, _): &(String, Value), e| Ok(refused_alone(key, e))),
            failed_after: Box::new(|rest: &[(String, Value)], e| {
                Ok(after_failed_call(rest.iter().map(|(k, _)| k.clone()), &e))
            }),
        };
        for (index, chunk) in chunks.iter().enumerate() {
            match splitter.send_all(chunk).await {
                Ok(done) => outcomes.extend(done),
                Err(e) => {
                    cut_short(&chunks, index, e, |(key, _)| key.clone(), &mut outcomes)?;
                    break;
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
        tracing::debug!(side = %SIDE, what, records = outcomes.len(), failed, calls = chunks.len(), "salesforce write");
        Ok(outcomes)
    }

    /// Deletes by id, ≤200 per call (fewer once a lower limit is learned), `allOrNone=false`. Ids that are not Salesforce ids are
    /// refused without a call (they would go into the URL); repeated ids are sent once.
    /// `ENTITY_IS_DELETED` and unknown ids count as success: the record is gone either way.
    pub(crate) async fn delete(&self, ids: Vec<String>) -> SystemResult<Vec<WriteOutcome>> {
        let mut seen = HashSet::new();
        let mut refused = Vec::new();
        let mut valid = Vec::with_capacity(ids.len());
        for id in ids {
            if !soql::is_valid_id(&id) {
                refused.push(WriteOutcome {
                    result: Err(RecordError {
                        code: "MALFORMED_ID".into(),
                        message: "not a 15- or 18-character Salesforce id; not sent".into(),
                        retryable: false,
                    }),
                    key: id,
                });
            } else if seen.insert(id.clone()) {
                valid.push(id);
            }
        }
        let chunks: Vec<&[String]> = valid.chunks(self.batch_limit.current()).collect();
        let mut outcomes = Vec::with_capacity(valid.len() + refused.len());
        let splitter = Splitter {
            limit: &self.batch_limit,
            what: "collections delete",
            send: Box::new(|chunk: &[String]| Box::pin(self.delete_chunk(chunk))),
            refused_alone: Box::new(|id: &String, e| Ok(refused_alone(id, e))),
            failed_after: Box::new(|rest: &[String], e| {
                Ok(after_failed_call(rest.iter().cloned(), &e))
            }),
        };
        for (index, chunk) in chunks.iter().enumerate() {
            match splitter.send_all(chunk).await {
                Ok(done) => outcomes.extend(done),
                Err(e) => {
                    cut_short(&chunks, index, e, String::clone, &mut outcomes)?;
                    break;
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
        tracing::debug!(side = %SIDE, records = outcomes.len(), refused = refused.len(), failed, calls = chunks.len(), "salesforce delete");
        outcomes.append(&mut refused);
        Ok(outcomes)
    }

    async fn delete_chunk(&self, chunk: &[String]) -> SystemResult<Vec<WriteOutcome>> {
        let what = "collections delete";
        let ids = chunk.join(",");
        let resp = self
            .call(
                what,
                reqwest::Method::DELETE,
                Target::Api("composite/sobjects"),
                Some(&[("ids", ids.as_str()), ("allOrNone", "false")]),
                None,
                Replay::Safe,
            )
            .await?;
        let results = save_results_in_order(what, &resp, chunk.len())?;
        Ok(chunk
            .iter()
            .zip(results)
            .map(|(id, result)| {
                let gone = result.errors.iter().any(|e| {
                    matches!(
                        e.status_code.as_deref(),
                        Some("ENTITY_IS_DELETED" | "INVALID_CROSS_REFERENCE_KEY" | "NOT_FOUND")
                    )
                });
                WriteOutcome {
                    key: id.clone(),
                    result: if gone && !result.success {
                        Ok(id.clone())
                    } else {
                        save_result_outcome(result)
                    },
                }
            })
            .collect())
    }

    async fn write_chunk(
        &self,
        what: &'static str,
        method: reqwest::Method,
        replay: Replay,
        chunk: &[(String, Value)],
    ) -> SystemResult<Vec<WriteOutcome>> {
        let body = json!({
            "allOrNone": false,
            "records": chunk.iter().map(|(_, b)| b).collect::<Vec<_>>(),
        });
        let resp = self
            .call(
                what,
                method,
                Target::Api("composite/sobjects"),
                None,
                Some(&body),
                replay,
            )
            .await?;
        let results = save_results_in_order(what, &resp, chunk.len())?;
        Ok(chunk
            .iter()
            .zip(results)
            .map(|((key, _), result)| WriteOutcome {
                key: key.clone(),
                result: save_result_outcome(result),
            })
            .collect())
    }
}
