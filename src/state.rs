//! What every request can reach: the database, the clock, the settings and the root key.

use std::sync::Arc;

use biscuit_auth::KeyPair;
use sea_orm::DatabaseConnection;

use crate::auth::cache::TokenCache;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::jobs::Jobs;
use crate::services::billing::provider::BillingProvider;
use crate::services::identity::throttle::{AddressRate, KeyRate};
use crate::services::usage::Coalescer;
use crate::telemetry::pools::Pools;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub settings: Arc<Settings>,
    pub root_key: Arc<KeyPair>,
    /// Tokens this node verified in the last few seconds.
    pub tokens: Arc<TokenCache>,
    /// Hands work to the job worker.
    pub jobs: Jobs,
    /// This node's rate of `login`, `signup`, `changePassword`, `acceptInvitation`,
    /// `requestPasswordReset` and invitation previews per client address.
    pub auth_rate: Arc<AddressRate>,
    /// This node's rate of `changePassword` checks per user, counted in memory before the
    /// database throttle, so a flood from a stolen session costs no database writes.
    pub password_rate: Arc<KeyRate>,
    /// This node's rate of `recordUsage` calls per SDK key.
    pub usage_rate: Arc<KeyRate>,
    /// The database pools `/metrics` samples.
    pub pools: Pools,
    /// This node's group commit of `recordUsage`.
    pub usage: Coalescer,
    /// Who is asked to pay for plan changes (and, in the worker, for renewals).
    pub billing: Arc<dyn BillingProvider>,
}

impl AppState {
    /// How long a login session lives.
    pub fn session_ttl(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.settings.session_ttl).unwrap_or(chrono::TimeDelta::MAX)
    }
}
