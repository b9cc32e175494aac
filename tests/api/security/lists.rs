//! Lists are counted before anything runs: a result's items (each list's size times the lists
//! above it, a batch's operations together) stay within the `nodes` budget or nothing runs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, data, error_code, spawn_app};

const NODES: u64 = 10_000;

/// The red-team document of issue 19: 30 aliases of a full audit-log page per membership.
pub fn red_team() -> String {
    let aliases: Vec<String> = (0..30)
        .map(|i| {
            format!(
                "a{i}: auditLog(first: 100) {{ nodes {{ id action target data createdAt \
                 actor {{ email name }} }} }}"
            )
        })
        .collect();
    format!(
        "{{ me {{ memberships {{ business {{ {} }} }} }} }}",
        aliases.join(" ")
    )
}

/// Posts `body` as JSON, with `token`.
async fn post(app: &TestApp, body: &Value, token: Option<&str>) -> Value {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .timeout(Duration::from_secs(20))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("answered");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

/// A `nodes` refusal: nothing ran.
fn nodes_refusal(response: &Value) -> u64 {
    assert_eq!(
        error_code(response),
        "GRAPHQL_VALIDATION_FAILED",
        "{response}"
    );
    assert!(
        response.get("data").is_none_or(Value::is_null),
        "{response}"
    );
    let extensions = &response["errors"][0]["extensions"];
    assert_eq!(extensions["limit"], "nodes", "{response}");
    assert_eq!(extensions["max"], NODES);
    extensions["found"].as_u64().expect("found")
}

#[tokio::test]
async fn the_red_team_list_document_is_refused_at_once_without_a_token_or_a_database() {
    let app = spawn_app().await;
    // No token, and a database that no longer answers: the refusal needs neither.
    app.break_database().await;
    let started = Instant::now();
    let response = post(&app, &json!({ "query": red_team() }), Some("not-a-token")).await;
    let found = nodes_refusal(&response);
    assert_eq!(found, 100 + 100 * 30 * 100, "memberships × aliases × page");
    let batch: Vec<Value> = (0..10).map(|_| json!({ "query": red_team() })).collect();
    let answers = post(&app, &json!(batch), None).await;
    for answer in answers.as_array().expect("a batch") {
        assert_eq!(
            nodes_refusal(answer),
            found,
            "each is over the budget alone"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn nested_pages_multiply_by_their_first_from_variables() {
    let app = spawn_app().await;
    let owner = app.signup("lists@example.com").await;
    let query = "query($n: Int = 100) { me { memberships { business {
        members(first: $n) { nodes { id } } } } } }";
    let refused = post(&app, &json!({ "query": query }), Some(&owner.token)).await;
    assert_eq!(
        nodes_refusal(&refused),
        100 + 100 * 100,
        "the default counts"
    );
    let small = json!({ "query": query, "variables": { "n": 5 } });
    let served = post(&app, &small, Some(&owner.token)).await;
    let memberships = &data(&served)["me"]["memberships"];
    assert!(memberships[0]["business"]["members"]["nodes"][0]["id"].is_string());
}

#[tokio::test]
async fn a_batch_is_refused_whole_when_its_operations_together_pass_the_budget() {
    let app = spawn_app().await;
    let owner = app.signup("batch-lists@example.com").await;
    // 100 memberships + 100 × 20 members: 2,100 items each; four fit, ten do not.
    let query =
        json!({ "query": "{ me { memberships { business { members { nodes { id } } } } } }" });
    let four: Vec<Value> = vec![query.clone(); 4];
    let answers = post(&app, &json!(four), Some(&owner.token)).await;
    for answer in answers.as_array().expect("a batch") {
        assert!(data(answer)["me"]["memberships"].is_array());
    }
    let ten: Vec<Value> = vec![query; 10];
    let answers = post(&app, &json!(ten), Some(&owner.token)).await;
    for answer in answers.as_array().expect("a batch") {
        assert_eq!(nodes_refusal(answer), 10 * 2_100);
    }
}

#[tokio::test]
async fn fragments_and_skipped_fields_count_as_if_they_ran() {
    let app = spawn_app().await;
    let page = "fragment Page on Business { auditLog(first: 100) { nodes { id } } }";
    let query = format!(
        "query($skip: Boolean = true) {{ me {{ memberships {{ business {{
           ...Page @skip(if: $skip) ... on Business {{ b: auditLog(first: 100) {{ edges {{ node {{ id }} }} }} }} }} }} }} }} {page}"
    );
    let refused = post(&app, &json!({ "query": query }), None).await;
    assert_eq!(nodes_refusal(&refused), 100 + 2 * 100 * 100);
}

#[tokio::test]
async fn every_example_operation_stays_within_the_budget() {
    let app = spawn_app().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/operations");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("examples/operations") {
        let path = entry.expect("an entry").path();
        let query = std::fs::read_to_string(&path).expect("a document");
        // The variables its comment shows (the first, where it shows a choice).
        let variables = query
            .lines()
            .find_map(|line| line.strip_prefix("# Variables: "))
            .and_then(|rest| {
                serde_json::Deserializer::from_str(rest)
                    .into_iter::<Value>()
                    .next()?
                    .ok()
            })
            .unwrap_or_else(|| json!({}));
        let body = json!({ "query": query, "variables": variables });
        let response = post(&app, &body, None).await;
        let code = response["errors"][0]["extensions"]["code"].as_str();
        assert_ne!(
            code,
            Some("GRAPHQL_VALIDATION_FAILED"),
            "{}: {response}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 20);
}
