//! The mail outbox. A change that must send an e-mail records it here, in its own transaction:
//! the mail exists exactly when the change committed. Delivery is the job worker's
//! (`crate::jobs`): it is told of the row after commit ([`crate::jobs::Jobs::mail_recorded`]),
//! and a periodic sweep finds any row that was committed but never handed over (the process
//! died in between).

use chrono::{DateTime, Utc};
use entity::mail_outbox;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde_json::Value;
use uuid::Uuid;

use crate::error::AppError;

/// Which message to write; each has a template under `templates/mail/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// An invitation to join a business: `data` has `business`, `inviter`, `role`, `link`,
    /// `expires_at`.
    Invitation,
    /// A password reset: `data` has `name`, `link`, `expires_at`.
    PasswordReset,
}

impl Template {
    pub const fn name(self) -> &'static str {
        match self {
            Template::Invitation => "invitation",
            Template::PasswordReset => "password_reset",
        }
    }

    pub fn parse(name: &str) -> Option<Template> {
        [Template::Invitation, Template::PasswordReset]
            .into_iter()
            .find(|template| template.name() == name)
    }
}

/// An e-mail to record.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub template: Template,
    pub to: String,
    pub data: Value,
}

/// Records `mail` on `db` (the transaction of the change that causes it); returns its id, to
/// hand to [`crate::jobs::Jobs::mail_recorded`] once that transaction has committed.
///
/// # Errors
/// Database errors.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    mail: NewMail,
    now: DateTime<Utc>,
) -> Result<Uuid, AppError> {
    let id = Uuid::now_v7();
    mail_outbox::Entity::insert(mail_outbox::ActiveModel {
        id: Set(id),
        template: Set(mail.template.name().to_owned()),
        recipient: Set(mail.to),
        data: Set(Some(mail.data)),
        created_at: Set(now),
        enqueued_at: Set(None),
        sent_at: Set(None),
        attempts: Set(0),
        last_error: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(id)
}
