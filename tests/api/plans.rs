use entity::plans;
use futures::future::join_all;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{data, spawn_app};

const PLANS: &str = "{ plans { code name priceCents currency isPublic isDefault archived
    period { count unit } limits { metric max resetsEachPeriod } } }";

#[tokio::test]
async fn anyone_sees_the_public_plans_with_their_limits() {
    let app = spawn_app().await;
    let response = app.graphql(PLANS, json!({}), None).await;
    let plans = data(&response)["plans"].as_array().expect("a list").clone();
    let codes: Vec<&str> = plans
        .iter()
        .map(|p| p["code"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        codes,
        ["free", "pro"],
        "cheapest first; `unlimited` is hidden"
    );

    let free = &plans[0];
    assert_eq!(free["isDefault"], true);
    assert_eq!(free["priceCents"], 0);
    assert_eq!(free["period"], json!({ "count": 1, "unit": "MONTH" }));
    assert_eq!(
        free["limits"],
        json!([
            { "metric": "applications", "max": 1, "resetsEachPeriod": false },
            { "metric": "members", "max": 3, "resetsEachPeriod": false },
            { "metric": "recordings", "max": 1000, "resetsEachPeriod": true },
        ])
    );
    let pro = &plans[1];
    assert!(
        pro["priceCents"].as_i64().unwrap_or_default() > 0,
        "pro is priced"
    );
    assert_eq!(pro["isDefault"], false);
    assert_eq!(
        pro["limits"],
        json!([
            { "metric": "applications", "max": 10, "resetsEachPeriod": false },
            { "metric": "members", "max": 20, "resetsEachPeriod": false },
            { "metric": "recordings", "max": 100000, "resetsEachPeriod": true },
        ])
    );
}

#[tokio::test]
async fn the_unlimited_plan_is_seeded_hidden_and_without_limits() {
    let app = spawn_app().await;
    let all = plans::Entity::find()
        .all(&app.state.db)
        .await
        .expect("plans");
    let unlimited = all.iter().find(|p| p.code == "unlimited").expect("seeded");
    assert!(!unlimited.is_public);
    let limits = saaskit::services::billing::plans::limits_for(&app.state.db, &[unlimited.id])
        .await
        .expect("limits");
    let limits = &limits[&unlimited.id];
    assert_eq!(limits.len(), 3, "every metric is known");
    assert!(limits.iter().all(|l| l.max.is_none()), "and unlimited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeding_again_or_concurrently_never_duplicates_plans() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let again = saaskit::services::billing::plans::seed_defaults(&app.state.db, now).await;
    assert!(!again.expect("seeds"), "plans already exist");

    // An empty catalogue, as on a first start, and several processes seeding it at once.
    plans::Entity::delete_many()
        .exec(&app.state.db)
        .await
        .expect("the plans are gone");
    let seeders = (0..6).map(|_| {
        let db = app.state.db.clone();
        tokio::spawn(
            async move { saaskit::services::billing::plans::seed_defaults(&db, now).await },
        )
    });
    let seeded: Vec<bool> = join_all(seeders)
        .await
        .into_iter()
        .map(|joined| joined.expect("joins").expect("seeds"))
        .collect();
    assert_eq!(seeded.iter().filter(|s| **s).count(), 1, "{seeded:?}");
    let count = plans::Entity::find()
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(count, 3);
    let defaults = plans::Entity::find()
        .filter(plans::Column::IsDefault.eq(true))
        .count(&app.state.db)
        .await
        .expect("count");
    assert_eq!(defaults, 1);
}
