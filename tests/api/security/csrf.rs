//! Cross-site request forgery: `POST /graphql` runs only a JSON body. The types a browser
//! sends cross-site without a preflight (and a missing type) are refused with 415 before the
//! body is read, so a page elsewhere cannot make a browser run an operation.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, data, error_code, spawn_app};

const SIGNUP: &str = "mutation($input: SignupInput!) { signup(input: $input) { token } }";

fn signup_body(email: &str) -> String {
    json!({ "query": SIGNUP, "variables": { "input": {
        "email": email, "password": PASSWORD, "name": "Eve", "businessName": "Forged" } } })
    .to_string()
}

async fn send(app: &TestApp, content_type: Option<&str>, body: String) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", "https://evil.example")
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("answered")
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415_and_runs_nothing() {
    let app = spawn_app().await;
    let reset = json!({ "query": "mutation { requestPasswordReset(email: \"a@example.com\") }" });
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=----x"),
        None,
    ] {
        for body in [reset.to_string(), signup_body("forged@example.com")] {
            let response = send(&app, content_type, body).await;
            assert_eq!(response.status(), 415, "{content_type:?}");
            let body: Value = response.json().await.expect("a GraphQL-shaped body");
            assert_eq!(
                error_code(&body),
                "UNSUPPORTED_MEDIA_TYPE",
                "{content_type:?}"
            );
            assert!(body.get("data").is_none());
        }
    }
    // None of the sign-ups ran: the address is still free.
    let signup: Value = send(
        &app,
        Some("application/json"),
        signup_body("forged@example.com"),
    )
    .await
    .json()
    .await
    .expect("JSON");
    assert!(data(&signup)["signup"]["token"].is_string());
}

#[tokio::test]
async fn json_with_parameters_and_the_graphql_response_type_are_served() {
    let app = spawn_app().await;
    let plans = json!({ "query": "{ plans { code } }" }).to_string();
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/graphql-response+json",
    ] {
        let response = send(&app, Some(content_type), plans.clone()).await;
        assert_eq!(response.status(), 200, "{content_type}");
        let body: Value = response.json().await.expect("JSON");
        assert!(data(&body)["plans"].is_array(), "{content_type}");
    }
}
