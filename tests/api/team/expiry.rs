//! Pending invitations expire after 7 days: an expired key is refused with `EXPIRED`, and the
//! cycle's housekeeping deletes the invitation (its seat frees) with the password-less account
//! it made — never an account that has a password or another team.

use chrono::TimeDelta;
use entity::users;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::{accept, invite, latest_key, preview};
use crate::billing_cycle::{advance, pass, shared_clock};
use crate::helpers::{PASSWORD, TestApp, data, error_code, manual_clock, spawn_app_with_clock};

const RESEND: &str = "mutation($id: ID!) { resendInvitation(id: $id) { id expiresAt } }";

async fn pending_emails(app: &TestApp, token: &str) -> Vec<String> {
    let response = app
        .graphql(
            "{ business { invitations { email } } }",
            json!({}),
            Some(token),
        )
        .await;
    data(&response)["business"]["invitations"]
        .as_array()
        .expect("invitations")
        .iter()
        .filter_map(|i| i["email"].as_str().map(str::to_owned))
        .collect()
}

async fn user_exists(app: &TestApp, email: &str) -> bool {
    users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(&app.state.db)
        .await
        .expect("query")
        .is_some()
}

#[tokio::test]
async fn an_expired_invitation_is_refused_with_expired_then_swept_with_its_account() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut owner = app.signup("owner@example.com").await;
    app.signup("bob@example.com").await;
    data(&invite(&app, &owner.token, "nina@example.com", "MEMBER").await);
    data(&invite(&app, &owner.token, "bob@example.com", "MEMBER").await);
    let key = latest_key(&app, "nina@example.com").await;

    advance(
        &app,
        &clock,
        &mut owner,
        TimeDelta::days(7) + TimeDelta::minutes(1),
    )
    .await;
    let refused = accept(&app, &key, "a new password").await;
    assert_eq!(error_code(&refused), "EXPIRED", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "activationKey");
    assert!(preview(&app, &key).await.is_null());

    let pruned = pass(&app).await.pruned;
    assert_eq!((pruned.invitations, pruned.invited_accounts), (2, 1));
    assert!(pending_emails(&app, &owner.token).await.is_empty());
    assert!(
        !user_exists(&app, "nina@example.com").await,
        "the account it made"
    );
    assert!(
        user_exists(&app, "bob@example.com").await,
        "an account with a password stays"
    );
    app.token_for("bob@example.com", PASSWORD, None).await;
    // Gone now: the key is simply unknown.
    let gone = accept(&app, &key, "a new password").await;
    assert_eq!(error_code(&gone), "BAD_USER_INPUT", "{gone}");
    // The address can be invited again.
    data(&invite(&app, &owner.token, "nina@example.com", "MEMBER").await);
}

#[tokio::test]
async fn a_re_sent_invitation_lives_seven_days_from_the_re_send() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut owner = app.signup("owner@example.com").await;
    let sent = invite(&app, &owner.token, "nina@example.com", "MEMBER").await;
    let id = data(&sent)["inviteTeamMember"]["id"].clone();
    // Delivered before the re-send, so the newest mail is the re-send's.
    let first_key = latest_key(&app, "nina@example.com").await;

    advance(&app, &clock, &mut owner, TimeDelta::days(6)).await;
    data(
        &app.graphql(RESEND, json!({ "id": id }), Some(&owner.token))
            .await,
    );
    advance(&app, &clock, &mut owner, TimeDelta::days(2)).await;
    let pruned = pass(&app).await.pruned;
    assert_eq!(pruned.invitations, 0);
    assert_eq!(
        pending_emails(&app, &owner.token).await,
        ["nina@example.com"]
    );
    let key = latest_key(&app, "nina@example.com").await;
    assert_ne!(key, first_key);
    let joined = accept(&app, &key, "a new password").await;
    assert_eq!(
        data(&joined)["acceptInvitation"]["viewer"]["role"],
        "MEMBER"
    );
}
