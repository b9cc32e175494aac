//! The plan's `members` limit: invited and active humans, enforced atomically.

use entity::Role;
use serde_json::{Value, json};

use super::{invite, member_id};
use crate::helpers::{data, error_code, spawn_app};

fn assert_quota(response: &Value, limit: i64, used: i64) {
    assert_eq!(error_code(response), "QUOTA_EXCEEDED", "{response}");
    let ext = &response["errors"][0]["extensions"];
    assert_eq!(ext["metric"], "members");
    assert_eq!(ext["limit"], limit);
    assert_eq!(ext["used"], used);
}

#[tokio::test]
async fn six_concurrent_invitations_into_a_free_business_take_exactly_the_two_free_seats() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let emails: Vec<String> = (0..6).map(|i| format!("person{i}@example.com")).collect();
    let responses = futures::future::join_all(
        emails
            .iter()
            .map(|email| invite(&app, &owner.token, email, "MEMBER")),
    )
    .await;
    let ok = responses
        .iter()
        .filter(|r| r.get("errors").is_none())
        .count();
    assert_eq!(ok, 2, "{responses:?}");
    for refused in responses.iter().filter(|r| r.get("errors").is_some()) {
        assert_quota(refused, 3, 3);
    }
    let usage = app
        .graphql(
            "{ business { usage { metric used limit } } }",
            json!({}),
            Some(&owner.token),
        )
        .await;
    let members = data(&usage)["business"]["usage"]
        .as_array()
        .and_then(|all| all.iter().find(|u| u["metric"] == "members").cloned())
        .expect("a members metric");
    assert_eq!(members["used"], 3);
    assert_eq!(members["limit"], 3);
}

#[tokio::test]
async fn reactivation_over_the_seat_limit_is_refused() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    app.member_token(&owner.business_id, "one@example.com", Role::Member)
        .await;
    app.member_token(&owner.business_id, "two@example.com", Role::Member)
        .await;
    assert_quota(
        &invite(&app, &owner.token, "three@example.com", "MEMBER").await,
        3,
        3,
    );

    let one = member_id(&app, &owner.token, "one@example.com").await;
    let deactivate = "mutation($id: ID!) { deactivateMember(memberId: $id) { status } }";
    let reactivate = "mutation($id: ID!) { reactivateMember(memberId: $id) { status } }";
    let done = app
        .graphql(deactivate, json!({ "id": one }), Some(&owner.token))
        .await;
    assert_eq!(data(&done)["deactivateMember"]["status"], "DEACTIVATED");
    data(&invite(&app, &owner.token, "three@example.com", "MEMBER").await);

    let refused = app
        .graphql(reactivate, json!({ "id": one }), Some(&owner.token))
        .await;
    assert_quota(&refused, 3, 3);

    let three = data(
        &app.graphql(
            "{ business { invitations { id } } }",
            json!({}),
            Some(&owner.token),
        )
        .await,
    )["business"]["invitations"][0]["id"]
        .clone();
    data(
        &app.graphql(
            "mutation($id: ID!) { revokeInvitation(id: $id) }",
            json!({ "id": three }),
            Some(&owner.token),
        )
        .await,
    );
    let back = app
        .graphql(reactivate, json!({ "id": one }), Some(&owner.token))
        .await;
    assert_eq!(data(&back)["reactivateMember"]["status"], "ACTIVE");
    app.token_for(
        "one@example.com",
        crate::helpers::PASSWORD,
        Some(&owner.business_id),
    )
    .await;
}

#[tokio::test]
async fn a_refused_invitation_leaves_no_user_behind() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    app.member_token(&owner.business_id, "one@example.com", Role::Member)
        .await;
    app.member_token(&owner.business_id, "two@example.com", Role::Member)
        .await;
    assert_quota(
        &invite(&app, &owner.token, "new@example.com", "MEMBER").await,
        3,
        3,
    );
    app.signup("new@example.com").await;
}
