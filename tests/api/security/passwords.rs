//! Password checks are scarce and fair: `changePassword` is throttled like `login` (a stolen
//! session is no password oracle), and one HTTP request gets one password check, whatever
//! its aliases and batch.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_code, spawn_app};

const CHANGE: &str = "mutation($input: ChangePasswordInput!) {
    changePassword(input: $input) }";

fn change(current: &str) -> Value {
    json!({ "input": { "currentPassword": current, "newPassword": "a brand new password" } })
}

async fn post(app: &TestApp, body: &Value, token: Option<&str>) -> Value {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("sent");
    response.json().await.expect("a JSON answer")
}

/// The codes of every error of a response, in order.
fn codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_stolen_session_guesses_the_password_no_more_often_than_login_does() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    for _ in 0..5 {
        let response = app
            .graphql(CHANGE, change("a wrong guess"), Some(&account.token))
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    }
    let sixth = app
        .graphql(CHANGE, change(PASSWORD), Some(&account.token))
        .await;
    assert_eq!(error_code(&sixth), "RATE_LIMITED", "even the right one");
    assert!(sixth["errors"][0]["extensions"]["retryAfter"].as_u64() > Some(0));
    // The guesses count against the account as login failures from this address do.
    let login = app.login(&account.email, PASSWORD, None).await;
    assert_eq!(error_code(&login), "RATE_LIMITED", "{login}");
}

#[tokio::test]
async fn a_right_current_password_clears_the_failures_it_follows() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    for _ in 0..4 {
        let response = app
            .graphql(CHANGE, change("a wrong guess"), Some(&account.token))
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT");
    }
    let right = app
        .graphql(CHANGE, change(PASSWORD), Some(&account.token))
        .await;
    assert_eq!(right["data"]["changePassword"], true, "{right}");
    let login = app
        .login(&account.email, "a brand new password", None)
        .await;
    assert!(login["data"]["login"]["token"].is_string(), "{login}");
}

#[tokio::test]
async fn thirty_aliases_of_change_password_get_one_password_check() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let fields: Vec<String> = (0..30)
        .map(|i| format!("a{i}: changePassword(input: $input)"))
        .collect();
    let query = format!(
        "mutation($input: ChangePasswordInput!) {{ {} }}",
        fields.join(" ")
    );
    let body = json!({ "query": query, "variables": change("a wrong guess") });
    let response = post(&app, &body, Some(&account.token)).await;
    let codes = codes(&response);
    assert_eq!(codes.len(), 30, "{response}");
    let checked = codes.iter().filter(|c| *c == "BAD_USER_INPUT").count();
    let refused = codes.iter().filter(|c| *c == "RATE_LIMITED").count();
    assert_eq!((checked, refused), (1, 29), "{codes:?}");
    // And the refused ones were never counted as guesses: four more may still be tried.
    for _ in 0..4 {
        let response = app
            .graphql(CHANGE, change("a wrong guess"), Some(&account.token))
            .await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    }
}

#[tokio::test]
async fn the_operations_of_one_batch_share_one_password_check() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let login = "mutation($input: LoginInput!) { login(input: $input) { token } }";
    let one = json!({ "query": login, "variables": { "input": {
        "email": account.email, "password": "a wrong guess" } } });
    let batch = Value::Array(vec![one; 10]);
    let answers = post(&app, &batch, None).await;
    let answers = answers.as_array().expect("a batch answer");
    let first: Vec<String> = answers.iter().map(|a| error_code(a).to_owned()).collect();
    assert_eq!(first[0], "UNAUTHENTICATED", "{first:?}");
    assert!(
        first[1..].iter().all(|code| code == "RATE_LIMITED"),
        "{first:?}"
    );
    // A request of its own gets its own check.
    let alone = app.login(&account.email, PASSWORD, None).await;
    assert!(alone["data"]["login"]["token"].is_string(), "{alone}");
}

#[tokio::test]
async fn a_second_password_field_of_another_kind_in_one_request_is_refused_too() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let query = "mutation($c: ChangePasswordInput!, $s: SignupInput!) {
        changePassword(input: $c) signup(input: $s) { token } }";
    let variables = json!({ "c": change("a wrong guess")["input"], "s": {
        "email": "bo@example.com", "password": PASSWORD, "name": "Bo", "businessName": "Bo's" } });
    let response = post(
        &app,
        &json!({ "query": query, "variables": variables }),
        Some(&account.token),
    )
    .await;
    assert_eq!(
        codes(&response),
        ["BAD_USER_INPUT", "RATE_LIMITED"],
        "{response}"
    );
}

#[tokio::test]
async fn a_session_past_its_rate_is_refused_before_any_database_write() {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app =
        crate::helpers::spawn_app_with(|figment| figment.merge(("trusted_proxies", "127.0.0.1")))
            .await;
    let account = app.signup("ada@example.com").await;
    let limit = saaskit::services::identity::throttle::PASSWORD_CHECKS_PER_USER_PER_MINUTE.get();
    // From a new address each time, so the per-address rules never bite.
    let guess = |i: u32| {
        app.client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&account.token)
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .json(&json!({ "query": CHANGE, "variables": change("a wrong guess") }))
            .send()
    };
    for i in 0..limit {
        let response: Value = guess(i).await.expect("sent").json().await.expect("JSON");
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    }
    let attempts = entity::login_attempts::Entity::find()
        .count(&app.state.db)
        .await
        .expect("a count");
    let refused: Value = guess(limit)
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(error_code(&refused), "RATE_LIMITED", "{refused}");
    let after = entity::login_attempts::Entity::find()
        .count(&app.state.db)
        .await
        .expect("a count");
    assert_eq!(after, attempts, "the refusal wrote nothing");
}
