//! Usage in batches: `recordUsages`, and the group commit of concurrent `recordUsage` calls —
//! each answer the one the calls would have had one by one, limits and keys still exact.

mod coalescer;
mod contention;
mod equivalence;
mod isolation;
mod timeouts;

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{TestApp, data, error_code, spawn_app};
use crate::security::attenuation::narrow;
use crate::usage::{limit_recordings, used};

const RECORD_MANY: &str = "mutation($inputs: [RecordUsageInput!]!) {
    recordUsages(inputs: $inputs) {
        usage { metric used limit remaining duplicate }
        error { code field metric limit used } } }";

/// `recordUsages(inputs)` sent with `key`.
async fn record_usages(app: &TestApp, key: &str, inputs: Value) -> Value {
    app.graphql(RECORD_MANY, json!({ "inputs": inputs }), Some(key))
        .await
}

fn outcomes(response: &Value) -> &Vec<Value> {
    data(response)["recordUsages"]
        .as_array()
        .expect("a list of outcomes")
}

#[tokio::test]
async fn each_event_is_judged_on_its_own_in_order() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    limit_recordings(&app, &account, 10).await;
    let inputs = json!([
        { "metric": "recordings", "quantity": 8, "idempotencyKey": "a" },
        { "metric": "recordings", "quantity": 3 },
        { "metric": "recordings", "quantity": 2, "idempotencyKey": "b" },
        { "metric": "recordings", "quantity": 8, "idempotencyKey": "a" },
        { "metric": "recordings", "quantity": 9, "idempotencyKey": "a" },
        { "metric": "nope" },
        { "metric": "recordings", "quantity": 0 },
        { "metric": "applications", "quantity": 2 },
    ]);
    let response = record_usages(&app, &account.api_key, json!(inputs)).await;
    let got = outcomes(&response);
    let usage = |used: i64, limit: i64, duplicate: bool, metric: &str| {
        json!({ "usage": { "metric": metric, "used": used, "limit": limit,
                "remaining": limit - used, "duplicate": duplicate }, "error": null })
    };
    assert_eq!(got[0], usage(8, 10, false, "recordings"));
    assert_eq!(
        got[1]["error"],
        json!({ "code": "QUOTA_EXCEEDED", "field": null, "metric": "recordings", "limit": 10,
                "used": 8 })
    );
    assert_eq!(
        got[2],
        usage(10, 10, false, "recordings"),
        "a later smaller one fits"
    );
    assert_eq!(
        got[3],
        usage(8, 10, true, "recordings"),
        "the first answer again"
    );
    assert_eq!(got[4]["error"]["code"], "CONFLICT");
    assert_eq!(got[4]["error"]["field"], "idempotencyKey");
    assert_eq!(got[5]["error"]["code"], "BAD_USER_INPUT");
    assert_eq!(got[5]["error"]["field"], "metric");
    assert_eq!(got[6]["error"]["field"], "quantity");
    assert_eq!(got[7], usage(2, 5, false, "applications"));
    assert_eq!(used(&app, &account, "recordings").await, 10);
    // Across calls the keys hold as well.
    let again = record_usages(
        &app,
        &account.api_key,
        json!([{ "metric": "recordings", "quantity": 2, "idempotencyKey": "b" }]),
    )
    .await;
    assert_eq!(outcomes(&again)[0], usage(10, 10, true, "recordings"));
}

#[tokio::test]
async fn more_than_a_hundred_events_are_refused_before_anything_counts() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let inputs: Vec<Value> = (0..101)
        .map(|_| json!({ "metric": "recordings" }))
        .collect();
    let response = record_usages(&app, &account.api_key, json!(inputs)).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT");
    assert_eq!(response["errors"][0]["extensions"]["field"], "inputs");
    assert_eq!(used(&app, &account, "recordings").await, 0);
    let hundred: Vec<Value> = (0..100)
        .map(|_| json!({ "metric": "recordings" }))
        .collect();
    let response = record_usages(&app, &account.api_key, json!(hundred)).await;
    assert_eq!(outcomes(&response).len(), 100);
    assert_eq!(used(&app, &account, "recordings").await, 100);
}

#[tokio::test]
async fn concurrent_batches_never_overshoot_the_limit() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    limit_recordings(&app, &account, 100).await;
    let inputs: Vec<Value> = (0..10).map(|_| json!({ "metric": "recordings" })).collect();
    let calls = (0..20).map(|_| record_usages(&app, &account.api_key, json!(inputs)));
    let answers = join_all(calls).await;
    let all: Vec<&Value> = answers.iter().flat_map(outcomes).collect();
    let accepted = all.iter().filter(|o| !o["usage"].is_null()).count();
    let refused = all
        .iter()
        .filter(|o| o["error"]["code"] == "QUOTA_EXCEEDED" && o["error"]["used"] == 100)
        .count();
    assert_eq!((accepted, refused), (100, 100));
    assert_eq!(used(&app, &account, "recordings").await, 100);
}

#[tokio::test]
async fn concurrent_batches_with_one_key_count_it_once() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let inputs = json!([
        { "metric": "recordings", "quantity": 3, "idempotencyKey": "event-1" },
        { "metric": "recordings", "quantity": 1 },
    ]);
    let calls = (0..30).map(|_| record_usages(&app, &account.api_key, inputs.clone()));
    let answers = join_all(calls).await;
    let keyed: Vec<&Value> = answers.iter().map(|a| &outcomes(a)[0]["usage"]).collect();
    assert_eq!(keyed.iter().filter(|u| u["duplicate"] == false).count(), 1);
    assert!(
        keyed.iter().all(|u| u["duplicate"].is_boolean()),
        "{keyed:?}"
    );
    assert_eq!(used(&app, &account, "recordings").await, 3 + 30);
}

#[tokio::test]
async fn a_key_narrowed_to_one_metric_records_no_batch_with_another() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let key = narrow(&app, &account.api_key, r#"check if metric("recordings");"#);
    let mixed = json!([{ "metric": "recordings" }, { "metric": " applications " }]);
    let refused = record_usages(&app, &key, mixed).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    // The same through a variable's default, which is what runs when the request omits it.
    let defaulted = app
        .graphql(
            r#"mutation($i: [RecordUsageInput!]! = [{ metric: "recordings" }, { metric: "applications" }]) {
                recordUsages(inputs: $i) { error { code } } }"#,
            json!({}),
            Some(&key),
        )
        .await;
    assert_eq!(error_code(&defaulted), "FORBIDDEN", "{defaulted}");
    assert_eq!(
        used(&app, &account, "recordings").await,
        0,
        "all or nothing"
    );
    assert_eq!(used(&app, &account, "applications").await, 0);
    let allowed = record_usages(
        &app,
        &key,
        json!([{ "metric": "recordings" }, { "metric": "recordings" }]),
    )
    .await;
    assert_eq!(outcomes(&allowed).len(), 2);
    assert_eq!(used(&app, &account, "recordings").await, 2);
}

#[tokio::test]
async fn a_list_of_thousands_of_distinct_metrics_is_refused_and_counts_nothing() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    // Each distinct metric would be a run of the token's authorizer: only the first events of
    // a list are judged, and the resolver refuses the list before anything counts.
    let inputs: Vec<Value> = (0..5_000)
        .map(|i| json!({ "metric": format!("metric-{i}") }))
        .collect();
    let response = record_usages(&app, &account.api_key, json!(inputs)).await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    assert_eq!(response["errors"][0]["extensions"]["field"], "inputs");
    assert_eq!(used(&app, &account, "recordings").await, 0);
}
