//! Browser frontends on other origins: preflights answered for allowed origins only, and never
//! with credentials.

use reqwest::Method;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, format!("{}/graphql", app.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("sent")
}

fn allowed_origin(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|value| value.to_str().expect("ascii"))
}

#[tokio::test]
async fn a_listed_origin_gets_its_preflight_answered() {
    let app = spawn_app_with(|f| f.merge(("cors_origins", "https://app.example.com"))).await;
    let response = preflight(&app, "https://app.example.com").await;
    assert_eq!(response.status(), 200);
    assert_eq!(allowed_origin(&response), Some("https://app.example.com"));
    let headers = response.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    let post = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", "https://app.example.com")
        .json(&serde_json::json!({ "query": "{ plans { code } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(allowed_origin(&post), Some("https://app.example.com"));
}

#[tokio::test]
async fn an_unlisted_origin_is_refused() {
    let app = spawn_app_with(|f| f.merge(("cors_origins", "https://app.example.com"))).await;
    let response = preflight(&app, "https://evil.example.com").await;
    assert_eq!(response.status(), 400);
    assert_eq!(allowed_origin(&response), None);
    // The request itself runs (it may be same-origin), but the browser is not allowed to show
    // another origin its answer.
    let post = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("origin", "https://evil.example.com")
        .json(&serde_json::json!({ "query": "{ plans { code } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(post.status(), 200);
    assert_eq!(allowed_origin(&post), None);
}

#[tokio::test]
async fn development_allows_any_localhost_origin_and_production_none() {
    let app = spawn_app().await;
    let response = preflight(&app, "http://localhost:5173").await;
    assert_eq!(response.status(), 200);
    assert_eq!(allowed_origin(&response), Some("http://localhost:5173"));
    assert_eq!(preflight(&app, "https://example.com").await.status(), 400);

    let production = spawn_app_with(|f| f.merge(("env", "production"))).await;
    assert_eq!(
        preflight(&production, "http://localhost:5173")
            .await
            .status(),
        400
    );
}

#[tokio::test]
async fn the_wildcard_never_comes_with_credentials() {
    let app = spawn_app_with(|f| f.merge(("cors_origins", "*"))).await;
    let response = preflight(&app, "https://anywhere.example").await;
    assert_eq!(response.status(), 200);
    assert_eq!(allowed_origin(&response), Some("*"));
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
}
