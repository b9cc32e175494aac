//! Exactly once: concurrent passes, and a pass that fails halfway.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use entity::{audit_events, subscriptions, usage_counters, usage_periods};
use sea_orm::{ColumnTrait, QueryFilter};

use super::*;
use crate::helpers::spawn_app;

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 10, 0, 0)
        .single()
        .expect("a date")
}

async fn run(
    app: &TestApp,
    now: DateTime<Utc>,
    provider: &dyn BillingProvider,
) -> Result<Summary, saaskit::AppError> {
    cycle::run_once(&app.state.db, now, provider, &policy(app)).await
}

#[tokio::test]
async fn four_passes_at_once_renew_each_due_subscription_exactly_once() {
    let app = spawn_app().await;
    let (anchor, end, now) = (at(2027, 1, 31), at(2027, 2, 28), at(2027, 3, 1));
    let plan = metered_plan(&app, anchor, 0).await;
    let ids = due_subscriptions(&app, 1_000, plan, anchor, end).await;

    let (a, b, c, d) = tokio::join!(
        run(&app, now, &ManualProvider),
        run(&app, now, &ManualProvider),
        run(&app, now, &ManualProvider),
        run(&app, now, &ManualProvider),
    );
    let passes = [a, b, c, d].map(|pass| pass.expect("each pass succeeds"));
    assert_eq!(
        passes.iter().map(|p| p.renewed).sum::<u64>(),
        1_000,
        "{passes:?}"
    );

    let db = &app.state.db;
    let subs = subscriptions::Entity::find()
        .filter(subscriptions::Column::PlanId.eq(plan))
        .all(db)
        .await
        .expect("query");
    assert_eq!(subs.len(), 1_000);
    for sub in &subs {
        assert_eq!(
            (sub.current_period_start, sub.current_period_end),
            (end, at(2027, 3, 31)),
            "{}",
            sub.id
        );
    }
    let archived = usage_periods::Entity::find().all(db).await.expect("query");
    assert_eq!(archived.len(), 3_000, "one row per counter");
    let mut per_sub: HashMap<Uuid, usize> = HashMap::new();
    for row in &archived {
        assert_eq!(
            (row.period_start, row.period_end, row.used),
            (anchor, end, 7)
        );
        *per_sub.entry(row.subscription_id).or_default() += 1;
    }
    assert!(ids.iter().all(|id| per_sub.get(id) == Some(&3)));
    let counters = usage_counters::Entity::find().all(db).await.expect("query");
    assert!(
        counters
            .iter()
            .all(|c| c.used == 0 && c.period_start == end)
    );

    let audited = audit_events::Entity::find()
        .filter(audit_events::Column::Action.eq("subscription.renewed"))
        .all(db)
        .await
        .expect("query");
    assert_eq!(audited.len(), 1_000, "one audit event per renewal");
    assert!(audited.iter().all(|event| {
        event
            .data
            .as_ref()
            .and_then(|d| d["countersArchived"].as_i64())
            == Some(3)
            && event.data.as_ref().and_then(|d| d["paidWith"].as_str()) == Some("free")
    }));

    assert_eq!(
        run(&app, now, &ManualProvider)
            .await
            .expect("a pass")
            .renewed,
        0
    );
}

#[tokio::test]
async fn a_month_anchored_on_the_31st_renews_on_each_months_last_day() {
    let app = spawn_app().await;
    let anchor = at(2027, 1, 31);
    let plan = metered_plan(&app, anchor, 0).await;
    due_subscriptions(&app, 1, plan, anchor, at(2027, 2, 28)).await;
    let mut ends = Vec::new();
    for now in [
        at(2027, 3, 1),
        at(2027, 4, 1),
        at(2027, 5, 1),
        at(2028, 2, 28),
        at(2028, 3, 1),
    ] {
        run(&app, now, &ManualProvider).await.expect("a pass");
        let sub = subscriptions::Entity::find()
            .filter(subscriptions::Column::PlanId.eq(plan))
            .one(&app.state.db)
            .await
            .expect("query")
            .expect("the subscription");
        ends.push(sub.current_period_end);
    }
    assert_eq!(
        ends,
        [
            at(2027, 3, 31),
            at(2027, 4, 30),
            at(2027, 5, 31),
            at(2028, 2, 29),
            at(2028, 3, 31)
        ]
    );
}

#[tokio::test]
async fn a_renewal_that_fails_is_left_untouched_and_the_pass_settles_the_others() {
    let app = spawn_app().await;
    let (anchor, end, now) = (at(2027, 1, 10), at(2027, 2, 10), at(2027, 2, 11));
    let plan = metered_plan(&app, anchor, 4_900).await;
    let ids = due_subscriptions(&app, 60, plan, anchor, end).await;
    let failing = FailsAt {
        fail_at: 25,
        asked: AtomicUsize::new(0),
    };
    let pass = run(&app, now, &failing)
        .await
        .expect("one failed renewal does not end the pass");
    assert_eq!((pass.renewed, pass.failed), (59, 1), "{pass:?}");

    let db = &app.state.db;
    let mut renewed = 0;
    for id in &ids {
        let sub = subscriptions::Entity::find_by_id(*id)
            .one(db)
            .await
            .expect("query")
            .expect("a row");
        let archived = usage_periods::Entity::find()
            .filter(usage_periods::Column::SubscriptionId.eq(*id))
            .all(db)
            .await
            .expect("query");
        let counters = usage_counters::Entity::find()
            .filter(usage_counters::Column::SubscriptionId.eq(*id))
            .all(db)
            .await
            .expect("query");
        if sub.current_period_end == end {
            assert!(
                archived.is_empty() && counters.iter().all(|c| c.used == 7),
                "{id} half renewed"
            );
        } else {
            assert_eq!(sub.current_period_end, at(2027, 3, 10));
            assert_eq!(archived.len(), 3, "{id}");
            assert!(counters.iter().all(|c| c.used == 0), "{id} half renewed");
            renewed += 1;
        }
    }
    assert_eq!(renewed, 59, "the other renewals went on");
    let next = run(&app, now, &ManualProvider)
        .await
        .expect("the next pass");
    assert_eq!(next.renewed, 60 - renewed);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM usage_periods").await, 180);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM usage_counters WHERE used <> 0").await,
        0
    );
}
