use serde_json::json;

use super::{accept, audit_actions, invite, latest_key, preview};
use crate::helpers::{PASSWORD, data, error_code, spawn_app};

#[tokio::test]
async fn an_invited_person_signs_up_through_the_link_and_joins_the_business() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;

    let response = invite(&app, &owner.token, " Nina@Example.com ", "MEMBER").await;
    let invitation = &data(&response)["inviteTeamMember"];
    assert_eq!(invitation["email"], "nina@example.com");
    assert_eq!(invitation["role"], "MEMBER");
    assert_eq!(invitation["invitedBy"]["email"], "owner@example.com");
    let pending = app
        .graphql(
            "{ business { invitations { id } } }",
            json!({}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(
        data(&pending)["business"]["invitations"][0]["id"],
        invitation["id"]
    );

    let key = latest_key(&app, "nina@example.com").await;
    let shown = preview(&app, &key).await;
    assert_eq!(shown["email"], "nina@example.com");
    assert_eq!(shown["name"], "Invitee");
    assert_eq!(shown["businessName"], "owner@example.com");
    assert_eq!(shown["invitedByName"], "Owner");
    assert_eq!(shown["role"], "MEMBER");
    assert_eq!(shown["expiresAt"], invitation["expiresAt"]);
    assert_eq!(shown["hasAccount"], false);

    let accepted = accept(&app, &key, "a new password").await;
    let payload = &data(&accepted)["acceptInvitation"];
    assert_eq!(payload["viewer"]["role"], "MEMBER");
    assert_eq!(payload["viewer"]["user"]["name"], "Nina");
    assert_eq!(
        payload["viewer"]["business"]["id"],
        owner.business_id.as_str()
    );

    let token = app
        .token_for(
            "nina@example.com",
            "a new password",
            Some(&owner.business_id),
        )
        .await;
    let refused = invite(&app, &token, "someone@example.com", "MEMBER").await;
    assert_eq!(error_code(&refused), "FORBIDDEN");

    assert!(preview(&app, &key).await.is_null(), "the key is dead");
    let again = accept(&app, &key, "a new password").await;
    assert_eq!(error_code(&again), "BAD_USER_INPUT");
    assert_eq!(again["errors"][0]["extensions"]["field"], "activationKey");
    let pending = app
        .graphql(
            "{ business { invitations { id } } }",
            json!({}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(data(&pending)["business"]["invitations"], json!([]));
    let actions = audit_actions(&app, &owner.token).await;
    assert!(
        actions.contains(&"invitation.created".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"invitation.accepted".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_existing_account_joins_with_its_own_password() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    app.signup("bob@example.com").await;
    data(&invite(&app, &owner.token, "bob@example.com", "ADMIN").await);
    let key = latest_key(&app, "bob@example.com").await;
    assert_eq!(preview(&app, &key).await["hasAccount"], true);

    let wrong = accept(&app, &key, "not bob's password").await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    assert!(!preview(&app, &key).await.is_null(), "the key stays alive");

    let accepted = accept(&app, &key, PASSWORD).await;
    let payload = &data(&accepted)["acceptInvitation"];
    assert_eq!(payload["viewer"]["role"], "ADMIN");
    assert_eq!(
        payload["viewer"]["business"]["id"],
        owner.business_id.as_str()
    );
    assert_eq!(
        payload["viewer"]["user"]["name"], "Owner",
        "the name is the account's"
    );
    app.token_for("bob@example.com", PASSWORD, Some(&owner.business_id))
        .await;
}

#[tokio::test]
async fn bad_invitations_are_refused_and_leave_nothing_behind() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let count = || async {
        let response = app
            .graphql(
                "{ business { invitations { id } members { edges { node { id } } } } }",
                json!({}),
                Some(&owner.token),
            )
            .await;
        let business = &data(&response)["business"];
        (
            business["invitations"].as_array().map(Vec::len),
            business["members"]["edges"].as_array().map(Vec::len),
        )
    };
    let before = count().await;

    let cases = [
        ("not-an-email", "MEMBER", "BAD_USER_INPUT", Some("email")),
        ("ok@example.com", "OWNER", "BAD_USER_INPUT", Some("role")),
        ("ok@example.com", "SDK", "BAD_USER_INPUT", Some("role")),
        ("owner@example.com", "MEMBER", "CONFLICT", Some("email")),
    ];
    for (email, role, code, field) in cases {
        let response = invite(&app, &owner.token, email, role).await;
        assert_eq!(error_code(&response), code, "{email} {role}: {response}");
        assert_eq!(
            response["errors"][0]["extensions"]["field"].as_str(),
            field,
            "{response}"
        );
    }
    assert_eq!(count().await, before);
    assert!(
        app.signup("ok@example.com").await.token.len() > 10,
        "no user was left"
    );

    data(&invite(&app, &owner.token, "nina@example.com", "MEMBER").await);
    let twice = invite(&app, &owner.token, "nina@example.com", "MEMBER").await;
    assert_eq!(error_code(&twice), "CONFLICT");
    let key = latest_key(&app, "nina@example.com").await;
    let short = accept(&app, &key, "short").await;
    assert_eq!(error_code(&short), "BAD_USER_INPUT");
    assert_eq!(short["errors"][0]["extensions"]["field"], "password");
    assert!(!preview(&app, &key).await.is_null(), "the key stays alive");
}
