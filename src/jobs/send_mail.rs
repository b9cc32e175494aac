//! The `SendMail` handler: claim, render, send, mark sent — or record the failure and schedule
//! the next try with exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data};
use sea_orm::DatabaseConnection;

use super::{Queue, SendMail};
use crate::clock::SharedClock;
use crate::mail::{MailError, Mailer};
use crate::services::outbox::{self, Template};
use crate::telemetry::metrics::{self as measure, JobKind};

/// What the handler needs, shared by every job a worker runs.
pub struct Delivery {
    pub db: DatabaseConnection,
    pub mailer: Mailer,
    pub queue: Queue,
    pub clock: SharedClock,
    pub retry_base: Duration,
    pub max_attempts: u32,
}

/// The apalis handler: delivers the job's outbox row (see [`deliver`]).
#[tracing::instrument(name = "job", skip_all, fields(kind = "send_mail", outbox_id = %job.outbox_id))]
pub async fn send_mail(job: SendMail, delivery: Data<Arc<Delivery>>) -> Result<(), BoxDynError> {
    measure::job_run(JobKind::SendMail);
    let delivered = deliver(&delivery, job).await;
    if delivered.is_err() {
        measure::job_failed(JobKind::SendMail);
        measure::job_retried(JobKind::SendMail);
    }
    delivered
}

/// Delivers one outbox row. Idempotent: a row that is sent, or claimed by another worker, is
/// left alone. Returns an error only when the database failed (apalis then runs the job
/// again); a failed send is handled here, so it is never lost and never retried blindly.
///
/// # Errors
/// Database errors.
pub async fn deliver(delivery: &Delivery, job: SendMail) -> Result<(), BoxDynError> {
    let now = delivery.clock.now();
    // Claiming before sending: of several workers handed this row, one sends.
    let Some(row) = outbox::claim(&delivery.db, job.outbox_id, now).await? else {
        tracing::debug!("already sent, or being sent by another worker");
        return Ok(());
    };
    let sent = match (Template::parse(&row.template), &row.data) {
        (Some(template), Some(data)) => delivery.mailer.send(template, &row.recipient, data).await,
        (None, _) => Err(MailError::Permanent(format!(
            "unknown template {:?}",
            row.template
        ))),
        (_, None) => Err(MailError::Permanent("the mail has no data".to_owned())),
    };
    let now = delivery.clock.now();
    match sent {
        Ok(()) => {
            // Only now: the transport has the message. A crash before this line sends it again
            // once the claim runs out (at least once, never lost).
            outbox::mark_sent(&delivery.db, row.id, now).await?;
            tracing::info!(template = %row.template, "mail sent");
        }
        Err(err) => {
            measure::job_failed(JobKind::SendMail);
            let error = err.to_string();
            outbox::mark_failed(&delivery.db, row.id, &error, now).await?;
            let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
            let permanent = matches!(err, MailError::Permanent(_));
            if permanent || attempts >= delivery.max_attempts {
                // Kept in the outbox with its last error; the sweep tries it again later.
                tracing::error!(attempts, error = %error, "mail not sent; left in the outbox");
            } else {
                let delay = backoff(delivery.retry_base, attempts);
                tracing::warn!(attempts, error = %error, retry_in = ?delay, "mail not sent; will retry");
                match delivery.queue.push(job, delay).await {
                    Ok(()) => measure::job_retried(JobKind::SendMail),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot schedule the retry; the sweep will");
                    }
                }
            }
        }
    }
    Ok(())
}

/// The wait before try `attempts + 1`: `base`, then twice as long each time, at most an hour.
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    base.saturating_mul(factor).min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_up_to_an_hour() {
        let base = Duration::from_secs(1);
        assert_eq!(backoff(base, 1), Duration::from_secs(1));
        assert_eq!(backoff(base, 2), Duration::from_secs(2));
        assert_eq!(backoff(base, 4), Duration::from_secs(8));
        assert_eq!(backoff(base, 40), Duration::from_secs(3600));
    }
}
