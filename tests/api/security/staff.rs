//! Staff standing is re-read with each session: deactivated or demoted staff lose their tokens,
//! and the bootstrap variables never promote an account someone else signed up.

use std::process::{Command, Output, Stdio};

use saaskit::auth::cache::TTL;
use saaskit::clock::Clock;
use saaskit::services::identity::staff;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::revocation::{refused, works};
use crate::helpers::{
    PASSWORD, TestApp, data, error_code, manual_clock, spawn_app, spawn_app_with_clock,
};

/// Runs the `saaskit` binary in an empty directory with `env` (and no `DATABASE_URL` unless
/// given).
pub(super) fn saaskit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("temporary directory");
    Command::new(env!("CARGO_BIN_EXE_saaskit"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("saaskit runs")
}

/// Runs the `saaskit` binary on `app`'s database, off the test's runtime.
async fn saaskit_on(app: &TestApp, args: &[&str]) -> Output {
    let url = app.db_url();
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        saaskit(&args, &[("DATABASE_URL", &url)])
    })
    .await
    .expect("the command ran")
}

/// A read-only impersonation token of `business_id`, opened with `staff`'s token.
pub(super) async fn impersonate(app: &TestApp, staff: &str, business_id: &str) -> String {
    let response = app
        .graphql(
            "mutation($b: ID!) { impersonate(businessId: $b, reason: \"ticket 7\") { token } }",
            json!({ "b": business_id }),
            Some(staff),
        )
        .await;
    data(&response)["impersonate"]["token"]
        .as_str()
        .expect("a token")
        .to_owned()
}

async fn is_staff(app: &TestApp, email: &str, password: &str) -> bool {
    let login = app.login(email, password, None).await;
    data(&login)["login"]["viewer"]["isStaff"]
        .as_bool()
        .expect("a flag")
}

#[tokio::test]
async fn staff_deactivate_ends_their_login_and_impersonation_tokens_on_every_node() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let other = app.second_node().await;
    let account = app.signup("customer@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let impersonation = impersonate(&app, &staff, &account.business_id).await;
    for token in [&staff, &impersonation] {
        works(&app, token).await;
    }

    let output = saaskit_on(
        &app,
        &["staff", "deactivate", "--email", "Staff@Example.com"],
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("no longer staff"));

    for token in [&staff, &impersonation] {
        refused(
            &other,
            token,
            "a node that had not cached it refuses at once",
        )
        .await;
    }
    clock.advance(TTL);
    for token in [&staff, &impersonation] {
        refused(&app, token, "the node that had cached it, within the TTL").await;
    }
    assert!(
        !is_staff(&app, "staff@example.com", PASSWORD).await,
        "the account stays, as an ordinary user"
    );
    works(&app, &account.token).await;
}

#[tokio::test]
async fn the_node_that_deactivates_staff_refuses_their_tokens_at_once() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let account = app.signup("customer@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let impersonation = impersonate(&app, &staff, &account.business_id).await;
    for token in [&staff, &impersonation] {
        works(&app, token).await;
    }
    let done = staff::deactivate(&app.state.db, "staff@example.com", clock.now())
        .await
        .expect("deactivates");
    assert!(done.was_staff);
    assert_eq!(done.sessions_revoked, 2);
    app.state.tokens.forget_user(done.user_id);
    for token in [&staff, &impersonation] {
        refused(&app, token, "at once where it ran").await;
    }
}

#[tokio::test]
async fn staff_demoted_without_revoking_anything_lose_their_tokens_within_the_ttl() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let account = app.signup("customer@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let impersonation = impersonate(&app, &staff, &account.business_id).await;
    for token in [&staff, &impersonation] {
        works(&app, token).await;
    }
    // As an operator editing the row by hand would: no session is revoked.
    entity::users::Entity::update_many()
        .col_expr(entity::users::Column::IsStaff, Expr::value(false))
        .filter(entity::users::Column::Email.eq("staff@example.com"))
        .exec(&app.state.db)
        .await
        .expect("demoted");
    clock.advance(TTL);
    refused(&app, &staff, "a staff token of a user no longer staff").await;
    refused(
        &app,
        &impersonation,
        "an impersonation by a user no longer staff",
    )
    .await;
    works(&app, &account.token).await;
}

#[tokio::test]
async fn bootstrap_never_promotes_an_account_someone_else_signed_up_and_start_up_goes_on() {
    let app = spawn_app().await;
    app.signup("ops@acme.test").await;
    let restarted = app
        .second_node_with(|f| {
            f.merge(("bootstrap_staff_email", "ops@acme.test"))
                .merge(("bootstrap_staff_password", "the operator's password"))
        })
        .await;
    assert!(!is_staff(&restarted, "ops@acme.test", PASSWORD).await);
    let login = restarted
        .login("ops@acme.test", "the operator's password", None)
        .await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED");
}

#[tokio::test]
async fn staff_create_refuses_an_existing_account_unless_told_to_promote_it() {
    let app = spawn_app().await;
    app.signup("ops@acme.test").await;
    let create = [
        "staff",
        "create",
        "--email",
        "ops@acme.test",
        "--password",
        "operator pw 1",
    ];
    let output = saaskit_on(&app, &create).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().last().unwrap_or_default();
    assert!(
        line.contains("not staff") && line.contains("--promote"),
        "{line}"
    );
    assert!(!is_staff(&app, "ops@acme.test", PASSWORD).await);

    let output = saaskit_on(&app, &[&create[..], &["--promote"]].concat()).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("now staff"));
    assert!(
        is_staff(&app, "ops@acme.test", PASSWORD).await,
        "promoted, with its own password"
    );
}

#[tokio::test]
async fn impersonation_with_write_can_neither_read_nor_replace_the_sdk_key() {
    let app = spawn_app().await;
    let account = app.signup("customer@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let opened = app
        .graphql(
            "mutation($b: ID!) { impersonate(businessId: $b, reason: \"ticket 8\", write: true) {
                token viewer { rights } } }",
            json!({ "b": account.business_id }),
            Some(&staff),
        )
        .await;
    let payload = &data(&opened)["impersonate"];
    let rights = payload["viewer"]["rights"].to_string();
    assert!(rights.contains("team:manage"), "write rights: {rights}");
    assert!(!rights.contains("apikey"), "but not the key's: {rights}");
    let token = payload["token"].as_str().expect("a token");
    for query in ["{ business { apiKey } }", "{ me { business { apiKey } } }"] {
        let refused = app.graphql(query, json!({}), Some(token)).await;
        assert_eq!(
            crate::helpers::error_code(&refused),
            "FORBIDDEN",
            "{refused}"
        );
        let message = refused["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("impersonation"),
            "a clear reason: {message}"
        );
        assert!(refused["data"].is_null() || refused["data"]["business"].is_null());
    }
    let rotated = app
        .graphql("mutation { rotateApiKey }", json!({}), Some(token))
        .await;
    assert_eq!(
        crate::helpers::error_code(&rotated),
        "FORBIDDEN",
        "{rotated}"
    );
    // The key still works: nothing was replaced.
    let recorded = app
        .graphql(
            "mutation { recordUsage(input: { metric: \"recordings\" }) { used } }",
            json!({}),
            Some(&account.api_key),
        )
        .await;
    assert_eq!(data(&recorded)["recordUsage"]["used"], 1);
}
