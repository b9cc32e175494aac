//! `recordUsage` after plans and subscriptions change: decrements above a lowered limit, one
//! rule for the SQL and its explanation, and replays that answer as the first call did.

use proptest::prelude::*;
use saaskit::services::usage::{self, Record, rule};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Account, TestApp, data, error_code, spawn_app};

const RECORD: &str = "mutation($input: RecordUsageInput!) {
    recordUsage(input: $input) { metric used limit remaining duplicate } }";

async fn record(app: &TestApp, account: &Account, input: Value) -> Value {
    app.graphql(RECORD, json!({ "input": input }), Some(&account.api_key))
        .await
}

/// Staff puts the account on the plan with `code`.
async fn grant(app: &TestApp, staff: &str, account: &Account, code: &str) {
    let plans = app
        .graphql("{ allPlans { id code } }", json!({}), Some(staff))
        .await;
    let plan = data(&plans)["allPlans"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["code"] == code))
        .map(|p| p["id"].clone())
        .expect("the plan exists");
    let granted = app
        .graphql(
            "mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { id } }",
            json!({ "b": account.business_id, "p": plan }),
            Some(staff),
        )
        .await;
    data(&granted);
}

async fn sql(app: &TestApp, sql: &str, values: Vec<sea_orm::Value>) {
    let db = &app.state.db;
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .await
    .expect("the statement runs");
}

#[tokio::test]
async fn a_decrement_is_accepted_above_a_lowered_limit() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    grant(&app, &staff, &account, "unlimited").await;
    data(
        &record(
            &app,
            &account,
            json!({ "metric": "applications", "quantity": 5 }),
        )
        .await,
    );
    grant(&app, &staff, &account, "free").await; // applications: 1

    let deleted = record(
        &app,
        &account,
        json!({ "metric": "applications", "quantity": -1 }),
    )
    .await;
    assert_eq!(data(&deleted)["recordUsage"]["used"], 4);
    let keyed = json!({ "metric": "applications", "quantity": -1, "idempotencyKey": "del-2" });
    assert_eq!(
        data(&record(&app, &account, keyed).await)["recordUsage"]["used"],
        3
    );
    let grown = record(&app, &account, json!({ "metric": "applications" })).await;
    assert_eq!(
        error_code(&grown),
        "QUOTA_EXCEEDED",
        "increases still stop at the limit"
    );
    let below = record(
        &app,
        &account,
        json!({ "metric": "applications", "quantity": -4 }),
    )
    .await;
    assert_eq!(error_code(&below), "BAD_USER_INPUT", "never below zero");
    let emptied = record(
        &app,
        &account,
        json!({ "metric": "applications", "quantity": -3 }),
    )
    .await;
    assert_eq!(data(&emptied)["recordUsage"]["used"], 0);
}

#[tokio::test]
async fn a_replayed_key_returns_the_first_answer_whatever_changed_since() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let call = json!({ "metric": "applications", "idempotencyKey": "app-1" });
    let first = data(&record(&app, &account, call.clone()).await)["recordUsage"].clone();
    assert_eq!(first["limit"], 1);
    let replayed = |answer: &Value| {
        let mut expected = first.clone();
        expected["duplicate"] = json!(true);
        assert_eq!(data(answer)["recordUsage"], expected, "{answer}");
    };

    grant(&app, &staff, &account, "unlimited").await; // the limit changed
    replayed(&record(&app, &account, call.clone()).await);
    let no_applications = json!({ "limits": [
        { "metric": "recordings", "max": 10, "resetsEachPeriod": true }] });
    let plans = app
        .graphql("{ allPlans { id code } }", json!({}), Some(&staff))
        .await;
    let unlimited = data(&plans)["allPlans"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["code"] == "unlimited"))
        .map(|p| p["id"].clone())
        .expect("unlimited");
    let edited = app
        .graphql(
            "mutation($id: ID!, $input: UpdatePlanInput!) { updatePlan(id: $id, input: $input) { id } }",
            json!({ "id": unlimited, "input": no_applications }),
            Some(&staff),
        )
        .await;
    data(&edited); // the metric left the plan
    replayed(&record(&app, &account, call.clone()).await);
    let business: Uuid = account.business_id.parse().expect("a uuid");
    sql(
        &app,
        "UPDATE subscriptions SET status = 'past_due' WHERE business_id = $1",
        vec![business.into()],
    )
    .await; // the subscription is no longer active
    replayed(&record(&app, &account, call.clone()).await);
    let other = record(
        &app,
        &account,
        json!({ "metric": "recordings", "idempotencyKey": "app-2" }),
    )
    .await;
    assert_eq!(
        error_code(&other),
        "SUBSCRIPTION_INACTIVE",
        "a new key is judged as usual"
    );
}

/// One case of the property: a counter (or none yet), a limit, a subscription, a call.
#[derive(Debug, Clone)]
struct Case {
    used: Option<i64>,
    max: Option<i64>,
    resets_each_period: bool,
    active: bool,
    quantity: i64,
    with_key: bool,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        proptest::option::of(0i64..12),
        proptest::option::of(0i64..12),
        any::<bool>(),
        proptest::bool::weighted(0.85),
        (-14i64..14).prop_filter("zero is refused before the rule", |q| *q != 0),
        any::<bool>(),
    )
        .prop_map(
            |(used, max, resets_each_period, active, quantity, with_key)| Case {
                used,
                max,
                resets_each_period,
                active,
                quantity,
                with_key,
            },
        )
}

/// Sets the business's standing to `case` directly in the database.
async fn stand(app: &TestApp, business: Uuid, case: &Case) {
    let status = if case.active { "active" } else { "past_due" };
    sql(
        app,
        "UPDATE subscriptions SET status = $1 WHERE business_id = $2",
        vec![status.into(), business.into()],
    )
    .await;
    sql(
        app,
        "UPDATE plan_limits SET max = $1, resets_each_period = $2 WHERE metric = 'applications' \
         AND plan_id = (SELECT plan_id FROM subscriptions WHERE business_id = $3)",
        vec![
            case.max.into(),
            case.resets_each_period.into(),
            business.into(),
        ],
    )
    .await;
    sql(
        app,
        "DELETE FROM usage_counters WHERE metric = 'applications'",
        vec![],
    )
    .await;
    if let Some(used) = case.used {
        sql(
            app,
            "INSERT INTO usage_counters (subscription_id, metric, used, period_start) \
             SELECT id, 'applications', $1, current_period_start FROM subscriptions \
             WHERE business_id = $2",
            vec![used.into(), business.into()],
        )
        .await;
    }
}

async fn counter(app: &TestApp) -> i64 {
    let db = &app.state.db;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT used FROM usage_counters WHERE metric = 'applications'",
        ))
        .await
        .expect("the query runs");
    row.map_or(0, |row| row.try_get::<i64>("", "used").expect("used"))
}

#[test]
fn the_rule_explains_exactly_what_the_sql_refuses() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (app, account) = runtime.block_on(async {
        let app = spawn_app().await;
        let account = app.signup("ada@example.com").await;
        (app, account)
    });
    let business: Uuid = account.business_id.parse().expect("a uuid");
    let postgres = app.state.db.get_database_backend() == DbBackend::Postgres;
    let config = ProptestConfig::with_cases(if postgres { 64 } else { 96 });
    proptest!(config, |(case in cases())| {
        runtime.block_on(async {
            stand(&app, business, &case).await;
            let standing = rule::Standing {
                active: case.active,
                max: case.max,
                resets_each_period: case.resets_each_period,
                used: case.used.unwrap_or(0),
            };
            let call = Record {
                metric: "applications".to_owned(),
                quantity: case.quantity,
                idempotency_key: case.with_key.then(|| Uuid::now_v7().to_string()),
            };
            let now = chrono::Utc::now();
            let answer = usage::reference::record(&app.state.db, business, call, now).await;
            match (rule::judge(standing, case.quantity), answer) {
                (Ok(()), Ok(recorded)) => {
                    assert_eq!(recorded.used, standing.used + case.quantity, "{case:?}");
                    assert_eq!(counter(&app).await, recorded.used, "{case:?}");
                }
                (Err(refusal), Err(err)) => {
                    let explained = refusal.into_error("applications", standing);
                    assert_eq!(err.code(), explained.code(), "{case:?}");
                    assert_eq!(format!("{err:?}"), format!("{explained:?}"), "{case:?}");
                    assert_eq!(counter(&app).await, standing.used, "{case:?}: nothing counted");
                }
                (judged, answer) => panic!("{case:?}: the rule says {judged:?}, the SQL {answer:?}"),
            }
        });
    });
}
