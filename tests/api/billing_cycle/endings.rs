//! How a subscription ends: cancellation, declined payments, and what pays instead.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::*;
use crate::helpers::{error_code, manual_clock, spawn_app_with_clock};

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().expect("a time").parse().expect("RFC 3339")
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
