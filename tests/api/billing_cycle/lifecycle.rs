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
async fn a_running_server_renews_on_its_own_every_cycle_interval() {
    let clock = manual_clock();
    let app = crate::helpers::spawn_app_with_clock_and(shared_clock(&clock), |figment| {
        figment.merge(("cycle_every", "200ms"))
    })
    .await;
    let mut account = app.signup("free@example.com").await;
    let before = subscription(&app, &account).await;
    advance(&app, &clock, &mut account, month()).await;
    // No pass is run by the test: the server's worker does it.
    let started = std::time::Instant::now();
    loop {
        let now = subscription(&app, &account).await;
        if now["currentPeriodStart"] == before["currentPeriodEnd"] {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "never renewed: {now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        audit_actions(&app, &account)
            .await
            .iter()
            .any(|action| action.starts_with("subscription.renewed")),
        "the renewal is audited"
    );
    // And counted: only the worker's passes are, so at least this one.
    let metrics = crate::operations::scrape(&app).await;
    let renewed = crate::operations::sample(
        &metrics,
        "saaskit_cycle_transitions_total",
        &[("transition", "renewed")],
    );
    assert!(renewed >= 1.0, "{metrics}");
    assert!(
        crate::operations::sample(&metrics, "saaskit_jobs_run_total", &[("kind", "cycle")]) >= 1.0
    );
}
