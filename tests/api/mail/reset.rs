//! The password-reset flow over HTTP, with the link read from the mail really written.

use chrono::TimeDelta;
use entity::audit_events;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::{header, outbox, reset_token, text_part, wait_for_mails};
use crate::helpers::{
    PASSWORD, TestApp, data, error_code, manual_clock, spawn_app, spawn_app_with_clock,
};

const REQUEST: &str = "mutation($email: String!) { requestPasswordReset(email: $email) }";
const RESET: &str = "mutation($token: String!, $password: String!) {
    resetPassword(input: { token: $token, newPassword: $password }) {
        token viewer { user { email } business { id } } } }";
const NEW_PASSWORD: &str = "a brand new password";

async fn request(app: &TestApp, email: &str) -> Value {
    app.graphql(REQUEST, json!({ "email": email }), None).await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> Value {
    app.graphql(RESET, json!({ "token": token, "password": password }), None)
        .await
}

fn refused_token_message(response: &Value) -> String {
    assert_eq!(error_code(response), "BAD_USER_INPUT", "{response}");
    assert_eq!(response["errors"][0]["extensions"]["field"], "token");
    response["errors"][0]["message"]
        .as_str()
        .expect("a message")
        .to_owned()
}

#[tokio::test]
async fn a_reset_link_sets_the_password_once_and_ends_every_session() {
    let app = spawn_app().await;
    let account = app.signup("ann@example.com").await;
    let response = request(&app, "Ann@Example.com").await;
    assert_eq!(data(&response)["requestPasswordReset"], true);

    let mails = wait_for_mails(&app.mail_dir, Some("ann@example.com"), 1).await;
    let mail = &mails[0];
    assert_eq!(header(mail, "Subject"), "Reset your password");
    assert!(header(mail, "From").contains("no-reply@localhost"));
    assert!(mail.contains("multipart/alternative"));
    assert!(mail.contains("Content-Type: text/html"));
    assert!(text_part(mail).contains("http://127.0.0.1:8080/reset-password?token="));
    let token = reset_token(mail);
    assert_eq!(token.len(), 64);

    let response = reset(&app, &token, NEW_PASSWORD).await;
    let payload = &data(&response)["resetPassword"];
    assert_eq!(payload["viewer"]["user"]["email"], "ann@example.com");
    assert_eq!(
        payload["viewer"]["business"]["id"],
        account.business_id.as_str()
    );
    let new_token = payload["token"].as_str().expect("a token");

    let me = "{ me { user { email } } }";
    let old = app.graphql(me, json!({}), Some(&account.token)).await;
    assert_eq!(
        error_code(&old),
        "UNAUTHENTICATED",
        "the old session is over"
    );
    data(&app.graphql(me, json!({}), Some(new_token)).await);
    assert_eq!(
        error_code(&app.login("ann@example.com", PASSWORD, None).await),
        "UNAUTHENTICATED"
    );
    data(&app.login("ann@example.com", NEW_PASSWORD, None).await);

    let again = reset(&app, &token, "yet another password").await;
    let unknown = reset(&app, &"ab".repeat(32), "yet another password").await;
    assert_eq!(
        refused_token_message(&again),
        refused_token_message(&unknown)
    );

    let rows = outbox(&app).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].sent_at.is_some(), "marked sent");
    assert!(
        rows[0].data.is_none(),
        "the one-time key is forgotten once sent"
    );
    let audited = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("user.password_reset"))
        .all(&app.state.db)
        .await
        .expect("audit");
    assert_eq!(audited.len(), 1);
    assert_eq!(
        audited[0].business_id.map(|id| id.to_string()),
        Some(account.business_id)
    );
}

#[tokio::test]
async fn a_reset_link_expires_after_an_hour() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    app.signup("bo@example.com").await;
    data(&request(&app, "bo@example.com").await);
    let mails = wait_for_mails(&app.mail_dir, Some("bo@example.com"), 1).await;
    let token = reset_token(&mails[0]);

    clock.advance(TimeDelta::minutes(61));
    let expired = reset(&app, &token, NEW_PASSWORD).await;
    let unknown = reset(&app, "nonsense", NEW_PASSWORD).await;
    assert_eq!(
        refused_token_message(&expired),
        refused_token_message(&unknown)
    );
    data(&app.login("bo@example.com", PASSWORD, None).await);
}

#[tokio::test]
async fn a_reset_link_works_until_its_hour_is_up() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    app.signup("cy@example.com").await;
    data(&request(&app, "cy@example.com").await);
    let mails = wait_for_mails(&app.mail_dir, Some("cy@example.com"), 1).await;
    clock.advance(TimeDelta::minutes(59));
    data(&reset(&app, &reset_token(&mails[0]), NEW_PASSWORD).await);
}

#[tokio::test]
async fn an_unknown_email_is_answered_true_and_gets_no_mail() {
    let app = spawn_app().await;
    let response = request(&app, "nobody@example.com").await;
    assert_eq!(data(&response)["requestPasswordReset"], true);
    // Two sweeps' time: nothing was recorded, so nothing can be sent.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(outbox(&app).await.is_empty());
    assert!(super::mails_in(&app.mail_dir, None).is_empty());
}

#[tokio::test]
async fn at_most_three_reset_mails_per_account_per_hour() {
    let app = spawn_app().await;
    app.signup("di@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            data(&request(&app, "di@example.com").await)["requestPasswordReset"],
            true
        );
    }
    wait_for_mails(&app.mail_dir, Some("di@example.com"), 3).await;
    assert_eq!(outbox(&app).await.len(), 3);
}

#[tokio::test]
async fn reset_requests_count_against_the_per_address_rate_of_login_and_signup() {
    let app = crate::helpers::spawn_app_with(|f| f.merge(("auth_attempts_per_minute", 2))).await;
    for i in 0..2 {
        let email = format!("someone-{i}@example.com");
        assert_eq!(
            data(&request(&app, &email).await)["requestPasswordReset"],
            true
        );
    }
    // Whatever the e-mail, a third request from the address waits: nothing about any account
    // is told by it.
    let third = request(&app, "anyone@example.com").await;
    assert_eq!(error_code(&third), "RATE_LIMITED", "{third}");
    assert_eq!(third["errors"][0]["extensions"]["retryAfter"], 30);
}

#[tokio::test]
async fn concurrent_reset_requests_on_two_nodes_send_exactly_three_mails() {
    use entity::{password_resets, users};
    let app = spawn_app().await;
    let other = app.second_node().await;
    app.signup("race@example.com").await;
    let requests = (0..16).map(|i| {
        let node = if i % 2 == 0 { &app } else { &other };
        async move { request(node, "race@example.com").await }
    });
    for response in futures::future::join_all(requests).await {
        assert_eq!(data(&response)["requestPasswordReset"], true, "{response}");
    }

    // The answers come before the work: wait for it. Sent by either node's worker: three in
    // all, never more.
    let sent = || {
        super::mails_in(&app.mail_dir, Some("race@example.com")).len()
            + super::mails_in(&other.mail_dir, Some("race@example.com")).len()
    };
    let started = std::time::Instant::now();
    while sent() < 3 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "mails not sent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let user = users::Entity::find()
        .filter(users::Column::Email.eq("race@example.com"))
        .one(&app.state.db)
        .await
        .expect("a query")
        .expect("the user");
    let keys = password_resets::Entity::find()
        .filter(password_resets::Column::UserId.eq(user.id))
        .all(&app.state.db)
        .await
        .expect("a query");
    assert_eq!(keys.len(), 3, "reset keys issued");
    assert_eq!(outbox(&app).await.len(), 3, "reset mails recorded");
    assert_eq!(sent(), 3);
}

/// Whether the answer to a reset request for `email` comes while the account's row is locked
/// by another transaction (on SQLite, while another writer holds the database): it must, for a
/// known address as for an unknown one, because the answer waits for none of the work.
async fn answers_while_the_work_is_held_up(app: &TestApp, email: &str) -> Value {
    use sea_orm::QuerySelect;
    let keys = || async {
        entity::password_resets::Entity::find()
            .all(&app.state.db)
            .await
            .expect("a query")
            .len()
    };
    let before = keys().await;
    let held = saaskit::db::begin_write(&app.state.db)
        .await
        .expect("a write transaction");
    entity::users::Entity::find()
        .filter(entity::users::Column::Email.eq("ann@example.com"))
        .lock_exclusive()
        .one(&held)
        .await
        .expect("the row is locked");
    // Far longer than an answer takes; the work itself cannot finish until `held` ends.
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), request(app, email))
        .await
        .unwrap_or_else(|_| panic!("the answer for {email} waited for the work"));
    assert_eq!(keys().await, before, "no key yet: the work is held up");
    held.commit().await.expect("released");
    answer
}

#[tokio::test]
async fn the_answer_comes_before_the_work_for_known_and_unknown_addresses_alike() {
    let app = spawn_app().await;
    app.signup("ann@example.com").await;
    // The unknown address first: its work writes nothing, so it cannot land in the known
    // one's count.
    for email in ["nobody@example.com", "ann@example.com"] {
        let answer = answers_while_the_work_is_held_up(&app, email).await;
        assert_eq!(data(&answer)["requestPasswordReset"], true, "{answer}");
    }
    // Once released, the work is done: one mail, to the account.
    let mails = wait_for_mails(&app.mail_dir, Some("ann@example.com"), 1).await;
    assert_eq!(mails.len(), 1);
    assert!(super::mails_in(&app.mail_dir, Some("nobody@example.com")).is_empty());
}
