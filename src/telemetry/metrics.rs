//! The process's Prometheus metrics: one recorder per process, the names saaskit records, and
//! the text `/metrics` serves.
//!
//! Every name is a constant here and every recording goes through a function here, so the
//! "Metrics" table in `docs/operations.md` and the code cannot drift apart unnoticed. Labels are bounded:
//! operation names through [`super::operation::label`], outcome codes through
//! [`code_label`], everything else from fixed sets.

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::pools::Pools;

pub const HTTP_REQUESTS: &str = "saaskit_http_requests_total";
pub const HTTP_DURATION: &str = "saaskit_http_request_duration_seconds";
pub const USAGE_ACCEPTED: &str = "saaskit_usage_accepted_total";
pub const USAGE_REFUSED: &str = "saaskit_usage_refused_total";
pub const USAGE_BATCH_EVENTS: &str = "saaskit_usage_batch_events";
pub const JOBS_RUN: &str = "saaskit_jobs_run_total";
pub const JOBS_FAILED: &str = "saaskit_jobs_failed_total";
pub const JOBS_RETRIED: &str = "saaskit_jobs_retried_total";
pub const CYCLE_TRANSITIONS: &str = "saaskit_cycle_transitions_total";
pub const CYCLE_PRUNED: &str = "saaskit_cycle_pruned_total";
pub const OUTBOX_REHANDED: &str = "saaskit_outbox_rehanded_total";
pub const DB_STATEMENTS: &str = "saaskit_db_statements_total";
pub const DB_POOL_CONNECTIONS: &str = "saaskit_db_pool_connections";
pub const DB_POOL_MAX: &str = "saaskit_db_pool_max_connections";

/// Upper bounds of the latency histogram's buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds of the usage batch histogram's buckets, in events.
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1000.0,
];

/// How often histograms are drained even when nobody scrapes (their samples wait in memory
/// until then).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder on first use and returns the handle that renders it. Every
/// application in the process (tests start several) shares it, as they share the process.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), LATENCY_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(USAGE_BATCH_EVENTS.to_owned()),
                    BATCH_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics stays empty");
        }
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "no metrics upkeep thread; scrapes drain histograms");
        }
        handle
    })
}

/// The Prometheus text of every metric, with the pools sampled now.
pub fn render(pools: &Pools) -> String {
    let handle = handle();
    pools.sample();
    handle.run_upkeep();
    handle.render()
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "GraphQL operations served, by operation name and outcome code"
    );
    describe_histogram!(
        HTTP_DURATION,
        ::metrics::Unit::Seconds,
        "Time to serve a GraphQL operation, by operation name and outcome code"
    );
    describe_counter!(
        USAGE_ACCEPTED,
        "recordUsage calls and recordUsages events that counted (or repeated a key)"
    );
    describe_counter!(
        USAGE_REFUSED,
        "recordUsage calls and recordUsages events refused, by error code"
    );
    describe_histogram!(
        USAGE_BATCH_EVENTS,
        "Events per usage write, by how it was written (alone, statement, transaction)"
    );
    describe_counter!(JOBS_RUN, "Background jobs run, by kind");
    describe_counter!(JOBS_FAILED, "Background jobs that failed, by kind");
    describe_counter!(JOBS_RETRIED, "Failed jobs scheduled to run again, by kind");
    describe_counter!(
        CYCLE_TRANSITIONS,
        "Subscriptions settled by the cycle, by transition"
    );
    describe_counter!(CYCLE_PRUNED, "Rows pruned by the cycle, by table");
    describe_counter!(
        OUTBOX_REHANDED,
        "Mail the outbox sweep handed over again, by how"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database connections by pool and state (in_use, idle)"
    );
    describe_gauge!(DB_POOL_MAX, "Largest size of each database pool");
    describe_counter!(
        DB_STATEMENTS,
        "Statements run through the database pools (without BEGIN and COMMIT, and without the job queue's own)"
    );
}

/// One GraphQL operation served: `operation` from [`super::operation::label`], `code` its
/// outcome (`OK` or the first error's code).
pub fn operation_served(operation: String, code: &str, elapsed: Duration) {
    let code = code_label(code);
    counter!(HTTP_REQUESTS, "operation" => operation.clone(), "code" => code.clone()).increment(1);
    histogram!(HTTP_DURATION, "operation" => operation, "code" => code)
        .record(elapsed.as_secs_f64());
}

/// One statement run on a database pool (see `db::counted`).
pub fn statement_run() {
    counter!(DB_STATEMENTS).increment(1);
}

/// A `recordUsage` call that counted (`duplicate`: it repeated an earlier key).
pub fn usage_accepted(duplicate: bool) {
    let duplicate = if duplicate { "true" } else { "false" };
    counter!(USAGE_ACCEPTED, "duplicate" => duplicate).increment(1);
}

/// A `recordUsage` call refused with `code`.
pub fn usage_refused(code: &str) {
    counter!(USAGE_REFUSED, "reason" => code_label(code)).increment(1);
}

/// One usage write of `events` events: `alone` (one call, its own statement), `statement`
/// (a batch as PostgreSQL's one statement) or `transaction` (a batch judged one by one).
pub fn usage_batch(written: &'static str, events: usize) {
    histogram!(USAGE_BATCH_EVENTS, "written" => written).record(events as f64);
}

/// The kinds of background work counted by [`job_run`] and friends.
#[derive(Debug, Clone, Copy)]
pub enum JobKind {
    SendMail,
    Cycle,
    OutboxSweep,
}

impl JobKind {
    fn label(self) -> &'static str {
        match self {
            JobKind::SendMail => "send_mail",
            JobKind::Cycle => "cycle",
            JobKind::OutboxSweep => "outbox_sweep",
        }
    }
}

pub fn job_run(kind: JobKind) {
    counter!(JOBS_RUN, "kind" => kind.label()).increment(1);
}

pub fn job_failed(kind: JobKind) {
    counter!(JOBS_FAILED, "kind" => kind.label()).increment(1);
}

pub fn job_retried(kind: JobKind) {
    counter!(JOBS_RETRIED, "kind" => kind.label()).increment(1);
}

/// What one cycle pass settled and pruned.
pub fn cycle_pass(summary: &crate::services::billing::cycle::Summary) {
    for (transition, n) in [
        ("renewed", summary.renewed),
        ("expired", summary.expired),
        ("past_due", summary.past_due),
        ("still_past_due", summary.still_past_due),
        ("plan_change", summary.plan_changes),
        ("skipped", summary.skipped),
        ("failed", summary.failed),
        ("recovered", summary.recovered),
    ] {
        counter!(CYCLE_TRANSITIONS, "transition" => transition).increment(n);
    }
    for (table, n) in [
        ("usage_events", summary.pruned.usage_events),
        ("sessions", summary.pruned.sessions),
        ("password_resets", summary.pruned.password_resets),
    ] {
        counter!(CYCLE_PRUNED, "table" => table).increment(n);
    }
}

/// How the outbox sweep handed a mail over again.
#[derive(Debug, Clone, Copy)]
pub enum Rehanded {
    /// Committed but never queued: queued now.
    Queued,
    /// Queued long ago and still unsent: queued again, as a new job.
    Requeued,
}

pub fn outbox_rehanded(how: Rehanded) {
    let how = match how {
        Rehanded::Queued => "queued",
        Rehanded::Requeued => "requeued",
    };
    counter!(OUTBOX_REHANDED, "how" => how).increment(1);
}

/// An outcome code as a label: saaskit's codes are short upper-case words; anything else
/// (which no code path produces) is `OTHER`, so no caller can mint label values.
pub fn code_label(code: &str) -> String {
    let sane = !code.is_empty()
        && code.len() <= 40
        && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    if sane {
        code.to_owned()
    } else {
        "OTHER".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::code_label;

    #[test]
    fn codes_are_bounded_labels() {
        assert_eq!(code_label("RATE_LIMITED"), "RATE_LIMITED");
        assert_eq!(code_label("rate limited"), "OTHER");
        assert_eq!(code_label(""), "OTHER");
        assert_eq!(code_label(&"A".repeat(41)), "OTHER");
    }
}
