//! Promises with a time in them, kept by the application's clock: tests move a ManualClock.

use std::time::SystemTime;

use biscuit_auth::Biscuit;
use biscuit_auth::macros::block;
use chrono::TimeDelta;
use saaskit::clock::Clock;
use serde_json::json;

use super::revocation::{refused, works};
use super::staff::{impersonate, saaskit};
use crate::helpers::{data, error_code, manual_clock, spawn_app_with, spawn_app_with_clock_and};

#[tokio::test]
async fn a_session_works_a_second_before_its_ttl_and_is_refused_at_and_after_it() {
    let clock = manual_clock();
    let app = spawn_app_with_clock_and(clock.clone(), |f| f.merge(("session_ttl", "2h"))).await;
    let other = app.second_node().await;
    let account = app.signup("ada@example.com").await;
    let login = app
        .login("ada@example.com", crate::helpers::PASSWORD, None)
        .await;
    let expires_at: chrono::DateTime<chrono::Utc> = data(&login)["login"]["expiresAt"]
        .as_str()
        .expect("an expiry")
        .parse()
        .expect("a time");
    assert_eq!(expires_at, clock.now() + TimeDelta::hours(2));

    clock.advance(TimeDelta::hours(2) - TimeDelta::seconds(1));
    works(&app, &account.token).await;
    clock.advance(TimeDelta::seconds(1));
    refused(&app, &account.token, "at the TTL, though cached").await;
    refused(&other, &account.token, "at the TTL, read afresh").await;
    clock.advance(TimeDelta::seconds(1));
    refused(&app, &account.token, "after the TTL").await;
    works(&app, &account.api_key).await;
}

#[tokio::test]
async fn an_impersonation_token_works_for_an_hour_and_not_a_second_more() {
    let clock = manual_clock();
    let app = spawn_app_with_clock_and(clock.clone(), |f| f).await;
    let account = app.signup("customer@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let token = impersonate(&app, &staff, &account.business_id).await;
    clock.advance(TimeDelta::hours(1) - TimeDelta::seconds(1));
    works(&app, &token).await;
    clock.advance(TimeDelta::seconds(1));
    refused(&app, &token, "an hour after it was opened").await;
}

#[tokio::test]
async fn a_deadline_the_holder_appended_offline_is_enforced_by_the_apps_clock() {
    let clock = manual_clock();
    let app = spawn_app_with_clock_and(clock.clone(), |f| f).await;
    let account = app.signup("ada@example.com").await;
    let deadline = SystemTime::from(clock.now() + TimeDelta::minutes(10));
    let token = Biscuit::from_base64(&account.token, app.state.root_key.public())
        .expect("parses")
        .append(block!("check if time($t), $t < {deadline};"))
        .expect("attenuates")
        .to_base64()
        .expect("serializes");
    clock.advance(TimeDelta::minutes(10) - TimeDelta::seconds(1));
    works(&app, &token).await;
    clock.advance(TimeDelta::seconds(1));
    let response = app
        .graphql("{ me { user { id } } }", json!({}), Some(&token))
        .await;
    // The holder's own check refuses: the token does not allow the request.
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    assert!(response["data"].is_null(), "{response}");
}

#[test]
fn an_absurd_session_ttl_stops_start_up_naming_the_variable() {
    let output = saaskit(
        &["serve"],
        &[
            ("SAASKIT_SESSION_TTL", "5000000000000h"),
            ("SAASKIT_BIND", "127.0.0.1:0"),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr.lines().last().unwrap_or_default();
    assert!(line.contains("SAASKIT_SESSION_TTL"), "{line}");
}

#[tokio::test]
async fn a_session_ttl_of_a_year_still_signs_up() {
    let app = spawn_app_with(|f| f.merge(("session_ttl", "365d"))).await;
    let account = app.signup("ada@example.com").await;
    works(&app, &account.token).await;
}
