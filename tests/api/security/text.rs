//! One rule for text input: every string argument, inline or from variables, at any depth, is
//! refused with `BAD_USER_INPUT` naming it when it holds a control character, a bidirectional
//! control or a non-character — before anything runs, so no NUL reaches either database.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, data, error_code, spawn_app};

/// A `BAD_USER_INPUT` naming `field`, with nothing run and the value not repeated.
fn refused_on<'a>(response: &'a Value, field: &str, value: &str) -> &'a Value {
    assert_eq!(error_code(response), "BAD_USER_INPUT", "{response}");
    assert_eq!(
        response["errors"][0]["extensions"]["field"], field,
        "{response}"
    );
    assert!(
        response.get("data").is_none_or(Value::is_null),
        "{response}"
    );
    let message = response["errors"][0]["message"]
        .as_str()
        .expect("a message");
    assert!(
        !message.contains(value),
        "the value is not repeated: {message}"
    );
    response
}

async fn staff(app: &TestApp) -> String {
    app.staff_token("text-staff@example.com").await
}

#[tokio::test]
async fn a_nul_in_a_login_or_reset_e_mail_is_bad_input_not_a_database_error() {
    let app = spawn_app().await;
    let email = "ann\u{0}@example.com";
    let login = app.login(email, PASSWORD, None).await;
    refused_on(&login, "email", email);
    let reset = app
        .graphql(
            "mutation($e: String!) { requestPasswordReset(email: $e) }",
            json!({ "e": email }),
            None,
        )
        .await;
    refused_on(&reset, "email", email);
    let inline = app
        .graphql(
            r#"mutation { requestPasswordReset(email: "ann\u0000@example.com") }"#,
            json!({}),
            None,
        )
        .await;
    refused_on(&inline, "email", email);
}

#[tokio::test]
async fn a_nul_in_a_staff_search_an_impersonation_reason_or_a_plan_description_is_bad_input() {
    let app = spawn_app().await;
    let owner = app.signup("target@example.com").await;
    let token = staff(&app).await;
    let search = app
        .graphql(
            "query($s: String) { businesses(search: $s) { nodes { id } } }",
            json!({ "s": "acme\u{0}" }),
            Some(&token),
        )
        .await;
    refused_on(&search, "search", "acme\u{0}");
    let impersonate = app
        .graphql(
            "mutation($b: ID!, $r: String!) { impersonate(businessId: $b, reason: $r) { token } }",
            json!({ "b": owner.business_id, "r": "ticket\u{0}" }),
            Some(&token),
        )
        .await;
    refused_on(&impersonate, "reason", "ticket\u{0}");
    let plan = |description: &str| {
        json!({ "input": { "code": "textplan", "name": "Text", "description": description,
            "priceCents": 0, "currency": "USD", "period": { "count": 1, "unit": "MONTH" },
            "limits": [], "isPublic": false } })
    };
    let create = "mutation($input: CreatePlanInput!) { createPlan(input: $input) { description } }";
    let nul = app.graphql(create, plan("a\u{0}b"), Some(&token)).await;
    refused_on(&nul, "description", "a\u{0}b");
    // A description may span lines.
    let lines = app.graphql(create, plan("one\n\ttwo"), Some(&token)).await;
    assert_eq!(data(&lines)["createPlan"]["description"], "one\n\ttwo");
}

#[tokio::test]
async fn a_bidi_override_in_a_name_and_a_tab_in_a_business_name_are_refused() {
    let app = spawn_app().await;
    let signup = |name: &str, business: &str, password: &str| {
        json!({ "input": { "email": "bidi@example.com", "password": password,
                           "name": name, "businessName": business } })
    };
    let mutation = "mutation($input: SignupInput!) { signup(input: $input) { token } }";
    let bidi = "Eve\u{202E}exe.txt";
    let response = app
        .graphql(mutation, signup(bidi, "Acme", PASSWORD), None)
        .await;
    refused_on(&response, "name", bidi);
    let isolate = app
        .graphql(mutation, signup("Eve", "Ac\u{2067}me", PASSWORD), None)
        .await;
    refused_on(&isolate, "businessName", "Ac\u{2067}me");
    let tab = app
        .graphql(mutation, signup("Eve", "Ac\tme", PASSWORD), None)
        .await;
    refused_on(&tab, "businessName", "Ac\tme");
    // A password is a secret: only NUL is refused, and it is never repeated.
    let secret = "correct\u{0}horse battery";
    let nul = app
        .graphql(mutation, signup("Eve", "Acme", secret), None)
        .await;
    refused_on(&nul, "password", secret);
    let tabbed = app
        .graphql(
            mutation,
            signup("Eve", "Acme", "correct\thorse battery"),
            None,
        )
        .await;
    assert!(data(&tabbed)["signup"]["token"].is_string());
}
