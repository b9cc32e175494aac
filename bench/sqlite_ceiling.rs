//! The SQLite ceiling for `recordUsage`: the same transaction saaskit runs (insert the event,
//! conditionally add to the counter), through the same driver and pragmas, in a tight loop from
//! many tasks, with no HTTP, GraphQL or auth around it.
//!
//! `cargo run --release --example sqlite_ceiling -- <sqlite-url> <tasks> <seconds>`; the
//! database must hold businesses whose `recordings` counters exist (bench/run.sh prepares one).
//! Prints one JSON line: `{"tps": …, "errors": …}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "sqlite://saaskit.db?mode=rwc".into());
    let tasks: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(20), |a| a.parse())?;
    // The pool saaskit itself opens on SQLite.
    let db = saaskit::db::connect(&url, None).await?;
    let targets: Vec<(Uuid, Uuid)> = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT business_id, id FROM subscriptions",
        ))
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get("", "business_id")?, row.try_get("", "id")?)))
        .collect::<Result<_, sea_orm::DbErr>>()?;
    anyhow::ensure!(!targets.is_empty(), "the database has no subscriptions");
    let targets = Arc::new(targets);
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let run = Uuid::now_v7().simple().to_string();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (db, targets, done, errors, run) = (
            db.clone(),
            targets.clone(),
            done.clone(),
            errors.clone(),
            run.clone(),
        );
        handles.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < deadline {
                n += 1;
                let (business, subscription) = targets[(task + n) % targets.len()];
                let key = format!("ceiling-{run}-{task}-{n}");
                match once(&db, business, subscription, key).await {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for handle in handles {
        handle.await?;
    }
    let tps = done.load(Ordering::Relaxed) as f64 / seconds as f64;
    println!(
        r#"{{"tps": {tps:.1}, "errors": {}}}"#,
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}

async fn once(
    db: &sea_orm::DatabaseConnection,
    business: Uuid,
    subscription: Uuid,
    key: String,
) -> Result<(), sea_orm::DbErr> {
    let txn = saaskit::db::begin_write(db).await?;
    let backend = txn.get_database_backend();
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        "INSERT INTO usage_events \
         (id, business_id, idempotency_key, metric, quantity, accepted, used_after, created_at) \
         VALUES ($1, $2, $3, 'recordings', 1, TRUE, 0, $4) \
         ON CONFLICT (business_id, idempotency_key) DO NOTHING",
        [
            Uuid::now_v7().into(),
            business.into(),
            key.into(),
            chrono::Utc::now().into(),
        ],
    ))
    .await?;
    txn.query_one_raw(Statement::from_sql_and_values(
        backend,
        "UPDATE usage_counters SET used = used + 1 \
         WHERE subscription_id = $1 AND metric = 'recordings' AND used + 1 <= $2 RETURNING used",
        [subscription.into(), 2_000_000_000i64.into()],
    ))
    .await?;
    txn.commit().await
}
