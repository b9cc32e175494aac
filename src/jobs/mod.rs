//! Background jobs on apalis: e-mail delivery from the outbox (and, later, the subscription
//! cycle). Jobs are small serde structs carrying ids; every handler is idempotent, because
//! apalis delivers at least once.

use uuid::Uuid;

/// The handle the request path uses to hand work to the job worker.
#[derive(Clone, Default)]
pub struct Jobs {}

impl Jobs {
    /// Tells the worker that outbox row `id` has committed and is ready to send. Never fails
    /// the caller: a mail that cannot be enqueued now is found by the outbox sweep.
    pub async fn mail_recorded(&self, id: Uuid) {
        // NOT YET DELIVERED: the apalis worker is being built (issue 8); until it lands the
        // row waits in `mail_outbox` for the sweep.
        tracing::debug!(%id, "mail recorded");
    }
}
