//! `recordUsage`: exactly once, never past the limit, all or nothing.

use biscuit_auth::Biscuit;
use biscuit_auth::macros::block;
use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, data, error_code, spawn_app};

const RECORD: &str = "mutation($input: RecordUsageInput!) {
    recordUsage(input: $input) { metric used limit remaining duplicate } }";

async fn record(app: &TestApp, key: &str, input: Value) -> Value {
    app.graphql(RECORD, json!({ "input": input }), Some(key))
        .await
}

/// Puts the account on a new plan whose `recordings` stop at `max`.
/// Returns the staff token and the plan's id.
pub(crate) async fn limit_recordings(
    app: &TestApp,
    account: &Account,
    max: i64,
) -> (String, String) {
    let staff = app.staff_token("staff@example.com").await;
    let created = app
        .graphql(
            "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }",
            json!({ "input": { "code": format!("tight-{max}-{}", uuid::Uuid::now_v7().simple()), "name": "Tight", "priceCents": 0,
                "currency": "USD", "period": { "count": 1, "unit": "MONTH" }, "isPublic": false,
                "limits": [{ "metric": "recordings", "max": max, "resetsEachPeriod": true },
                           { "metric": "applications", "max": 5, "resetsEachPeriod": false }] } }),
            Some(&staff),
        )
        .await;
    let plan = data(&created)["createPlan"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let granted = app
        .graphql(
            "mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { id } }",
            json!({ "b": account.business_id, "p": plan }),
            Some(&staff),
        )
        .await;
    data(&granted);
    (staff, plan)
}

pub(crate) async fn used(app: &TestApp, account: &Account, metric: &str) -> Value {
    let response = app
        .graphql(
            "{ business { usage { metric used } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    data(&response)["business"]["usage"]
        .as_array()
        .and_then(|all| all.iter().find(|u| u["metric"] == metric))
        .map(|u| u["used"].clone())
        .expect("the metric is listed")
}

#[tokio::test]
async fn concurrent_calls_never_overshoot_the_limit() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    limit_recordings(&app, &account, 100).await;
    let calls = (0..200).map(|_| record(&app, &account.api_key, json!({ "metric": "recordings" })));
    let answers = join_all(calls).await;
    let accepted = answers.iter().filter(|a| a.get("errors").is_none()).count();
    let refused = answers
        .iter()
        .filter(|a| a["errors"][0]["extensions"]["code"] == "QUOTA_EXCEEDED")
        .count();
    assert_eq!(
        (accepted, refused),
        (100, 100),
        "{:?}",
        answers.iter().find(|a| a.get("errors").is_some()
            && a["errors"][0]["extensions"]["code"] != "QUOTA_EXCEEDED")
    );
    assert_eq!(used(&app, &account, "recordings").await, 100);
    let refusal = answers
        .iter()
        .find(|a| a.get("errors").is_some())
        .expect("a refusal");
    let ext = &refusal["errors"][0]["extensions"];
    assert_eq!(
        (
            ext["metric"].clone(),
            ext["limit"].clone(),
            ext["used"].clone()
        ),
        (json!("recordings"), json!(100), json!(100))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uses_of_a_metric_all_count() {
    let app = spawn_app().await;
    // Ten businesses, each using `recordings` for the first time from many tasks at once.
    let mut accounts = Vec::new();
    for i in 0..10 {
        accounts.push(app.signup(&format!("first{i}@example.com")).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for account in &accounts {
        let business: uuid::Uuid = account.business_id.parse().expect("uuid");
        for i in 0..12 {
            let db = app.state.db.clone();
            tasks.spawn(async move {
                let input = saaskit::services::usage::Record {
                    metric: "recordings".into(),
                    quantity: 1,
                    idempotency_key: Some(format!("first-{i}")),
                };
                saaskit::services::usage::reference::record(
                    &db,
                    business,
                    input,
                    chrono::Utc::now(),
                )
                .await
            });
        }
    }
    let mut refused = Vec::new();
    while let Some(result) = tasks.join_next().await {
        if let Err(err) = result.expect("the task ran") {
            refused.push(err.to_string());
        }
    }
    assert!(refused.is_empty(), "{refused:?}");
    for account in &accounts {
        assert_eq!(used(&app, account, "recordings").await, 12);
    }
}

#[tokio::test]
async fn concurrent_calls_with_one_key_count_once() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let input = json!({ "metric": "recordings", "quantity": 3, "idempotencyKey": "event-1" });
    let answers = join_all((0..50).map(|_| record(&app, &account.api_key, input.clone()))).await;
    let results: Vec<&Value> = answers.iter().map(|a| &data(a)["recordUsage"]).collect();
    assert!(results.iter().all(|r| r["used"] == 3), "{results:?}");
    assert_eq!(
        results.iter().filter(|r| r["duplicate"] == true).count(),
        49
    );
    assert_eq!(used(&app, &account, "recordings").await, 3);
}

#[tokio::test]
async fn a_call_that_would_pass_the_limit_counts_nothing() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    limit_recordings(&app, &account, 100).await;
    let first = record(
        &app,
        &account.api_key,
        json!({ "metric": "recordings", "quantity": 95 }),
    )
    .await;
    assert_eq!(
        data(&first)["recordUsage"],
        json!({ "metric": "recordings", "used": 95, "limit": 100, "remaining": 5, "duplicate": false })
    );
    let over = record(
        &app,
        &account.api_key,
        json!({ "metric": "recordings", "quantity": 10, "idempotencyKey": "k" }),
    )
    .await;
    assert_eq!(error_code(&over), "QUOTA_EXCEEDED");
    assert_eq!(over["errors"][0]["extensions"]["used"], 95);
    assert_eq!(used(&app, &account, "recordings").await, 95);
    // A refused call's key may be retried: the refusal did not take it.
    let fits = json!({ "metric": "recordings", "quantity": 5, "idempotencyKey": "k" });
    let retried = record(&app, &account.api_key, fits.clone()).await;
    assert_eq!(
        data(&retried)["recordUsage"],
        json!({ "metric": "recordings", "used": 100, "limit": 100, "remaining": 0, "duplicate": false })
    );
    let again = record(&app, &account.api_key, fits).await;
    assert_eq!(data(&again)["recordUsage"]["duplicate"], true);
    assert_eq!(used(&app, &account, "recordings").await, 100);
}

#[tokio::test]
async fn a_key_reused_for_something_else_is_a_conflict() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let key = |metric: &str, quantity: i64| json!({ "metric": metric, "quantity": quantity, "idempotencyKey": "same" });
    data(&record(&app, &account.api_key, key("recordings", 2)).await);
    for other in [key("recordings", 3), key("applications", 2)] {
        let response = record(&app, &account.api_key, other).await;
        assert_eq!(error_code(&response), "CONFLICT");
        assert_eq!(
            response["errors"][0]["extensions"]["field"],
            "idempotencyKey"
        );
    }
    assert_eq!(used(&app, &account, "recordings").await, 2);
    assert_eq!(used(&app, &account, "applications").await, 0);
    let again = record(&app, &account.api_key, key("recordings", 2)).await;
    assert_eq!(data(&again)["recordUsage"]["duplicate"], true);
    // Keys belong to a business: another business may use the same one.
    let other = app.signup("bob@example.com").await;
    let theirs = record(&app, &other.api_key, key("recordings", 2)).await;
    assert_eq!(data(&theirs)["recordUsage"]["duplicate"], false);
}

#[tokio::test]
async fn without_a_key_every_call_counts() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    for _ in 0..3 {
        data(&record(&app, &account.api_key, json!({ "metric": "recordings" })).await);
    }
    assert_eq!(used(&app, &account, "recordings").await, 3);
}

#[tokio::test]
async fn bad_usage_input_names_the_field_and_counts_nothing() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let cases = [
        (json!({ "metric": "teleports" }), "metric"),
        (json!({ "metric": "members" }), "metric"),
        (json!({ "metric": "recordings", "quantity": 0 }), "quantity"),
        (
            json!({ "metric": "recordings", "quantity": -1 }),
            "quantity",
        ),
        (
            json!({ "metric": "applications", "quantity": -1 }),
            "quantity",
        ),
        (
            json!({ "metric": "recordings", "idempotencyKey": "" }),
            "idempotencyKey",
        ),
        (
            json!({ "metric": "recordings", "idempotencyKey": "ключ" }),
            "idempotencyKey",
        ),
        (
            json!({ "metric": "recordings", "idempotencyKey": "k".repeat(256) }),
            "idempotencyKey",
        ),
    ];
    for (input, field) in cases {
        let response = record(&app, &account.api_key, input.clone()).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{input}");
        assert_eq!(
            response["errors"][0]["extensions"]["field"], field,
            "{input}"
        );
    }
    assert_eq!(used(&app, &account, "recordings").await, 0);
}

#[tokio::test]
async fn non_resetting_metrics_give_back_but_never_below_zero() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    // free: 1 application.
    data(&record(&app, &account.api_key, json!({ "metric": "applications" })).await);
    let second = record(&app, &account.api_key, json!({ "metric": "applications" })).await;
    assert_eq!(error_code(&second), "QUOTA_EXCEEDED");
    let deleted = record(
        &app,
        &account.api_key,
        json!({ "metric": "applications", "quantity": -1 }),
    )
    .await;
    assert_eq!(data(&deleted)["recordUsage"]["used"], 0);
    let below = record(
        &app,
        &account.api_key,
        json!({ "metric": "applications", "quantity": -1 }),
    )
    .await;
    assert_eq!(error_code(&below), "BAD_USER_INPUT");
}

#[tokio::test]
async fn an_inactive_subscription_records_nothing() {
    use entity::subscriptions;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::Status, Expr::value("past_due"))
        .filter(
            subscriptions::Column::BusinessId
                .eq(account.business_id.parse::<uuid::Uuid>().expect("uuid")),
        )
        .exec(&app.state.db)
        .await
        .expect("updated");
    let response = record(&app, &account.api_key, json!({ "metric": "recordings" })).await;
    assert_eq!(error_code(&response), "SUBSCRIPTION_INACTIVE");
}

#[tokio::test]
async fn only_the_sdk_key_records_usage() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let response = record(&app, &account.token, json!({ "metric": "recordings" })).await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let usage = app
        .graphql("{ business { usage { metric used limit remaining resetsAt } subscription { usage { metric } } } }", json!({}), Some(&account.token))
        .await;
    let usage = &data(&usage)["business"]["usage"];
    assert_eq!(usage.as_array().map(Vec::len), Some(3));
    let members = usage
        .as_array()
        .and_then(|u| u.iter().find(|m| m["metric"] == "members"))
        .expect("members");
    assert_eq!(
        (
            members["used"].clone(),
            members["limit"].clone(),
            members["resetsAt"].clone()
        ),
        (json!(1), json!(3), Value::Null)
    );
    let recordings = usage
        .as_array()
        .and_then(|u| u.iter().find(|m| m["metric"] == "recordings"))
        .expect("recordings");
    assert!(recordings["resetsAt"].is_string());
    let sdk = app
        .graphql(
            "{ business { usage { metric used } } }",
            json!({}),
            Some(&account.api_key),
        )
        .await;
    assert_eq!(
        data(&sdk)["business"]["usage"].as_array().map(Vec::len),
        Some(3)
    );
}

#[tokio::test]
async fn a_key_attenuated_to_one_metric_cannot_record_another() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let narrowed = Biscuit::from_base64(&account.api_key, app.state.root_key.public())
        .expect("parses")
        .append(block!(r#"check if metric("recordings");"#))
        .expect("attenuates")
        .to_base64()
        .expect("serializes");
    let ok = record(&app, &narrowed, json!({ "metric": "recordings" })).await;
    assert_eq!(data(&ok)["recordUsage"]["used"], 1);
    let other = record(&app, &narrowed, json!({ "metric": "applications" })).await;
    assert_eq!(error_code(&other), "FORBIDDEN");
    let literal = app
        .graphql(
            "mutation { recordUsage(input: { metric: \"applications\" }) { used } }",
            json!({}),
            Some(&narrowed),
        )
        .await;
    assert_eq!(error_code(&literal), "FORBIDDEN");
    assert_eq!(used(&app, &account, "applications").await, 0);
}

#[tokio::test]
async fn editing_a_plans_limits_applies_to_its_subscribers_at_once() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let (staff, plan) = limit_recordings(&app, &account, 1).await;
    data(&record(&app, &account.api_key, json!({ "metric": "recordings" })).await);
    let full = record(&app, &account.api_key, json!({ "metric": "recordings" })).await;
    assert_eq!(error_code(&full), "QUOTA_EXCEEDED");
    let raised = app
        .graphql(
            "mutation($id: ID!, $input: UpdatePlanInput!) { updatePlan(id: $id, input: $input) { id } }",
            json!({ "id": plan, "input": { "limits": [
                { "metric": "recordings", "max": 5, "resetsEachPeriod": true }] } }),
            Some(&staff),
        )
        .await;
    data(&raised);
    let now = record(&app, &account.api_key, json!({ "metric": "recordings" })).await;
    assert_eq!(data(&now)["recordUsage"]["used"], 2);
    assert_eq!(data(&now)["recordUsage"]["limit"], 5);
    // A metric the plan no longer has is refused, even though its counter still exists.
    let dropped = record(&app, &account.api_key, json!({ "metric": "applications" })).await;
    assert_eq!(error_code(&dropped), "BAD_USER_INPUT");
}
