//! Login throttling over real HTTP: who the client is, how many guesses reach the password
//! check, when the window passes, and who may still log in while an e-mail is under attack.

use std::sync::Arc;

use chrono::TimeDelta;
use futures::StreamExt;
use futures::future::join_all;
use saaskit::clock::ManualClock;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, data, error_code, spawn_app, spawn_app_on};

const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { token } }";

/// `login`, sent with `X-Forwarded-For: forwarded_for` when given.
async fn login_from(
    app: &TestApp,
    forwarded_for: Option<&str>,
    email: &str,
    password: &str,
) -> Value {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": LOGIN,
            "variables": { "input": { "email": email, "password": password } } }));
    if let Some(hops) = forwarded_for {
        request = request.header("X-Forwarded-For", hops);
    }
    let response = request.send().await.expect("the request is sent");
    response.json().await.expect("a JSON response")
}

fn retry_after(response: &Value) -> u64 {
    assert_eq!(error_code(response), "RATE_LIMITED", "{response}");
    response["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("retryAfter in {response}"))
}

/// A node that believes `X-Forwarded-For` from 127.0.0.1 (the tests' own address), on a
/// clock the test moves.
async fn behind_a_proxy(clock: &Arc<ManualClock>) -> TestApp {
    spawn_app_on(clock.clone(), |figment| {
        figment.merge(("trusted_proxies", "127.0.0.1, 10.0.0.0/8"))
    })
    .await
}

fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::starting_at(chrono::Utc::now()))
}

#[tokio::test]
async fn a_client_cannot_pick_its_address_with_x_forwarded_for() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    for i in 0..5 {
        let hops = format!("198.51.100.{i}");
        let response = login_from(&app, Some(&hops), &account.email, "wrong password").await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    let response = login_from(&app, Some("203.0.113.99"), &account.email, PASSWORD).await;
    assert!(
        retry_after(&response) > 0,
        "every guess came from 127.0.0.1"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
    let clock = manual_clock();
    let app = behind_a_proxy(&clock).await;
    let account = app.signup("ada@example.com").await;
    // The client writes whatever it likes on the left; the proxies append on the right.
    for i in 0..5 {
        let hops = format!("1.1.1.{i}, 198.51.100.9, 10.0.0.2");
        let response = login_from(&app, Some(&hops), &account.email, "wrong password").await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    let again = login_from(
        &app,
        Some("6.6.6.6, 198.51.100.9"),
        &account.email,
        PASSWORD,
    )
    .await;
    assert!(
        retry_after(&again) > 0,
        "the same client, whatever it wrote"
    );
    let other = login_from(
        &app,
        Some("198.51.100.9, 203.0.113.5"),
        &account.email,
        PASSWORD,
    )
    .await;
    data(&other);
    // Without a header the trusted peer itself is the client.
    data(&login_from(&app, None, &account.email, PASSWORD).await);
}

#[tokio::test]
async fn two_hundred_parallel_guesses_let_at_most_five_reach_the_password_check() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let guesses = (0..200).map(|i| {
        let password = format!("wrong password {i}");
        let app = &app;
        let email = &account.email;
        async move { login_from(app, None, email, &password).await }
    });
    let answers = join_all(guesses).await;
    let checked = answers
        .iter()
        .filter(|r| error_code(r) == "UNAUTHENTICATED")
        .count();
    let limited = answers
        .iter()
        .filter(|r| error_code(r) == "RATE_LIMITED")
        .count();
    // Attempts in flight count, so a flood may let fewer through, never more.
    assert!(checked <= 5, "{checked} guesses reached the check");
    assert_eq!(checked + limited, 200, "nothing else: {answers:?}");
    // Refused guesses are not kept: the address has exactly its five checks in the window.
    for _ in checked..5 {
        let response = login_from(&app, None, &account.email, "wrong password").await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    retry_after(&login_from(&app, None, &account.email, PASSWORD).await);
}

#[tokio::test]
async fn the_window_passes_with_the_clock_and_retry_after_is_exact() {
    let clock = manual_clock();
    let app = spawn_app_on(clock.clone(), |figment| figment).await;
    let account = app.signup("ada@example.com").await;
    for _ in 0..5 {
        let response = app.login(&account.email, "wrong password", None).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    clock.advance(TimeDelta::minutes(5));
    let refused = app.login(&account.email, PASSWORD, None).await;
    assert_eq!(
        retry_after(&refused),
        10 * 60,
        "the window's remaining ten minutes"
    );
    clock.advance(TimeDelta::seconds(10 * 60 - 1));
    let refused = app.login(&account.email, PASSWORD, None).await;
    assert_eq!(
        retry_after(&refused),
        1,
        "refused attempts do not extend the wait"
    );
    clock.advance(TimeDelta::seconds(1));
    data(&app.login(&account.email, PASSWORD, None).await);
}

#[tokio::test]
async fn the_owner_logs_in_from_a_known_address_while_the_email_is_under_attack() {
    let clock = manual_clock();
    let app = behind_a_proxy(&clock).await;
    let account = app.signup("ada@example.com").await;
    let home = Some("203.0.113.5");
    data(&login_from(&app, home, &account.email, PASSWORD).await);
    clock.advance(TimeDelta::days(1));

    // A distributed guess: 100 addresses, one failure each, reaches the e-mail's ceiling.
    // Eight at a time: more at once would overflow the node's bounded hashing queue, which
    // refuses them (`RATE_LIMITED`) rather than counting them as guesses.
    let guesses = (0..100).map(|i| {
        let (app, email) = (&app, &account.email);
        async move {
            let hops = format!("198.51.100.{i}");
            login_from(app, Some(&hops), email, "wrong password").await
        }
    });
    let answers: Vec<Value> = futures::stream::iter(guesses)
        .buffer_unordered(8)
        .collect()
        .await;
    for response in answers {
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    clock.advance(TimeDelta::minutes(1));
    let stranger = login_from(&app, Some("192.0.2.77"), &account.email, PASSWORD).await;
    assert_eq!(
        retry_after(&stranger),
        14 * 60,
        "until the attack's attempts age out"
    );
    data(&login_from(&app, home, &account.email, PASSWORD).await);
    // Known is not unlimited: the per-address rule still holds there.
    for _ in 0..5 {
        let response = login_from(&app, home, &account.email, "wrong password").await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    retry_after(&login_from(&app, home, &account.email, PASSWORD).await);
}

#[tokio::test]
async fn one_address_gets_a_limited_rate_of_logins_and_signups_whatever_the_email() {
    let clock = manual_clock();
    let app = spawn_app_on(clock.clone(), |figment| {
        figment
            .merge(("trusted_proxies", "127.0.0.1"))
            .merge(("auth_attempts_per_minute", 2))
    })
    .await;
    let here = Some("198.51.100.1");
    for i in 0..2 {
        let email = format!("random-{i}@example.com");
        let response = login_from(&app, here, &email, PASSWORD).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    let third = login_from(&app, here, "random-3@example.com", PASSWORD).await;
    assert_eq!(retry_after(&third), 30, "one attempt comes back every 30 s");
    let signup = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("X-Forwarded-For", "198.51.100.1")
        .json(
            &json!({ "query": "mutation($input: SignupInput!) { signup(input: $input) { token } }",
            "variables": { "input": { "email": "new@example.com", "password": PASSWORD,
                "name": "New", "businessName": "New" } } }),
        )
        .send()
        .await
        .expect("sent")
        .json::<Value>()
        .await
        .expect("JSON");
    assert_eq!(retry_after(&signup), 30, "signup shares the rate");
    let elsewhere = login_from(&app, Some("198.51.100.2"), "random@example.com", PASSWORD).await;
    assert_eq!(
        error_code(&elsewhere),
        "UNAUTHENTICATED",
        "another address has its own"
    );
    clock.advance(TimeDelta::seconds(30));
    let later = login_from(&app, here, "random-4@example.com", PASSWORD).await;
    assert_eq!(error_code(&later), "UNAUTHENTICATED");
}
