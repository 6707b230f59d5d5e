//! Metrics of the three Lambdas as CloudWatch Embedded Metric Format (EMF) documents: one JSON
//! line on stdout per invocation, which CloudWatch Logs turns into metrics in the
//! [`NAMESPACE`] namespace with the dimensions `Integration` and `Function` (no API call, no
//! extra permission). The dashboard and alarms in `template.yaml` read these names.
//!
//! Document shape (AWS, "Specification: Embedded metric format"):
//!
//! ```json
//! {"_aws": {"Timestamp": 1764000000000,
//!           "CloudWatchMetrics": [{"Namespace": "ContactSync",
//!                                  "Dimensions": [["Integration", "Function"]],
//!                                  "Metrics": [{"Name": "Runs", "Unit": "Count"}, ...]}]},
//!  "Integration": "default", "Function": "poller", "Runs": 1, ...}
//! ```
//!
//! **No personal data can reach a metric**: metric names are `&'static str` constants of this
//! module, values are numbers, and the two dimension values are the integration's name (from
//! the mapping file) and the function's name.
//!
//! Written by hand with `serde_json` rather than with a crate: `metrics_cloudwatch_embedded`
//! installs a process-global recorder for the `metrics` facade and `metrique` is a whole
//! wide-event framework; one document per invocation built from a struct is a few lines.

use crate::deployment::Deployment;
use chrono::{DateTime, Utc};
use contact_sync_engine::Side;
use contact_sync_pipeline::stats::{PerSide, SyncStats};
use contact_sync_pipeline::store::SyncStore;
use contact_sync_pipeline::system::ApiUsage;
use serde_json::{Map, Value, json};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "ContactSync";
/// Dimension names (one dimension set: both).
pub const INTEGRATION: &str = "Integration";
pub const FUNCTION: &str = "Function";

// Metric names. The dashboard and alarms in `template.yaml` use these exact strings.
pub const RUNS: &str = "Runs";
pub const SUCCESSFUL_RUNS: &str = "SuccessfulRuns";
pub const FAILED_RUNS: &str = "FailedRuns";
pub const LAG_SECONDS: &str = "SecondsSinceLastSuccessfulRun";
pub const QUEUE_LAG_SECONDS: &str = "QueueLagSeconds";
pub const DURATION: &str = "Duration";
pub const PAIRS_ENQUEUED: &str = "PairsEnqueued";
pub const PAIRS: &str = "Pairs";
pub const UNCHANGED: &str = "Unchanged";
pub const CONFLICTS: &str = "Conflicts";
pub const REVIEW_ITEMS: &str = "ReviewItems";
pub const UNLINKED: &str = "Unlinked";
pub const SKIPPED: &str = "Skipped";
pub const ERRORS: &str = "Errors";
pub const MESSAGES: &str = "Messages";
pub const FAILED_MESSAGES: &str = "FailedMessages";
pub const MALFORMED_MESSAGES: &str = "MalformedMessages";
pub const DIGESTS: &str = "Digests";
pub const SALESFORCE_API_USAGE_PERCENT: &str = "SalesforceApiUsagePercent";
pub const SALESFORCE_API_REMAINING: &str = "SalesforceApiRemaining";

/// Per-side metric names: `(Salesforce, Genesys)`.
pub const RECORDS_READ: (&str, &str) = ("SalesforceRecordsRead", "GenesysRecordsRead");
pub const RECORDS_CHANGED: (&str, &str) = ("SalesforceRecordsChanged", "GenesysRecordsChanged");
pub const RECORDS_WRITTEN: (&str, &str) = ("SalesforceRecordsWritten", "GenesysRecordsWritten");
pub const CREATED: (&str, &str) = ("SalesforceCreated", "GenesysCreated");
pub const UPDATED: (&str, &str) = ("SalesforceUpdated", "GenesysUpdated");
pub const DELETED: (&str, &str) = ("SalesforceDeleted", "GenesysDeleted");
/// Records a system refused for good (validation), per refusing side: alarm on these.
pub const REFUSED: (&str, &str) = ("SalesforceRefused", "GenesysRefused");
pub const API_CALLS: (&str, &str) = ("SalesforceApiCalls", "GenesysApiCalls");

/// The function an invocation belongs to (the `Function` dimension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Poller,
    Reconciler,
    Notifier,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Poller => "poller",
            Function::Reconciler => "reconciler",
            Function::Notifier => "notifier",
        }
    }
}

/// CloudWatch units used here (the spec's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
    Percent,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
            Unit::Percent => "Percent",
        }
    }
}

/// The figures of one invocation, in the order they were added (a name added twice keeps its
/// first place and its last value).
#[derive(Debug, Clone)]
pub struct Invocation {
    function: Function,
    integration: String,
    at: DateTime<Utc>,
    values: Vec<(&'static str, Unit, f64)>,
}

impl Invocation {
    pub fn new(function: Function, integration: impl Into<String>, at: DateTime<Utc>) -> Self {
        Invocation {
            function,
            integration: integration.into(),
            at,
            values: Vec::new(),
        }
    }

    /// Sets one metric.
    pub fn put(&mut self, name: &'static str, unit: Unit, value: f64) -> &mut Self {
        match self.values.iter_mut().find(|(n, _, _)| *n == name) {
            Some(slot) => *slot = (name, unit, value),
            None => self.values.push((name, unit, value)),
        }
        self
    }

    pub fn count(&mut self, name: &'static str, n: u64) -> &mut Self {
        self.put(name, Unit::Count, n as f64)
    }

    fn per_side(&mut self, (sf, gz): (&'static str, &'static str), v: PerSide) -> &mut Self {
        self.count(sf, v.salesforce).count(gz, v.genesys)
    }

    /// The names of the metrics set, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.values.iter().map(|(name, _, _)| *name)
    }

    /// The value of a metric already set.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, v)| *v)
    }

    /// What a poll found: records read and changed per side, pairs enqueued, review items
    /// (ambiguous matches), errors.
    pub fn poll_stats(&mut self, s: &SyncStats) -> &mut Self {
        self.per_side(RECORDS_READ, s.read)
            .per_side(RECORDS_CHANGED, s.changed)
            .count(PAIRS_ENQUEUED, s.pairs_enqueued)
            .count(REVIEW_ITEMS, s.review)
            .count(ERRORS, s.failed)
    }

    /// What reconciling did: records created, updated, deleted and written (the three
    /// summed) per side, pairs unchanged, unlinked, skipped, conflicts settled by policy,
    /// review items opened, pairs failed (errors), records refused per side.
    pub fn reconcile_stats(&mut self, s: &SyncStats) -> &mut Self {
        let written = |side: Side| s.created.get(side) + s.updated.get(side) + s.deleted.get(side);
        self.per_side(CREATED, s.created)
            .per_side(UPDATED, s.updated)
            .per_side(DELETED, s.deleted)
            .per_side(REFUSED, s.refused)
            .per_side(
                RECORDS_WRITTEN,
                PerSide {
                    salesforce: written(Side::Salesforce),
                    genesys: written(Side::Genesys),
                },
            )
            .count(UNCHANGED, s.unchanged)
            .count(UNLINKED, s.unlinked)
            .count(SKIPPED, s.skipped)
            .count(CONFLICTS, s.conflicts)
            .count(REVIEW_ITEMS, s.review)
            .count(ERRORS, s.failed)
    }

    /// API calls made during the invocation (`after - before` per side) and the Salesforce
    /// allocation as last reported.
    pub fn api_usage(
        &mut self,
        before: Option<(ApiUsage, ApiUsage)>,
        after: Option<(ApiUsage, ApiUsage)>,
    ) -> &mut Self {
        let Some((sf, gz)) = after else {
            return self;
        };
        let (sf0, gz0) = before.unwrap_or_default();
        self.per_side(
            API_CALLS,
            PerSide {
                salesforce: sf.requests.saturating_sub(sf0.requests),
                genesys: gz.requests.saturating_sub(gz0.requests),
            },
        );
        if let Some(daily) = sf.daily {
            self.put(
                SALESFORCE_API_USAGE_PERCENT,
                Unit::Percent,
                daily.percent_used(),
            )
            .count(
                SALESFORCE_API_REMAINING,
                daily.max.saturating_sub(daily.used),
            );
        }
        self
    }

    /// Wall-clock time of the invocation.
    pub fn duration(&mut self, started: Instant) -> &mut Self {
        self.put(
            DURATION,
            Unit::Milliseconds,
            started.elapsed().as_millis() as f64,
        )
    }

    /// The EMF document.
    pub fn to_emf(&self) -> Value {
        let definitions: Vec<Value> = self
            .values
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.name()}))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": self.at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[INTEGRATION, FUNCTION]],
                    "Metrics": definitions,
                }],
            }),
        );
        root.insert(INTEGRATION.into(), json!(self.integration));
        root.insert(FUNCTION.into(), json!(self.function.name()));
        for (name, _, value) in &self.values {
            // Whole numbers as integers (`3`, not `3.0`).
            let number = if value.fract() == 0.0 && value.abs() < 9.0e15 {
                json!(*value as i64)
            } else {
                json!(value)
            };
            root.insert((*name).into(), number);
        }
        Value::Object(root)
    }
}

/// Where EMF documents go: stdout (Lambda sends it to CloudWatch Logs), or memory (tests).
#[derive(Debug, Clone, Default)]
pub enum Sink {
    #[default]
    Stdout,
    Memory(Arc<Mutex<Vec<Value>>>),
}

impl Sink {
    /// A sink that keeps the documents, and the list they go to.
    pub fn memory() -> (Sink, Arc<Mutex<Vec<Value>>>) {
        let list = Arc::new(Mutex::new(Vec::new()));
        (Sink::Memory(Arc::clone(&list)), list)
    }

    /// Writes one invocation's document (one line).
    pub fn emit(&self, invocation: &Invocation) {
        let document = invocation.to_emf();
        match self {
            Sink::Stdout => {
                use std::io::Write;
                // One write of the whole line, so that concurrent log lines cannot split it.
                let line = format!("{document}\n");
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
            Sink::Memory(list) => list
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(document),
        }
    }
}

/// Both systems' usage counters, when the integration can be built (credentials readable).
pub async fn usage(deployment: &Deployment) -> Option<(ApiUsage, ApiUsage)> {
    let integration = deployment.integration().await.ok()?;
    Some((
        integration.salesforce.api_usage(),
        integration.genesys.api_usage(),
    ))
}

/// What one poller invocation did.
#[derive(Debug, Clone, Default)]
pub struct PollTally {
    /// The handler returned an error.
    pub failed: bool,
    /// The counts of the run this invocation recorded (`None`: it recorded none: the lease
    /// was taken, the time ran out, or it failed).
    pub run: Option<SyncStats>,
    /// When the run before it finished (the last successful poll before this one).
    pub previous_run_finished_at: Option<DateTime<Utc>>,
}

impl Invocation {
    /// A poller invocation: runs (all, successful, failed), the poll's counts, seconds since
    /// the previous successful run.
    pub fn poll(integration: &str, tally: &PollTally, now: DateTime<Utc>) -> Invocation {
        let mut m = Invocation::new(Function::Poller, integration, now);
        let succeeded = !tally.failed && tally.run.is_some();
        m.count(RUNS, 1)
            .count(SUCCESSFUL_RUNS, u64::from(succeeded))
            .count(FAILED_RUNS, u64::from(tally.failed));
        if let Some(stats) = &tally.run {
            m.poll_stats(stats);
        }
        if let Some(previous) = tally.previous_run_finished_at {
            let seconds = (now - previous).num_seconds().max(0);
            m.put(LAG_SECONDS, Unit::Seconds, seconds as f64);
        }
        m
    }

    /// A reconciler delivery: messages (all, failed, malformed), pairs, what reconciling did,
    /// the age of its oldest message.
    pub fn reconcile(integration: &str, tally: &ReconcileTally, now: DateTime<Utc>) -> Invocation {
        let mut m = Invocation::new(Function::Reconciler, integration, now);
        m.count(MESSAGES, tally.messages)
            .count(FAILED_MESSAGES, tally.failed_messages)
            .count(MALFORMED_MESSAGES, tally.malformed_messages)
            .count(PAIRS, tally.pairs)
            .reconcile_stats(&tally.stats);
        if let Some(age) = tally.oldest_message_age_seconds {
            m.put(QUEUE_LAG_SECONDS, Unit::Seconds, age);
        }
        m
    }

    /// A notifier delivery: messages, undelivered ones (errors), digests sent.
    pub fn notify(integration: &str, tally: NotifyTally, now: DateTime<Utc>) -> Invocation {
        let mut m = Invocation::new(Function::Notifier, integration, now);
        m.count(MESSAGES, tally.messages)
            .count(FAILED_MESSAGES, tally.failed_messages)
            .count(DIGESTS, tally.digests)
            .count(ERRORS, tally.failed_messages);
        m
    }
}

/// Runs the poller's handler and emits its metrics (see [`Invocation::poll`]), with the API
/// calls it made, the Salesforce allocation and its duration. The run's counts are the
/// handler's own (`recorded`: the statistics of the run it recorded, `None` when it recorded
/// none: lease taken, out of time); the time since the previous run comes from the newest run
/// records, read once before the handler writes its own.
///
/// API calls are the difference of the clients' counters before and after; when the handler
/// rebuilt the clients (credentials refused, secrets read again) the count restarts and the
/// invocation's calls are undercounted.
pub async fn observe_poll<T, E>(
    deployment: &Deployment,
    handler: impl Future<Output = Result<T, E>>,
    recorded: impl Fn(&T) -> Option<&SyncStats>,
) -> Result<T, E> {
    let started = Instant::now();
    let before = usage(deployment).await;
    let integration = &deployment.mapping().integration;
    let previous_run_finished_at = deployment
        .store()
        .runs(integration, 5)
        .await
        .unwrap_or_default()
        .iter()
        .find_map(|r| r.finished_at);
    let result = handler.await;
    let tally = PollTally {
        failed: result.is_err(),
        run: result.as_ref().ok().and_then(&recorded).cloned(),
        previous_run_finished_at,
    };
    let mut m = Invocation::poll(integration, &tally, Utc::now());
    m.api_usage(before, usage(deployment).await)
        .duration(started);
    deployment.metrics().emit(&m);
    result
}

/// Figures of one reconciler delivery, gathered by its handler.
#[derive(Debug, Clone, Default)]
pub struct ReconcileTally {
    pub stats: SyncStats,
    /// Pair references in the well-formed messages.
    pub pairs: u64,
    pub messages: u64,
    pub failed_messages: u64,
    pub malformed_messages: u64,
    /// Age of the oldest message of the delivery when it was handled (its `SentTimestamp`).
    pub oldest_message_age_seconds: Option<f64>,
}

/// Emits the reconciler's metrics for one delivery; `before`: usage at the start.
pub async fn emit_reconcile(
    deployment: &Deployment,
    tally: &ReconcileTally,
    before: Option<(ApiUsage, ApiUsage)>,
    started: Instant,
) {
    let mut m = Invocation::reconcile(&deployment.mapping().integration, tally, Utc::now());
    m.api_usage(before, usage(deployment).await)
        .duration(started);
    deployment.metrics().emit(&m);
}

/// Figures of one notifier delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyTally {
    pub messages: u64,
    pub failed_messages: u64,
    pub digests: u64,
}

/// Emits the notifier's metrics for one delivery.
pub fn emit_notify(deployment: &Deployment, tally: NotifyTally, started: Instant) {
    let mut m = Invocation::notify(&deployment.mapping().integration, tally, Utc::now());
    m.duration(started);
    deployment.metrics().emit(&m);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use contact_sync_pipeline::system::DailyAllocation;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 10, 30, 0).unwrap()
    }

    #[test]
    fn a_document_has_the_emf_envelope_dimensions_and_one_root_member_per_metric() {
        // GIVEN an invocation with three metrics of different units
        let mut m = Invocation::new(Function::Poller, "acme", at());
        m.count(RUNS, 1)
            .put(LAG_SECONDS, Unit::Seconds, 1800.0)
            .put(SALESFORCE_API_USAGE_PERCENT, Unit::Percent, 12.5);
        // WHEN rendered
        let doc = m.to_emf();
        // THEN it is exactly the EMF shape: metadata under `_aws`, dimension values and metric
        // values as root members, whole numbers as integers
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    // 2026-11-24T10:30:00Z in epoch milliseconds (`date -d ... +%s`, × 1000)
                    "Timestamp": 1_795_516_200_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "ContactSync",
                        "Dimensions": [["Integration", "Function"]],
                        "Metrics": [
                            {"Name": "Runs", "Unit": "Count"},
                            {"Name": "SecondsSinceLastSuccessfulRun", "Unit": "Seconds"},
                            {"Name": "SalesforceApiUsagePercent", "Unit": "Percent"}
                        ]
                    }]
                },
                "Integration": "acme",
                "Function": "poller",
                "Runs": 1,
                "SecondsSinceLastSuccessfulRun": 1800,
                "SalesforceApiUsagePercent": 12.5
            })
        );
    }

    #[test]
    fn reconcile_stats_become_per_side_counts_with_records_written_summed() {
        // GIVEN a reconcile's statistics
        let stats = SyncStats {
            read: PerSide {
                salesforce: 10,
                genesys: 20,
            },
            created: PerSide {
                salesforce: 1,
                genesys: 2,
            },
            updated: PerSide {
                salesforce: 3,
                genesys: 4,
            },
            deleted: PerSide {
                salesforce: 0,
                genesys: 1,
            },
            refused: PerSide {
                salesforce: 0,
                genesys: 3,
            },
            conflicts: 5,
            review: 6,
            failed: 7,
            ..SyncStats::default()
        };
        // WHEN added to an invocation
        let mut m = Invocation::new(Function::Reconciler, "default", at());
        m.reconcile_stats(&stats);
        // THEN each side has its own metric and written = created + updated + deleted
        assert_eq!(m.get("SalesforceCreated"), Some(1.0));
        assert_eq!(m.get("GenesysUpdated"), Some(4.0));
        assert_eq!(m.get("SalesforceRecordsWritten"), Some(4.0));
        assert_eq!(m.get("GenesysRecordsWritten"), Some(7.0));
        assert_eq!(m.get("GenesysDeleted"), Some(1.0));
        assert_eq!(m.get("Conflicts"), Some(5.0));
        assert_eq!(m.get("ReviewItems"), Some(6.0));
        assert_eq!(m.get("Errors"), Some(7.0));
        // AND refused records are counted per side that refused them
        assert_eq!(m.get("GenesysRefused"), Some(3.0));
        assert_eq!(m.get("SalesforceRefused"), Some(0.0));
        // AND the poll's figures are not repeated by the reconciler (each is a paid metric)
        assert_eq!(m.get("SalesforceRecordsRead"), None);
        assert_eq!(m.get("PairsEnqueued"), None);
        // AND a poll's figures are the reads, changes and pairs enqueued
        let mut p = Invocation::new(Function::Poller, "default", at());
        p.poll_stats(&stats);
        assert_eq!(p.get("SalesforceRecordsRead"), Some(10.0));
        assert_eq!(p.get("GenesysRecordsRead"), Some(20.0));
        assert_eq!(p.get("Conflicts"), None);
        // AND every metric is declared once in the directive and present at the root
        let doc = m.to_emf();
        let declared: Vec<&str> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Name"].as_str().unwrap())
            .collect();
        let unique: std::collections::HashSet<&&str> = declared.iter().collect();
        assert_eq!(unique.len(), declared.len());
        assert!(declared.len() <= 100, "EMF allows 100 metrics a directive");
        for name in declared {
            assert!(doc[name].is_number(), "{name} has no value");
        }
    }

    #[test]
    fn api_calls_are_the_invocation_delta_and_the_allocation_is_reported() {
        // GIVEN usage counters before and after an invocation (a warm process: not zero)
        let before = (
            ApiUsage {
                requests: 100,
                daily: None,
            },
            ApiUsage {
                requests: 40,
                daily: None,
            },
        );
        let after = (
            ApiUsage {
                requests: 112,
                daily: Some(DailyAllocation {
                    used: 2_500,
                    max: 10_000,
                }),
            },
            ApiUsage {
                requests: 45,
                daily: None,
            },
        );
        // WHEN recorded
        let mut m = Invocation::new(Function::Reconciler, "default", at());
        m.api_usage(Some(before), Some(after));
        // THEN calls are the difference and the allocation is a percentage and a remainder
        assert_eq!(m.get("SalesforceApiCalls"), Some(12.0));
        assert_eq!(m.get("GenesysApiCalls"), Some(5.0));
        assert_eq!(m.get(SALESFORCE_API_USAGE_PERCENT), Some(25.0));
        assert_eq!(m.get(SALESFORCE_API_REMAINING), Some(7_500.0));
        // AND a rebuilt client (counters reset) never gives a negative count
        let mut reset = Invocation::new(Function::Reconciler, "default", at());
        reset.api_usage(Some(after), Some(before));
        assert_eq!(reset.get("SalesforceApiCalls"), Some(0.0));
    }

    #[test]
    fn a_poll_is_successful_only_when_it_recorded_a_run_without_failing() {
        // GIVEN a poll that recorded a run 30 minutes after the previous one finished, one that
        // found the lease taken (no run), and one that failed
        let previous = at() - chrono::Duration::minutes(30);
        let recorded = PollTally {
            failed: false,
            run: Some(SyncStats::default()),
            previous_run_finished_at: Some(previous),
        };
        let skipped = PollTally {
            run: None,
            ..recorded.clone()
        };
        let failed = PollTally {
            failed: true,
            run: None,
            previous_run_finished_at: None,
        };
        // WHEN turned into invocations
        let [r, s, f] = [recorded, skipped, failed].map(|t| Invocation::poll("default", &t, at()));
        // THEN only the first is successful, the failed one is counted as failed, and the lag
        // is the time since the previous run (absent without one)
        let runs = |m: &Invocation| (m.get(RUNS), m.get(SUCCESSFUL_RUNS), m.get(FAILED_RUNS));
        assert_eq!(runs(&r), (Some(1.0), Some(1.0), Some(0.0)));
        assert_eq!(runs(&s), (Some(1.0), Some(0.0), Some(0.0)));
        assert_eq!(runs(&f), (Some(1.0), Some(0.0), Some(1.0)));
        assert_eq!(r.get(LAG_SECONDS), Some(1800.0));
        assert_eq!(f.get(LAG_SECONDS), None);
        assert_eq!(s.get("SalesforceRecordsRead"), None, "no run, no counts");
    }

    #[test]
    fn setting_a_metric_twice_keeps_one_definition_with_the_last_value() {
        // GIVEN a metric set twice
        let mut m = Invocation::new(Function::Notifier, "default", at());
        m.count(ERRORS, 1).count(MESSAGES, 3).count(ERRORS, 2);
        // WHEN rendered THEN it is declared once, in its first place, with the last value
        let doc = m.to_emf();
        let metrics = &doc["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert_eq!(metrics.as_array().unwrap().len(), 2);
        assert_eq!(metrics[0]["Name"], "Errors");
        assert_eq!(doc["Errors"], 2);
    }

    #[test]
    fn the_memory_sink_keeps_one_document_per_emit() {
        // GIVEN a memory sink WHEN two invocations are emitted THEN both documents are kept
        let (sink, list) = Sink::memory();
        let mut m = Invocation::new(Function::Notifier, "default", at());
        m.count(DIGESTS, 1);
        sink.emit(&m);
        sink.emit(&m);
        let docs = list.lock().unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["Digests"], 1);
    }
}
