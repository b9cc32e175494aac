//! Revocation is refused at once on the node that revoked and within the token cache's TTL on
//! every other; nothing revoked re-enters the cache; oversized tokens are refused.

use std::sync::Arc;

use biscuit_auth::Biscuit;
use biscuit_auth::macros::block;
use saaskit::auth::cache::{Cached, TTL};
use saaskit::auth::token::{self, MAX_BLOCKS, MAX_TOKEN_LEN, Operation};
use saaskit::clock::{Clock, ManualClock};
use saaskit::services::identity::sessions;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, data, error_code, manual_clock, spawn_app, spawn_app_with_clock,
    spawn_app_with_clock_and,
};

const ME: &str = "{ me { user { id } } }";

/// `token` is honoured by `node`.
pub(super) async fn works(node: &TestApp, token: &str) {
    let response = node.graphql(ME, json!({}), Some(token)).await;
    assert!(
        data(&response)["me"]["user"]["id"].is_string(),
        "{response}"
    );
}

/// `token` is refused by `node` as no valid token.
pub(super) async fn refused(node: &TestApp, token: &str, why: &str) {
    let response = node.graphql(ME, json!({}), Some(token)).await;
    assert_eq!(
        error_code(&response),
        "UNAUTHENTICATED",
        "{why}: {response}"
    );
}

/// Two nodes on one clock, an account, and `token` used on both (so both have cached it).
async fn two_nodes() -> (Arc<ManualClock>, TestApp, TestApp) {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let other = app.second_node().await;
    (clock, app, other)
}

/// `tokens` are refused here now, and on `other` once the TTL has passed.
async fn refused_here_at_once_and_there_within_the_ttl(
    clock: &ManualClock,
    here: &TestApp,
    other: &TestApp,
    tokens: &[&str],
) {
    for token in tokens {
        refused(here, token, "the revoking node refuses at once").await;
    }
    clock.advance(TTL);
    for token in tokens {
        refused(other, token, "the other node within the TTL").await;
    }
}

#[tokio::test]
async fn a_rotated_sdk_key_is_refused_at_once_here_and_within_the_ttl_on_another_node() {
    let (clock, app, other) = two_nodes().await;
    let account = app.signup("ada@example.com").await;
    for node in [&app, &other] {
        works(node, &account.api_key).await;
    }
    let rotated = app
        .graphql("mutation { rotateApiKey }", json!({}), Some(&account.token))
        .await;
    let new_key = data(&rotated)["rotateApiKey"].as_str().expect("a key");
    refused_here_at_once_and_there_within_the_ttl(&clock, &app, &other, &[&account.api_key]).await;
    works(&other, new_key).await;
}

#[tokio::test]
async fn logout_everywhere_is_refused_at_once_here_and_within_the_ttl_on_another_node() {
    let (clock, app, other) = two_nodes().await;
    let account = app.signup("ada@example.com").await;
    let laptop = app.token_for("ada@example.com", PASSWORD, None).await;
    for node in [&app, &other] {
        works(node, &account.token).await;
        works(node, &laptop).await;
    }
    let response = app
        .graphql("mutation { logoutEverywhere }", json!({}), Some(&laptop))
        .await;
    assert_eq!(data(&response)["logoutEverywhere"], true);
    refused_here_at_once_and_there_within_the_ttl(&clock, &app, &other, &[&account.token, &laptop])
        .await;
    works(&other, &account.api_key).await;
}

#[tokio::test]
async fn change_password_ends_the_other_sessions_at_once_here_and_within_the_ttl_elsewhere() {
    let (clock, app, other) = two_nodes().await;
    let account = app.signup("ada@example.com").await;
    let laptop = app.token_for("ada@example.com", PASSWORD, None).await;
    for node in [&app, &other] {
        works(node, &account.token).await;
        works(node, &laptop).await;
    }
    let response = app
        .graphql(
            "mutation($input: ChangePasswordInput!) { changePassword(input: $input) }",
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": "a new long password" } }),
            Some(&account.token),
        )
        .await;
    assert_eq!(data(&response)["changePassword"], true);
    refused_here_at_once_and_there_within_the_ttl(&clock, &app, &other, &[&laptop]).await;
    for node in [&app, &other] {
        works(node, &account.token).await;
    }
}

/// A request on a connection of its own, so that a multi-worker node spreads them.
async fn on_new_connection(node: &TestApp, token: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", node.address))
        .bearer_auth(token)
        .json(&json!({ "query": ME }))
        .send()
        .await
        .expect("the request is sent");
    response.json().await.expect("a JSON response")
}

#[tokio::test]
async fn logout_on_a_node_with_two_workers_is_refused_at_once_by_each_of_them() {
    let clock = manual_clock();
    let app = spawn_app_with_clock_and(clock, |f| f.merge(("http_workers", 2))).await;
    let account = app.signup("ada@example.com").await;
    for _ in 0..4 {
        let response = on_new_connection(&app, &account.token).await;
        assert!(data(&response)["me"]["user"]["id"].is_string());
    }
    data(
        &app.graphql("mutation { logout }", json!({}), Some(&account.token))
            .await,
    );
    for _ in 0..4 {
        let response = on_new_connection(&app, &account.token).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{response}");
    }
}

#[tokio::test]
async fn a_request_that_read_the_session_before_logout_cannot_put_it_back_in_the_cache() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(clock.clone()).await;
    let account = app.signup("ada@example.com").await;
    let now = clock.now();
    // A request gets as far as reading the live session row…
    let ticket = app.state.tokens.ticket();
    let (claims, verified) = token::verify(
        app.state.root_key.public(),
        &account.token,
        &[Operation::named("me")],
        now,
    )
    .expect("verifies");
    let session = sessions::alive(&app.state.db, &claims, now)
        .await
        .expect("reads")
        .expect("alive");
    // …then the holder logs out on this node…
    data(
        &app.graphql("mutation { logout }", json!({}), Some(&account.token))
            .await,
    );
    // …and only then does the request remember what it read.
    let entry = Cached::checked(claims, verified, session.kind, session.expires_at, now);
    let _ = app.state.tokens.put(ticket, &account.token, entry);
    refused(
        &app,
        &account.token,
        "the revoked token stays out of the cache",
    )
    .await;
}

fn attenuated(app: &TestApp, token: &str, blocks: usize, padding: usize) -> String {
    let mut biscuit = Biscuit::from_base64(token, app.state.root_key.public()).expect("parses");
    let padding = "x".repeat(padding);
    for _ in 0..blocks {
        let padding = padding.clone();
        biscuit = biscuit
            .append(block!(
                r#"check if operation("me") or operation({padding});"#
            ))
            .expect("attenuates");
    }
    biscuit.to_base64().expect("serializes")
}

#[tokio::test]
async fn a_token_over_the_size_bound_is_unauthenticated_and_a_few_blocks_are_fine() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    for minted in [&account.token, &account.api_key, &staff] {
        assert!(minted.len() * 3 < MAX_TOKEN_LEN, "{} bytes", minted.len());
    }
    let three_blocks = attenuated(&app, &account.token, 3, 16);
    works(&app, &three_blocks).await;

    let too_many = attenuated(&app, &account.token, MAX_BLOCKS, 0);
    assert!(too_many.len() <= MAX_TOKEN_LEN);
    refused(&app, &too_many, "more than MAX_BLOCKS blocks").await;
    let too_long = attenuated(&app, &account.token, 1, MAX_TOKEN_LEN);
    refused(&app, &too_long, "longer than MAX_TOKEN_LEN").await;
}
