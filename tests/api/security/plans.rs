//! Staff's writes: each one a transaction with its audit entry, and concurrent "make default"
//! edits answered as a conflict, never a server error.

use entity::{businesses, plans, subscriptions};
use futures::future::join_all;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{TestApp, data, error_code, spawn_app};

const UPDATE_PLAN: &str = "mutation($id: ID!, $input: UpdatePlanInput!) {
    updatePlan(id: $id, input: $input) { id isDefault } }";

async fn create_plan(app: &TestApp, staff: &str, code: &str) -> String {
    let created = app
        .graphql(
            "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }",
            json!({ "input": { "code": code, "name": code, "priceCents": 0, "currency": "USD",
                "period": { "count": 1, "unit": "MONTH" }, "limits": [], "isPublic": true } }),
            Some(staff),
        )
        .await;
    data(&created)["createPlan"]["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

#[tokio::test]
async fn concurrent_limit_edits_of_one_plan_all_succeed_one_after_the_other() {
    let app = spawn_app().await;
    let staff = app.staff_token("staff@example.com").await;
    let id = create_plan(&app, &staff, "edited").await;
    let edits = (0..8).map(|n| {
        let limits = json!([{ "metric": "recordings", "max": 100 + n, "resetsEachPeriod": true },
                            { "metric": "applications", "max": n, "resetsEachPeriod": false }]);
        let variables = json!({ "id": id, "input": { "limits": limits } });
        app.graphql(UPDATE_PLAN, variables, Some(&staff))
    });
    for answer in join_all(edits).await {
        data(&answer);
    }
    let limits = app
        .graphql(
            "{ allPlans { id limits { metric } } }",
            json!({}),
            Some(&staff),
        )
        .await;
    let plan = data(&limits)["allPlans"]
        .as_array()
        .expect("plans")
        .iter()
        .find(|plan| plan["id"] == json!(id))
        .cloned()
        .expect("the plan");
    assert_eq!(plan["limits"].as_array().map(Vec::len), Some(2), "{plan}");
}

#[tokio::test]
async fn concurrent_default_plan_changes_are_a_conflict_never_a_server_error() {
    let app = spawn_app().await;
    let staff = app.staff_token("staff@example.com").await;
    let mut ids = Vec::new();
    for code in ["a", "b", "c", "d"] {
        ids.push(create_plan(&app, &staff, code).await);
    }
    for _round in 0..5 {
        let edits = ids.iter().map(|id| {
            let variables = json!({ "id": id, "input": { "isDefault": true } });
            app.graphql(UPDATE_PLAN, variables, Some(&staff))
        });
        let answers: Vec<Value> = join_all(edits).await;
        let made = answers.iter().filter(|a| a.get("errors").is_none()).count();
        for answer in answers.iter().filter(|a| a.get("errors").is_some()) {
            assert_eq!(error_code(answer), "CONFLICT", "{answer}");
            assert_eq!(answer["errors"][0]["extensions"]["field"], "isDefault");
        }
        assert!(made >= 1, "{answers:?}");
        let defaults = plans::Entity::find()
            .filter(plans::Column::IsDefault.eq(true))
            .count(&app.state.db)
            .await
            .expect("count");
        assert_eq!(defaults, 1);
    }
}

#[tokio::test]
async fn a_staff_write_that_cannot_be_audited_changes_nothing() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let plan = create_plan(&app, &staff, "beta").await;
    let business: uuid::Uuid = account.business_id.parse().expect("a uuid");
    let db = &app.state.db;
    db.execute_unprepared("ALTER TABLE audit_events RENAME TO audit_events_gone")
        .await
        .expect("the audit log is gone");

    let granted = app
        .graphql(
            "mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { id } }",
            json!({ "b": business, "p": plan }),
            Some(&staff),
        )
        .await;
    let credited = app
        .graphql(
            "mutation($b: ID!) { grantCreditPeriods(businessId: $b, periods: 3) { id } }",
            json!({ "b": business }),
            Some(&staff),
        )
        .await;
    let renamed = app
        .graphql(
            "mutation { updateBusiness(input: { name: \"Renamed\" }) { name } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    for answer in [&granted, &credited, &renamed] {
        assert_eq!(error_code(answer), "INTERNAL_SERVER_ERROR", "{answer}");
    }
    let subscription = subscriptions::Entity::find()
        .filter(subscriptions::Column::BusinessId.eq(business))
        .one(db)
        .await
        .expect("query")
        .expect("a subscription");
    assert_ne!(
        subscription.plan_id.to_string(),
        plan,
        "the grant was undone"
    );
    assert_eq!(subscription.credit_periods, 0, "the credit was undone");
    let named = businesses::Entity::find_by_id(business)
        .one(db)
        .await
        .expect("query")
        .expect("the business");
    assert_eq!(named.name, "ada@example.com", "the rename was undone");
}
