use serde_json::{Value, json};

use crate::helpers::{error_code, spawn_app};

#[tokio::test]
async fn a_body_that_is_not_json_gets_a_graphql_error() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body("{\"query\": ")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(error_code(&body), "BAD_REQUEST");
}

#[tokio::test]
async fn a_query_that_does_not_parse_gets_a_validation_error() {
    let app = spawn_app().await;
    let response = app.graphql("{ plans { code ", json!({}), None).await;
    assert_eq!(error_code(&response), "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn an_unknown_field_gets_a_validation_error() {
    let app = spawn_app().await;
    let response = app.graphql("{ plans { secret } }", json!({}), None).await;
    assert_eq!(error_code(&response), "GRAPHQL_VALIDATION_FAILED");
}

#[tokio::test]
async fn a_database_failure_reaches_the_client_as_a_generic_error() {
    let app = spawn_app().await;
    app.break_database().await;
    let response = app.graphql("{ plans { code } }", json!({}), None).await;
    assert_eq!(error_code(&response), "INTERNAL_SERVER_ERROR");
    let message = response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(message, "internal server error", "no internals leak");
}

#[tokio::test]
async fn a_query_with_too_many_aliases_is_refused() {
    let app = spawn_app().await;
    let fields: String = (0..31)
        .map(|i| format!("p{i}: plans {{ code }} "))
        .collect();
    let response = app
        .graphql(&format!("{{ {fields} }}"), json!({}), None)
        .await;
    assert_eq!(error_code(&response), "GRAPHQL_VALIDATION_FAILED");
    let fields: String = (0..30)
        .map(|i| format!("p{i}: plans {{ code }} "))
        .collect();
    let response = app
        .graphql(&format!("{{ {fields} }}"), json!({}), None)
        .await;
    assert!(response.get("errors").is_none(), "{response}");
}

#[tokio::test]
async fn an_oversized_body_gets_a_graphql_error() {
    let app = spawn_app().await;
    let query = format!("{{ plans {{ code }} }} # {}", "x".repeat(2 * 1024 * 1024));
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(error_code(&body), "BAD_REQUEST");
}
