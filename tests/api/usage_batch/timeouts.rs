//! Timeouts tell the truth: a call that entered a batch before its request's time ran out
//! gets the batch's answer; one still queued is withdrawn, counts nothing, and answers
//! `TIMEOUT` — so a keyless retry after a `TIMEOUT` never counts twice.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend};
use serde_json::{Value, json};
use uuid::Uuid;

use super::coalescer::recording;
use crate::helpers::{TestApp, data, error_code, spawn_app};
use crate::usage::used;

const RECORD: &str = "mutation { recordUsage(input: { metric: \"recordings\" }) { used } }";

async fn record(node: &TestApp, key: &str) -> Value {
    node.graphql(RECORD, json!({}), Some(key)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_a_batch_when_time_runs_out_gets_the_batch_s_answer() {
    let app = spawn_app().await;
    let node = app
        .second_node_with(|figment| figment.merge(("request_timeout", "1s")))
        .await;
    let account = app.signup("ada@example.com").await;
    let business: Uuid = account.business_id.parse().expect("uuid");
    saaskit::services::usage::reference::record(
        &app.state.db,
        business,
        recording(None),
        chrono::Utc::now(),
    )
    .await
    .expect("creates the counter");
    // The test holds what the writer needs: the counter's row (PostgreSQL), the write lock
    // (SQLite). The first call enters a batch and waits there; the second, of the same
    // business and so of the same writer, waits in the queue behind it.
    let holder = saaskit::db::begin_write(&app.state.db)
        .await
        .expect("begins");
    if holder.get_database_backend() == DbBackend::Postgres {
        holder
            .execute_unprepared(&format!(
                "SELECT 1 FROM usage_counters WHERE subscription_id = \
                 (SELECT id FROM subscriptions WHERE business_id = '{business}') FOR UPDATE"
            ))
            .await
            .expect("locks the counter");
    }
    let in_batch = tokio::spawn({
        let (node_key, address) = (account.api_key.clone(), node.address.clone());
        async move { post(&address, &node_key).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let queued = tokio::spawn({
        let (node_key, address) = (account.api_key.clone(), node.address.clone());
        async move { post(&address, &node_key).await }
    });
    // Both requests' time runs out while the writer waits (at 1 s and 1.2 s); the one in
    // the batch waits for it up to another second.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    holder.rollback().await.expect("lets go");
    let answered = in_batch.await.expect("answers");
    assert_eq!(
        data(&answered)["recordUsage"]["used"],
        2,
        "the batch's answer, not TIMEOUT: {answered}"
    );
    let withdrawn = queued.await.expect("answers");
    assert_eq!(error_code(&withdrawn), "TIMEOUT", "{withdrawn}");
    assert_eq!(
        used(&app, &account, "recordings").await,
        2,
        "the withdrawn call counted nothing"
    );
    // Its keyless retry counts once.
    let retried = record(&node, &account.api_key).await;
    assert_eq!(data(&retried)["recordUsage"]["used"], 3, "{retried}");
    assert_eq!(used(&app, &account, "recordings").await, 3);
}

async fn post(address: &str, key: &str) -> Value {
    crate::helpers::test_client()
        .post(format!("{address}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": RECORD }))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON")
}
