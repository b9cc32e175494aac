//! changePlan: what it does at once, and every input it refuses.

use chrono::{DateTime, TimeDelta, Utc};
use entity::Role;
use serde_json::json;

use super::*;
use crate::helpers::{error_code, manual_clock, spawn_app_with_clock};

fn field(response: &Value) -> &Value {
    &response["errors"][0]["extensions"]["field"]
}

#[tokio::test]
async fn a_plan_change_refuses_unknown_hidden_archived_and_current_plans() {
    let app = spawn_app_with_clock(shared_clock(&manual_clock())).await;
    let account = app.signup("picky@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let created = app
        .graphql(
            "mutation { createPlan(input: { code: \"old\", name: \"Old\", priceCents: 0,
                currency: \"USD\", period: { count: 1, unit: MONTH }, limits: [],
                isPublic: true }) { id } }",
            json!({}),
            Some(&staff),
        )
        .await;
    let old = data(&created)["createPlan"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    data(
        &app.graphql(
            "mutation($id: ID!) { archivePlan(id: $id) { archived } }",
            json!({ "id": old }),
            Some(&staff),
        )
        .await,
    );
    let before = subscription(&app, &account).await;

    let unknown = change_plan(&app, &account, &Uuid::now_v7().to_string(), "IMMEDIATELY").await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    let garbage = change_plan(&app, &account, "not-an-id", "IMMEDIATELY").await;
    assert_eq!(
        (error_code(&garbage), field(&garbage)),
        ("BAD_USER_INPUT", &json!("planId"))
    );
    for plan in [
        old,
        plan_id(&app, "unlimited").await,
        plan_id(&app, "free").await,
    ] {
        for timing in ["IMMEDIATELY", "AT_PERIOD_END"] {
            let refused = change_plan(&app, &account, &plan, timing).await;
            assert_eq!(
                (error_code(&refused), field(&refused)),
                ("BAD_USER_INPUT", &json!("planId"))
            );
        }
    }
    assert_eq!(
        subscription(&app, &account).await,
        before,
        "refusals change nothing"
    );
}

#[tokio::test]
async fn a_downgrade_below_what_is_in_use_is_refused_naming_the_metric() {
    let app = spawn_app_with_clock(shared_clock(&manual_clock())).await;
    let account = app.signup("big@example.com").await;
    let (pro, free) = (plan_id(&app, "pro").await, plan_id(&app, "free").await);
    data(&change_plan(&app, &account, &pro, "IMMEDIATELY").await);
    data(&record(&app, &account, "applications", 2).await);
    data(&record(&app, &account, "recordings", 5_000).await);
    let before = subscription(&app, &account).await;
    for timing in ["IMMEDIATELY", "AT_PERIOD_END"] {
        let refused = change_plan(&app, &account, &free, timing).await;
        assert_eq!(error_code(&refused), "QUOTA_EXCEEDED");
        let ext = &refused["errors"][0]["extensions"];
        assert_eq!(
            (&ext["metric"], &ext["limit"], &ext["used"]),
            (&json!("applications"), &json!(1), &json!(2))
        );
    }
    data(&record(&app, &account, "applications", -1).await);
    for n in 0..3 {
        app.member_token(
            &account.business_id,
            &format!("m{n}@example.com"),
            Role::Member,
        )
        .await;
    }
    let refused = change_plan(&app, &account, &free, "IMMEDIATELY").await;
    assert_eq!(
        refused["errors"][0]["extensions"]["metric"], "members",
        "{refused}"
    );
    assert_eq!(
        subscription(&app, &account).await,
        before,
        "refusals change nothing"
    );
}

#[tokio::test]
async fn an_immediate_change_starts_a_new_period_and_archives_what_resets() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("now@example.com").await;
    let before = subscription(&app, &account).await;
    data(&record(&app, &account, "recordings", 10).await);
    data(&record(&app, &account, "applications", 1).await);
    advance(&app, &clock, &mut account, TimeDelta::days(3)).await;
    let pro = plan_id(&app, "pro").await;
    let changed = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    let changed = &data(&changed)["changePlan"];
    let now = app.state.clock.now();
    let start: DateTime<Utc> = changed["currentPeriodStart"]
        .as_str()
        .expect("a time")
        .parse()
        .expect("a time");
    assert_eq!(
        (start, &changed["plan"]["code"], &changed["status"]),
        (now, &json!("pro"), &json!("ACTIVE"))
    );

    let usage = app
        .graphql(
            "{ business { usage { metric used } usageHistory { edges { node {
            metric used periodStart periodEnd } } } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    let business = &data(&usage)["business"];
    let used: Vec<_> = business["usage"]
        .as_array()
        .expect("usage")
        .iter()
        .map(|u| {
            (
                u["metric"].as_str().unwrap_or_default().to_owned(),
                u["used"].clone(),
            )
        })
        .collect();
    assert!(
        used.contains(&("recordings".to_owned(), json!(0))),
        "{used:?}"
    );
    assert!(
        used.contains(&("applications".to_owned(), json!(1))),
        "{used:?}"
    );
    let node = &business["usageHistory"]["edges"][0]["node"];
    assert_eq!(
        (&node["metric"], &node["used"]),
        (&json!("recordings"), &json!(10))
    );
    assert_eq!(node["periodStart"], before["currentPeriodStart"]);
    assert!(
        audit_actions(&app, &account)
            .await
            .contains(&"subscription.plan_changed".to_owned())
    );

    // The old period's end no longer ends anything: the cycle does not touch it.
    advance(&app, &clock, &mut account, TimeDelta::days(29)).await;
    assert_eq!(pass(&app).await.renewed, 0);
}

#[tokio::test]
async fn usage_history_pages_newest_first() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("pages@example.com").await;
    for used in 1..=3 {
        data(&record(&app, &account, "recordings", used).await);
        advance(&app, &clock, &mut account, month()).await;
        assert_eq!(pass(&app).await.renewed, 1);
    }
    let page = "query($after: String) { business { usageHistory(first: 2, after: $after) {
        edges { cursor node { used } } pageInfo { hasNextPage } } } }";
    let first = app.graphql(page, json!({}), Some(&account.token)).await;
    let history = &data(&first)["business"]["usageHistory"];
    let used: Vec<_> = history["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["used"].clone())
        .collect();
    assert_eq!(used, [json!(3), json!(2)]);
    assert_eq!(history["pageInfo"]["hasNextPage"], true);
    let cursor = history["edges"][1]["cursor"].clone();
    let second = app
        .graphql(page, json!({ "after": cursor }), Some(&account.token))
        .await;
    let history = &data(&second)["business"]["usageHistory"];
    assert_eq!(history["edges"][0]["node"]["used"], 1);
    assert_eq!(history["pageInfo"]["hasNextPage"], false);
}
