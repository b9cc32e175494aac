//! The self-hosted GraphiQL: a page and its embedded assets, open to anyone; what it asks of
//! `/graphql` is judged as any request is.

use serde_json::json;

use crate::helpers::{TestApp, error_code, spawn_app, spawn_app_with};

/// The asset URLs the page names (`/graphiql/assets/…?v=…`).
fn asset_urls(page: &str) -> Vec<String> {
    page.split('"')
        .filter(|part| part.starts_with("/graphiql/assets/"))
        .map(str::to_owned)
        .collect()
}

async fn page(app: &TestApp, path: &str) -> (reqwest::header::HeaderMap, String) {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    (headers, response.text().await.expect("a body"))
}

#[tokio::test]
async fn graphiql_is_served_with_its_own_assets_under_a_strict_policy() {
    let app = spawn_app().await;
    for path in ["/graphiql", "/graphql"] {
        let (headers, body) = page(&app, path).await;
        assert!(
            body.contains("saaskit-graphiql.js"),
            "{path} serves GraphiQL"
        );
        let csp = headers["content-security-policy"].to_str().expect("ascii");
        assert!(csp.starts_with("default-src 'self';"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(!body.contains("<script>"), "no inline script");
        assert!(!body.contains("http"), "nothing from elsewhere");
    }
    let (_, body) = page(&app, "/graphiql").await;
    let urls = asset_urls(&body);
    assert_eq!(urls.len(), 6, "{urls:?}");
    for url in urls {
        let response = app.get(&url).await;
        assert_eq!(response.status(), 200, "{url}");
        let content_type = response.headers()["content-type"].to_str().expect("ascii");
        let expected = if url.contains(".css") {
            "text/css"
        } else {
            "text/javascript"
        };
        assert!(content_type.starts_with(expected), "{url}: {content_type}");
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable",
            "{url}"
        );
        assert!(!response.bytes().await.expect("a body").is_empty(), "{url}");
    }
}

#[tokio::test]
async fn an_asset_without_its_version_is_revalidated_by_its_etag() {
    let app = spawn_app().await;
    let response = app.get("/graphiql/assets/graphiql.min.js").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let etag = response.headers()["etag"].clone();
    let again = app
        .client
        .get(format!("{}/graphiql/assets/graphiql.min.js", app.address))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 304);
    assert_eq!(app.get("/graphiql/assets/nope.js").await.status(), 404);
    assert_eq!(
        app.get("/graphiql/assets/LICENSE.graphiql").await.status(),
        200
    );
}

#[tokio::test]
async fn in_production_the_page_is_open_and_the_schema_is_not() {
    let app = spawn_app_with(|f| f.merge(("env", "production"))).await;
    let (_, body) = page(&app, "/graphiql").await;
    for url in asset_urls(&body) {
        assert_eq!(app.get(&url).await.status(), 200, "{url}");
    }
    let response = app
        .graphql("{ __schema { queryType { name } } }", json!({}), None)
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    assert!(response["data"].is_null(), "nothing runs: {response}");
}
