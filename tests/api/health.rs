use crate::helpers::spawn_app;

#[tokio::test]
async fn health_answers_while_the_process_is_up() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn ready_answers_when_the_database_is_reachable() {
    let app = spawn_app().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn ready_fails_when_the_database_lacks_its_tables() {
    let app = spawn_app().await;
    app.break_database().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 503);
}

#[tokio::test]
async fn introspection_is_open_in_development() {
    let app = spawn_app().await;
    let response = app
        .graphql(
            "{ __schema { queryType { name } } }",
            serde_json::json!({}),
            None,
        )
        .await;
    assert_eq!(response["data"]["__schema"]["queryType"]["name"], "Query");
}
