//! The group commit itself: many `recordUsage` calls in one transaction.

use std::sync::Arc;

use futures::future::join_all;
use saaskit::services::usage::{BeforeCommit, Coalescer, Record};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
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
        coalescer.record(business, recording(key), now)
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
            .map(|key| crashing.record(business, recording(Some(key.clone())), now)),
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
            .map(|key| healthy.record(business, recording(Some(key.clone())), now)),
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
    let first = join_all((0..3).map(|_| coalescer.record(business, recording(None), now))).await;
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
    let next = join_all((0..3).map(|_| coalescer.record(business, recording(None), now))).await;
    assert!(next.iter().all(Result::is_ok), "{next:?}");
    assert_eq!(used(&app, &account, "recordings").await, 3);
}
