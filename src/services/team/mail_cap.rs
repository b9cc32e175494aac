//! How many invitation mails one business may send one address: without a cap, invite →
//! revoke → invite (or resend after resend) mails anyone as often as a script can call.
//!
//! The count is read from the audit log, which every mailing step (`invitation.created`,
//! `invitation.resent`) writes in the transaction that records its mail, so the count and the
//! mail commit together. The caller holds the team lock ([`crate::services::locks::team`]:
//! the business row on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so two steps of one business
//! never both read a count below the cap: it is exact under concurrency, on any number of
//! nodes.
//!
//! Two caps, both per business, so that one tenant can never use up another's invitations:
//! - per address: [`PER_ADDRESS`] mails an hour (an invitation and its re-sends together), so
//!   the invite → revoke → invite loop cannot flood one inbox;
//! - per business: [`PER_BUSINESS_PER_DAY`] mails a day to all addresses, so one business
//!   cannot use saaskit's mail to spam (each mail also writes an audit row, an outbox row and
//!   a job: the cap bounds those too).
//!
//! A refused step writes nothing: the check runs before the step's first write.

use chrono::{DateTime, TimeDelta, Utc};
use entity::audit_events;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use uuid::Uuid;

use crate::error::AppError;

/// Invitation mails (first sends and re-sends together) one business may send one address
/// per [`WINDOW`].
pub const PER_ADDRESS: usize = 3;
/// The window [`PER_ADDRESS`] counts over.
pub const WINDOW: TimeDelta = TimeDelta::hours(1);
/// Invitation mails one business may send per [`DAY`], to all addresses together.
pub const PER_BUSINESS_PER_DAY: usize = 50;
/// The window [`PER_BUSINESS_PER_DAY`] counts over.
pub const DAY: TimeDelta = TimeDelta::days(1);
/// The audit actions of the steps that mail an invitation.
const MAILING: [&str; 2] = ["invitation.created", "invitation.resent"];

/// Refuses another invitation mail from `business_id` to `email` (normalized) while it has
/// sent [`PER_ADDRESS`] to it in the last [`WINDOW`], or [`PER_BUSINESS_PER_DAY`] to anyone in
/// the last [`DAY`]. Call it under the team lock, before writing.
///
/// # Errors
/// `RATE_LIMITED` with `retryAfter`: the whole seconds until enough counted mails leave their
/// window for one more.
pub(super) async fn ensure_may_mail<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mailed: Vec<(DateTime<Utc>, Option<Value>)> = audit_events::Entity::find()
        .select_only()
        .column(audit_events::Column::CreatedAt)
        .column(audit_events::Column::Data)
        .filter(audit_events::Column::BusinessId.eq(business_id))
        .filter(audit_events::Column::Action.is_in(MAILING))
        .filter(audit_events::Column::CreatedAt.gt(now - DAY))
        .order_by_asc(audit_events::Column::CreatedAt)
        .into_tuple()
        .all(db)
        .await?;
    if let Some(over) = mailed.len().checked_sub(PER_BUSINESS_PER_DAY) {
        let frees_at = mailed[over].0 + DAY;
        tracing::info!("invitation mail refused: the business's daily cap is reached");
        return Err(AppError::RateLimited {
            retry_after_secs: whole_seconds_until(frees_at, now),
        });
    }
    let to_address: Vec<DateTime<Utc>> = mailed
        .into_iter()
        .filter(|(at, _)| *at > now - WINDOW)
        .filter(|(_, data)| {
            data.as_ref()
                .and_then(|data| data["email"].as_str())
                .is_some_and(|to| to == email)
        })
        .map(|(at, _)| at)
        .collect();
    let Some(over) = to_address.len().checked_sub(PER_ADDRESS) else {
        return Ok(());
    };
    // One more may go once all but `PER_ADDRESS - 1` of the counted mails left the window.
    let frees_at = to_address[over] + WINDOW;
    tracing::info!("invitation mail refused: too many to this address in the last hour");
    Err(AppError::RateLimited {
        retry_after_secs: whole_seconds_until(frees_at, now),
    })
}

fn whole_seconds_until(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = (at - now).num_milliseconds().max(1);
    u64::try_from(millis).unwrap_or(1).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_at_least_one() {
        let now = Utc::now();
        assert_eq!(
            whole_seconds_until(now + TimeDelta::milliseconds(1500), now),
            2
        );
        assert_eq!(whole_seconds_until(now + TimeDelta::seconds(60), now), 60);
        assert_eq!(whole_seconds_until(now, now), 1);
        assert_eq!(whole_seconds_until(now - TimeDelta::seconds(5), now), 1);
    }
}
