//! A family of hostile documents against a debug build (which panics on integer overflow):
//! each is answered with a clean GraphQL refusal naming the limit it crossed, runs nothing,
//! and leaves the server healthy.

use std::time::Duration;

use serde_json::{Value, json};

use super::lists::red_team;
use crate::helpers::{TestApp, spawn_app};

/// `fragment F{k} { ...F{k-1} ...F{k-1} }` down to `F0 { base }`: 2^levels copies of `base`,
/// spread inside `around` (`{}` marks the spot).
fn doubling(around: &str, base: &str, levels: usize) -> String {
    let spread = format!("...F{levels}");
    let operation = around.replace("{}", &spread);
    let mut query = format!("query {{ {operation} }} fragment F0 on Query {{ {base} }}");
    for level in 1..=levels {
        let before = level - 1;
        query.push_str(&format!(
            " fragment F{level} on Query {{ ...F{before} ... on Query {{ ...F{before} }} }}"
        ));
    }
    query
}

/// `depth` inline fragments, one inside the other.
fn deep_inline(depth: usize) -> String {
    format!(
        "{{ {}__typename{} }}",
        "... on Query { ".repeat(depth),
        " }".repeat(depth)
    )
}

/// The family: (what it is, the document, the limit that refuses it).
fn family() -> Vec<(&'static str, String, &'static str)> {
    let aliases: Vec<String> = (0..1_000).map(|i| format!("a{i}: __typename")).collect();
    let directives = vec!["@include(if: true)"; 200].join(" ");
    vec![
        // 2^70 of each: the counts saturate. Inside one more `__schema`, the count of them
        // overflowed (and panicked) before.
        (
            "__schema doubling",
            doubling("__schema { {} }", "__schema { __typename }", 70),
            "selections",
        ),
        (
            "__type doubling",
            doubling(
                "__type(name: \"Query\") { {} }",
                "__type(name: \"Query\") { name }",
                70,
            ),
            "selections",
        ),
        ("deep inline fragments", deep_inline(100), "nesting"),
        (
            "an alias bomb",
            format!("{{ {} }}", aliases.join(" ")),
            "aliases",
        ),
        (
            "a directive flood",
            format!("{{ __typename {directives} }}"),
            "directives",
        ),
        ("the red-team list document", red_team(), "nodes"),
    ]
}

async fn post(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}/graphql", app.address))
        .timeout(Duration::from_secs(20))
        .json(body)
        .send()
        .await
        .expect("answered, the connection whole")
}

#[tokio::test]
async fn each_hostile_document_is_refused_cleanly_and_the_server_stays_healthy() {
    let app = spawn_app().await;
    for (what, query, limit) in family() {
        let response = post(&app, &json!({ "query": query })).await;
        assert_eq!(response.status(), 200, "{what}");
        let body: Value = response.json().await.expect("a JSON body");
        let extensions = &body["errors"][0]["extensions"];
        assert_eq!(
            extensions["code"], "GRAPHQL_VALIDATION_FAILED",
            "{what}: {body}"
        );
        assert_eq!(extensions["limit"], limit, "{what}: {body}");
        assert!(body.get("data").is_none_or(Value::is_null), "{what} ran");
        let health = app.get("/health").await;
        assert_eq!(health.status(), 200, "healthy after {what}");
    }
    // All of them in one batch, too.
    let batch: Vec<Value> = family()
        .into_iter()
        .map(|(_, query, _)| json!({ "query": query }))
        .collect();
    let answers: Value = post(&app, &json!(batch)).await.json().await.expect("JSON");
    for answer in answers.as_array().expect("a batch") {
        assert_eq!(
            answer["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );
    }
    assert_eq!(app.get("/health").await.status(), 200);
}
