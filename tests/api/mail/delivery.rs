//! What the outbox and the worker guarantee: a mail committed is sent even when the process
//! died before enqueuing it, it is sent once, and `--no-worker` nodes leave it to workers.

use std::time::Duration;

use saaskit::services::outbox::{self, NewMail, Template};
use serde_json::json;

use super::{mails_in, outbox as outbox_rows, wait_for_mails};
use crate::helpers::{data, spawn_app, spawn_app_without_worker};

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

    wait_for_mails(&app.mail_dir, Some("fay@example.com"), 1).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(mails_in(&app.mail_dir, None).len(), 1);
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
