//! The group commit itself: many `recordUsage` calls in one write. Every test of a batch's
//! failure runs on each path a batch can take: PostgreSQL's one statement and the portable
//! transaction (SQLite has only the second).

use std::sync::{Arc, Mutex};

use futures::future::join_all;
use saaskit::services::usage::{
    self, BatchPath, BeforeCommit, Coalescer, QUEUED_EVENTS, Record, WriteOptions,
};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, TransactionTrait};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::helpers::{Account, TestApp, spawn_app};
use crate::usage::{limit_recordings, used};

pub(super) fn recording(key: Option<String>) -> Record {
    Record {
        metric: "recordings".into(),
        quantity: 1,
        idempotency_key: key,
    }
}

/// The paths a batch can take on `app`'s database.
pub(super) fn paths(app: &TestApp) -> Vec<BatchPath> {
    if app.state.db.get_database_backend() == DbBackend::Postgres {
        vec![BatchPath::Statement, BatchPath::Transaction]
    } else {
        vec![BatchPath::Transaction]
    }
}

/// Writes that take `path`, with `hook` before each batch's commit; the hook is told the path
/// each batch took, and the test asserts it is `path`.
pub(super) fn on(
    path: BatchPath,
    hook: BeforeCommit,
) -> (WriteOptions, Arc<Mutex<Vec<BatchPath>>>) {
    let taken = Arc::new(Mutex::new(Vec::new()));
    let seen = taken.clone();
    let before_commit: BeforeCommit = Arc::new(move |txn, path| {
        seen.lock().expect("not poisoned").push(path);
        hook(txn, path)
    });
    let options = WriteOptions {
        before_commit: Some(before_commit),
        transaction_only: path == BatchPath::Transaction,
    };
    (options, taken)
}

/// A hook that does nothing.
pub(super) fn nothing() -> BeforeCommit {
    Arc::new(|_txn, _path| Box::pin(async { Ok(()) }))
}

/// Every batch took `path`, and there was at least one.
pub(super) fn assert_took(taken: &Mutex<Vec<BatchPath>>, path: BatchPath) {
    let taken = taken.lock().expect("not poisoned");
    assert!(!taken.is_empty(), "no batch reached its commit");
    assert!(
        taken.iter().all(|p| *p == path),
        "{path:?} expected: {taken:?}"
    );
}

/// A business of its own for one path's run, its `recordings` counter already created (the
/// one statement only counts on counters that exist), at `used` 1.
async fn business(app: &TestApp, path: BatchPath, limit: Option<i64>) -> (Account, Uuid) {
    let account = app
        .signup(&format!("{path:?}-{}@example.com", Uuid::now_v7().simple()))
        .await;
    if let Some(limit) = limit {
        limit_recordings(app, &account, limit).await;
    }
    let business: Uuid = account.business_id.parse().expect("uuid");
    usage::reference::record(&app.state.db, business, recording(None), chrono::Utc::now())
        .await
        .expect("creates the counter");
    (account, business)
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
    Arc::new(|txn, _path| {
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
    for path in paths(&app) {
        let (account, business) = business(&app, path, None).await;
        // A pool of its own: the crash may take its connection.
        let db = saaskit::db::connect(app.settings.database_url.expose_secret(), Some(2))
            .await
            .expect("connects");
        let (options, taken) = on(path, crash());
        let crashing = Coalescer::start_with(db.clone(), 1, options);
        let now = chrono::Utc::now();
        let keys: Vec<String> = (0..5).map(|i| format!("crash-{i}")).collect();
        let answers = join_all(
            keys.iter()
                .map(|key| crashing.submit(business, recording(Some(key.clone())), now)),
        )
        .await;
        assert_took(&taken, path);
        for answer in &answers {
            let error = answer
                .as_ref()
                .expect_err("no success from a batch that did not commit");
            assert_eq!(error.code(), "INTERNAL_SERVER_ERROR", "{path:?}");
        }
        assert_eq!(used(&app, &account, "recordings").await, 1, "{path:?}");
        // The keys were not taken: the same calls count once sent again.
        let healthy = Coalescer::start(db, 1);
        let again = join_all(
            keys.iter()
                .map(|key| healthy.submit(business, recording(Some(key.clone())), now)),
        )
        .await;
        assert!(
            again.iter().all(|a| a.as_ref().is_ok_and(|r| !r.duplicate)),
            "{path:?}: {again:?}"
        );
        assert_eq!(used(&app, &account, "recordings").await, 6, "{path:?}");
    }
}

#[tokio::test]
async fn a_batch_that_panics_fails_its_callers_and_the_writer_goes_on() {
    let app = spawn_app().await;
    for path in paths(&app) {
        let (account, business) = business(&app, path, None).await;
        let panics_once = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let hook: BeforeCommit = Arc::new(move |_txn, _path| {
            let panics = panics_once.swap(false, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async move {
                assert!(!panics, "a bug in the middle of a batch");
                Ok(())
            })
        });
        let (options, taken) = on(path, hook);
        let coalescer = Coalescer::start_with(app.state.db.clone(), 1, options);
        let now = chrono::Utc::now();
        let first =
            join_all((0..3).map(|_| coalescer.submit(business, recording(None), now))).await;
        for answer in &first {
            let error = answer
                .as_ref()
                .expect_err("no success from a batch that panicked");
            assert_eq!(error.code(), "INTERNAL_SERVER_ERROR", "{path:?}");
        }
        assert_eq!(
            used(&app, &account, "recordings").await,
            1,
            "{path:?}: nothing committed"
        );
        // The same writer serves the next batch.
        let next = join_all((0..3).map(|_| coalescer.submit(business, recording(None), now))).await;
        assert!(next.iter().all(Result::is_ok), "{path:?}: {next:?}");
        assert_eq!(used(&app, &account, "recordings").await, 4, "{path:?}");
        assert_took(&taken, path);
    }
}

/// PostgreSQL writes a batch whose calls all count as one statement, with no commit a hook
/// could stand before: here its connection is killed while the statement waits for a counter
/// another transaction holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_statement_batch_whose_connection_dies_answers_no_one_with_success_and_counts_nothing()
 {
    let app = spawn_app().await;
    if app.state.db.get_database_backend() != DbBackend::Postgres {
        // Not vacuous: SQLite has no one statement to kill. Its only batch path, the
        // transaction, is crashed before its commit by the test above.
        eprintln!("skipped on SQLite: the one-statement batch is PostgreSQL's alone");
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
    for path in paths(&app) {
        let (account, business) = business(&app, path, Some(1_000_000)).await;
        // The one writer's first batch waits here until the queue has been filled.
        let gate = Arc::new(tokio::sync::Notify::new());
        let waits = gate.clone();
        let hook: BeforeCommit = Arc::new(move |_txn, _path| {
            let waits = waits.clone();
            Box::pin(async move {
                waits.notified().await;
                Ok(())
            })
        });
        let (options, taken) = on(path, hook);
        let coalescer = Coalescer::start_with(app.state.db.clone(), 1, options);
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
        assert_eq!(refused.code(), "RATE_LIMITED", "{path:?}");
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
            assert!(answers.iter().all(Result::is_ok), "{path:?}");
        }
        opener.abort();
        assert_eq!(
            used(&app, &account, "recordings").await,
            i64::try_from(QUEUED_EVENTS + 100 + 1).expect("fits"),
            "{path:?}"
        );
        assert_took(&taken, path);
        // With the queue drained there is room again.
        coalescer
            .submit(business, recording(None), now)
            .await
            .expect("counts once there is room");
    }
}
