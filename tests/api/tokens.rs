//! Tokens: attenuation by the holder, the SDK key's rotation, revocation across replicas.

use biscuit_auth::Biscuit;
use biscuit_auth::macros::block;
use saaskit::clock::ManualClock;
use serde_json::json;
use std::sync::Arc;

use crate::helpers::{data, error_code, spawn_app, spawn_app_with_clock};

#[tokio::test]
async fn a_token_attenuated_offline_to_me_can_call_me_and_nothing_else() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    // The holder narrows their own token without asking the server.
    let token = Biscuit::from_base64(&account.token, app.state.root_key.public())
        .expect("parses")
        .append(block!(r#"check if operation("me");"#))
        .expect("attenuates")
        .to_base64()
        .expect("serializes");
    let me = app
        .graphql("{ me { role } }", json!({}), Some(&token))
        .await;
    assert_eq!(data(&me)["me"]["role"], "OWNER");
    for query in [
        "{ business { name } }",
        "{ plans { code } }",
        "{ me { role } business { id } }",
        "mutation { rotateApiKey }",
        "mutation { logout }",
    ] {
        let response = app.graphql(query, json!({}), Some(&token)).await;
        assert_eq!(error_code(&response), "FORBIDDEN", "{query}: {response}");
        assert!(response["data"].is_null(), "nothing runs: {response}");
    }
}

#[tokio::test]
async fn an_attenuated_token_cannot_grant_itself_rights() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let token = Biscuit::from_base64(&account.api_key, app.state.root_key.public())
        .expect("parses")
        .append(block!(
            r#"right("staff:read"); right("business:read"); staff(true);"#
        ))
        .expect("attenuates")
        .to_base64()
        .expect("serializes");
    // A block that states facts is refused whole (appended blocks may hold checks only), so
    // the token is no token at all, not a key with extra rights.
    for query in ["{ business { name } }", "{ allPlans { code } }"] {
        let response = app.graphql(query, json!({}), Some(&token)).await;
        assert_eq!(
            error_code(&response),
            "UNAUTHENTICATED",
            "{query}: {response}"
        );
    }
    let response = app
        .graphql("{ business { name } }", json!({}), Some(&account.api_key))
        .await;
    assert_eq!(
        error_code(&response),
        "FORBIDDEN",
        "the key itself reads no names"
    );
}

#[tokio::test]
async fn rotating_the_sdk_key_kills_the_old_one_at_once() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let again = app
        .graphql("{ business { apiKey } }", json!({}), Some(&account.token))
        .await;
    let same_key = data(&again)["business"]["apiKey"]
        .as_str()
        .expect("a key")
        .to_owned();
    let rotated = app
        .graphql("mutation { rotateApiKey }", json!({}), Some(&account.token))
        .await;
    let new_key = data(&rotated)["rotateApiKey"]
        .as_str()
        .expect("a key")
        .to_owned();
    for old in [&account.api_key, &same_key] {
        let response = app.graphql("{ me { role } }", json!({}), Some(old)).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    let response = app
        .graphql("{ me { role } }", json!({}), Some(&new_key))
        .await;
    assert_eq!(data(&response)["me"]["role"], "SDK");
    let log = app
        .graphql(
            "{ business { auditLog(first: 1) { edges { node { action } } } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    assert_eq!(
        data(&log)["business"]["auditLog"]["edges"][0]["node"]["action"],
        "apikey.rotated"
    );
}

#[tokio::test]
async fn the_sdk_key_reads_nothing_of_the_business_and_cannot_log_out() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    for query in [
        "{ business { name } }",
        "{ business { subscription { status } } }",
        "{ business { apiKey } }",
        "{ business { auditLog { edges { cursor } } } }",
        "mutation { updateBusiness(input: { name: \"x\" }) { id } }",
        "mutation { rotateApiKey }",
        "mutation { logout }",
    ] {
        let response = app.graphql(query, json!({}), Some(&account.api_key)).await;
        assert_eq!(error_code(&response), "FORBIDDEN", "{query}");
    }
}

#[tokio::test]
async fn a_revoked_session_is_refused_at_once_here_and_within_five_seconds_elsewhere() {
    let clock = Arc::new(ManualClock::starting_at(chrono::Utc::now()));
    let app = spawn_app_with_clock(clock.clone()).await;
    let other_node = app.second_node().await;
    let account = app.signup("ada@example.com").await;
    let me = "{ me { role } }";
    for node in [&app, &other_node] {
        let response = node.graphql(me, json!({}), Some(&account.token)).await;
        assert_eq!(data(&response)["me"]["role"], "OWNER");
    }
    data(
        &app.graphql("mutation { logout }", json!({}), Some(&account.token))
            .await,
    );
    let here = app.graphql(me, json!({}), Some(&account.token)).await;
    assert_eq!(
        error_code(&here),
        "UNAUTHENTICATED",
        "the revoking node refuses at once"
    );

    // The other node trusts what it read of the session for under five seconds.
    clock.advance(chrono::TimeDelta::milliseconds(4_900));
    let stale = other_node
        .graphql(me, json!({}), Some(&account.token))
        .await;
    assert_eq!(data(&stale)["me"]["role"], "OWNER");
    clock.advance(chrono::TimeDelta::milliseconds(100));
    let there = other_node
        .graphql(me, json!({}), Some(&account.token))
        .await;
    assert_eq!(
        error_code(&there),
        "UNAUTHENTICATED",
        "and then reads it again"
    );
}
