//! `/metrics`: what it holds, where it is served and who may read it. The recorder is one per
//! process and tests run side by side, so these tests see counters move by at least what they
//! did; `logs.rs` checks exact figures on a process of its own.

use serde_json::json;

use super::{sample, scrape};
use crate::helpers::{data, error_code, spawn_app, spawn_app_with};

const RECORD: &str = "mutation($input: RecordUsageInput!) { recordUsage(input: $input) { used } }";

#[tokio::test]
async fn metrics_are_prometheus_text_with_pools_and_usage_outcomes() {
    let app = spawn_app().await;
    let account = app.signup("metrics@example.com").await;
    let before = scrape(&app).await;
    for key in ["m-1", "m-2", "m-2"] {
        let response = app
            .graphql(
                RECORD,
                json!({ "input": { "metric": "recordings", "idempotencyKey": key } }),
                Some(&account.api_key),
            )
            .await;
        data(&response);
    }
    let refused = app
        .graphql(
            RECORD,
            json!({ "input": { "metric": "no-such-metric" } }),
            Some(&account.api_key),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");

    let response = app.get("/metrics").await;
    let content_type = response.headers()["content-type"].to_str().expect("ascii");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let after = response.text().await.expect("text");
    let moved = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert!(moved("saaskit_usage_accepted_total", &[("duplicate", "false")]) >= 2.0);
    assert!(moved("saaskit_usage_accepted_total", &[("duplicate", "true")]) >= 1.0);
    assert!(
        moved(
            "saaskit_usage_refused_total",
            &[("reason", "BAD_USER_INPUT")]
        ) >= 1.0
    );
    assert!(
        moved(
            "saaskit_http_requests_total",
            &[("operation", "anonymous"), ("code", "OK")]
        ) >= 3.0
    );
    assert!(after.contains("# TYPE saaskit_http_request_duration_seconds histogram"));
    assert!(after.contains("saaskit_http_request_duration_seconds_bucket{"));
    for pool in ["main", "http", "worker", "jobs", "usage"] {
        assert!(
            after.contains(&format!(
                "saaskit_db_pool_connections{{pool=\"{pool}\",state=\"idle\"}}"
            )),
            "pool {pool} is sampled:\n{after}"
        );
        assert!(sample(&after, "saaskit_db_pool_max_connections", &[("pool", pool)]) >= 1.0);
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
async fn mail_jobs_are_counted_when_they_run() {
    let app = spawn_app().await;
    app.signup("jobs@example.com").await;
    let before = scrape(&app).await;
    let response = app
        .graphql(
            "mutation { requestPasswordReset(email: \"jobs@example.com\") }",
            json!({}),
            None,
        )
        .await;
    data(&response);
    crate::mail::wait_for_mails(&app.mail_dir, Some("jobs@example.com"), 1).await;
    let after = scrape(&app).await;
    let run = |text: &str| sample(text, "saaskit_jobs_run_total", &[("kind", "send_mail")]);
    assert!(run(&after) - run(&before) >= 1.0, "{after}");
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
