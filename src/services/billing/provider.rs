//! Who is asked to pay for a renewal of a paid plan.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One renewal to be paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub subscription_id: Uuid,
    pub business_id: Uuid,
    pub plan_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    /// The end of the period being renewed.
    pub period_end: DateTime<Utc>,
    /// The same for every attempt to renew this period (a retry, a second worker): pass it to
    /// the payment service so that it charges once however often it is asked.
    pub idempotency_key: String,
}

/// The payment service's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Declined { reason: String },
}

pub type Answer<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Decision>> + Send + 'a>>;

/// A payment service. The cycle asks it before it claims the renewal, so an implementation
/// must treat `idempotency_key` as the charge's identity.
///
/// An `Err` is a failure to get an answer (network, outage): that renewal is left untouched,
/// counted as failed, and the next pass asks again; the pass settles the others.
pub trait BillingProvider: Send + Sync {
    fn charge<'a>(&'a self, charge: &'a Charge) -> Answer<'a>;
}

/// The default: every renewal is approved (payments are settled outside saaskit).
#[derive(Debug, Clone, Copy, Default)]
pub struct ManualProvider;

impl BillingProvider for ManualProvider {
    fn charge<'a>(&'a self, _charge: &'a Charge) -> Answer<'a> {
        Box::pin(async { Ok(Decision::Approved) })
    }
}
