//! The group commit itself: many `recordUsage` calls in one transaction.

use std::sync::Arc;

use futures::future::join_all;
use saaskit::services::usage::{BeforeCommit, Coalescer, QUEUED_EVENTS, Record};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, TransactionTrait};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::helpers::spawn_app;
use crate::usage::{limit_recordings, used};

fn recording(key: Option<String>) -> Record {
    Record {
        metric: "recordings".into(),
        quantity: 1,
        idempotency_key: key,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coalesced_calls_never_overshoot_and_count_each_key_once() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    limit_recordings(&app, &account, 100).await;
    let business: Uuid = account.business_id.parse().expect("uuid");
    let coalescer = Coalescer::start(app.state.db.clone(), 2);
    let now = chrono::Utc::now();
    // 150 calls, queued at once (so they share batches); 50 of them repeat 10 keys.
    let calls = (0..150).map(|i| {
        let key = (i % 3 == 0).then(|| format!("k{}", i % 10));
        coalescer.submit(business, recording(key), now)
    });
    let answers = join_all(calls).await;
    let accepted: Vec<_> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    let fresh = accepted.iter().filter(|r| !r.duplicate).count();
    assert_eq!(fresh, 100, "exactly the limit counted");
    let mut seen: Vec<i64> = accepted
        .iter()
        .filter(|r| !r.duplicate)
        .map(|r| r.used)
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=100).collect::<Vec<_>>(),
        "each count its own `used`"
    );
    for refused in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(refused.code(), "QUOTA_EXCEEDED", "{refused:?}");
    }
    assert_eq!(used(&app, &account, "recordings").await, 100);
}

/// Drops the batch's connection (PostgreSQL) or fails (SQLite) just before the commit.
fn crash() -> BeforeCommit {
    Arc::new(|txn| {
        Box::pin(async move {
            if txn.get_database_backend() == DbBackend::Postgres {
                txn.execute_unprepared("SELECT pg_terminate_backend(pg_backend_pid())")
                    .await?;
            }
            Err(DbErr::Custom("the connection dropped".into()))
        })
    })
}

#[tokio::test]
async fn a_batch_that_crashes_before_its_commit_answers_no_one_with_success_and_counts_nothing() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let business: Uuid = account.business_id.parse().expect("uuid");
    // A pool of its own: the crash may take its connection.
    let db = saaskit::db::connect(app.settings.database_url.expose_secret(), Some(2))
        .await
        .expect("connects");
    let crashing = Coalescer::start_with(db.clone(), 1, Some(crash()));
    let now = chrono::Utc::now();
    let keys: Vec<String> = (0..5).map(|i| format!("crash-{i}")).collect();
    let answers = join_all(
        keys.iter()
            .map(|key| crashing.submit(business, recording(Some(key.clone())), now)),
    )
    .await;
    for answer in &answers {
        let error = answer
            .as_ref()
            .expect_err("no success from a batch that did not commit");
        assert_eq!(error.code(), "INTERNAL_SERVER_ERROR");
    }
    assert_eq!(used(&app, &account, "recordings").await, 0);
    // The keys were not taken: the same calls count once sent again.
    let healthy = Coalescer::start(db, 1);
    let again = join_all(
        keys.iter()
            .map(|key| healthy.submit(business, recording(Some(key.clone())), now)),
    )
    .await;
    assert!(
        again.iter().all(|a| a.as_ref().is_ok_and(|r| !r.duplicate)),
        "{again:?}"
    );
    assert_eq!(used(&app, &account, "recordings").await, 5);
}

#[tokio::test]
async fn a_batch_that_panics_fails_its_callers_and_the_writer_goes_on() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let business: Uuid = account.business_id.parse().expect("uuid");
    let panics_once = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let hook: BeforeCommit = Arc::new(move |_txn| {
        let panics = panics_once.swap(false, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            assert!(!panics, "a bug in the middle of a batch");
            Ok(())
        })
    });
    let coalescer = Coalescer::start_with(app.state.db.clone(), 1, Some(hook));
    let now = chrono::Utc::now();
    let first = join_all((0..3).map(|_| coalescer.submit(business, recording(None), now))).await;
    for answer in &first {
        let error = answer
            .as_ref()
            .expect_err("no success from a batch that panicked");
        assert_eq!(error.code(), "INTERNAL_SERVER_ERROR");
    }
    assert_eq!(
        used(&app, &account, "recordings").await,
        0,
        "nothing committed"
    );
    // The same writer serves the next batch.
    let next = join_all((0..3).map(|_| coalescer.submit(business, recording(None), now))).await;
    assert!(next.iter().all(Result::is_ok), "{next:?}");
    assert_eq!(used(&app, &account, "recordings").await, 3);
}

/// PostgreSQL writes a batch whose calls all count as one statement, with no commit a hook
/// could stand before: here its connection is killed while the statement waits for a counter
/// another transaction holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_statement_batch_whose_connection_dies_answers_no_one_with_success_and_counts_nothing()
 {
    let app = spawn_app().await;
    if app.state.db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let account = app.signup("ada@example.com").await;
    let business: Uuid = account.business_id.parse().expect("uuid");
    let db = saaskit::db::connect(app.settings.database_url.expose_secret(), Some(2))
        .await
        .expect("connects");
    let coalescer = Coalescer::start(db.clone(), 1);
    let now = chrono::Utc::now();
    // The counter exists: the batch below takes the one statement.
    coalescer
        .submit(business, recording(None), now)
        .await
        .expect("counts");
    let holder = app.state.db.begin().await.expect("begins");
    holder
        .execute_unprepared(&format!(
            "SELECT 1 FROM usage_counters WHERE subscription_id = \
             (SELECT id FROM subscriptions WHERE business_id = '{business}') FOR UPDATE"
        ))
        .await
        .expect("locks the counter");
    let inputs = (0..5)
        .map(|i| recording(Some(format!("dies-{i}"))))
        .collect();
    let batch = tokio::spawn(coalescer.submit_batch(business, inputs, now));
    let waiting = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                   AND query LIKE '%json_to_recordset%'";
    let pid: i32 = loop {
        let row = app
            .state
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Postgres,
                waiting,
            ))
            .await
            .expect("reads the activity");
        if let Some(row) = row {
            break row.try_get("", "pid").expect("a pid");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    app.state
        .db
        .execute_unprepared(&format!("SELECT pg_terminate_backend({pid})"))
        .await
        .expect("kills the batch's connection");
    holder.rollback().await.expect("lets go");
    let answered = batch.await.expect("answers");
    let error = answered.expect_err("no success from a statement that did not commit");
    assert_eq!(error.code(), "INTERNAL_SERVER_ERROR");
    assert_eq!(used(&app, &account, "recordings").await, 1);
    // The keys were not taken: the same calls count once sent again.
    let inputs = (0..5)
        .map(|i| recording(Some(format!("dies-{i}"))))
        .collect();
    let again = coalescer
        .submit_batch(business, inputs, now)
        .await
        .expect("counts");
    assert!(
        again.iter().all(|a| a.as_ref().is_ok_and(|r| !r.duplicate)),
        "{again:?}"
    );
    assert_eq!(used(&app, &account, "recordings").await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once_and_what_it_holds_still_counts() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    limit_recordings(&app, &account, 1_000_000).await;
    let business: Uuid = account.business_id.parse().expect("uuid");
    // The one writer's first batch waits here until the queue has been filled.
    let gate = Arc::new(tokio::sync::Notify::new());
    let waits = gate.clone();
    let hook: BeforeCommit = Arc::new(move |_txn| {
        let waits = waits.clone();
        Box::pin(async move {
            waits.notified().await;
            Ok(())
        })
    });
    let coalescer = Coalescer::start_with(app.state.db.clone(), 1, Some(hook));
    let now = chrono::Utc::now();
    let hundred = || (0..100).map(|_| recording(None)).collect::<Vec<_>>();
    let first = tokio::spawn(coalescer.submit_batch(business, hundred(), now));
    // The writer has taken the first call off the queue once the queue is empty again.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let queued: Vec<_> = (0..QUEUED_EVENTS / 100)
        .map(|_| tokio::spawn(coalescer.submit_batch(business, hundred(), now)))
        .collect();
    let refused = coalescer
        .submit(business, recording(None), now)
        .await
        .expect_err("no place left");
    assert_eq!(refused.code(), "RATE_LIMITED");
    gate.notify_one();
    first.await.expect("answers").expect("counts");
    // Every later batch passes the hook too.
    let opener = tokio::spawn({
        let gate = gate.clone();
        async move {
            loop {
                gate.notify_one();
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
    });
    for answer in queued {
        let answers = answer.await.expect("answers").expect("counts");
        assert!(answers.iter().all(Result::is_ok));
    }
    opener.abort();
    assert_eq!(
        used(&app, &account, "recordings").await,
        i64::try_from(QUEUED_EVENTS + 100).expect("fits")
    );
    // With the queue drained there is room again.
    coalescer
        .submit(business, recording(None), now)
        .await
        .expect("counts once there is room");
}
