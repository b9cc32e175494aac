//! Money: every plan change and renewal that costs something is claimed, charged and
//! committed (`services::billing::charges`). A decline changes nothing, an attempt cut off is
//! asked again with its own key, and nothing can change the subscription while it is paid for.

use std::sync::atomic::Ordering;

use entity::{ChargePurpose, ChargeStatus, billing_charges, mail_outbox};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
use tokio::sync::Notify;

use super::*;
use crate::helpers::{error_code, manual_clock, spawn_app_billed, spawn_app_with_clock};

async fn charges_of(app: &TestApp) -> Vec<billing_charges::Model> {
    billing_charges::Entity::find()
        .order_by_asc(billing_charges::Column::CreatedAt)
        .all(&app.state.db)
        .await
        .expect("charges")
}

#[tokio::test]
async fn a_declined_upgrade_changes_nothing_and_says_why() {
    let billing = Arc::new(Recording::default());
    billing.decline.store(true, Ordering::SeqCst);
    let app = spawn_app_billed(shared_clock(&manual_clock()), billing.clone()).await;
    let account = app.signup("declined@example.com").await;
    let before = subscription(&app, &account).await;
    let pro = plan_id(&app, "pro").await;

    let refused = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    assert_eq!(error_code(&refused), "PAYMENT_DECLINED", "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["reason"],
        "card declined"
    );
    assert_eq!(
        subscription(&app, &account).await,
        before,
        "nothing changed"
    );
    let charges = charges_of(&app).await;
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].status, ChargeStatus::Declined);
    assert!(
        audit_actions(&app, &account)
            .await
            .contains(&"subscription.charge_declined".to_owned())
    );

    billing.decline.store(false, Ordering::SeqCst);
    let changed = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    assert_eq!(data(&changed)["changePlan"]["plan"]["code"], "pro");
    let keys: Vec<_> = billing
        .asked()
        .into_iter()
        .map(|c| c.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1], "a new attempt has a new key");
}

#[tokio::test]
async fn a_past_due_subscription_changes_plan_only_through_a_paid_charge() {
    let clock = manual_clock();
    let billing = Arc::new(Recording::default());
    let app = spawn_app_billed(shared_clock(&clock), billing.clone()).await;
    let mut account = app.signup("pastdue@example.com").await;
    let (pro, free) = (plan_id(&app, "pro").await, plan_id(&app, "free").await);
    data(&change_plan(&app, &account, &pro, "IMMEDIATELY").await);
    advance(&app, &clock, &mut account, month()).await;
    billing.decline.store(true, Ordering::SeqCst);
    assert_eq!(pass_with(&app, &Shared(billing.clone())).await.past_due, 1);

    // Back to pro without paying: refused, still past due.
    let refused = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    assert_eq!(error_code(&refused), "PAYMENT_DECLINED", "{refused}");
    let sub = subscription(&app, &account).await;
    assert_eq!(
        (&sub["status"], &sub["plan"]["code"]),
        (&json!("PAST_DUE"), &json!("pro"))
    );
    let restart = billing.asked().pop().expect("a charge");
    assert_eq!(
        (restart.purpose, restart.amount_cents),
        (ChargePurpose::Restart, 4_900),
        "a new period is paid in full"
    );

    let later = change_plan(&app, &account, &free, "AT_PERIOD_END").await;
    assert_eq!(
        (
            error_code(&later),
            &later["errors"][0]["extensions"]["field"]
        ),
        ("CONFLICT", &json!("timing")),
        "a period that ended unpaid has no end to wait for"
    );

    // Free costs nothing: a new period on free starts now.
    let on_free = change_plan(&app, &account, &free, "IMMEDIATELY").await;
    let on_free = &data(&on_free)["changePlan"];
    assert_eq!(
        (&on_free["status"], &on_free["plan"]["code"]),
        (&json!("ACTIVE"), &json!("free"))
    );
    assert_eq!(at(&on_free["currentPeriodStart"]), app.state.clock.now());

    // And from free to pro only through a charge.
    let refused = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    assert_eq!(error_code(&refused), "PAYMENT_DECLINED");
    billing.decline.store(false, Ordering::SeqCst);
    let paid = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    assert_eq!(data(&paid)["changePlan"]["plan"]["code"], "pro");
    let last = billing.asked().pop().expect("a charge");
    assert_eq!(last.purpose, ChargePurpose::PlanChange);
    let statuses: Vec<_> = charges_of(&app)
        .await
        .into_iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == ChargeStatus::Applied)
            .count(),
        2
    );
    assert!(!statuses.contains(&ChargeStatus::Pending), "{statuses:?}");
}

#[tokio::test]
async fn a_charge_cut_off_halfway_is_asked_again_with_its_key_by_the_next_pass() {
    let billing = Arc::new(Recording::default());
    billing.fail.store(1, Ordering::SeqCst);
    let app = spawn_app_billed(shared_clock(&manual_clock()), billing.clone()).await;
    let account = app.signup("cutoff@example.com").await;
    let pro = plan_id(&app, "pro").await;

    let failed = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    assert_eq!(error_code(&failed), "INTERNAL_SERVER_ERROR", "{failed}");
    assert_eq!(charges_of(&app).await[0].status, ChargeStatus::Pending);
    let busy = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    assert_eq!(
        error_code(&busy),
        "CONFLICT",
        "nothing changes while a payment is pending"
    );
    let cancel = app
        .graphql(
            "mutation { cancelSubscription { status } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    assert_eq!(error_code(&cancel), "CONFLICT");
    let staff = app.staff_token("staff@example.com").await;
    let unlimited = plan_id(&app, "unlimited").await;
    for grant in [
        format!(
            "mutation {{ grantCreditPeriods(businessId: \"{}\", periods: 1) {{ creditPeriods }} }}",
            account.business_id
        ),
        format!(
            "mutation {{ grantPlan(businessId: \"{}\", planId: \"{unlimited}\") {{ status }} }}",
            account.business_id
        ),
    ] {
        let refused = app.graphql(&grant, json!({}), Some(&staff)).await;
        assert_eq!(
            error_code(&refused),
            "CONFLICT",
            "staff wait too: {refused}"
        );
    }

    let summary = pass_with(&app, &Shared(billing.clone())).await;
    assert_eq!(summary.recovered, 1, "{summary:?}");
    let asked = billing.asked();
    assert_eq!(asked.len(), 2);
    assert_eq!(
        asked[0].idempotency_key, asked[1].idempotency_key,
        "the same attempt"
    );
    assert_eq!(subscription(&app, &account).await["plan"]["code"], "pro");
    assert_eq!(charges_of(&app).await[0].status, ChargeStatus::Applied);
    assert_eq!(pass_with(&app, &Shared(billing.clone())).await.recovered, 0);
}

/// Approves, but only once the test lets it: the test acts while the charge is in flight.
#[derive(Default)]
struct Gate {
    entered: Notify,
    release: Notify,
}

impl BillingProvider for Gate {
    fn charge<'a>(&'a self, _charge: &'a Charge) -> Answer<'a> {
        Box::pin(async move {
            self.entered.notify_one();
            self.release.notified().await;
            Ok(Decision::Approved)
        })
    }
}

#[tokio::test]
async fn a_renewal_is_claimed_before_the_provider_is_asked() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("claimed@example.com").await;
    let (pro, free) = (plan_id(&app, "pro").await, plan_id(&app, "free").await);
    data(&change_plan(&app, &account, &pro, "IMMEDIATELY").await);
    advance(&app, &clock, &mut account, month()).await;

    let gate = Gate::default();
    let (summary, ()) = tokio::join!(pass_with(&app, &gate), async {
        gate.entered.notified().await;
        for mutation in [
            "mutation { cancelSubscription(atPeriodEnd: false) { status } }".to_owned(),
            format!(
                "mutation {{ changePlan(planId: \"{free}\", timing: IMMEDIATELY) {{ status }} }}"
            ),
        ] {
            let refused = app
                .graphql(&mutation, json!({}), Some(&account.token))
                .await;
            assert_eq!(error_code(&refused), "CONFLICT", "{refused}");
        }
        gate.release.notify_one();
    });
    assert_eq!(summary.renewed, 1, "{summary:?}");
    let charges = charges_of(&app).await;
    let renewals: Vec<_> = charges
        .iter()
        .filter(|c| c.purpose == ChargePurpose::Renewal)
        .collect();
    assert_eq!(renewals.len(), 1);
    assert_eq!(renewals[0].status, ChargeStatus::Applied);
    assert_eq!(subscription(&app, &account).await["status"], "ACTIVE");
}

#[tokio::test]
async fn a_declined_renewal_is_asked_again_after_an_hour_as_a_new_attempt() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("retries@example.com").await;
    let pro = plan_id(&app, "pro").await;
    data(&change_plan(&app, &account, &pro, "IMMEDIATELY").await);
    advance(&app, &clock, &mut account, month()).await;
    let billing = Recording::default();
    billing.decline.store(true, Ordering::SeqCst);

    assert_eq!(pass_with(&app, &billing).await.past_due, 1);
    assert_eq!(pass_with(&app, &billing).await.still_past_due, 1);
    assert_eq!(billing.asked().len(), 1, "not asked again within the hour");
    advance(&app, &clock, &mut account, TimeDelta::hours(2)).await;
    assert_eq!(pass_with(&app, &billing).await.still_past_due, 1);
    billing.decline.store(false, Ordering::SeqCst);
    advance(&app, &clock, &mut account, TimeDelta::hours(2)).await;
    assert_eq!(pass_with(&app, &billing).await.renewed, 1);

    let keys: Vec<_> = billing
        .asked()
        .into_iter()
        .map(|c| c.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys[0] != keys[1] && keys[1] != keys[2], "{keys:?}");
    let statuses: Vec<_> = charges_of(&app)
        .await
        .into_iter()
        .filter(|c| c.purpose == ChargePurpose::Renewal)
        .map(|c| c.status)
        .collect();
    assert_eq!(
        statuses,
        [
            ChargeStatus::Declined,
            ChargeStatus::Declined,
            ChargeStatus::Applied
        ]
    );
}

#[tokio::test]
async fn a_scheduled_downgrade_that_no_longer_fits_is_declined_and_the_owner_told() {
    let clock = manual_clock();
    let app = spawn_app_with_clock(shared_clock(&clock)).await;
    let mut account = app.signup("grew@example.com").await;
    let (pro, free) = (plan_id(&app, "pro").await, plan_id(&app, "free").await);
    data(&change_plan(&app, &account, &pro, "IMMEDIATELY").await);
    let scheduled = change_plan(&app, &account, &free, "AT_PERIOD_END").await;
    assert_eq!(
        data(&scheduled)["changePlan"]["scheduledPlan"]["code"],
        "free"
    );
    // Still on pro until the period ends: room to grow past free.
    data(&record(&app, &account, "applications", 10).await);

    advance(&app, &clock, &mut account, month()).await;
    let summary = pass(&app).await;
    assert_eq!(
        (summary.renewed, summary.plan_changes),
        (1, 0),
        "{summary:?}"
    );
    let sub = subscription(&app, &account).await;
    assert_eq!(
        (&sub["plan"]["code"], &sub["scheduledPlan"], &sub["status"]),
        (&json!("pro"), &Value::Null, &json!("ACTIVE")),
        "kept on pro, the change cancelled"
    );
    assert!(
        audit_actions(&app, &account)
            .await
            .contains(&"subscription.plan_change_declined".to_owned())
    );
    let mails = mail_outbox::Entity::find()
        .filter(mail_outbox::Column::Template.eq("plan_change_declined"))
        .all(&app.state.db)
        .await
        .expect("mail");
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].recipient, "grew@example.com");
    let renewal = billing_charges::Entity::find()
        .filter(billing_charges::Column::Purpose.eq(ChargePurpose::Renewal))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("the renewal's charge");
    assert_eq!(
        (renewal.plan_id.to_string(), renewal.amount_cents),
        (pro, 4_900),
        "pro is what renews, and what is paid"
    );
}

#[tokio::test]
async fn a_renewal_waits_for_a_plan_change_being_paid_for() {
    let clock = manual_clock();
    let gate = Arc::new(Gate::default());
    let app = spawn_app_billed(shared_clock(&clock), gate.clone()).await;
    let mut account = app.signup("inflight@example.com").await;
    let pro = plan_id(&app, "pro").await;
    let before = subscription(&app, &account).await;
    // A minute before the free period ends the owner upgrades; while the charge is being taken
    // the period ends and the cycle comes.
    let end = at(&before["currentPeriodEnd"]);
    advance(
        &app,
        &clock,
        &mut account,
        end - app.state.clock.now() - TimeDelta::minutes(1),
    )
    .await;
    let (changed, ()) = tokio::join!(change_plan(&app, &account, &pro, "IMMEDIATELY"), async {
        gate.entered.notified().await;
        // Past the period's end, within the charge's lease (else the pass takes it over).
        clock.advance(TimeDelta::minutes(2));
        let summary = pass(&app).await;
        assert_eq!(
            (summary.renewed, summary.skipped),
            (0, 1),
            "the free renewal waits for the charge: {summary:?}"
        );
        gate.release.notify_one();
    });
    let changed = &data(&changed)["changePlan"];
    assert_eq!(changed["plan"]["code"], "pro");
    assert_eq!(changed["currentPeriodEnd"], before["currentPeriodEnd"]);
    assert_eq!(charges_of(&app).await[0].status, ChargeStatus::Applied);
    // Then the period that ended renews on pro, paid for.
    assert_eq!(pass(&app).await.renewed, 1);
}

#[tokio::test]
async fn a_declining_card_is_tried_five_times_an_hour_at_most() {
    let clock = manual_clock();
    let billing = Arc::new(Recording::default());
    billing.decline.store(true, Ordering::SeqCst);
    let app = spawn_app_billed(shared_clock(&clock), billing.clone()).await;
    let mut account = app.signup("hammer@example.com").await;
    let pro = plan_id(&app, "pro").await;
    for _ in 0..5 {
        let refused = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
        assert_eq!(error_code(&refused), "PAYMENT_DECLINED");
    }
    let limited = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    assert_eq!(error_code(&limited), "RATE_LIMITED", "{limited}");
    let retry = limited["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .expect("retryAfter");
    assert!((1..=3_600).contains(&retry), "{retry}");
    assert_eq!(
        billing.asked().len(),
        5,
        "the provider was not asked a sixth time"
    );
    advance(&app, &clock, &mut account, TimeDelta::hours(1)).await;
    billing.decline.store(false, Ordering::SeqCst);
    let paid = change_plan(&app, &account, &pro, "IMMEDIATELY").await;
    assert_eq!(data(&paid)["changePlan"]["plan"]["code"], "pro");
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().expect("a time").parse().expect("a time")
}
