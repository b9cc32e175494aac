//! `/metrics`: what it holds, where it is served and who may read it. The recorder is one per
//! process, and in-process tests share theirs with every test running beside them: whatever
//! counts what a test did is read from a `saaskit serve` process of the test's own
//! ([`super::process`]), where each figure is exactly what the test did.

use std::path::Path;

use serde_json::json;

use super::process::Server;
use super::sample;
use crate::helpers::{TestDatabase, data, error_code, spawn_app_with};

const RECORD: &str =
    "mutation Record($input: RecordUsageInput!) { recordUsage(input: $input) { used } }";

/// Signs up on `server`; the owner's token and the SDK key.
async fn signup(server: &Server, email: &str) -> (String, String) {
    let response = server
        .graphql(
            "mutation($input: SignupInput!) { signup(input: $input) {
                token viewer { business { apiKey } } } }",
            json!({ "input": { "email": email, "password": crate::helpers::PASSWORD,
                               "name": "Owner", "businessName": "Metrics" } }),
            None,
        )
        .await;
    let signup = &data(&response)["signup"];
    let text = |value: &serde_json::Value| value.as_str().expect("a string").to_owned();
    (
        text(&signup["token"]),
        text(&signup["viewer"]["business"]["apiKey"]),
    )
}

async fn scrape(server: &Server) -> String {
    let response = server.get("/metrics", None).await;
    assert_eq!(response.status(), 200, "/metrics answers");
    let content_type = response.headers()["content-type"].to_str().expect("ascii");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("text")
}

fn server_in(dir: &Path, db: &TestDatabase, env: &[(&str, &str)]) -> Server {
    Server::start(dir, &db.url(), env)
}

#[tokio::test]
async fn metrics_count_exactly_the_usage_outcomes_and_operations_served_with_pools() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = TestDatabase::create(&dir).await;
    let server = server_in(dir.path(), &db, &[("SAASKIT_METRICS_OPERATIONS", "Record")]);
    let (_, sdk_key) = signup(&server, "metrics@example.com").await;
    for key in ["m-1", "m-2", "m-2"] {
        let response = server
            .graphql(
                RECORD,
                json!({ "input": { "metric": "recordings", "idempotencyKey": key } }),
                Some(&sdk_key),
            )
            .await;
        data(&response);
    }
    let refused = server
        .graphql(
            RECORD,
            json!({ "input": { "metric": "no-such-metric" } }),
            Some(&sdk_key),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");

    let text = scrape(&server).await;
    let count = |name: &str, labels: &[(&str, &str)]| sample(&text, name, labels);
    let accepted = "saaskit_usage_accepted_total";
    assert_eq!(count(accepted, &[("duplicate", "false")]), 2.0, "{text}");
    assert_eq!(count(accepted, &[("duplicate", "true")]), 1.0);
    let refused = "saaskit_usage_refused_total";
    assert_eq!(count(refused, &[("reason", "BAD_USER_INPUT")]), 1.0);
    assert_eq!(count(refused, &[]), 1.0, "nothing else was refused");
    let served = "saaskit_http_requests_total";
    assert_eq!(
        count(served, &[("operation", "Record"), ("code", "OK")]),
        3.0
    );
    assert_eq!(
        count(
            served,
            &[("operation", "Record"), ("code", "BAD_USER_INPUT")]
        ),
        1.0
    );
    assert_eq!(
        count(served, &[("operation", "anonymous"), ("code", "OK")]),
        1.0,
        "the signup"
    );
    assert!(text.contains("# TYPE saaskit_http_request_duration_seconds histogram"));
    assert_eq!(
        count(
            "saaskit_http_request_duration_seconds_count",
            &[("operation", "Record")]
        ),
        4.0
    );
    for pool in ["main", "http", "worker", "jobs", "usage"] {
        assert!(
            text.contains(&format!(
                "saaskit_db_pool_connections{{pool=\"{pool}\",state=\"idle\"}}"
            )),
            "pool {pool} is sampled:\n{text}"
        );
        assert!(count("saaskit_db_pool_max_connections", &[("pool", pool)]) >= 1.0);
    }
}

#[tokio::test]
async fn a_metrics_token_keeps_scrapers_without_it_out() {
    let app = spawn_app_with(|figment| figment.merge(("metrics_token", "scrape-secret"))).await;
    let url = format!("{}/metrics", app.address);
    let anonymous = app.client.get(&url).send().await.expect("sent");
    assert_eq!(anonymous.status(), 401);
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("scrape-secreT")
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status(), 401);
    let right = app
        .client
        .get(&url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .expect("sent");
    assert_eq!(right.status(), 200);
    assert!(right.text().await.expect("text").contains("saaskit_"));
}

#[tokio::test]
async fn a_metrics_bind_moves_metrics_off_the_api_port() {
    let app = spawn_app_with(|figment| figment.merge(("metrics_bind", "127.0.0.1:0"))).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    let port = app.metrics_port.expect("a metrics listener");
    let base = format!("http://127.0.0.1:{port}");
    let metrics = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .expect("text")
            .contains("saaskit_db_pool")
    );
    let health = app
        .client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_mail_job_is_counted_once_when_it_runs() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = TestDatabase::create(&dir).await;
    // The sweep never takes the mail over: the one job sends it.
    let server = server_in(dir.path(), &db, &[("SAASKIT_OUTBOX_STALE_AFTER", "1h")]);
    signup(&server, "jobs@example.com").await;
    let before = scrape(&server).await;
    let run = |text: &str| sample(text, "saaskit_jobs_run_total", &[("kind", "send_mail")]);
    assert_eq!(run(&before), 0.0, "{before}");
    let response = server
        .graphql(
            "mutation { requestPasswordReset(email: \"jobs@example.com\") }",
            json!({}),
            None,
        )
        .await;
    data(&response);
    crate::mail::wait_for_mails(&dir.path().join("mail"), Some("jobs@example.com"), 1).await;

    let after = scrape(&server).await;
    assert_eq!(run(&after), 1.0, "{after}");
    let failed = sample(
        &after,
        "saaskit_jobs_failed_total",
        &[("kind", "send_mail")],
    );
    assert_eq!(failed, 0.0);
    assert_eq!(sample(&after, "saaskit_outbox_rehanded_total", &[]), 0.0);
}

#[tokio::test]
async fn saaskit_worker_serves_metrics_on_its_metrics_bind() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = crate::helpers::TestDatabase::create(&dir).await;
    let log = dir.path().join("worker.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_saaskit"))
        .arg("worker")
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .env("DATABASE_URL", db.url())
        .env("SAASKIT_METRICS_BIND", "127.0.0.1:0")
        .env("SAASKIT_MAIL_DIR", dir.path().join("mail"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .spawn()
        .expect("saaskit worker starts");
    let started = Instant::now();
    let url = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(at) = text.find("metrics on http://") {
            let rest = &text[at + "metrics on ".len()..];
            break rest.split_whitespace().next().expect("a url").to_owned();
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the worker never listened:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let client = crate::helpers::test_client();
    let metrics = client.get(&url).send().await.expect("sent");
    let status = metrics.status();
    let text = metrics.text().await.expect("text");
    let health = client
        .get(url.replace("/metrics", "/health"))
        .send()
        .await
        .expect("sent")
        .status();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200);
    assert!(
        text.contains("saaskit_db_pool_connections{pool=\"worker\",state=\"idle\"}"),
        "{text}"
    );
    assert_eq!(health, 200);
}

#[tokio::test]
async fn operation_names_a_caller_makes_up_never_take_a_label() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = TestDatabase::create(&dir).await;
    let server = server_in(dir.path(), &db, &[]);
    // More made-up names than there were label slots, anonymously.
    for i in 0..105 {
        let named = format!("query Flood{i} {{ __typename }}");
        data(&server.graphql(&named, json!({}), None).await);
    }
    let plans = include_str!("../../../examples/operations/Plans.graphql");
    data(&server.graphql(plans, json!({}), None).await);
    let text = scrape(&server).await;
    let served = "saaskit_http_requests_total";
    assert_eq!(
        sample(&text, served, &[("operation", "other")]),
        105.0,
        "{text}"
    );
    assert!(!text.contains("Flood"), "no made-up name is a label");
    assert_eq!(
        sample(&text, served, &[("operation", "Plans")]),
        1.0,
        "{text}"
    );
}
