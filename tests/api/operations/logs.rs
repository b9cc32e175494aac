//! The real binary at `debug` (sqlx and sea_orm included) through a full flow over HTTP: no
//! secret it handled reaches a log line, every line of a request names its id, and `/metrics`
//! of that one process counts exactly what the flow did.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::process::Server;
use super::sample;
use crate::helpers::{TestDatabase, data, error_code, test_client};
use crate::mail::{mails_in, text_part};

/// Waits for the mail to `to` whose text holds `marker`, and returns its text.
async fn mail_text(dir: &Path, to: &str, marker: &str) -> String {
    let started = Instant::now();
    loop {
        if let Some(text) = mails_in(dir, Some(to))
            .iter()
            .map(|mail| text_part(mail))
            .find(|text| text.contains(marker))
        {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no mail to {to}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The hex key after `marker` in a mail's text.
fn link_key(text: &str, marker: &str) -> String {
    let start = text.find(marker).expect("a link") + marker.len();
    text[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

fn token(response: &Value, field: &str) -> String {
    data(response)[field]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("a token in {response}"))
        .to_owned()
}

#[tokio::test]
async fn a_full_flow_at_debug_logs_no_secret_and_is_counted_exactly() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = TestDatabase::create(&dir).await;
    let root_key = saaskit::auth::keys::generate_hex();
    let metrics_token = "metrics-token-5f1c9a";
    let server = Server::start(
        dir.path(),
        &db.url(),
        &[
            ("SAASKIT_LOG", "debug"),
            ("SAASKIT_ROOT_KEY", &root_key),
            ("SAASKIT_METRICS_TOKEN", metrics_token),
            // The flow's own operation names, labelled by name as an operator would list them.
            (
                "SAASKIT_METRICS_OPERATIONS",
                "Rotate,Invite,Preview,Accept,Forgot,Reset,LogOut,Record",
            ),
        ],
    );
    let mail_dir = dir.path().join("mail");
    let owner_password = "owner password 8d2e";
    let member_password = "member password 41ab";
    let new_password = "reset password c07f";

    let signup = server
        .graphql(
            "mutation SignUp($input: SignupInput!) { signup(input: $input) {
                token viewer { business { apiKey } } } }",
            json!({ "input": { "email": "owner@example.com", "password": owner_password,
                               "name": "Owner", "businessName": "Acme" } }),
            None,
        )
        .await;
    let signup_token = token(&signup, "signup");
    let first_sdk_key = data(&signup)["signup"]["viewer"]["business"]["apiKey"]
        .as_str()
        .expect("a key")
        .to_owned();
    let login = server
        .graphql(
            "mutation LogIn($input: LoginInput!) { login(input: $input) { token } }",
            json!({ "input": { "email": "owner@example.com", "password": owner_password } }),
            None,
        )
        .await;
    let owner_token = token(&login, "login");
    let rotated = server
        .graphql(
            "mutation Rotate { rotateApiKey }",
            json!({}),
            Some(&owner_token),
        )
        .await;
    let sdk_key = data(&rotated)["rotateApiKey"]
        .as_str()
        .expect("a key")
        .to_owned();

    let invited = server
        .graphql(
            "mutation Invite($input: InviteInput!) { inviteTeamMember(input: $input) { id } }",
            json!({ "input": { "email": "member@example.com", "role": "MEMBER" } }),
            Some(&owner_token),
        )
        .await;
    data(&invited);
    let invitation = mail_text(&mail_dir, "member@example.com", "/accept-invite?key=").await;
    let activation = link_key(&invitation, "/accept-invite?key=");
    let preview = server
        .graphql(
            "query Preview($key: String!) { invitation(activationKey: $key) { email } }",
            json!({ "key": activation }),
            None,
        )
        .await;
    assert_eq!(data(&preview)["invitation"]["email"], "member@example.com");
    let accepted = server
        .graphql(
            "mutation Accept($input: AcceptInvitationInput!) { acceptInvitation(input: $input) {
                token } }",
            json!({ "input": { "activationKey": activation, "password": member_password,
                               "name": "Member" } }),
            None,
        )
        .await;
    let member_token = token(&accepted, "acceptInvitation");

    data(
        &server
            .graphql(
                "mutation Forgot { requestPasswordReset(email: \"owner@example.com\") }",
                json!({}),
                None,
            )
            .await,
    );
    let reset_mail = mail_text(&mail_dir, "owner@example.com", "reset-password?token=").await;
    let reset_key = link_key(&reset_mail, "reset-password?token=");
    let reset = server
        .graphql(
            "mutation Reset($input: ResetPasswordInput!) { resetPassword(input: $input) {
                token } }",
            json!({ "input": { "token": reset_key, "newPassword": new_password } }),
            None,
        )
        .await;
    let reset_session = token(&reset, "resetPassword");

    let record = "mutation Record($input: RecordUsageInput!) { recordUsage(input: $input) {
        used } }";
    let recorded = server
        .graphql(
            record,
            json!({ "input": { "metric": "recordings", "idempotencyKey": "flow-1" } }),
            Some(&sdk_key),
        )
        .await;
    assert_eq!(data(&recorded)["recordUsage"]["used"], 1);
    let refused = server
        .graphql(
            record,
            json!({ "input": { "metric": "nothing-like-it" } }),
            Some(&sdk_key),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");

    // A request with an id of the caller's: the id is returned and names its log lines.
    let response = test_client()
        .post(format!("{}/graphql", server.base))
        .header("X-Request-Id", "flow-logout-42")
        .bearer_auth(&reset_session)
        .json(&json!({ "query": "mutation LogOut { logout }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["x-request-id"], "flow-logout-42");
    let logout: Value = response.json().await.expect("json");
    assert_eq!(data(&logout)["logout"], true);

    let metrics = server
        .get("/metrics", Some(metrics_token))
        .await
        .text()
        .await
        .expect("text");
    let count = |operation: &str, code: &str| {
        sample(
            &metrics,
            "saaskit_http_requests_total",
            &[("operation", operation), ("code", code)],
        )
    };
    for operation in [
        "SignUp", "LogIn", "Rotate", "Invite", "Preview", "Accept", "Forgot", "Reset", "LogOut",
    ] {
        assert_eq!(count(operation, "OK"), 1.0, "{operation}:\n{metrics}");
    }
    assert_eq!(count("Record", "OK"), 1.0);
    assert_eq!(count("Record", "BAD_USER_INPUT"), 1.0);
    assert_eq!(
        sample(
            &metrics,
            "saaskit_http_request_duration_seconds_count",
            &[("operation", "Record")]
        ),
        2.0
    );
    assert_eq!(
        sample(&metrics, "saaskit_usage_accepted_total", &[]),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "saaskit_usage_refused_total",
            &[("reason", "BAD_USER_INPUT")]
        ),
        1.0
    );
    // Two mails went out: each by its job, or by the sweep when the job stalled.
    let by_job = sample(&metrics, "saaskit_jobs_run_total", &[("kind", "send_mail")]);
    let by_sweep = sample(
        &metrics,
        "saaskit_outbox_rehanded_total",
        &[("how", "delivered")],
    );
    assert!(by_job + by_sweep >= 2.0, "{metrics}");

    drop(server);
    let log = std::fs::read_to_string(dir.path().join("saaskit.log")).expect("the log");
    // The log is the one the test meant: at debug, SQL statements included.
    assert!(log.contains("sqlx::query"), "sqlx logs at debug");
    assert!(log.contains("DEBUG"), "debug lines are written");
    let secrets = [
        ("the owner's password", owner_password.to_owned()),
        ("the member's password", member_password.to_owned()),
        ("the new password", new_password.to_owned()),
        ("the signup session token", signup_token),
        ("the login session token", owner_token),
        ("the member's session token", member_token),
        ("the reset session token", reset_session),
        ("the first SDK key", first_sdk_key),
        ("the rotated SDK key", sdk_key),
        ("the activation key", activation),
        ("the reset key", reset_key),
        ("the root key", root_key),
        ("the metrics token", metrics_token.to_owned()),
    ];
    for (what, secret) in &secrets {
        assert!(secret.len() >= 16, "{what} is long enough to find");
        if let Some(line) = log.lines().find(|line| line.contains(secret.as_str())) {
            panic!("{what} is in a log line: {line}");
        }
    }
    // The logout's lines name its request, and its root field's span.
    assert!(
        log.lines()
            .any(|line| line.contains("flow-logout-42") && line.contains("field")),
        "the logout's lines carry its request id and root field"
    );
    drop(db);
}
