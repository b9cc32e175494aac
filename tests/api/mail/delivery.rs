//! What the outbox and the worker guarantee: a mail committed is sent even when the process
//! died before enqueuing it, it is sent once, and `--no-worker` nodes leave it to workers.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

use saaskit::services::outbox::{self, NewMail, Template};
use serde_json::json;

use super::{mails_in, outbox as outbox_rows, wait_for_mails};
use crate::helpers::{TestApp, data, spawn_app, spawn_app_with, spawn_app_without_worker};

fn reset_mail(to: &str) -> NewMail {
    NewMail {
        template: Template::PasswordReset,
        to: to.to_owned(),
        data: json!({ "name": "Eve", "link": "http://x/reset-password?token=00",
                      "expires_at": "later" }),
    }
}

#[tokio::test]
async fn a_mail_committed_but_never_enqueued_is_sent_by_the_sweep_once() {
    let app = spawn_app().await;
    // As if the process died between commit and `mail_recorded`.
    outbox::record(
        &app.state.db,
        reset_mail("eve@example.com"),
        app.state.clock.now(),
    )
    .await
    .expect("recorded");

    wait_for_mails(&app.mail_dir, Some("eve@example.com"), 1).await;
    // Several sweeps later, still one.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(mails_in(&app.mail_dir, None).len(), 1);
    let rows = outbox_rows(&app).await;
    assert!(rows[0].sent_at.is_some() && rows[0].enqueued_at.is_some());
    assert_eq!(rows[0].attempts, 1);
}

#[tokio::test]
async fn a_mail_handed_over_twice_is_sent_once() {
    let app = spawn_app().await;
    let id = outbox::record(
        &app.state.db,
        reset_mail("fay@example.com"),
        app.state.clock.now(),
    )
    .await
    .expect("recorded");
    // Two hand-overs of one row (a retry racing the sweep, a duplicate delivery by apalis).
    app.state.jobs.mail_recorded(id).await;
    app.state.jobs.mail_recorded(id).await;

    // Both jobs ran to the end — the second found the row sent (or claimed) and did nothing.
    wait_for_finished_jobs(&app, id, 2).await;
    assert_eq!(mails_in(&app.mail_dir, None).len(), 1);
    let rows = outbox_rows(&app).await;
    assert!(rows[0].sent_at.is_some());
    assert_eq!(rows[0].attempts, 1, "one claim, one send");
}

/// Waits until apalis has finished (`Done`) at least `count` jobs for outbox row `id` and no job
/// for it is left in the queue.
async fn wait_for_finished_jobs(app: &TestApp, id: Uuid, count: i64) {
    let started = Instant::now();
    loop {
        let (queued, done) = jobs_for(app, id).await;
        // The sweep may hand the row over once more before the hand-overs mark it: every job
        // queued for it must finish, at least `count` of them.
        if done >= count && queued == done {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{done} of {queued} jobs for the mail finished, expected {count}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many jobs apalis holds for outbox row `id`, and how many of them are `Done` (apalis
/// keeps finished jobs until vacuumed, which saaskit never asks for).
async fn jobs_for(app: &TestApp, id: Uuid) -> (i64, i64) {
    let db = &app.state.db;
    let (sql, pattern) = match db.get_database_backend() {
        DbBackend::Postgres => (
            "SELECT COUNT(*) AS queued, COUNT(*) FILTER (WHERE status = 'Done') AS done \
             FROM apalis.jobs WHERE convert_from(job, 'UTF8') LIKE $1",
            format!("%{id}%"),
        ),
        _ => (
            "SELECT COUNT(*) AS queued, COALESCE(SUM(status = 'Done'), 0) AS done \
             FROM Jobs WHERE CAST(job AS TEXT) LIKE ?",
            format!("%{id}%"),
        ),
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [pattern.into()],
        ))
        .await
        .expect("the job queue is readable")
        .expect("one row");
    (
        row.try_get("", "queued").expect("a count"),
        row.try_get("", "done").expect("a count"),
    )
}

#[tokio::test]
async fn serve_without_worker_leaves_mail_to_a_separate_worker() {
    let app = spawn_app_without_worker(|figment| figment).await;
    app.signup("gus@example.com").await;
    let response = app
        .graphql(
            "mutation { requestPasswordReset(email: \"gus@example.com\") }",
            json!({}),
            None,
        )
        .await;
    data(&response);

    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        mails_in(&app.mail_dir, None).is_empty(),
        "this node sends nothing"
    );
    let rows = outbox_rows(&app).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].sent_at.is_none());
    assert!(
        rows[0].enqueued_at.is_some(),
        "but it did hand the mail to the queue"
    );

    app.start_worker().await;
    wait_for_mails(&app.mail_dir, Some("gus@example.com"), 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mails_in(&app.mail_dir, None).len(), 1);
}

/// The apalis table on `app`'s database, renamed to `to` (to make the queue refuse pushes).
async fn rename_queue(app: &TestApp, from: &str, to: &str) {
    let sql = match app.state.db.get_database_backend() {
        DbBackend::Postgres => format!("ALTER TABLE apalis.{from} RENAME TO {to}"),
        _ => format!("ALTER TABLE {from} RENAME TO {to}"),
    };
    app.state
        .db
        .execute_unprepared(&sql)
        .await
        .expect("the queue's table is renamed");
}

fn queue_table(app: &TestApp) -> &'static str {
    match app.state.db.get_database_backend() {
        DbBackend::Postgres => "jobs",
        _ => "Jobs",
    }
}

#[tokio::test]
async fn a_mail_the_queue_refused_is_not_left_stamped_and_goes_out_once_the_queue_is_back() {
    // Mail goes stale after an hour here: were the failed hand-over stamped, this test would
    // wait that long.
    let app = spawn_app_with(|figment| figment.merge(("outbox_stale_after", "1h"))).await;
    let table = queue_table(&app);
    rename_queue(&app, table, "jobs_gone").await;
    let id = outbox::record(
        &app.state.db,
        reset_mail("hal@example.com"),
        app.state.clock.now(),
    )
    .await
    .expect("recorded");
    // Several sweeps (every 300 ms) try and fail. Between them the row is due again (a sweep
    // may be caught holding it for the moment of its failed push, so look a few times).
    tokio::time::sleep(Duration::from_millis(900)).await;
    let mut given_back = false;
    for _ in 0..20 {
        let row = outbox_rows(&app)
            .await
            .into_iter()
            .find(|row| row.id == id)
            .expect("the row");
        if row.enqueued_at.is_none() {
            given_back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(70)).await;
    }
    assert!(given_back, "a failed hand-over leaves the row stamped");

    rename_queue(&app, "jobs_gone", table).await;
    // Sent within the test's patience, not after the hour a stamped row would wait.
    wait_for_mails(&app.mail_dir, Some("hal@example.com"), 1).await;
}

#[tokio::test]
async fn stale_mail_is_handed_to_the_queue_as_a_new_job_not_sent_by_the_sweep() {
    use entity::mail_outbox;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = spawn_app().await;
    // Committed as if it had been handed over an hour ago and its job had died without a
    // trace (one transaction, so no sweep sees it unstamped).
    let txn = saaskit::db::begin_write(&app.state.db)
        .await
        .expect("a transaction");
    let id = outbox::record(&txn, reset_mail("ida@example.com"), app.state.clock.now())
        .await
        .expect("recorded");
    let long_ago = app.state.clock.now() - chrono::TimeDelta::hours(1);
    mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::EnqueuedAt, Expr::value(long_ago))
        .filter(mail_outbox::Column::Id.eq(id))
        .exec(&txn)
        .await
        .expect("stamped");
    txn.commit().await.expect("committed");
    wait_for_mails(&app.mail_dir, Some("ida@example.com"), 1).await;
    let (queued, _) = jobs_for(&app, id).await;
    assert!(
        queued >= 1,
        "the sweep queued a job for it rather than sending it itself"
    );
}
