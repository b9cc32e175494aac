//! A body may carry a JSON array of up to 10 operations; each runs through the same limits,
//! authentication and execution as one sent alone.

use serde_json::{Value, json};

use crate::helpers::{TestApp, data, spawn_app};

async fn post(app: &TestApp, body: &Value, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent")
}

#[tokio::test]
async fn a_batch_answers_each_operation_in_order() {
    let app = spawn_app().await;
    let account = app.signup("batch@example.com").await;
    let record = "mutation { recordUsage(input: { metric: \"recordings\" }) { used } }";
    let body = json!([
        { "query": record },
        { "query": "{ plans { code } }" },
        { "query": record },
        { "query": "{ business { name } }" },
    ]);
    let response = post(&app, &body, Some(&account.api_key)).await;
    assert_eq!(response.status(), 200);
    let answers: Vec<Value> = response.json().await.expect("an array");
    assert_eq!(answers.len(), 4);
    assert_eq!(data(&answers[0])["recordUsage"]["used"], 1);
    assert!(data(&answers[1])["plans"].is_array());
    assert_eq!(data(&answers[2])["recordUsage"]["used"], 2);
    // The SDK key may not read the business: refused in its own answer, as if sent alone.
    assert_eq!(
        answers[3]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{}",
        answers[3]
    );
}

#[tokio::test]
async fn every_operation_of_a_batch_meets_the_document_limits() {
    let app = spawn_app().await;
    let deep = format!("{{ {} }}", "plans { limits { ".repeat(8) + &"} ".repeat(16));
    let body = json!([{ "query": "{ plans { code } }" }, { "query": deep }]);
    let answers: Vec<Value> = post(&app, &body, None).await.json().await.expect("array");
    data(&answers[0]);
    assert_eq!(
        answers[1]["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{}",
        answers[1]
    );
}

#[tokio::test]
async fn batches_over_the_cap_or_empty_are_refused_whole() {
    let app = spawn_app().await;
    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({ "query": "{ plans { code } }" }))
        .collect();
    for body in [json!(eleven), json!([])] {
        let response = post(&app, &body, None).await;
        assert_eq!(response.status(), 400);
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_REQUEST");
        let message = answer["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("1 to 10 operations"), "{message}");
    }
    let ten: Vec<Value> = (0..10)
        .map(|_| json!({ "query": "{ plans { code } }" }))
        .collect();
    let answers: Vec<Value> = post(&app, &json!(ten), None)
        .await
        .json()
        .await
        .expect("array");
    assert_eq!(answers.len(), 10);
}
