//! What the cycle does to a subscription over time, as the API shows it.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::*;
use crate::helpers::{error_code, manual_clock, spawn_app_with_clock};

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().expect("a time").parse().expect("RFC 3339")
}

#[tokio::test]
async fn a_free_business_at_its_limit_is_renewed_by_the_cycle_and_records_again() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("free@example.com").await;
    data(&record(&app, &account, "recordings", 1_000).await);
    assert_eq!(
        error_code(&record(&app, &account, "recordings", 1).await),
        "QUOTA_EXCEEDED"
    );
    let before = subscription(&app, &account).await;

    assert_eq!(pass(&app).await.renewed, 0, "nothing is due yet");
    advance(&app, &clock, &mut account, month()).await;
    let summary = pass(&app).await;
    assert_eq!((summary.renewed, summary.expired), (1, 0));

    let after = subscription(&app, &account).await;
    assert_eq!(after["status"], "ACTIVE");
    assert_eq!(after["currentPeriodStart"], before["currentPeriodEnd"]);
    assert!(at(&after["currentPeriodEnd"]) > app.state.clock.now());
    assert_eq!(
        data(&record(&app, &account, "recordings", 1).await)["recordUsage"]["used"],
        1
    );

    let history = app
        .graphql(
            "{ business { usageHistory(first: 10) { edges { node { metric used periodStart
                periodEnd } } pageInfo { hasNextPage } } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    let edges = &data(&history)["business"]["usageHistory"]["edges"];
    assert_eq!(
        edges,
        &json!([{ "node": { "metric": "recordings", "used": 1000,
            "periodStart": before["currentPeriodStart"], "periodEnd": before["currentPeriodEnd"] } }])
    );
    assert!(
        audit_actions(&app, &account)
            .await
            .contains(&"subscription.renewed".to_owned())
    );
    assert_eq!(pass(&app).await.renewed, 0, "a second pass renews nothing");
}

#[tokio::test]
async fn a_beta_business_moved_to_the_hidden_unlimited_plan_is_never_limited() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("beta@example.com").await;
    let unlimited = plan_id(&app, "unlimited").await;
    let refused = change_plan(&app, &account, &unlimited, "IMMEDIATELY").await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "planId");

    let staff = app.staff_token("staff@example.com").await;
    data(
        &app.graphql(
            "mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { status } }",
            json!({ "b": account.business_id, "p": unlimited }),
            Some(&staff),
        )
        .await,
    );
    for _ in 0..3 {
        data(&record(&app, &account, "recordings", 5_000).await);
        data(&record(&app, &account, "applications", 50).await);
        advance(&app, &clock, &mut account, month()).await;
        assert_eq!(pass(&app).await.renewed, 1);
    }
    let sub = subscription(&app, &account).await;
    assert_eq!(
        (&sub["status"], &sub["plan"]["code"]),
        (&json!("ACTIVE"), &json!("unlimited"))
    );
}

#[tokio::test]
async fn periods_missed_while_no_worker_ran_are_caught_up_in_one_step() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("late@example.com").await;
    data(&record(&app, &account, "recordings", 7).await);
    let before = subscription(&app, &account).await;
    let anchor = at(&before["currentPeriodStart"]);
    advance(&app, &clock, &mut account, TimeDelta::days(100)).await;

    assert_eq!(pass(&app).await.renewed, 1);
    let after = subscription(&app, &account).await;
    let (start, end) = (
        at(&after["currentPeriodStart"]),
        at(&after["currentPeriodEnd"]),
    );
    let now = app.state.clock.now();
    assert!(start <= now && now < end, "the new period contains now");
    assert_eq!(
        start,
        anchor
            .checked_add_months(chrono::Months::new(3))
            .expect("a date")
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM usage_periods").await, 1);
    let history = app
        .graphql(
            "{ business { usageHistory { edges { node { used periodStart periodEnd } } } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    let node = &data(&history)["business"]["usageHistory"]["edges"][0]["node"];
    assert_eq!(node["used"], 7);
    assert_eq!(at(&node["periodStart"]), anchor);
    assert_eq!(at(&node["periodEnd"]), start, "one row spans the whole gap");
}

#[tokio::test]
async fn a_cancellation_at_period_end_expires_and_resume_undoes_it() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("leaving@example.com").await;
    let resume = "mutation { resumeSubscription { cancelAtPeriodEnd } }";
    let cancel = "mutation($e: Boolean) { cancelSubscription(atPeriodEnd: $e) {
        status cancelAtPeriodEnd } }";
    let token = Some(account.token.as_str());
    assert_eq!(
        error_code(&app.graphql(resume, json!({}), token).await),
        "CONFLICT"
    );
    let canceled = app.graphql(cancel, json!({}), token).await;
    assert_eq!(
        data(&canceled)["cancelSubscription"]["cancelAtPeriodEnd"],
        true
    );
    let resumed = app.graphql(resume, json!({}), token).await;
    assert_eq!(
        data(&resumed)["resumeSubscription"]["cancelAtPeriodEnd"],
        false
    );
    data(&app.graphql(cancel, json!({ "e": true }), token).await);

    advance(&app, &clock, &mut account, month()).await;
    let token = Some(account.token.as_str());
    assert_eq!(pass(&app).await.expired, 1);
    let sub = subscription(&app, &account).await;
    assert_eq!(sub["status"], "EXPIRED");
    assert_eq!(
        error_code(&record(&app, &account, "recordings", 1).await),
        "SUBSCRIPTION_INACTIVE"
    );
    assert_eq!(
        error_code(&app.graphql(cancel, json!({}), token).await),
        "CONFLICT"
    );
    assert_eq!(
        error_code(&app.graphql(resume, json!({}), token).await),
        "CONFLICT"
    );
    assert_eq!(
        subscription(&app, &account).await,
        sub,
        "refusals change nothing"
    );
    let actions = audit_actions(&app, &account).await;
    for action in [
        "subscription.cancel_scheduled",
        "subscription.resumed",
        "subscription.expired",
    ] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action} in {actions:?}"
        );
    }

    let other = app.signup("now@example.com").await;
    let now = app
        .graphql(cancel, json!({ "e": false }), Some(&other.token))
        .await;
    assert_eq!(data(&now)["cancelSubscription"]["status"], "EXPIRED");
    assert_eq!(
        pass(&app).await.expired,
        0,
        "an expired subscription is left alone"
    );
}

#[tokio::test]
async fn a_declined_renewal_is_past_due_then_expired_after_the_grace_period() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("unpaid@example.com").await;
    let pro = plan_id(&app, "pro").await;
    data(&change_plan(&app, &account, &pro, "IMMEDIATELY").await);

    advance(&app, &clock, &mut account, month()).await;
    assert_eq!(pass_with(&app, &Declining).await.past_due, 1);
    assert_eq!(subscription(&app, &account).await["status"], "PAST_DUE");
    assert_eq!(
        error_code(&record(&app, &account, "recordings", 1).await),
        "SUBSCRIPTION_INACTIVE"
    );
    advance(&app, &clock, &mut account, TimeDelta::days(3)).await;
    let summary = pass_with(&app, &Declining).await;
    assert_eq!(
        (summary.past_due, summary.still_past_due, summary.expired),
        (0, 1, 0)
    );
    advance(&app, &clock, &mut account, TimeDelta::days(5)).await;
    assert_eq!(pass_with(&app, &Declining).await.expired, 1);
    assert_eq!(subscription(&app, &account).await["status"], "EXPIRED");
    let actions = audit_actions(&app, &account).await;
    assert!(
        actions.contains(&"subscription.past_due".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"subscription.expired".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_past_due_subscription_is_active_again_once_a_retry_is_paid() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("retry@example.com").await;
    let pro = plan_id(&app, "pro").await;
    data(&change_plan(&app, &account, &pro, "IMMEDIATELY").await);
    advance(&app, &clock, &mut account, month()).await;
    assert_eq!(pass_with(&app, &Declining).await.past_due, 1);
    advance(&app, &clock, &mut account, TimeDelta::days(2)).await;
    assert_eq!(pass(&app).await.renewed, 1);
    let sub = subscription(&app, &account).await;
    assert_eq!(sub["status"], "ACTIVE");
    assert!(at(&sub["currentPeriodEnd"]) > app.state.clock.now());
    data(&record(&app, &account, "recordings", 1).await);
}

#[tokio::test]
async fn credit_periods_pay_for_renewals_before_the_provider_is_asked() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("credit@example.com").await;
    let pro = plan_id(&app, "pro").await;
    data(&change_plan(&app, &account, &pro, "IMMEDIATELY").await);
    let staff = app.staff_token("staff@example.com").await;
    data(
        &app.graphql(
            "mutation($b: ID!) { grantCreditPeriods(businessId: $b, periods: 1) { creditPeriods } }",
            json!({ "b": account.business_id }),
            Some(&staff),
        )
        .await,
    );
    advance(&app, &clock, &mut account, month()).await;
    assert_eq!(pass_with(&app, &Declining).await.renewed, 1);
    let sub = subscription(&app, &account).await;
    assert_eq!(
        (&sub["status"], &sub["creditPeriods"]),
        (&json!("ACTIVE"), &json!(0))
    );
    advance(&app, &clock, &mut account, month()).await;
    assert_eq!(pass_with(&app, &Declining).await.past_due, 1);
}

#[tokio::test]
async fn a_plan_change_at_period_end_takes_effect_when_the_period_ends() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("upgrade@example.com").await;
    let pro = plan_id(&app, "pro").await;
    let scheduled = change_plan(&app, &account, &pro, "AT_PERIOD_END").await;
    let scheduled = &data(&scheduled)["changePlan"];
    assert_eq!(
        (
            &scheduled["plan"]["code"],
            &scheduled["scheduledPlan"]["code"]
        ),
        (&json!("free"), &json!("pro"))
    );
    advance(&app, &clock, &mut account, month()).await;
    let summary = pass(&app).await;
    assert_eq!((summary.renewed, summary.plan_changes), (1, 1));
    let sub = subscription(&app, &account).await;
    assert_eq!(
        (&sub["plan"]["code"], &sub["scheduledPlan"]),
        (&json!("pro"), &json!(null))
    );
    let actions = audit_actions(&app, &account).await;
    for action in [
        "subscription.plan_change_scheduled",
        "subscription.plan_changed",
    ] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action} in {actions:?}"
        );
    }
}

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
