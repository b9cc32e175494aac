//! A request over `SAASKIT_REQUEST_TIMEOUT` gets a GraphQL error, not a dropped connection;
//! production names no field the document did not ask for.

use serde_json::json;

use crate::helpers::{PASSWORD, data, error_code, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_request_over_the_timeout_is_answered_with_timeout() {
    let app = spawn_app_with(|figment| figment.merge(("request_timeout", "1ms"))).await;
    // A login hashes a password on the blocking pool: far longer than a millisecond.
    let response = app
        .graphql(
            "mutation($input: LoginInput!) { login(input: $input) { token } }",
            json!({ "input": { "email": "nobody@example.com", "password": PASSWORD } }),
            None,
        )
        .await;
    assert_eq!(error_code(&response), "TIMEOUT", "{response}");
    let message = response["errors"][0]["message"]
        .as_str()
        .expect("a message");
    assert!(message.contains("1ms"), "{message}");
    assert!(response.get("data").is_none_or(serde_json::Value::is_null));
    // The node goes on serving.
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn a_timed_out_signup_leaves_nothing_half_done() {
    let app = spawn_app_with(|figment| figment.merge(("request_timeout", "1ms"))).await;
    let response = app
        .graphql(
            "mutation($input: SignupInput!) { signup(input: $input) { token } }",
            json!({ "input": {
                "email": "slow@example.com", "password": PASSWORD,
                "name": "Slow", "businessName": "Slow Co"
            }}),
            None,
        )
        .await;
    assert_eq!(error_code(&response), "TIMEOUT", "{response}");
    // The hash that was under way finishes on its own; the transaction never began or was
    // rolled back: no user without a business, no business without an owner.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let users = entity::users::Entity::find()
        .count(&app.state.db)
        .await
        .expect("users");
    let businesses = entity::businesses::Entity::find()
        .count(&app.state.db)
        .await
        .expect("businesses");
    assert_eq!((users, businesses), (0, 0));
}

const MISSPELT: &str = "{ plans { cod } }";

#[tokio::test]
async fn development_suggests_field_names() {
    let app = spawn_app().await;
    let response = app.graphql(MISSPELT, json!({}), None).await;
    assert_eq!(error_code(&response), "GRAPHQL_VALIDATION_FAILED");
    let message = response["errors"][0]["message"]
        .as_str()
        .expect("a message");
    assert!(message.contains("Did you mean"), "{message}");
}

#[tokio::test]
async fn production_does_not_suggest_field_names() {
    let app = spawn_app_with(|figment| figment.merge(("env", "production"))).await;
    let response = app.graphql(MISSPELT, json!({}), None).await;
    assert_eq!(error_code(&response), "GRAPHQL_VALIDATION_FAILED");
    let message = response["errors"][0]["message"]
        .as_str()
        .expect("a message");
    assert!(!message.contains("Did you mean"), "{message}");
    assert!(!message.contains("\"code\""), "{message}");
    // Fields spelt right still work.
    data(&app.graphql("{ plans { code } }", json!({}), None).await);
}
