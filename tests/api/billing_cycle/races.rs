//! Operations that meet: usage, seats and a plan change racing on two nodes. Whatever order
//! they land in, nothing ends above the limits of the plan the business ends on (the lock
//! order of `services::locks`).

use std::sync::atomic::AtomicBool;

use futures::future::join_all;
use saaskit::services::usage::{self, Record};

use super::*;
use crate::helpers::{error_code, spawn_app};

const TRIALS: usize = 10;

/// A business moved to `pro`, with the owner on `app` and the SDK key used on `other`.
async fn on_pro(app: &TestApp, email: &str) -> Account {
    let account = app.signup(email).await;
    let pro = plan_id(app, "pro").await;
    let changed = change_plan(app, &account, &pro, "IMMEDIATELY").await;
    assert_eq!(data(&changed)["changePlan"]["plan"]["code"], "pro");
    account
}

/// What the business stands at: its plan, and each metric's use and limit.
async fn standing(app: &TestApp, account: &Account) -> (String, Vec<(String, i64, Option<i64>)>) {
    let response = app
        .graphql(
            "{ business { subscription { plan { code } } usage { metric used limit } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    let business = &data(&response)["business"];
    let plan = business["subscription"]["plan"]["code"]
        .as_str()
        .expect("a plan")
        .to_owned();
    let usage = business["usage"]
        .as_array()
        .expect("usage")
        .iter()
        .map(|u| {
            (
                u["metric"].as_str().expect("a metric").to_owned(),
                u["used"].as_i64().expect("used"),
                u["limit"].as_i64(),
            )
        })
        .collect();
    (plan, usage)
}

/// Nothing stands above the limit of the plan the business ends on.
fn assert_within(plan: &str, usage: &[(String, i64, Option<i64>)], trial: usize) {
    for (metric, used, limit) in usage {
        if let Some(limit) = limit {
            assert!(
                used <= limit,
                "trial {trial}: {metric} at {used} on {plan}, whose limit is {limit}"
            );
        }
    }
}

/// Records `quantity` of `metric` on `node` as fast as it answers until `stop`, through the
/// node's group commit (`queued`) or one call at a time; every refusal is a quota's.
async fn hammer(node: &TestApp, business: Uuid, metric: &str, queued: bool, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let input = Record {
            metric: metric.to_owned(),
            quantity: 3_000,
            idempotency_key: None,
        };
        let now = chrono::Utc::now();
        let answer = if queued {
            node.state.usage.submit(business, input, now).await
        } else {
            usage::reference::record(&node.state.db, business, input, now).await
        };
        if let Err(error) = answer {
            assert_eq!(error.code(), "QUOTA_EXCEEDED", "{error:?}");
        }
    }
}

#[tokio::test]
async fn a_downgrade_racing_recordings_never_leaves_the_new_plan_over_its_limit() {
    let app = spawn_app().await;
    let other = app.second_node().await;
    let free = plan_id(&app, "free").await;
    for trial in 0..TRIALS {
        let account = on_pro(&app, &format!("rec{trial}@example.com")).await;
        let business: Uuid = account.business_id.parse().expect("an id");
        let stop = AtomicBool::new(false);
        let recorders = (0..8).map(|n| {
            let node = if n % 2 == 0 { &app } else { &other };
            hammer(node, business, "recordings", n < 4, &stop)
        });
        let change = async {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let change = change_plan(&app, &account, &free, "IMMEDIATELY").await;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            stop.store(true, Ordering::SeqCst);
            change
        };
        let (_, change) = tokio::join!(join_all(recorders), change);
        if change.get("errors").is_some() {
            assert_eq!(error_code(&change), "QUOTA_EXCEEDED", "{change}");
        }
        let (plan, usage) = standing(&app, &account).await;
        assert_within(&plan, &usage, trial);
    }
}

/// On PostgreSQL, holds `lock_sql` (a `SELECT … FOR UPDATE` of one row, `$1` the business)
/// in a transaction of the test's own until `release` — a slow writer that others queue
/// behind. On SQLite (one writer at a time) it holds nothing.
async fn hold(
    app: &TestApp,
    lock_sql: &str,
    business: Uuid,
    release: tokio::sync::oneshot::Receiver<()>,
) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    if app.state.db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let txn = app.state.db.begin().await.expect("a transaction");
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        lock_sql,
        [business.into()],
    ))
    .await
    .expect("the lock");
    let _ = release.await;
    txn.rollback().await.expect("a rollback");
}

/// Runs `writes` while a slow writer holds `lock_sql`, starts the downgrade to `free` once
/// they queue behind it, then lets them all go; returns the downgrade's answer.
async fn downgrade_amid<F: std::future::Future>(
    app: &TestApp,
    account: &Account,
    lock_sql: &str,
    writes: F,
) -> (F::Output, Value) {
    let business: Uuid = account.business_id.parse().expect("an id");
    let free = plan_id(app, "free").await;
    let (release, released) = tokio::sync::oneshot::channel();
    let (locked, is_locked) = tokio::sync::oneshot::channel::<()>();
    let holder = async {
        let hold = hold(app, lock_sql, business, released);
        let _ = locked.send(());
        hold.await;
    };
    let driver = async {
        let _ = is_locked.await;
        let pause = std::time::Duration::from_millis(150);
        let change = async {
            tokio::time::sleep(pause).await;
            change_plan(app, account, &free, "IMMEDIATELY").await
        };
        let release = async {
            tokio::time::sleep(pause * 2).await;
            let _ = release.send(());
        };
        let (written, change, ()) = tokio::join!(writes, change, release);
        (written, change)
    };
    let ((), outcome) = tokio::join!(holder, driver);
    outcome
}

/// Every answer is a success or a quota's refusal.
fn assert_counted_or_over_quota<'a>(answers: impl IntoIterator<Item = &'a Value>) {
    for answer in answers {
        if answer.get("errors").is_some() {
            assert_eq!(error_code(answer), "QUOTA_EXCEEDED", "{answer}");
        }
    }
}

#[tokio::test]
async fn a_downgrade_racing_lasting_metrics_keeps_them_within_the_new_plan() {
    let app = spawn_app().await;
    let other = app.second_node().await;
    for trial in 0..3 {
        let account = on_pro(&app, &format!("apps{trial}@example.com")).await;
        data(&record(&app, &account, "applications", 1).await);
        data(&record(&app, &account, "applications", -1).await);
        let lock = "SELECT 1 FROM usage_counters c JOIN subscriptions s ON s.id = c.subscription_id \
                    WHERE s.business_id = $1 AND c.metric = 'applications' FOR UPDATE OF c";
        let applications = join_all((0..9).map(|n| {
            let node = if n % 2 == 0 { &app } else { &other };
            record(node, &account, "applications", 1)
        }));
        let (applied, change) = downgrade_amid(&app, &account, lock, applications).await;
        assert_counted_or_over_quota(applied.iter().chain([&change]));
        let (plan, usage) = standing(&app, &account).await;
        assert_within(&plan, &usage, trial);
    }
}

#[tokio::test]
async fn a_downgrade_racing_invitations_keeps_the_seats_within_the_new_plan() {
    let app = spawn_app().await;
    let other = app.second_node().await;
    for trial in 0..3 {
        let account = on_pro(&app, &format!("seats{trial}@example.com")).await;
        let lock = "SELECT 1 FROM businesses WHERE id = $1 FOR UPDATE";
        let invitations = join_all((0..6).map(|n| {
            let node = if n % 2 == 0 { &app } else { &other };
            node.graphql(
                "mutation($input: InviteInput!) { inviteTeamMember(input: $input) { id } }",
                json!({ "input": { "email": format!("t{trial}m{n}@example.com"), "role": "MEMBER" } }),
                Some(&account.token),
            )
        }));
        let (invited, change) = downgrade_amid(&app, &account, lock, invitations).await;
        assert_counted_or_over_quota(invited.iter().chain([&change]));
        let (plan, usage) = standing(&app, &account).await;
        assert!(
            usage.iter().any(|(metric, _, _)| metric == "members"),
            "{usage:?}"
        );
        assert_within(&plan, &usage, trial);
    }
}

#[tokio::test]
async fn recordings_racing_a_renewal_on_two_nodes_are_each_counted_once() {
    use entity::{usage_counters, usage_periods};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    use std::sync::atomic::AtomicI64;

    let app = spawn_app().await;
    let other = app.second_node().await;
    for trial in 0..TRIALS {
        let account = app.signup(&format!("renewing{trial}@example.com")).await;
        let business: Uuid = account.business_id.parse().expect("an id");
        // The period ends now: the pass below renews it while the recordings go on.
        subscriptions::Entity::update_many()
            .col_expr(
                subscriptions::Column::CurrentPeriodEnd,
                Expr::value(chrono::Utc::now()),
            )
            .filter(subscriptions::Column::BusinessId.eq(business))
            .exec(&app.state.db)
            .await
            .expect("the period ends");
        let stop = AtomicBool::new(false);
        let accepted = AtomicI64::new(0);
        let recorders = (0..6).map(|n| {
            let node = if n % 2 == 0 { &app } else { &other };
            let (stop, accepted) = (&stop, &accepted);
            async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let input = Record {
                        metric: "recordings".to_owned(),
                        quantity: 1,
                        idempotency_key: Some(format!("{n}-{i}")),
                    };
                    let answer = node.state.usage.submit(business, input, chrono::Utc::now());
                    match answer.await {
                        Ok(_) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(error) => assert_eq!(error.code(), "QUOTA_EXCEEDED", "{error:?}"),
                    }
                }
            }
        });
        let renewal = async {
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            let now = chrono::Utc::now();
            let pass = cycle::run_once(&other.state.db, now, &ManualProvider, &policy(&other))
                .await
                .expect("a pass");
            tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            stop.store(true, Ordering::SeqCst);
            pass
        };
        let (_, pass) = tokio::join!(join_all(recorders), renewal);
        assert_eq!(pass.renewed, 1, "trial {trial}: {pass:?}");

        let db = &app.state.db;
        let sub = subscriptions::Entity::find()
            .filter(subscriptions::Column::BusinessId.eq(business))
            .one(db)
            .await
            .expect("query")
            .expect("the subscription");
        let archived: i64 = usage_periods::Entity::find()
            .filter(usage_periods::Column::SubscriptionId.eq(sub.id))
            .all(db)
            .await
            .expect("query")
            .iter()
            .map(|p| p.used)
            .sum();
        let counter = usage_counters::Entity::find()
            .filter(usage_counters::Column::SubscriptionId.eq(sub.id))
            .filter(usage_counters::Column::Metric.eq("recordings"))
            .one(db)
            .await
            .expect("query")
            .expect("the counter");
        assert_eq!(
            archived + counter.used,
            accepted.load(Ordering::SeqCst),
            "trial {trial}: every accepted call counted once, in one period or the other"
        );
        assert_eq!(
            counter.period_start, sub.current_period_start,
            "trial {trial}"
        );
        assert!(counter.used <= 1_000, "trial {trial}: {}", counter.used);
    }
}
