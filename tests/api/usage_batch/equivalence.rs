//! The batches answer as one-by-one calls would: a property test of random call sequences —
//! quantities, repeated keys, limits near the edge or far from it, two businesses sharing
//! batches, batch boundaries left to chance — through the coalescer and through
//! `recordUsages` (so through PostgreSQL's one-statement batch and through the batch judged
//! one by one), against [`usage::reference::record`] called one by one in the same order.

use futures::future::join_all;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use saaskit::error::AppError;
use saaskit::services::usage::{self, Coalescer, Record, Recorded};
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::usage::{limit_recordings, used};

#[derive(Debug, Clone)]
struct Call {
    business: usize,
    metric: &'static str,
    quantity: i64,
    key: Option<u8>,
    /// Wait for every answer before this call is queued: a batch ends here.
    flush: bool,
}

impl Call {
    fn record(&self) -> Record {
        Record {
            metric: self.metric.into(),
            quantity: self.quantity,
            idempotency_key: self.key.map(|k| format!("key-{k}")),
        }
    }
}

fn call() -> impl Strategy<Value = Call> {
    (
        0..2usize,
        prop_oneof![3 => Just("recordings"), 1 => Just("applications")],
        prop_oneof![8 => 1..=4i64, 1 => -2..=-1i64],
        proptest::option::of(0..6u8),
        proptest::bool::weighted(0.15),
    )
        .prop_map(|(business, metric, quantity, key, flush)| Call {
            business,
            metric,
            quantity,
            key,
            flush,
        })
}

/// What a caller can tell of an answer.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Counted(Recorded),
    Refused {
        code: &'static str,
        quota_used: Option<i64>,
    },
}

fn answer(result: Result<Recorded, AppError>) -> Answer {
    match result {
        Ok(recorded) => Answer::Counted(recorded),
        Err(error) => Answer::Refused {
            code: error.code(),
            quota_used: match error {
                AppError::QuotaExceeded { used, .. } => Some(used),
                _ => None,
            },
        },
    }
}

/// Two businesses whose `recordings` stop at `limit`.
async fn businesses(app: &TestApp, limit: i64) -> Vec<(Uuid, crate::helpers::Account)> {
    let mut found = Vec::new();
    for _ in 0..2 {
        let account = app
            .signup(&format!("{}@example.com", Uuid::now_v7().simple()))
            .await;
        limit_recordings(app, &account, limit).await;
        found.push((account.business_id.parse().expect("uuid"), account));
    }
    found
}

/// Counters and taken keys of a business, as the database holds them.
async fn standing(app: &TestApp, (id, account): &(Uuid, crate::helpers::Account)) -> String {
    let rows = app
        .state
        .db
        .query_all_raw(Statement::from_sql_and_values(
            app.state.db.get_database_backend(),
            "SELECT idempotency_key, used_after FROM usage_events WHERE business_id = $1 \
             ORDER BY idempotency_key",
            [(*id).into()],
        ))
        .await
        .expect("events");
    let keys: Vec<(String, i64)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get("", "idempotency_key").expect("key"),
                row.try_get("", "used_after").expect("used"),
            )
        })
        .collect();
    format!(
        "recordings {} applications {} keys {keys:?}",
        used(app, account, "recordings").await,
        used(app, account, "applications").await
    )
}

async fn one_by_one(app: &TestApp, calls: &[Call], limit: i64) -> (Vec<Answer>, Vec<String>) {
    let at = businesses(app, limit).await;
    let mut answers = Vec::new();
    for call in calls {
        let recorded = usage::reference::record(
            &app.state.db,
            at[call.business].0,
            call.record(),
            chrono::Utc::now(),
        )
        .await;
        answers.push(answer(recorded));
    }
    (
        answers,
        vec![standing(app, &at[0]).await, standing(app, &at[1]).await],
    )
}

async fn coalesced(app: &TestApp, calls: &[Call], limit: i64) -> (Vec<Answer>, Vec<String>) {
    let at = businesses(app, limit).await;
    // One writer: both businesses share its batches.
    let coalescer = Coalescer::start(app.state.db.clone(), 1);
    let mut answers = Vec::new();
    let mut pending = Vec::new();
    for call in calls {
        if call.flush {
            answers.extend(join_all(pending.drain(..)).await);
        }
        pending.push(coalescer.submit(at[call.business].0, call.record(), chrono::Utc::now()));
    }
    answers.extend(join_all(pending).await);
    let answers = answers.into_iter().map(answer).collect();
    (
        answers,
        vec![standing(app, &at[0]).await, standing(app, &at[1]).await],
    )
}

/// Each run of calls of one business between flushes as one `recordUsages` call.
async fn batched(app: &TestApp, calls: &[Call], limit: i64) -> (Vec<Answer>, Vec<String>) {
    let at = businesses(app, limit).await;
    let mut answers = Vec::new();
    let mut start = 0;
    while start < calls.len() {
        let business = calls[start].business;
        let run = calls[start..]
            .iter()
            .enumerate()
            .take_while(|(i, c)| *i == 0 || (c.business == business && !c.flush))
            .count();
        let inputs = calls[start..start + run].iter().map(Call::record).collect();
        let written = usage::reference::record_batch(
            &app.state.db,
            at[business].0,
            inputs,
            chrono::Utc::now(),
        )
        .await
        .expect("the batch commits");
        answers.extend(written.into_iter().map(answer));
        start += run;
    }
    (
        answers,
        vec![standing(app, &at[0]).await, standing(app, &at[1]).await],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_answer_as_the_calls_one_by_one_in_order() {
    let app = crate::helpers::spawn_app().await;
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 12,
        max_shrink_iters: 20,
        ..Config::default()
    });
    // Tight limits refuse often (batches judged one by one); loose ones let most batches count
    // whole (PostgreSQL's one statement), with the edge somewhere in the sequence.
    let limits = prop_oneof![3..12i64, 30..90i64];
    let strategy = (limits, proptest::collection::vec(call(), 1..40));
    let result = runner.run(&strategy, |(limit, calls)| {
        tokio::task::block_in_place(|| {
            handle.block_on(async {
                let reference = one_by_one(&app, &calls, limit).await;
                let through_coalescer = coalesced(&app, &calls, limit).await;
                prop_assert_eq!(&through_coalescer, &reference, "through the coalescer");
                let through_batches = batched(&app, &calls, limit).await;
                prop_assert_eq!(&through_batches, &reference, "through recordUsages");
                Ok::<(), TestCaseError>(())
            })
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    if app.state.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let metrics = saaskit::telemetry::metrics::handle().render();
        assert!(
            metrics.contains("saaskit_usage_batch_events_count{written=\"statement\"}"),
            "the one-statement batch was exercised"
        );
    }
}
