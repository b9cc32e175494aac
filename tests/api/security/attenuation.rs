//! A holder's own checks hold whatever shape the document takes, and whatever path leads to
//! the data they protect.

use biscuit_auth::Biscuit;
use biscuit_auth::builder::BlockBuilder;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, data, error_code, spawn_app};

/// `token` with a block of the holder's own appended offline.
pub fn narrow(app: &TestApp, token: &str, code: &str) -> String {
    Biscuit::from_base64(token, app.state.root_key.public())
        .expect("parses")
        .append(BlockBuilder::new().code(code).expect("valid datalog"))
        .expect("attenuates")
        .to_base64()
        .expect("serializes")
}

/// What `metric` stands at, read with the owner's token.
pub async fn used(app: &TestApp, owner: &Account, metric: &str) -> i64 {
    let response = app
        .graphql(
            "{ business { usage { metric used } } }",
            json!({}),
            Some(&owner.token),
        )
        .await;
    data(&response)["business"]["usage"]
        .as_array()
        .expect("a list")
        .iter()
        .find(|usage| usage["metric"] == metric)
        .map_or(0, |usage| usage["used"].as_i64().expect("a number"))
}

fn refused(response: &Value) {
    assert_eq!(error_code(response), "FORBIDDEN", "{response}");
    assert!(response["data"].is_null(), "nothing ran: {response}");
}

#[tokio::test]
async fn a_metric_check_holds_under_nine_nested_inline_fragments() {
    let app = spawn_app().await;
    let owner = app.signup("ada@example.com").await;
    let key = narrow(&app, &owner.api_key, r#"check if metric("recordings");"#);
    let call = r#"recordUsage(input: { metric: "applications" }) { used }"#;
    let query = format!(
        "mutation {{ {} {call} {} }}",
        "... on Mutation { ".repeat(9),
        "} ".repeat(9)
    );
    refused(&app.graphql(&query, json!({}), Some(&key)).await);
    // The same call through a named fragment, and the allowed metric next to it.
    let named = format!(
        "mutation {{ ...R }} fragment R on Mutation {{ a: recordUsage(input: {{ metric: \"recordings\" }}) {{ used }} b: {call} }}"
    );
    refused(&app.graphql(&named, json!({}), Some(&key)).await);
    assert_eq!(used(&app, &owner, "applications").await, 0);
    assert_eq!(used(&app, &owner, "recordings").await, 0, "all or nothing");
    let allowed = app
        .graphql(
            r#"mutation { recordUsage(input: { metric: "recordings" }) { used } }"#,
            json!({}),
            Some(&key),
        )
        .await;
    assert_eq!(data(&allowed)["recordUsage"]["used"], 1);
}

#[tokio::test]
async fn a_metric_given_only_as_a_variables_default_is_seen_by_the_check() {
    let app = spawn_app().await;
    let owner = app.signup("ada@example.com").await;
    let key = narrow(&app, &owner.api_key, r#"reject if metric("applications");"#);
    for (query, variables) in [
        (
            r#"mutation($m: String = "applications") { recordUsage(input: { metric: $m }) { used } }"#,
            json!({}),
        ),
        (
            r#"mutation($i: RecordUsageInput! = { metric: "applications" }) { recordUsage(input: $i) { used } }"#,
            json!({}),
        ),
        (
            r#"mutation($i: RecordUsageInput!) { recordUsage(input: $i) { used } }"#,
            json!({ "i": { "metric": " applications " } }),
        ),
    ] {
        refused(&app.graphql(query, variables, Some(&key)).await);
    }
    assert_eq!(used(&app, &owner, "applications").await, 0);
    // A default the request overrides is not what runs: the request's value is judged.
    let overridden = app
        .graphql(
            r#"mutation($m: String = "applications") { recordUsage(input: { metric: $m }) { used } }"#,
            json!({ "m": "recordings" }),
            Some(&key),
        )
        .await;
    assert_eq!(data(&overridden)["recordUsage"]["used"], 1);
}

#[tokio::test]
async fn a_metric_the_document_hides_is_refused_before_anything_runs() {
    let app = spawn_app().await;
    let owner = app.signup("ada@example.com").await;
    let response = app
        .graphql(
            "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { used } }",
            json!({}),
            Some(&owner.api_key),
        )
        .await;
    assert_eq!(
        error_code(&response),
        "GRAPHQL_VALIDATION_FAILED",
        "{response}"
    );
}

#[tokio::test]
async fn a_token_narrowed_to_me_reads_nothing_of_the_business_through_me() {
    let app = spawn_app().await;
    let owner = app.signup("ada@example.com").await;
    let token = narrow(&app, &owner.token, r#"check if operation("me");"#);
    let mine = app
        .graphql(
            "{ me { role rights user { email } } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(data(&mine)["me"]["user"]["email"], "ada@example.com");
    for field in [
        "name",
        "apiKey",
        "createdAt",
        "subscription { status }",
        "usage { used }",
    ] {
        for path in ["me { business", "me { memberships { business"] {
            let closing = "}".repeat(path.matches('{').count());
            let query = format!("{{ {path} {{ {field} }} {closing} }}");
            let response = app.graphql(&query, json!({}), Some(&token)).await;
            assert_eq!(error_code(&response), "FORBIDDEN", "{query}: {response}");
            assert!(
                !response.to_string().contains(&owner.api_key),
                "{query} leaks the key"
            );
        }
    }
    // Allowing `business` too allows it through `me` as well.
    let both = narrow(
        &app,
        &owner.token,
        r#"check if operation("me") or operation("business");"#,
    );
    let response = app
        .graphql("{ me { business { name } } }", json!({}), Some(&both))
        .await;
    assert_eq!(data(&response)["me"]["business"]["name"], "ada@example.com");
}

#[tokio::test]
async fn a_narrowed_token_cannot_open_a_session_that_would_shed_its_checks() {
    let app = spawn_app().await;
    let owner = app.signup("ada@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let token = narrow(
        &app,
        &owner.token,
        r#"check if operation("switchBusiness") or operation("me");"#,
    );
    let switched = app
        .graphql(
            "mutation($id: ID!) { switchBusiness(businessId: $id) { token } }",
            json!({ "id": owner.business_id }),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&switched), "FORBIDDEN", "{switched}");
    let staff = narrow(
        &app,
        &staff,
        r#"check if time($t), $t < 2100-01-01T00:00:00Z;"#,
    );
    let impersonated = app
        .graphql(
            r#"mutation($id: ID!) { impersonate(businessId: $id, reason: "support") { token } }"#,
            json!({ "id": owner.business_id }),
            Some(&staff),
        )
        .await;
    assert_eq!(error_code(&impersonated), "FORBIDDEN", "{impersonated}");
}

#[tokio::test]
async fn a_token_narrowed_to_login_reads_nothing_through_another_session_s_payload() {
    let app = spawn_app().await;
    let owner = app.signup("ada@example.com").await;
    app.member_token(&owner.business_id, "bob@example.com", entity::Role::Member)
        .await;
    let token = narrow(&app, &owner.token, r#"check if operation("login");"#);
    // The new session is a member's: it may not read the key, and the caller's rights, which
    // its holder narrowed away from `business`, must not stand in for it.
    let response = app
        .graphql(
            "mutation($input: LoginInput!) { login(input: $input) {
                viewer { business { apiKey } } } }",
            json!({ "input": { "email": "bob@example.com", "password": crate::helpers::PASSWORD } }),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    assert!(
        !response.to_string().contains("apiKey\":\""),
        "the key leaks: {response}"
    );
}

/// The block of the reported token: seven facts, a rule joining them three ways and a rule
/// joining that three ways again. Evaluated, it held a worker for 39 s in a release build.
const COMPUTING_BLOCK: &str = "a(0); a(1); a(2); a(3); a(4); a(5); a(6);
    b($x, $y, $z) <- a($x), a($y), a($z);
    c(true) <- b($x0, $y0, $z0), b($x1, $y1, $z1), b($x2, $y2, $z2), $x0 + $x1 + $x2 == -1;";

#[tokio::test]
async fn a_revoked_token_whose_block_computes_is_refused_without_running_it() {
    let app = spawn_app().await;
    let owner = app.signup("ada@example.com").await;
    let out = app
        .graphql("mutation { logout }", json!({}), Some(&owner.token))
        .await;
    assert_eq!(data(&out)["logout"], true, "{out}");
    let hostile = narrow(&app, &owner.token, COMPUTING_BLOCK);
    // Before the shape rule this request ran the join (minutes in a debug build) before the
    // session was even read; the suite's timeout would end it.
    let response = app
        .graphql("{ me { role } }", json!({}), Some(&hostile))
        .await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED", "{response}");
}

#[tokio::test]
async fn a_live_token_with_facts_or_rules_appended_is_refused_and_its_checks_still_hold() {
    let app = spawn_app().await;
    let owner = app.signup("ada@example.com").await;
    for block in [
        r#"padding("xxxxxxxxxxxxxxxx"); check if operation("me");"#,
        r#"ok($o) <- operation($o); check if ok("me");"#,
        r#"check if operation($o), $o.matches("^m.*");"#,
        "check if right($a), right($b), right($c), right($d);",
    ] {
        let token = narrow(&app, &owner.token, block);
        let response = app
            .graphql("{ me { role } }", json!({}), Some(&token))
            .await;
        assert_eq!(
            error_code(&response),
            "UNAUTHENTICATED",
            "{block}: {response}"
        );
    }
    let token = narrow(
        &app,
        &owner.token,
        r#"check if operation($o), ["me", "plans"].contains($o);"#,
    );
    let me = app
        .graphql("{ me { role } }", json!({}), Some(&token))
        .await;
    assert_eq!(data(&me)["me"]["role"], "OWNER", "{me}");
    let business = app
        .graphql("{ business { name } }", json!({}), Some(&token))
        .await;
    assert_eq!(error_code(&business), "FORBIDDEN", "{business}");
}
