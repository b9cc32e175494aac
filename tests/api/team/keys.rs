//! The activation key's rules, with a clock the test moves.

use chrono::TimeDelta;
use serde_json::{Value, json};

use super::{accept, audit_actions, invite, latest_key, preview};
use crate::helpers::{PASSWORD, data, error_code, manual_clock, spawn_app_with_clock};

/// The message of a refused key, after checking the code and field.
fn refusal(response: &Value) -> String {
    assert_eq!(error_code(response), "BAD_USER_INPUT", "{response}");
    let error = &response["errors"][0];
    assert_eq!(error["extensions"]["field"], "activationKey");
    error["message"].as_str().expect("a message").to_owned()
}

#[tokio::test]
async fn unknown_used_and_revoked_keys_are_refused_alike_and_an_expired_one_says_so() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let owner = app.signup("owner@example.com").await;
    let unknown = refusal(&accept(&app, &"ab".repeat(32), "a new password").await);
    assert!(preview(&app, &"ab".repeat(32)).await.is_null());

    // Used.
    data(&invite(&app, &owner.token, "used@example.com", "MEMBER").await);
    let used_key = latest_key(&app, "used@example.com").await;
    data(&accept(&app, &used_key, "a new password").await);
    assert_eq!(
        refusal(&accept(&app, &used_key, "a new password").await),
        unknown
    );

    // Revoked.
    let response = invite(&app, &owner.token, "revoked@example.com", "MEMBER").await;
    let id = data(&response)["inviteTeamMember"]["id"].clone();
    let revoked_key = latest_key(&app, "revoked@example.com").await;
    let revoked = app
        .graphql(
            "mutation($id: ID!) { revokeInvitation(id: $id) }",
            json!({ "id": id }),
            Some(&owner.token),
        )
        .await;
    assert_eq!(data(&revoked)["revokeInvitation"], true);
    assert!(preview(&app, &revoked_key).await.is_null());
    assert_eq!(
        refusal(&accept(&app, &revoked_key, "a new password").await),
        unknown
    );

    // Expired: alive until the 7 days are over.
    data(&invite(&app, &owner.token, "late@example.com", "MEMBER").await);
    let late_key = latest_key(&app, "late@example.com").await;
    clock.advance(TimeDelta::days(7) - TimeDelta::seconds(1));
    assert!(
        !preview(&app, &late_key).await.is_null(),
        "alive for 7 days"
    );
    clock.advance(TimeDelta::seconds(1));
    assert!(
        preview(&app, &late_key).await.is_null(),
        "dead after 7 days"
    );
    // Telling an expired key apart tells its holder nothing they did not know: they hold it.
    let expired = accept(&app, &late_key, "a new password").await;
    assert_eq!(error_code(&expired), "EXPIRED", "{expired}");
    assert_eq!(expired["errors"][0]["extensions"]["field"], "activationKey");
    assert!(
        expired["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{expired}"
    );

    let token = app.token_for("owner@example.com", PASSWORD, None).await;
    let actions = audit_actions(&app, &token).await;
    assert!(
        actions.contains(&"invitation.revoked".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn resending_issues_a_new_key_and_kills_the_old_one() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let owner = app.signup("owner@example.com").await;
    let response = invite(&app, &owner.token, "nina@example.com", "MEMBER").await;
    let id = data(&response)["inviteTeamMember"]["id"].clone();
    let old_key = latest_key(&app, "nina@example.com").await;

    // Sent again after the first key expired: a fresh 7 days.
    clock.advance(TimeDelta::days(8));
    let token = app.token_for("owner@example.com", PASSWORD, None).await;
    let resent = app
        .graphql(
            "mutation($id: ID!) { resendInvitation(id: $id) { id expiresAt } }",
            json!({ "id": id }),
            Some(&token),
        )
        .await;
    assert_eq!(data(&resent)["resendInvitation"]["id"], id);
    let new_key = latest_key(&app, "nina@example.com").await;
    assert_ne!(new_key, old_key);

    assert!(preview(&app, &old_key).await.is_null());
    refusal(&accept(&app, &old_key, "a new password").await);
    clock.advance(TimeDelta::days(6));
    assert_eq!(preview(&app, &new_key).await["email"], "nina@example.com");
    data(&accept(&app, &new_key, "a new password").await);
    let token = app.token_for("owner@example.com", PASSWORD, None).await;
    let actions = audit_actions(&app, &token).await;
    assert!(
        actions.contains(&"invitation.resent".to_owned()),
        "{actions:?}"
    );
}
