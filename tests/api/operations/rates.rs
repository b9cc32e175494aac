//! Rates kept per node: `recordUsage` per SDK key, invitation previews per client address.

use serde_json::json;

use crate::helpers::{data, error_code, manual_clock, spawn_app_with_clock_and};

const RECORD: &str = "mutation { recordUsage(input: { metric: \"recordings\" }) { used } }";
const PREVIEW: &str = "query($key: String!) { invitation(activationKey: $key) { email } }";

#[tokio::test]
async fn record_usage_is_limited_per_sdk_key_and_refills_with_time() {
    let clock = manual_clock();
    let app = spawn_app_with_clock_and(clock.clone(), |figment| {
        figment
            .merge(("usage_rate_per_second", 2))
            .merge(("usage_rate_burst", 3))
    })
    .await;
    let ann = app.signup("ann@example.com").await;
    let bob = app.signup("bob@example.com").await;
    for _ in 0..3 {
        data(&app.graphql(RECORD, json!({}), Some(&ann.api_key)).await);
    }
    let refused = app.graphql(RECORD, json!({}), Some(&ann.api_key)).await;
    assert_eq!(error_code(&refused), "RATE_LIMITED", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["retryAfter"], 1);
    // Nothing was counted for the refused call.
    let usage = app
        .graphql(
            "{ business { usage { metric used } } }",
            json!({}),
            Some(&ann.token),
        )
        .await;
    let recordings = data(&usage)["business"]["usage"]
        .as_array()
        .and_then(|usage| usage.iter().find(|m| m["metric"] == "recordings"))
        .map(|m| m["used"].clone());
    assert_eq!(recordings, Some(json!(3)));

    // Another key has its own bucket.
    data(&app.graphql(RECORD, json!({}), Some(&bob.api_key)).await);

    // Half a second later one more call is allowed (2 per second), and only one.
    clock.advance(chrono::TimeDelta::milliseconds(500));
    data(&app.graphql(RECORD, json!({}), Some(&ann.api_key)).await);
    let refused = app.graphql(RECORD, json!({}), Some(&ann.api_key)).await;
    assert_eq!(error_code(&refused), "RATE_LIMITED");
}

#[tokio::test]
async fn invitation_previews_count_against_the_address_rate() {
    let clock = manual_clock();
    let app = spawn_app_with_clock_and(clock.clone(), |figment| {
        figment.merge(("auth_attempts_per_minute", 3))
    })
    .await;
    for _ in 0..3 {
        let response = app
            .graphql(PREVIEW, json!({ "key": "0".repeat(64) }), None)
            .await;
        assert_eq!(data(&response)["invitation"], json!(null));
    }
    let refused = app
        .graphql(PREVIEW, json!({ "key": "1".repeat(64) }), None)
        .await;
    assert_eq!(error_code(&refused), "RATE_LIMITED", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["retryAfter"], 20);
    clock.advance(chrono::TimeDelta::seconds(20));
    let response = app
        .graphql(PREVIEW, json!({ "key": "0".repeat(64) }), None)
        .await;
    assert_eq!(data(&response)["invitation"], json!(null));
}

#[tokio::test]
async fn each_event_of_record_usages_counts_against_the_sdk_key_rate() {
    let clock = manual_clock();
    let app = spawn_app_with_clock_and(clock.clone(), |figment| {
        figment
            .merge(("usage_rate_per_second", 2))
            .merge(("usage_rate_burst", 5))
    })
    .await;
    let ann = app.signup("ann@example.com").await;
    let many = "mutation($inputs: [RecordUsageInput!]!) { recordUsages(inputs: $inputs) { \
                usage { used } } }";
    let events = |n: usize| json!({ "inputs": vec![json!({ "metric": "recordings" }); n] });
    // Four of the five allowed at once, then a batch of two is more than is left.
    data(&app.graphql(many, events(4), Some(&ann.api_key)).await);
    let refused = app.graphql(many, events(2), Some(&ann.api_key)).await;
    assert_eq!(error_code(&refused), "RATE_LIMITED", "{refused}");
    // A batch larger than the whole burst is never allowed: no retryAfter promises otherwise.
    clock.advance(chrono::TimeDelta::seconds(10));
    let refused = app.graphql(many, events(6), Some(&ann.api_key)).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    let extensions = &refused["errors"][0]["extensions"];
    assert_eq!(extensions["field"], "inputs");
    assert!(extensions.get("retryAfter").is_none(), "{refused}");
    // What is left fits: one more event.
    data(&app.graphql(RECORD, json!({}), Some(&ann.api_key)).await);
}
