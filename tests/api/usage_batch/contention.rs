//! Batches meeting other writers: a real deadlock that PostgreSQL breaks in the middle of the
//! one statement, and two nodes' writers on one business at its limit.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use saaskit::services::usage::{self, BatchPath, Coalescer, Record, WriteOptions};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use secrecy::ExposeSecret;
use uuid::Uuid;

use super::coalescer::{assert_took, nothing, on, recording};
use crate::helpers::{TestApp, spawn_app};
use crate::usage::{limit_recordings, used};

fn application() -> Record {
    Record {
        metric: "applications".into(),
        quantity: 1,
        idempotency_key: None,
    }
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    let row = app
        .state
        .db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .expect("reads")
        .expect("a row");
    row.try_get_by_index(0).expect("a number")
}

/// The batch statement locks a business's counters in `(subscription_id, metric)` order:
/// `applications`, then `recordings`. The test's transaction takes them the other way round,
/// so that each waits for the other; PostgreSQL aborts the statement (40P01), and the batch
/// is written as the portable transaction, which answers every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_statement_broken_by_a_deadlock_is_written_as_the_transaction() {
    let app = spawn_app().await;
    if app.state.db.get_database_backend() != DbBackend::Postgres {
        eprintln!("skipped on SQLite: one writer at a time, no deadlock to break");
        return;
    }
    let account = app.signup("ada@example.com").await;
    limit_recordings(&app, &account, 1_000).await;
    let business: Uuid = account.business_id.parse().expect("uuid");
    let now = chrono::Utc::now();
    for record in [recording(None), application()] {
        usage::reference::record(&app.state.db, business, record, now)
            .await
            .expect("creates the counter");
    }
    let deadlocks = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()";
    let before = scalar(&app, deadlocks).await;
    let counter = |metric: &str| {
        format!(
            "SELECT 1 FROM usage_counters WHERE metric = '{metric}' AND subscription_id = \
             (SELECT id FROM subscriptions WHERE business_id = '{business}') FOR UPDATE"
        )
    };
    let holder = app.state.db.begin().await.expect("begins");
    // The statement's side detects the cycle first (after the default second): it is the
    // one aborted.
    holder
        .execute_unprepared("SET LOCAL deadlock_timeout = '20s'")
        .await
        .expect("sets");
    holder
        .execute_unprepared(&counter("recordings"))
        .await
        .expect("locks the later counter");
    let (options, taken) = on(BatchPath::Statement, nothing());
    let coalescer = Coalescer::start_with(app.state.db.clone(), 1, options);
    let batch = tokio::spawn(coalescer.submit_batch(
        business,
        vec![recording(None), application(), recording(None)],
        now,
    ));
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                   AND query LIKE '%json_to_recordset%'";
    while scalar(&app, waiting).await == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Waits for the statement, which holds `applications` and waits for `recordings`.
    holder
        .execute_unprepared(&counter("applications"))
        .await
        .expect("the test's transaction survives the deadlock");
    holder.rollback().await.expect("lets go");
    let answers = batch.await.expect("answers").expect("written");
    let used_after: Vec<i64> = answers
        .iter()
        .map(|answer| answer.as_ref().expect("counted").used)
        .collect();
    assert_eq!(used_after, [2, 2, 3], "each call's own answer, in order");
    assert_took(&taken, BatchPath::Transaction);
    assert_eq!(used(&app, &account, "recordings").await, 3);
    assert_eq!(used(&app, &account, "applications").await, 2);
    let mut after = before;
    for _ in 0..50 {
        app.state
            .db
            .execute_unprepared("SELECT pg_stat_clear_snapshot()")
            .await
            .expect("fresh statistics");
        after = scalar(&app, deadlocks).await;
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after > before, "PostgreSQL saw a deadlock");
}

/// Three writers on one database — two nodes' own coalescers (one statement first) and a third
/// that writes only the portable transaction — record for one business at its limit: exactly
/// the limit counts, each count has its own `used`, each key counts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_writers_on_one_business_at_its_limit_count_exactly_the_limit() {
    let app = spawn_app().await;
    let other = app.second_node().await;
    let account = app.signup("ada@example.com").await;
    limit_recordings(&app, &account, 100).await;
    let business: Uuid = account.business_id.parse().expect("uuid");
    let db = saaskit::db::connect(app.settings.database_url.expose_secret(), Some(2))
        .await
        .expect("connects");
    let portable = Coalescer::start_with(
        db,
        1,
        WriteOptions {
            transaction_only: true,
            ..WriteOptions::default()
        },
    );
    let writers = [app.state.usage.clone(), other.state.usage.clone(), portable];
    let tasks = writers.into_iter().enumerate().map(|(n, writer)| {
        tokio::spawn(async move {
            let now = chrono::Utc::now();
            let calls = (0..100).map(|i| {
                // A third of the calls carry one of 20 keys that every writer uses.
                let key = ((i + n) % 3 == 0).then(|| format!("k{}", i % 20));
                writer.submit(business, recording(key.clone()), now)
            });
            let answers = join_all(calls).await;
            (0..100)
                .map(|i| ((i + n) % 3 == 0).then(|| format!("k{}", i % 20)))
                .zip(answers)
                .collect::<Vec<_>>()
        })
    });
    let mut fresh = Vec::new();
    let mut by_key: HashMap<String, Vec<i64>> = HashMap::new();
    for task in join_all(tasks).await {
        for (key, answer) in task.expect("answers") {
            match answer {
                Ok(recorded) => {
                    if !recorded.duplicate {
                        fresh.push(recorded.used);
                    }
                    if let Some(key) = key {
                        by_key.entry(key).or_default().push(recorded.used);
                    }
                }
                Err(error) => assert_eq!(error.code(), "QUOTA_EXCEEDED", "{error:?}"),
            }
        }
    }
    fresh.sort_unstable();
    assert_eq!(fresh, (1..=100).collect::<Vec<_>>(), "exactly the limit");
    for (key, seen) in by_key {
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{key}: {seen:?}");
    }
    assert_eq!(used(&app, &account, "recordings").await, 100);
}
