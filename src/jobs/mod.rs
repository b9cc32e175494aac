//! Background jobs on apalis: e-mail delivery from the outbox (and, later, the subscription
//! cycle). Jobs are small serde structs carrying ids; every handler is idempotent, because
//! apalis delivers at least once.
//!
//! Mail is delivered at least once, in this order of guarantees:
//! 1. the change and its outbox row commit together (`services::outbox::record`);
//! 2. [`Jobs::mail_recorded`] hands the row to the queue after commit; if the process dies
//!    first, or the queue is unreachable, the sweep ([`Worker`]) hands it over later;
//! 3. the handler claims the row (one conditional update), so several workers do not send one
//!    mail twice in the normal case;
//! 4. it marks the row sent only after the transport accepted the message. A crash after the
//!    SMTP server accepted but before `sent_at` was written sends that mail a second time once
//!    the claim runs out: that is the price of never losing one.

mod queue;
mod send_mail;
mod worker;

use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use queue::Queue;
pub use worker::Worker;

use crate::clock::SharedClock;
use crate::services::outbox;

/// Sends the outbox row `outbox_id`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendMail {
    pub outbox_id: Uuid,
}

/// The handle the request path uses to hand work to the job worker.
#[derive(Clone, Default)]
pub struct Jobs {
    connected: Option<Connected>,
}

#[derive(Clone)]
struct Connected {
    queue: Queue,
    db: DatabaseConnection,
    clock: SharedClock,
    stale_after: chrono::TimeDelta,
}

impl Jobs {
    /// A handle that enqueues on `queue` and records hand-overs on `db`.
    pub fn new(
        queue: Queue,
        db: DatabaseConnection,
        clock: SharedClock,
        stale_after: Duration,
    ) -> Self {
        let stale_after =
            chrono::TimeDelta::from_std(stale_after).unwrap_or(chrono::TimeDelta::MAX);
        Jobs {
            connected: Some(Connected {
                queue,
                db,
                clock,
                stale_after,
            }),
        }
    }

    /// Lets `/metrics` sample the pool this handle records hand-overs on.
    pub fn watch_pools(&self, pools: &crate::telemetry::pools::Pools) {
        if let Some(jobs) = &self.connected {
            pools.watch("jobs", &jobs.db);
        }
    }

    /// Tells the worker that outbox row `id` has committed and is ready to send. Never fails
    /// the caller: a mail that cannot be enqueued now is found by the outbox sweep.
    #[tracing::instrument(skip_all, fields(%id))]
    pub async fn mail_recorded(&self, id: Uuid) {
        let Some(jobs) = &self.connected else {
            tracing::debug!("no job queue: the outbox sweep will hand this mail over");
            return;
        };
        // Pushed before it is marked: a crash in between leaves a second job at worst (the
        // claim makes it a no-op), never a row the sweep would wait `stale_after` to notice.
        if let Err(err) = jobs
            .queue
            .push(SendMail { outbox_id: id }, Duration::ZERO)
            .await
        {
            tracing::warn!(error = %err, "cannot enqueue the mail; the sweep will hand it over");
            return;
        }
        let now = jobs.clock.now();
        if let Err(err) = outbox::take_for_queue(&jobs.db, id, now, now - jobs.stale_after).await {
            tracing::warn!(error = %err, "cannot mark the mail handed over");
        }
    }
}
