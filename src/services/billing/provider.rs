//! Who is asked to pay: for a renewal of a paid plan, for the rest of a period on a dearer
//! plan, for a new period of a subscription that is not active. Every request goes through
//! the ledger of [`super::charges`] (claim, charge, commit).

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use entity::ChargePurpose;
use uuid::Uuid;

/// One payment to be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub subscription_id: Uuid,
    pub business_id: Uuid,
    /// The plan paid for.
    pub plan_id: Uuid,
    pub purpose: ChargePurpose,
    pub amount_cents: i64,
    pub currency: String,
    /// The end of the period the payment belongs to (a renewal: the period that ends).
    pub period_end: DateTime<Utc>,
    /// The attempt's identity: the same when an attempt that was cut off is asked again, a
    /// new one for the next attempt after a decline. Pass it to the payment service so that
    /// it charges once per key however often it is asked.
    pub idempotency_key: String,
}

/// The payment service's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Declined { reason: String },
}

pub type Answer<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Decision>> + Send + 'a>>;

/// A payment service. It is asked after the attempt was claimed, with no lock held; an
/// implementation must treat `idempotency_key` as the charge's identity.
///
/// An `Err` is a failure to get an answer (network, outage): the attempt stays claimed, and
/// once its lease has passed the cycle asks again with the same key.
pub trait BillingProvider: Send + Sync {
    fn charge<'a>(&'a self, charge: &'a Charge) -> Answer<'a>;
}

/// The default: every charge is approved (payments are settled outside saaskit).
#[derive(Debug, Clone, Copy, Default)]
pub struct ManualProvider;

impl BillingProvider for ManualProvider {
    fn charge<'a>(&'a self, _charge: &'a Charge) -> Answer<'a> {
        Box::pin(async { Ok(Decision::Approved) })
    }
}
