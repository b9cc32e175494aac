use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::spawn_app;

#[tokio::test]
async fn migrations_roll_back_and_apply_again() {
    let app = spawn_app().await;
    let db = &app.state.db;
    Migrator::down(db, None)
        .await
        .expect("every migration rolls back");
    Migrator::up(db, None).await.expect("and applies again");
    let status = Migrator::get_pending_migrations(db).await.expect("status");
    assert!(status.is_empty());
}

#[tokio::test]
async fn the_database_refuses_a_second_default_plan() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let sql = "UPDATE plans SET is_default = TRUE WHERE code = 'pro'";
    let result = db
        .execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await;
    let err = result.expect_err("a second default plan is refused");
    assert!(saaskit::error::is_unique_violation(&err), "{err}");
}

#[tokio::test]
async fn an_idempotency_key_is_unique_per_business() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let now = "2026-01-01T00:00:00Z";
    let business = uuid::Uuid::now_v7();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO businesses (id, name, created_at, updated_at) VALUES ($1, 'b', $2, $2)",
        [
            business.into(),
            chrono::DateTime::parse_from_rfc3339(now)
                .expect("time")
                .to_utc()
                .into(),
        ],
    ))
    .await
    .expect("a business");
    let insert = |id: uuid::Uuid| {
        Statement::from_sql_and_values(
            backend,
            "INSERT INTO usage_events (id, business_id, idempotency_key, metric, quantity, accepted, used_after, created_at) \
             VALUES ($1, $2, 'k1', 'recordings', 1, TRUE, 1, $3)",
            [
                id.into(),
                business.into(),
                chrono::DateTime::parse_from_rfc3339(now)
                    .expect("time")
                    .to_utc()
                    .into(),
            ],
        )
    };
    db.execute_raw(insert(uuid::Uuid::now_v7()))
        .await
        .expect("the first use of a key");
    let err = db
        .execute_raw(insert(uuid::Uuid::now_v7()))
        .await
        .expect_err("the key is taken");
    assert!(saaskit::error::is_unique_violation(&err), "{err}");
}
