//! Every document is measured before it is validated or run: fragment bombs, huge and deep
//! documents are refused at once, and the limits sit exactly where docs/security.md says.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, data, error_code, spawn_app};

/// The refusal's `extensions`, asserting that it is a validation refusal.
fn refusal(response: &Value) -> &Value {
    assert_eq!(
        error_code(response),
        "GRAPHQL_VALIDATION_FAILED",
        "{response}"
    );
    assert!(
        response.get("data").is_none_or(Value::is_null),
        "nothing ran: {response}"
    );
    &response["errors"][0]["extensions"]
}

/// `fragment F1 { ...F2 ×fan } … fragment F{depth} { __typename }`.
fn named_bomb(fan: usize, depth: usize) -> String {
    let mut query = String::from("query { ...F1 }");
    for level in 1..=depth {
        let inner = if level == depth {
            "__typename".to_owned()
        } else {
            vec![format!("...F{}", level + 1); fan].join(" ")
        };
        query.push_str(&format!(" fragment F{level} on Query {{ {inner} }}"));
    }
    query
}

/// Inline fragments nested `depth` deep, `fan` of them at each level.
fn inline_bomb(fan: usize, depth: usize) -> String {
    let mut body = "__typename".to_owned();
    for _ in 0..depth {
        body = vec![format!("... on Query {{ {body} }}"); fan].join(" ");
    }
    format!("{{ {body} }}")
}

/// Posts with a client that gives up long before an exponential walk would end.
async fn post(app: &TestApp, query: &str) -> Value {
    app.client
        .post(format!("{}/graphql", app.address))
        .timeout(Duration::from_secs(20))
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("answered before the timeout")
        .json()
        .await
        .expect("a JSON body")
}

#[tokio::test]
async fn the_reported_fragment_bomb_is_refused_unauthenticated_without_being_expanded() {
    let app = spawn_app().await;
    let query = named_bomb(10, 7);
    assert!(query.len() < 700, "a small document: {} bytes", query.len());
    let response = post(&app, &query).await;
    let extensions = refusal(&response);
    assert_eq!(extensions["limit"], "selections");
    assert_eq!(extensions["max"], 1000);
}

#[tokio::test]
async fn fragment_bombs_of_every_fan_and_depth_are_refused_or_cheap() {
    let app = spawn_app().await;
    // Selections once expanded: the spreads or inline fragments of every level, plus the
    // `__typename`s at the bottom.
    let levels = |fan: f64, from: i32, to: i32| (from..=to).map(|k| fan.powi(k)).sum::<f64>();
    for fan in [2, 3, 5, 10, 20, 50] {
        for depth in [2, 3, 5, 10, 20, 30] {
            let (f, d) = (fan as f64, depth as i32);
            let expanded = levels(f, 0, d - 1) + f.powi(d - 1);
            let response = post(&app, &named_bomb(fan, depth)).await;
            if expanded > 1000.0 {
                let limit = &refusal(&response)["limit"];
                assert!(
                    limit == "selections" || limit == "tokens",
                    "fan {fan} depth {depth}: {response}"
                );
            } else {
                assert!(response.get("errors").is_none(), "fan {fan} depth {depth}");
            }
            // Inline fragments cannot be shared: the text grows as fast as the expansion.
            if f.powi(d) > 32_768.0 {
                continue;
            }
            let inline = inline_bomb(fan, depth);
            let response = post(&app, &inline).await;
            if levels(f, 1, d) + f.powi(d) > 1000.0 {
                let limit = &refusal(&response)["limit"];
                assert!(
                    limit == "selections" || limit == "tokens" || limit == "bytes",
                    "inline {fan}/{depth}: {response}"
                );
            } else {
                assert_eq!(
                    data(&response)["__typename"],
                    "Query",
                    "inline {fan}/{depth}"
                );
            }
        }
    }
}

#[tokio::test]
async fn fragments_that_spread_each_other_are_refused() {
    let app = spawn_app().await;
    let response = post(
        &app,
        "{ ...A } fragment A on Query { me { role } ...B } fragment B on Query { ...A }",
    )
    .await;
    let message = refusal(&response)["limit"].clone();
    assert!(message.is_null());
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("spreads itself")),
        "{response}"
    );
}

/// `{ x { x { … __typename } } }`, `depth` fields deep.
fn nested(depth: usize) -> String {
    let mut query = "__typename".to_owned();
    for _ in 1..depth {
        query = format!("x {{ {query} }}");
    }
    format!("{{ {query} }}")
}

#[tokio::test]
async fn depth_twelve_passes_the_limit_and_thirteen_is_refused() {
    let app = spawn_app().await;
    // Unknown fields fail validation after the limits pass, with another message.
    let at_limit = post(&app, &nested(12)).await;
    assert_eq!(error_code(&at_limit), "GRAPHQL_VALIDATION_FAILED");
    assert!(
        at_limit["errors"][0]["extensions"]["limit"].is_null(),
        "{at_limit}"
    );
    let over = post(&app, &nested(13)).await;
    let extensions = refusal(&over);
    assert_eq!(extensions["limit"], "depth");
    assert_eq!(
        (extensions["max"].clone(), extensions["found"].clone()),
        (json!(12), json!(13))
    );
}

#[tokio::test]
async fn a_thousand_selections_run_and_one_more_is_refused() {
    let app = spawn_app().await;
    let at_limit = post(&app, &format!("{{ {} }}", "__typename ".repeat(1000))).await;
    assert_eq!(data(&at_limit)["__typename"], "Query");
    let over = post(&app, &format!("{{ {} }}", "__typename ".repeat(1001))).await;
    assert_eq!(refusal(&over)["limit"], "selections");
}

#[tokio::test]
async fn thirty_aliases_run_and_thirty_one_are_refused_even_through_fragments() {
    let app = spawn_app().await;
    let aliases = |n: usize| {
        (0..n)
            .map(|i| format!("a{i}: __typename"))
            .collect::<Vec<_>>()
    };
    let at_limit = post(&app, &format!("{{ {} }}", aliases(30).join(" "))).await;
    assert_eq!(data(&at_limit)["a29"], "Query");
    let over = post(&app, &format!("{{ {} }}", aliases(31).join(" "))).await;
    assert_eq!(refusal(&over)["limit"], "aliases");
    // Sixteen aliases in a fragment spread twice are 32 aliases at run time.
    let spread = format!(
        "{{ ...F ... on Query {{ ...F }} }} fragment F on Query {{ {} }}",
        aliases(16).join(" ")
    );
    assert_eq!(refusal(&post(&app, &spread).await)["limit"], "aliases");
}

#[tokio::test]
async fn too_many_tokens_directives_or_brackets_are_refused_before_parsing() {
    let app = spawn_app().await;
    let tokens = format!("{{ {} }}", "__typename ".repeat(5_000));
    assert_eq!(refusal(&post(&app, &tokens).await)["limit"], "tokens");
    let brackets = format!("{}{}", "{ a ".repeat(65), "}".repeat(65));
    assert_eq!(refusal(&post(&app, &brackets).await)["limit"], "nesting");
    let directives = format!("{{ {} }}", "__typename @include(if: true) ".repeat(51));
    assert_eq!(
        refusal(&post(&app, &directives).await)["limit"],
        "directives"
    );
}

#[tokio::test]
async fn a_query_text_over_128_kib_is_refused_however_few_its_tokens() {
    let app = spawn_app().await;
    let comment = |size: usize| format!("#{}\n{{ __typename }}", "x".repeat(size - 16));
    let at_limit = post(&app, &comment(128 * 1024)).await;
    assert_eq!(data(&at_limit)["__typename"], "Query");
    let over = post(&app, &comment(128 * 1024 + 1)).await;
    assert_eq!(refusal(&over)["limit"], "bytes");
}

#[tokio::test]
async fn a_body_of_one_mebibyte_is_served_and_one_byte_more_is_413() {
    let app = spawn_app().await;
    let body = |size: usize| {
        let head = r#"{"query":"{ plans { code } }","variables":{"pad":""}}"#;
        let pad = "x".repeat(size - head.len());
        format!(r#"{{"query":"{{ plans {{ code }} }}","variables":{{"pad":"{pad}"}}}}"#)
    };
    let send = |body: String| {
        app.client
            .post(format!("{}/graphql", app.address))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let under = send(body(1024 * 1024)).await.expect("sent");
    assert_eq!(under.status(), 200);
    let under: Value = under.json().await.expect("JSON");
    assert!(data(&under)["plans"].is_array());
    let over = send(body(1024 * 1024 + 1)).await.expect("sent");
    assert_eq!(over.status(), 413);
    let over: Value = over.json().await.expect("JSON");
    assert_eq!(error_code(&over), "BAD_REQUEST");
}

#[tokio::test]
async fn the_standard_introspection_queries_of_graphql_js_16_and_17_are_answered() {
    let app = spawn_app().await;
    for query in [
        include_str!("../../fixtures/introspection-graphql-js-16.graphql"),
        include_str!("../../fixtures/introspection-graphql-js-17.graphql"),
    ] {
        let response = post(&app, query).await;
        let schema = &data(&response)["__schema"];
        assert_eq!(schema["queryType"]["name"], "Query");
        assert!(schema["types"].as_array().is_some_and(|t| t.len() > 20));
    }
}

#[tokio::test]
async fn one_schema_per_operation_and_introspection_has_its_own_depth() {
    let app = spawn_app().await;
    let twice = post(
        &app,
        "{ a: __schema { description } b: __schema { description } }",
    )
    .await;
    assert_eq!(refusal(&twice)["limit"], "schemas");
    let deep = |levels: usize| {
        format!(
            "{{ __type(name: \"Query\") {{ {} name {} }} }}",
            "ofType { ".repeat(levels),
            "} ".repeat(levels)
        )
    };
    // __type + 30 ofType + name = 32 levels: past the ordinary depth limit, within its own.
    let within = post(&app, &deep(30)).await;
    assert!(data(&within)["__type"]["ofType"].is_null(), "{within}");
    let over = post(&app, &deep(31)).await;
    assert_eq!(refusal(&over)["limit"], "introspectionDepth");
}
