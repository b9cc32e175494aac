//! `createBusiness`: a signed-in user founds another business, exactly as sign-up founds the
//! first, up to a cap; only the user's own login session may.

use saaskit::services::team::found::MAX_OWNED;
use serde_json::{Value, json};

use crate::helpers::{TestApp, data, error_code, spawn_app};

const CREATE: &str = "mutation($name: String!) { createBusiness(name: $name) {
    token viewer { role business { id name apiKey subscription { status plan { isDefault } }
    members { edges { node { role user { email } } } } } memberships { business { name } } } } }";

async fn create(app: &TestApp, token: &str, name: &str) -> Value {
    app.graphql(CREATE, json!({ "name": name }), Some(token))
        .await
}

#[tokio::test]
async fn a_signed_in_user_founds_another_business_as_its_owner_as_at_sign_up() {
    let app = spawn_app().await;
    let ada = app.signup("ada@example.com").await;
    let created = create(&app, &ada.token, "  Second Venture ").await;
    let payload = &data(&created)["createBusiness"];
    let viewer = &payload["viewer"];
    assert_eq!(viewer["role"], "OWNER");
    let business = &viewer["business"];
    assert_eq!(business["name"], "Second Venture");
    assert_ne!(business["id"], ada.business_id.as_str());
    assert_eq!(business["subscription"]["status"], "ACTIVE");
    assert_eq!(business["subscription"]["plan"]["isDefault"], true);
    assert_eq!(
        business["members"]["edges"],
        json!([{ "node": { "role": "OWNER", "user": { "email": "ada@example.com" } } }])
    );
    // Its own SDK key, which records into it and not into the first business.
    let key = business["apiKey"].as_str().expect("a key");
    assert_ne!(key, ada.api_key);
    let recorded = app
        .graphql(
            "mutation { recordUsage(input: { metric: \"recordings\" }) { used } }",
            json!({}),
            Some(key),
        )
        .await;
    assert_eq!(data(&recorded)["recordUsage"]["used"], 1);
    let first = app
        .graphql(
            "{ business { usage { metric used } } }",
            json!({}),
            Some(&ada.token),
        )
        .await;
    let recordings = data(&first)["business"]["usage"]
        .as_array()
        .expect("usage")
        .iter()
        .find(|u| u["metric"] == "recordings")
        .map(|u| u["used"].clone());
    assert_eq!(
        recordings,
        Some(json!(0)),
        "the first business counted nothing"
    );
    let names = viewer["memberships"].as_array().map(Vec::len);
    assert_eq!(names, Some(2), "{viewer}");
    // The old session stays where it was.
    let old = app
        .graphql("{ business { id } }", json!({}), Some(&ada.token))
        .await;
    assert_eq!(data(&old)["business"]["id"], ada.business_id.as_str());
}

#[tokio::test]
async fn a_user_owns_at_most_the_cap_and_names_are_checked() {
    let app = spawn_app().await;
    let ada = app.signup("ada@example.com").await;
    for bad in ["   ", "Evil\u{202E}moc.elppa", &"x".repeat(201)] {
        let refused = create(&app, &ada.token, bad).await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{bad:?}: {refused}");
        assert_eq!(refused["errors"][0]["extensions"]["field"], "name");
    }
    // Sign-up founded the first.
    for i in 1..MAX_OWNED {
        data(&create(&app, &ada.token, &format!("Venture {i}")).await);
    }
    let refused = create(&app, &ada.token, "One too many").await;
    assert_eq!(error_code(&refused), "QUOTA_EXCEEDED", "{refused}");
    let ext = &refused["errors"][0]["extensions"];
    assert_eq!(ext["metric"], "owned_businesses");
    assert_eq!(ext["limit"], MAX_OWNED);
}

#[tokio::test]
async fn concurrent_calls_never_overshoot_the_cap() {
    let app = spawn_app().await;
    let ada = app.signup("ada@example.com").await;
    let calls = (0..MAX_OWNED + 5).map(|i| {
        let (app, token) = (&app, ada.token.clone());
        async move { create(app, &token, &format!("Venture {i}")).await }
    });
    let answers = futures::future::join_all(calls).await;
    let created = answers.iter().filter(|a| a.get("errors").is_none()).count();
    assert_eq!(created as u64, MAX_OWNED - 1, "one was founded at sign-up");
    for refused in answers.iter().filter(|a| a.get("errors").is_some()) {
        assert_eq!(error_code(refused), "QUOTA_EXCEEDED", "{refused}");
    }
}

#[tokio::test]
async fn the_sdk_key_impersonation_and_anonymous_callers_cannot_found_businesses() {
    let app = spawn_app().await;
    let ada = app.signup("ada@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let impersonation = app
        .graphql(
            "mutation($b: ID!) { impersonate(businessId: $b, reason: \"t\", write: true) { token } }",
            json!({ "b": ada.business_id }),
            Some(&staff),
        )
        .await;
    let impersonation = data(&impersonation)["impersonate"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    for (token, code) in [
        (Some(ada.api_key.as_str()), "FORBIDDEN"),
        (Some(impersonation.as_str()), "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ] {
        let refused = app
            .graphql(CREATE, json!({ "name": "Theirs" }), token)
            .await;
        assert_eq!(error_code(&refused), code, "{refused}");
    }
    let memberships = app
        .graphql(
            "{ me { memberships { business { id } } } }",
            json!({}),
            Some(&ada.token),
        )
        .await;
    assert_eq!(
        data(&memberships)["me"]["memberships"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
