//! The cycle's housekeeping: what it prunes, and when.

use chrono::TimeDelta;
use serde_json::json;

use super::*;
use crate::helpers::{manual_clock, spawn_app_with_clock};

#[tokio::test]
async fn housekeeping_prunes_old_usage_keys_expired_sessions_and_spent_resets() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("tidy@example.com").await;
    let keyed =
        "mutation { recordUsage(input: { metric: \"recordings\", idempotencyKey: \"k1\" }) {
        used duplicate } }";
    data(&app.graphql(keyed, json!({}), Some(&account.api_key)).await);
    let user: Uuid = {
        use sea_orm::{ColumnTrait, QueryFilter};
        entity::users::Entity::find()
            .filter(entity::users::Column::Email.eq("tidy@example.com"))
            .one(&app.state.db)
            .await
            .expect("query")
            .expect("the user")
            .id
    };
    let now = app.state.clock.now();
    for (used, expires) in [
        (Some(now), now + TimeDelta::hours(1)),
        (None, now + TimeDelta::hours(1)),
    ] {
        entity::password_resets::Entity::insert(entity::password_resets::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user),
            token_hash: Set(Uuid::now_v7().to_string()),
            expires_at: Set(expires),
            used_at: Set(used),
            created_at: Set(now),
        })
        .exec_without_returning(&app.state.db)
        .await
        .expect("a reset");
    }
    let first = pass(&app).await.pruned;
    assert_eq!(
        (first.usage_events, first.sessions, first.password_resets),
        (0, 0, 1)
    );

    advance(&app, &clock, &mut account, TimeDelta::hours(25)).await;
    let later = pass(&app).await.pruned;
    assert_eq!((later.usage_events, later.password_resets), (1, 1));
    assert!(
        later.sessions >= 1,
        "the signup's login session expired: {later:?}"
    );
    let again = app.graphql(keyed, json!({}), Some(&account.api_key)).await;
    assert_eq!(
        data(&again)["recordUsage"]["duplicate"],
        false,
        "the key was forgotten"
    );
}
