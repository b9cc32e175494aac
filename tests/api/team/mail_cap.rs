//! Invitation mails per business and address: three an hour, first sends and re-sends
//! together, however the steps interleave and on however many nodes.

use chrono::TimeDelta;
use entity::mail_outbox;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use super::invite;
use crate::helpers::{TestApp, data, error_code, manual_clock, spawn_app, spawn_app_with_clock};

const RESEND: &str = "mutation($id: ID!) { resendInvitation(id: $id) { id } }";
const REVOKE: &str = "mutation($id: ID!) { revokeInvitation(id: $id) }";

async fn invitation_id(app: &TestApp, token: &str, email: &str) -> Value {
    let response = invite(app, token, email, "MEMBER").await;
    data(&response)["inviteTeamMember"]["id"].clone()
}

async fn revoke(app: &TestApp, token: &str, id: &Value) {
    let response = app.graphql(REVOKE, json!({ "id": id }), Some(token)).await;
    assert_eq!(data(&response)["revokeInvitation"], true);
}

async fn mails_to(app: &TestApp, to: &str) -> u64 {
    mail_outbox::Entity::find()
        .filter(mail_outbox::Column::Recipient.eq(to))
        .filter(mail_outbox::Column::Template.eq("invitation"))
        .count(&app.state.db)
        .await
        .expect("the outbox is readable")
}

fn retry_after(response: &Value) -> u64 {
    assert_eq!(error_code(response), "RATE_LIMITED", "{response}");
    response["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("a retryAfter in {response}"))
}

#[tokio::test]
async fn the_invite_revoke_loop_mails_one_address_three_times_an_hour() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let owner = app.signup("owner@example.com").await;
    for _ in 0..3 {
        let id = invitation_id(&app, &owner.token, "target@example.com").await;
        revoke(&app, &owner.token, &id).await;
        clock.advance(TimeDelta::minutes(1));
    }

    let refused = invite(&app, &owner.token, "Target@Example.com", "MEMBER").await;
    // The first of the three leaves the hour 57 minutes from now.
    assert_eq!(retry_after(&refused), 57 * 60);
    assert_eq!(mails_to(&app, "target@example.com").await, 3);
    // Other addresses, and other businesses for this one, are not held up.
    invitation_id(&app, &owner.token, "someone-else@example.com").await;
    let other = app.signup("other@example.com").await;
    invitation_id(&app, &other.token, "target@example.com").await;

    clock.advance(TimeDelta::minutes(57));
    invitation_id(&app, &owner.token, "target@example.com").await;
    assert_eq!(mails_to(&app, "target@example.com").await, 5);
}

#[tokio::test]
async fn re_sends_count_with_the_first_send() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let id = invitation_id(&app, &owner.token, "nina@example.com").await;
    for _ in 0..2 {
        data(
            &app.graphql(RESEND, json!({ "id": id }), Some(&owner.token))
                .await,
        );
    }
    let refused = app
        .graphql(RESEND, json!({ "id": id }), Some(&owner.token))
        .await;
    let wait = retry_after(&refused);
    assert!((3590..=3600).contains(&wait), "{wait}");
    assert_eq!(mails_to(&app, "nina@example.com").await, 3);
}

#[tokio::test]
async fn concurrent_re_sends_on_two_nodes_mail_exactly_three_times() {
    let app = spawn_app().await;
    let other = app.second_node().await;
    let owner = app.signup("owner@example.com").await;
    let id = invitation_id(&app, &owner.token, "nina@example.com").await;
    let resends = (0..12).map(|i| {
        let node = if i % 2 == 0 { &app } else { &other };
        let (id, token) = (id.clone(), owner.token.clone());
        async move {
            node.graphql(RESEND, json!({ "id": id }), Some(&token))
                .await
        }
    });
    let answers = futures::future::join_all(resends).await;
    let sent = answers.iter().filter(|r| r.get("errors").is_none()).count();
    for refused in answers.iter().filter(|r| r.get("errors").is_some()) {
        retry_after(refused);
    }
    assert_eq!(sent, 2, "two re-sends after the first send");
    assert_eq!(mails_to(&app, "nina@example.com").await, 3);
}

/// Audit rows, outbox rows and the distinct jobs queued (a job retried or handed over twice is
/// one), all together.
async fn footprint(app: &TestApp) -> (u64, u64, i64) {
    use sea_orm::{ConnectionTrait, Statement};
    let audit = entity::audit_events::Entity::find()
        .count(&app.state.db)
        .await
        .expect("audit");
    let outbox = mail_outbox::Entity::find()
        .count(&app.state.db)
        .await
        .expect("outbox");
    let db = &app.state.db;
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "SELECT COUNT(DISTINCT job) AS n FROM apalis.jobs",
        _ => "SELECT COUNT(DISTINCT job) AS n FROM Jobs",
    };
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("the queue is readable")
        .expect("a row");
    (audit, outbox, row.try_get("", "n").expect("a count"))
}

#[tokio::test]
async fn a_refused_re_send_writes_no_audit_row_no_mail_and_no_job() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let id = invitation_id(&app, &owner.token, "nina@example.com").await;
    for _ in 0..2 {
        data(
            &app.graphql(RESEND, json!({ "id": id }), Some(&owner.token))
                .await,
        );
    }
    let before = footprint(&app).await;
    for _ in 0..20 {
        let refused = app
            .graphql(RESEND, json!({ "id": id }), Some(&owner.token))
            .await;
        retry_after(&refused);
    }
    assert_eq!(footprint(&app).await, before);
}

#[tokio::test]
async fn a_business_mails_at_most_fifty_invitations_a_day_whatever_the_addresses() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let owner = app.signup("owner@example.com").await;
    // Revoked at once, so the plan's seats never stop the loop.
    for i in 0..50 {
        let id = invitation_id(&app, &owner.token, &format!("person{i}@example.com")).await;
        revoke(&app, &owner.token, &id).await;
        clock.advance(TimeDelta::minutes(2));
    }
    let before = footprint(&app).await;
    let refused = invite(&app, &owner.token, "one-more@example.com", "MEMBER").await;
    // The first of the fifty leaves the day 100 minutes after it was sent.
    assert_eq!(retry_after(&refused), (24 * 60 - 100) * 60);
    assert_eq!(footprint(&app).await, before, "nothing written");
    let other = app.signup("other@example.com").await;
    invitation_id(&app, &other.token, "one-more@example.com").await;

    clock.advance(TimeDelta::days(1) - TimeDelta::minutes(100));
    let token = app
        .token_for("owner@example.com", crate::helpers::PASSWORD, None)
        .await;
    invitation_id(&app, &token, "one-more@example.com").await;
}
