//! Per-record outcomes the adapters synthesise when a batch is cut short.

use contact_sync_pipeline::system::{RecordError, SystemError, WriteOutcome};

/// Code for records whose call failed after earlier calls of the same batch succeeded: the
/// system may or may not have applied them.
pub const CALL_FAILED: &str = "CALL_FAILED";
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
            retryable: error.is_retryable(),
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
