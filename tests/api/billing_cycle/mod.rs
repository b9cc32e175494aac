//! The subscription cycle and the calls that change a subscription: changePlan,
//! cancelSubscription, resumeSubscription, usageHistory. Time is moved with `ManualClock`.

mod changes;
mod charges;
mod concurrency;
mod endings;
mod housekeeping;
mod lifecycle;
mod races;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use entity::{PeriodUnit, SubscriptionStatus, businesses, plan_limits, plans, subscriptions};
use saaskit::services::billing::cycle::{
    self, Answer, BillingProvider, Charge, Decision, ManualProvider, Policy, Summary,
};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Account, TestApp, data};

/// Declines every charge.
pub struct Declining;

impl BillingProvider for Declining {
    fn charge<'a>(&'a self, _charge: &'a Charge) -> Answer<'a> {
        Box::pin(async {
            Ok(Decision::Declined {
                reason: "card declined".to_owned(),
            })
        })
    }
}

/// Approves, except that the `fail_at`-th charge (counting from 1) cannot get an answer.
pub struct FailsAt {
    pub fail_at: usize,
    pub asked: AtomicUsize,
}

impl BillingProvider for FailsAt {
    fn charge<'a>(&'a self, _charge: &'a Charge) -> Answer<'a> {
        let n = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = n == self.fail_at;
        Box::pin(async move {
            if fail {
                anyhow::bail!("the payment service did not answer")
            }
            Ok(Decision::Approved)
        })
    }
}

/// Records every charge it is asked for, and answers as told: approves, declines, or gives no
/// answer (`fail` times, then approves).
#[derive(Default)]
pub struct Recording {
    pub asked: std::sync::Mutex<Vec<Charge>>,
    pub decline: std::sync::atomic::AtomicBool,
    pub fail: AtomicUsize,
}

impl Recording {
    pub fn asked(&self) -> Vec<Charge> {
        self.asked.lock().expect("the charges").clone()
    }
}

impl BillingProvider for Recording {
    fn charge<'a>(&'a self, charge: &'a Charge) -> Answer<'a> {
        self.asked.lock().expect("the charges").push(charge.clone());
        let fail = self
            .fail
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let decline = self.decline.load(Ordering::SeqCst);
        Box::pin(async move {
            if fail {
                anyhow::bail!("the payment service did not answer")
            }
            Ok(if decline {
                Decision::Declined {
                    reason: "card declined".to_owned(),
                }
            } else {
                Decision::Approved
            })
        })
    }
}

/// The app's own provider (see `spawn_app_billed`) lent to a pass of the cycle.
pub struct Shared(pub Arc<Recording>);

impl BillingProvider for Shared {
    fn charge<'a>(&'a self, charge: &'a Charge) -> Answer<'a> {
        self.0.charge(charge)
    }
}

pub fn policy(app: &TestApp) -> Policy {
    Policy::from_settings(&app.state.settings, app.state.db.get_database_backend())
}

/// One pass at the app's clock with `provider`.
pub async fn pass_with(app: &TestApp, provider: &dyn BillingProvider) -> Summary {
    cycle::run_once(&app.state.db, app.state.clock.now(), provider, &policy(app))
        .await
        .expect("the pass succeeds")
}

/// One pass at the app's clock with the default provider.
pub async fn pass(app: &TestApp) -> Summary {
    pass_with(app, &ManualProvider).await
}

pub const SUBSCRIPTION: &str = "{ business { subscription { status currentPeriodStart
    currentPeriodEnd cancelAtPeriodEnd creditPeriods plan { code } scheduledPlan { code } } } }";

/// The business's subscription as the API shows it.
pub async fn subscription(app: &TestApp, account: &Account) -> Value {
    let response = app
        .graphql(SUBSCRIPTION, json!({}), Some(&account.token))
        .await;
    data(&response)["business"]["subscription"].clone()
}

/// The id of the seeded (or created) plan `code`.
pub async fn plan_id(app: &TestApp, code: &str) -> String {
    use sea_orm::{ColumnTrait, QueryFilter};
    plans::Entity::find()
        .filter(plans::Column::Code.eq(code))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("the plan")
        .id
        .to_string()
}

/// Records `quantity` of `metric` with the SDK key; returns the whole response.
pub async fn record(app: &TestApp, account: &Account, metric: &str, quantity: i64) -> Value {
    app.graphql(
        "mutation($m: String!, $q: Int!) { recordUsage(input: { metric: $m, quantity: $q }) {
            used limit } }",
        json!({ "m": metric, "q": quantity }),
        Some(&account.api_key),
    )
    .await
}

pub async fn change_plan(app: &TestApp, account: &Account, plan: &str, timing: &str) -> Value {
    app.graphql(
        "mutation($p: ID!, $t: PlanChangeTiming!) { changePlan(planId: $p, timing: $t) {
            status plan { code } scheduledPlan { code } currentPeriodStart currentPeriodEnd } }",
        json!({ "p": plan, "t": timing }),
        Some(&account.token),
    )
    .await
}

/// The actions of the business's audit log, oldest first.
pub async fn audit_actions(app: &TestApp, account: &Account) -> Vec<String> {
    let response = app
        .graphql(
            "{ business { auditLog(first: 100) { edges { node { action } } } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    let mut actions: Vec<String> = data(&response)["business"]["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            edge["node"]["action"]
                .as_str()
                .expect("an action")
                .to_owned()
        })
        .collect();
    actions.reverse();
    actions
}

/// A free plan whose three metrics all reset each month, inserted directly.
pub async fn metered_plan(app: &TestApp, now: DateTime<Utc>, price_cents: i64) -> Uuid {
    let id = Uuid::now_v7();
    plans::Entity::insert(plans::ActiveModel {
        id: Set(id),
        code: Set(format!("metered-{}", id.simple())),
        name: Set("Metered".to_owned()),
        description: Set(None),
        price_cents: Set(price_cents),
        currency: Set("USD".to_owned()),
        period_count: Set(1),
        period_unit: Set(PeriodUnit::Month),
        is_public: Set(true),
        is_default: Set(false),
        archived_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&app.state.db)
    .await
    .expect("a plan");
    plan_limits::Entity::insert_many(METRICS.iter().map(|metric| plan_limits::ActiveModel {
        plan_id: Set(id),
        metric: Set((*metric).to_owned()),
        max: Set(None),
        resets_each_period: Set(true),
    }))
    .exec_without_returning(&app.state.db)
    .await
    .expect("limits");
    id
}

pub const METRICS: [&str; 3] = ["api_calls", "exports", "minutes"];

/// `n` businesses on `plan_id`, each with a subscription whose period `[start, end)` and a
/// counter per metric of [`METRICS`] holding `7`, inserted directly for speed.
pub async fn due_subscriptions(
    app: &TestApp,
    n: usize,
    plan_id: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Uuid> {
    let db = &app.state.db;
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|_| (Uuid::now_v7(), Uuid::now_v7()))
            .collect();
        businesses::Entity::insert_many(rows.iter().map(|(b, _)| businesses::ActiveModel {
            id: Set(*b),
            name: Set(format!("b-{b}")),
            created_at: Set(start),
            updated_at: Set(start),
        }))
        .exec_without_returning(db)
        .await
        .expect("businesses");
        subscriptions::Entity::insert_many(rows.iter().map(|(b, s)| subscriptions::ActiveModel {
            id: Set(*s),
            business_id: Set(*b),
            plan_id: Set(plan_id),
            status: Set(SubscriptionStatus::Active),
            current_period_start: Set(start),
            current_period_end: Set(end),
            period_anchor: Set(Some(start)),
            cancel_at_period_end: Set(false),
            scheduled_plan_id: Set(None),
            credit_periods: Set(0),
            created_at: Set(start),
            updated_at: Set(start),
        }))
        .exec_without_returning(db)
        .await
        .expect("subscriptions");
        entity::usage_counters::Entity::insert_many(rows.iter().flat_map(|(_, s)| {
            METRICS
                .iter()
                .map(move |metric| entity::usage_counters::ActiveModel {
                    subscription_id: Set(*s),
                    metric: Set((*metric).to_owned()),
                    used: Set(7),
                    period_start: Set(start),
                })
        }))
        .exec_without_returning(db)
        .await
        .expect("counters");
        ids.extend(rows.iter().map(|(_, s)| *s));
    }
    ids
}

/// How many rows `sql` counts.
pub async fn count(app: &TestApp, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.state.db;
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

pub fn month() -> TimeDelta {
    TimeDelta::days(31)
}

pub fn shared_clock(clock: &Arc<saaskit::clock::ManualClock>) -> saaskit::clock::SharedClock {
    clock.clone()
}

/// Moves the clock by `by` and logs `account` in again (its session lives a day).
pub async fn advance(
    app: &TestApp,
    clock: &saaskit::clock::ManualClock,
    account: &mut Account,
    by: TimeDelta,
) {
    clock.advance(by);
    let business = account.business_id.clone();
    account.token = app
        .token_for(&account.email, crate::helpers::PASSWORD, Some(&business))
        .await;
}
