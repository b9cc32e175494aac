//! Role changes and (de)activation: who may, and that rights taken away leave tokens at once.

use chrono::TimeDelta;
use entity::{MemberStatus, Role, team_members};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::{audit_actions, invite, member_id, token_works};
use crate::helpers::{
    PASSWORD, TestApp, data, error_code, manual_clock, spawn_app, spawn_app_with_clock,
};

const ROLE: &str = "mutation($id: ID!, $role: Role!) {
    updateMemberRole(memberId: $id, role: $role) { role status } }";
const DEACTIVATE: &str = "mutation($id: ID!) { deactivateMember(memberId: $id) { status } }";
const REACTIVATE: &str = "mutation($id: ID!) { reactivateMember(memberId: $id) { status } }";

async fn set_role(app: &TestApp, token: &str, id: &str, role: &str) -> Value {
    app.graphql(ROLE, json!({ "id": id, "role": role }), Some(token))
        .await
}

async fn call(app: &TestApp, query: &str, token: &str, id: &str) -> Value {
    app.graphql(query, json!({ "id": id }), Some(token)).await
}

#[tokio::test]
async fn deactivation_locks_the_member_out_at_once_and_reactivation_lets_them_back() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let token = app
        .member_token(&owner.business_id, "m@example.com", Role::Member)
        .await;
    assert!(token_works(&app, &token).await);
    let id = member_id(&app, &owner.token, "m@example.com").await;

    let done = call(&app, DEACTIVATE, &owner.token, &id).await;
    assert_eq!(data(&done)["deactivateMember"]["status"], "DEACTIVATED");
    assert!(!token_works(&app, &token).await, "refused at once");
    let login = app
        .login("m@example.com", PASSWORD, Some(&owner.business_id))
        .await;
    assert_eq!(error_code(&login), "NOT_FOUND");

    let back = call(&app, REACTIVATE, &owner.token, &id).await;
    assert_eq!(data(&back)["reactivateMember"]["status"], "ACTIVE");
    let token = app
        .token_for("m@example.com", PASSWORD, Some(&owner.business_id))
        .await;
    assert!(token_works(&app, &token).await);
    let actions = audit_actions(&app, &owner.token).await;
    for action in ["member.deactivated", "member.reactivated"] {
        assert!(actions.contains(&action.to_owned()), "{actions:?}");
    }
}

#[tokio::test]
async fn a_role_change_revokes_the_members_token() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let token = app
        .member_token(&owner.business_id, "m@example.com", Role::Member)
        .await;
    assert!(token_works(&app, &token).await);
    let id = member_id(&app, &owner.token, "m@example.com").await;

    let changed = set_role(&app, &owner.token, &id, "ADMIN").await;
    assert_eq!(data(&changed)["updateMemberRole"]["role"], "ADMIN");
    assert!(!token_works(&app, &token).await, "the old token is refused");
    let login = app
        .login("m@example.com", PASSWORD, Some(&owner.business_id))
        .await;
    assert_eq!(data(&login)["login"]["viewer"]["role"], "ADMIN");
    assert!(
        audit_actions(&app, &owner.token)
            .await
            .contains(&"member.role_changed".to_owned())
    );
}

#[tokio::test]
async fn another_node_refuses_a_deactivated_members_token_within_the_cache_ttl() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let other_node = app.second_node().await;
    let owner = app.signup("owner@example.com").await;
    let token = app
        .member_token(&owner.business_id, "m@example.com", Role::Member)
        .await;
    assert!(
        token_works(&other_node, &token).await,
        "cached on the other node"
    );
    let id = member_id(&app, &owner.token, "m@example.com").await;
    data(&call(&app, DEACTIVATE, &owner.token, &id).await);
    assert!(!token_works(&app, &token).await);
    clock.advance(TimeDelta::seconds(5));
    assert!(
        !token_works(&other_node, &token).await,
        "re-read after the TTL"
    );
}

#[tokio::test]
async fn a_membership_no_longer_active_ends_its_tokens_even_when_a_session_row_was_missed() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let owner = app.signup("owner@example.com").await;
    let token = app
        .member_token(&owner.business_id, "m@example.com", Role::Member)
        .await;
    assert!(token_works(&app, &token).await);
    // As if a deactivation had written the membership but no session row.
    team_members::Entity::update_many()
        .col_expr(
            team_members::Column::Status,
            sea_orm::sea_query::Expr::value(MemberStatus::Deactivated),
        )
        .filter(team_members::Column::Role.eq(Role::Member))
        .exec(&app.state.db)
        .await
        .expect("updated");
    clock.advance(TimeDelta::seconds(6));
    assert!(!token_works(&app, &token).await);
}

#[tokio::test]
async fn nobody_changes_their_own_role_or_deactivates_themselves() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let admin = app
        .member_token(&owner.business_id, "a@example.com", Role::Admin)
        .await;
    let own = member_id(&app, &owner.token, "owner@example.com").await;
    let admin_id = member_id(&app, &owner.token, "a@example.com").await;
    assert_eq!(
        error_code(&set_role(&app, &owner.token, &own, "MEMBER").await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&call(&app, DEACTIVATE, &owner.token, &own).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&set_role(&app, &admin, &admin_id, "MEMBER").await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&call(&app, DEACTIVATE, &admin, &admin_id).await),
        "FORBIDDEN"
    );
    assert!(token_works(&app, &owner.token).await);
}

#[tokio::test]
async fn only_an_owner_invites_promotes_or_demotes_admins_and_owners() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    app.member_token(&owner.business_id, "m@example.com", Role::Member)
        .await;
    let admin = app
        .member_token(&owner.business_id, "a@example.com", Role::Admin)
        .await;
    let member_id_ = member_id(&app, &owner.token, "m@example.com").await;
    let owner_id = member_id(&app, &owner.token, "owner@example.com").await;

    assert_eq!(
        error_code(&invite(&app, &admin, "x@example.com", "ADMIN").await),
        "FORBIDDEN"
    );
    for role in ["ADMIN", "OWNER"] {
        let response = set_role(&app, &admin, &member_id_, role).await;
        assert_eq!(error_code(&response), "FORBIDDEN", "{role}");
    }
    assert_eq!(
        error_code(&set_role(&app, &admin, &owner_id, "MEMBER").await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&call(&app, DEACTIVATE, &admin, &owner_id).await),
        "FORBIDDEN"
    );
    // What an admin may do: manage members.
    let deactivated = call(&app, DEACTIVATE, &admin, &member_id_).await;
    assert_eq!(
        data(&deactivated)["deactivateMember"]["status"],
        "DEACTIVATED"
    );

    let to_sdk = set_role(&app, &owner.token, &member_id_, "SDK").await;
    assert_eq!(error_code(&to_sdk), "BAD_USER_INPUT");
    data(&invite(&app, &owner.token, "x@example.com", "ADMIN").await);
    let promoted = set_role(&app, &owner.token, &member_id_, "OWNER").await;
    assert_eq!(data(&promoted)["updateMemberRole"]["role"], "OWNER");
}

#[tokio::test]
async fn the_last_active_owner_stays_and_the_sdk_member_is_not_managed_here() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let other = app.signup("other@example.com").await;
    let owner_id = member_id(&app, &owner.token, "owner@example.com").await;
    let business_id = owner.business_id.parse().expect("a uuid");

    // No token can reach this through the API (nobody demotes themselves, and only owners
    // demote owners), so the rule is asserted on the service, as a stale token would reach it.
    let stale = saaskit::services::team::Actor {
        user_id: uuid::Uuid::now_v7(),
        business_id,
        role: Some(Role::Owner),
    };
    let id = owner_id.parse().expect("a uuid");
    let now = app.state.clock.now();
    let demoted =
        saaskit::services::team::members::update_role(&app.state.db, &stale, id, Role::Admin, now)
            .await;
    assert!(matches!(
        demoted,
        Err(saaskit::AppError::ForbiddenBecause(_))
    ));
    let gone = saaskit::services::team::members::deactivate(&app.state.db, &stale, id, now).await;
    assert!(matches!(gone, Err(saaskit::AppError::ForbiddenBecause(_))));

    let sdk = team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(business_id))
        .filter(team_members::Column::Role.eq(Role::Sdk))
        .one(&app.state.db)
        .await
        .expect("read")
        .expect("the sdk member")
        .id
        .to_string();
    assert_eq!(
        error_code(&call(&app, DEACTIVATE, &owner.token, &sdk).await),
        "NOT_FOUND"
    );
    assert_eq!(
        error_code(&set_role(&app, &owner.token, &sdk, "MEMBER").await),
        "NOT_FOUND"
    );
    let foreign = call(&app, DEACTIVATE, &other.token, &owner_id).await;
    assert_eq!(error_code(&foreign), "NOT_FOUND");
}
