//! Per-record outcomes the adapters synthesise when a batch is cut short.

use contact_sync_pipeline::system::{RecordError, SystemError, SystemResult, WriteOutcome};

/// Code for records whose call failed after earlier calls of the same batch succeeded: the
/// system may or may not have applied them. Always retryable: a failed call is not the
/// records' refusal.
pub const CALL_FAILED: &str = "CALL_FAILED";
/// Code for a record whose one-record request the system refused as a whole (the refusal of
/// a larger request is never a record's refusal: it is split, see `batch_limit`).
pub const REQUEST_REFUSED: &str = "REQUEST_REFUSED";
/// Code for records never sent because an earlier call of the batch failed.
pub const NOT_ATTEMPTED: &str = "NOT_ATTEMPTED";

pub(crate) fn after_failed_call(
    keys: impl Iterator<Item = String>,
    error: &SystemError,
) -> Vec<WriteOutcome> {
    let message = error.to_string();
    keys.map(|key| WriteOutcome {
        key,
        result: Err(RecordError {
            code: CALL_FAILED.into(),
            message: message.clone(),
            retryable: true,
        }),
    })
    .collect()
}

pub(crate) fn not_attempted(keys: impl Iterator<Item = String>) -> Vec<WriteOutcome> {
    keys.map(|key| WriteOutcome {
        key,
        result: Err(RecordError {
            code: NOT_ATTEMPTED.into(),
            message: "not sent: an earlier call of this batch failed".into(),
            retryable: true,
        }),
    })
    .collect()
}

/// Settles a batch cut short when the call for `chunks[failed]` returned `error`. A failure of
/// the first call is returned as the call error (nothing is known). A failure after earlier
/// calls succeeded keeps the known outcomes: the failed chunk's records get `CALL_FAILED` (their
/// fate is unknown) and later chunks `NOT_ATTEMPTED`.
pub(crate) fn cut_short<T, C: AsRef<[T]>>(
    chunks: &[C],
    failed: usize,
    error: SystemError,
    key: impl Fn(&T) -> String,
    outcomes: &mut Vec<WriteOutcome>,
) -> SystemResult<()> {
    if failed == 0 {
        return Err(error);
    }
    outcomes.extend(after_failed_call(
        chunks[failed].as_ref().iter().map(&key),
        &error,
    ));
    for rest in &chunks[failed + 1..] {
        outcomes.extend(not_attempted(rest.as_ref().iter().map(&key)));
    }
    Ok(())
}
