//! Every response names its request: the caller's `X-Request-Id` when it is sane, else a new
//! UUIDv7.

use serde_json::json;

use crate::helpers::spawn_app;

async fn request_id(app: &crate::helpers::TestApp, sent: Option<&str>, path: &str) -> String {
    let mut request = if path == "/graphql" {
        app.client
            .post(format!("{}{path}", app.address))
            .json(&json!({ "query": "{ plans { code } }" }))
    } else {
        app.client.get(format!("{}{path}", app.address))
    };
    if let Some(sent) = sent {
        request = request.header("X-Request-Id", sent);
    }
    let response = request.send().await.expect("sent");
    response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test]
async fn a_sane_request_id_is_kept_and_returned() {
    let app = spawn_app().await;
    assert_eq!(
        request_id(&app, Some("lb-7f3a.2_x"), "/graphql").await,
        "lb-7f3a.2_x"
    );
    assert_eq!(
        request_id(&app, Some("probe-1"), "/health").await,
        "probe-1"
    );
}

#[tokio::test]
async fn without_a_sane_request_id_one_is_generated() {
    let app = spawn_app().await;
    let long = "a".repeat(65);
    for sent in [None, Some("two words"), Some(long.as_str()), Some("")] {
        let id = request_id(&app, sent, "/graphql").await;
        let parsed = uuid::Uuid::parse_str(&id).unwrap_or_else(|_| panic!("{id} is a uuid"));
        assert_eq!(parsed.get_version_num(), 7, "{id}");
    }
    let first = request_id(&app, None, "/graphql").await;
    let second = request_id(&app, None, "/graphql").await;
    assert_ne!(first, second, "each request has its own id");
}
