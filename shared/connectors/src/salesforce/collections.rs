//! sObject Collections writes (API-NOTES A.2): ≤200 records per call, `allOrNone:false`,
//! results in request order, per-record errors with `statusCode`.

use super::wire::{parse_save_results, save_result_outcome};
use super::{Inner, SIDE, Target};
use crate::http::{Replay, protocol};
use crate::outcomes::{after_failed_call, not_attempted};
use contact_sync_pipeline::system::{CreateRequest, SystemResult, UpdateRequest, WriteOutcome};
use serde_json::{Value, json};

/// Records per sObject Collections call.
pub(crate) const RECORDS_PER_CALL: usize = 200;

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

    /// Sends the records in chunks. When a chunk's call fails after earlier chunks succeeded,
    /// the known outcomes are kept: the failed chunk's records get a `CALL_FAILED` error (their
    /// fate is unknown) and later chunks `NOT_ATTEMPTED`. A failure of the first chunk is
    /// returned as the call error.
    async fn write_all(
        &self,
        what: &'static str,
        method: reqwest::Method,
        replay: Replay,
        items: Vec<(String, Value)>,
    ) -> SystemResult<Vec<WriteOutcome>> {
        let mut outcomes = Vec::with_capacity(items.len());
        let chunks: Vec<&[(String, Value)]> = items.chunks(RECORDS_PER_CALL).collect();
        for (index, chunk) in chunks.iter().enumerate() {
            match self.write_chunk(what, method.clone(), replay, chunk).await {
                Ok(mut done) => outcomes.append(&mut done),
                Err(e) if index == 0 => return Err(e),
                Err(e) => {
                    outcomes.extend(after_failed_call(chunk.iter().map(|(k, _)| k.clone()), &e));
                    for rest in &chunks[index + 1..] {
                        outcomes.extend(not_attempted(rest.iter().map(|(k, _)| k.clone())));
                    }
                    break;
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
        tracing::debug!(side = %SIDE, what, records = outcomes.len(), failed, calls = chunks.len(), "salesforce write");
        Ok(outcomes)
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
        let results =
            parse_save_results(&resp.body).map_err(|e| protocol(SIDE, resp.status, what, e))?;
        if results.len() != chunk.len() {
            return Err(protocol(
                SIDE,
                resp.status,
                what,
                format!("{} results for {} records", results.len(), chunk.len()),
            ));
        }
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
