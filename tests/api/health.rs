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
async fn graphiql_is_served_in_development() {
    let app = spawn_app().await;
    for path in ["/graphiql", "/graphql"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body = response.text().await.expect("a body");
        assert!(body.contains("graphiql"), "{path} serves GraphiQL");
    }
}

#[tokio::test]
async fn graphiql_and_introspection_are_closed_in_production() {
    let app = crate::helpers::spawn_app_with(|f| f.merge(("env", "production"))).await;
    assert_eq!(app.get("/graphiql").await.status(), 404);
    let response = app
        .graphql(
            "{ __schema { queryType { name } } }",
            serde_json::json!({}),
            None,
        )
        .await;
    assert_eq!(
        crate::helpers::error_code(&response),
        "FORBIDDEN",
        "{response}"
    );
    assert!(response["data"].is_null(), "nothing runs: {response}");
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
