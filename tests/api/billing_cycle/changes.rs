//! changePlan: what it does at once, and every input it refuses.

use chrono::{DateTime, TimeDelta, Utc};
use entity::Role;
use serde_json::json;

use super::*;
use crate::helpers::{error_code, manual_clock, spawn_app_billed, spawn_app_with_clock};

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
async fn an_immediate_upgrade_keeps_the_period_and_every_counter_and_charges_the_prorated_rest() {
    let clock = manual_clock();
    let billing = Arc::new(Recording::default());
    let app = spawn_app_billed(shared_clock(&clock), billing.clone()).await;
    let mut account = app.signup("now@example.com").await;
    let before = subscription(&app, &account).await;
    data(&record(&app, &account, "recordings", 10).await);
    data(&record(&app, &account, "applications", 1).await);
    advance(&app, &clock, &mut account, TimeDelta::days(3)).await;
    let pro = plan_id(&app, "pro").await;
    let changed = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    let changed = &data(&changed)["changePlan"];
    assert_eq!(
        (&changed["plan"]["code"], &changed["status"]),
        (&json!("pro"), &json!("ACTIVE"))
    );
    assert_eq!(
        (&changed["currentPeriodStart"], &changed["currentPeriodEnd"]),
        (&before["currentPeriodStart"], &before["currentPeriodEnd"]),
        "an immediate change keeps the period"
    );

    let (start, end) = (
        at(&before["currentPeriodStart"]),
        at(&before["currentPeriodEnd"]),
    );
    let left = (end - app.state.clock.now()).num_seconds() as f64;
    let expected = (4_900.0 * left / (end - start).num_seconds() as f64).ceil() as i64;
    let asked = billing.asked();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(
        (asked[0].amount_cents, asked[0].purpose),
        (expected, entity::ChargePurpose::PlanChange)
    );
    assert!(expected < 4_900 && expected > 4_000, "{expected}");

    let usage = app
        .graphql(
            "{ business { usage { metric used } usageHistory { edges { node { used } } } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    let business = &data(&usage)["business"];
    let used = |metric: &str| {
        business["usage"]
            .as_array()
            .expect("usage")
            .iter()
            .find(|u| u["metric"] == metric)
            .map(|u| u["used"].clone())
    };
    assert_eq!(
        (used("recordings"), used("applications")),
        (Some(json!(10)), Some(json!(1))),
        "nothing resets"
    );
    assert_eq!(
        business["usageHistory"]["edges"],
        json!([]),
        "nothing archived"
    );
    assert!(
        audit_actions(&app, &account)
            .await
            .contains(&"subscription.plan_changed".to_owned())
    );
    // The period the change kept ends when it always did.
    advance(&app, &clock, &mut account, TimeDelta::days(29)).await;
    assert_eq!(pass(&app).await.renewed, 1);
}

#[tokio::test]
async fn switching_plans_back_and_forth_gives_no_quota_back() {
    let app = spawn_app_with_clock(shared_clock(&manual_clock())).await;
    let account = app.signup("switcher@example.com").await;
    let (pro, free) = (plan_id(&app, "pro").await, plan_id(&app, "free").await);
    data(&record(&app, &account, "recordings", 1_000).await);
    assert_eq!(
        error_code(&record(&app, &account, "recordings", 1).await),
        "QUOTA_EXCEEDED"
    );
    for _ in 0..3 {
        data(&change_plan(&app, &account, &pro, "IMMEDIATELY").await);
        data(&change_plan(&app, &account, &free, "IMMEDIATELY").await);
        assert_eq!(
            error_code(&record(&app, &account, "recordings", 1).await),
            "QUOTA_EXCEEDED",
            "back on free, the period's 1,000 are still used"
        );
    }
    let usage = app
        .graphql(
            "{ business { usage { metric used } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    let recordings = data(&usage)["business"]["usage"]
        .as_array()
        .expect("usage")
        .iter()
        .find(|u| u["metric"] == "recordings")
        .map(|u| u["used"].clone());
    assert_eq!(recordings, Some(json!(1_000)));
}

#[tokio::test]
async fn without_a_timing_a_downgrade_that_does_not_fit_waits_for_the_period_end() {
    let app = spawn_app_with_clock(shared_clock(&manual_clock())).await;
    let account = app.signup("default@example.com").await;
    let (pro, free) = (plan_id(&app, "pro").await, plan_id(&app, "free").await);
    data(&change_plan(&app, &account, &pro, "IMMEDIATELY").await);
    data(&record(&app, &account, "recordings", 5_000).await);
    let plain = |plan: &str| {
        app.graphql(
            "mutation($p: ID!) { changePlan(planId: $p) { plan { code } scheduledPlan { code } } }",
            json!({ "p": plan }),
            Some(&account.token),
        )
    };
    let scheduled = plain(&free).await;
    assert_eq!(
        data(&scheduled)["changePlan"],
        json!({ "plan": { "code": "pro" }, "scheduledPlan": { "code": "free" } }),
        "5,000 recordings do not fit free's 1,000 now: at the period's end"
    );
    let refused = change_plan(&app, &account, &free, "IMMEDIATELY").await;
    assert_eq!(
        refused["errors"][0]["extensions"]["metric"], "recordings",
        "{refused}"
    );
}

#[tokio::test]
async fn a_plan_in_another_currency_is_taken_up_only_at_the_period_end() {
    let app = spawn_app_with_clock(shared_clock(&manual_clock())).await;
    let account = app.signup("euro@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let created = app
        .graphql(
            "mutation { createPlan(input: { code: \"euro\", name: \"Euro\", priceCents: 900,
                currency: \"EUR\", period: { count: 1, unit: MONTH }, limits: [],
                isPublic: true }) { id } }",
            json!({}),
            Some(&staff),
        )
        .await;
    let euro = data(&created)["createPlan"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let now = change_plan(&app, &account, &euro, "IMMEDIATELY").await;
    assert_eq!(
        (error_code(&now), field(&now)),
        ("BAD_USER_INPUT", &json!("planId")),
        "no proration across currencies"
    );
    let plain = app
        .graphql(
            "mutation($p: ID!) { changePlan(planId: $p) { plan { code } scheduledPlan { code } } }",
            json!({ "p": euro }),
            Some(&account.token),
        )
        .await;
    assert_eq!(
        data(&plain)["changePlan"],
        json!({ "plan": { "code": "free" }, "scheduledPlan": { "code": "euro" } })
    );
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().expect("a time").parse().expect("a time")
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

#[tokio::test]
async fn a_restart_at_the_instant_its_period_started_keeps_the_counters_so_they_must_fit() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let account = app.signup("restart@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let created = app
        .graphql(
            "mutation { createPlan(input: { code: \"tiny\", name: \"Tiny\", priceCents: 0,
                currency: \"USD\", period: { count: 1, unit: MONTH }, isPublic: true,
                limits: [{ metric: \"recordings\", max: 0, resetsEachPeriod: true }] }) { id } }",
            json!({}),
            Some(&staff),
        )
        .await;
    let tiny = data(&created)["createPlan"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    data(&record(&app, &account, "recordings", 1).await);
    let canceled = app
        .graphql(
            "mutation { cancelSubscription(atPeriodEnd: false) { status } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    data(&canceled);
    // The clock has not moved since the period started: a restart now cannot start a new
    // period, so the recording in use must fit the new plan (it did not: 1 > 0 was kept).
    let refused = change_plan(&app, &account, &tiny, "IMMEDIATELY").await;
    assert_eq!(error_code(&refused), "QUOTA_EXCEEDED", "{refused}");
    clock.advance(TimeDelta::seconds(1));
    let restarted = change_plan(&app, &account, &tiny, "IMMEDIATELY").await;
    assert_eq!(
        data(&restarted)["changePlan"]["status"],
        "ACTIVE",
        "{restarted}"
    );
    let usage = app
        .graphql(
            "{ business { usage { metric used } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    let recordings = data(&usage)["business"]["usage"]
        .as_array()
        .and_then(|all| all.iter().find(|u| u["metric"] == "recordings"))
        .map(|u| u["used"].clone());
    assert_eq!(recordings, Some(json!(0)), "{usage}");
}
