//! Sending e-mail with lettre: SMTP when `SAASKIT_SMTP_URL` is set (`smtp://` upgrades with
//! STARTTLS when the server offers it, `smtps://` is TLS from the start, credentials in the
//! URL), otherwise `.eml` files written into `SAASKIT_MAIL_DIR` (development and tests).

mod templates;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde_json::Value;

pub use templates::{Rendered, render};

use crate::config::Settings;
use crate::services::outbox::Template;

/// Why a mail was not sent. Its text goes to the outbox's `last_error` and the log, so it
/// never carries the message itself (whose links hold one-time keys).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The mail can never be sent as it is (bad address, broken template): retrying is useless.
    #[error("cannot build the message: {0}")]
    Permanent(String),
    /// The transport refused or could not be reached: worth trying again.
    #[error("the transport failed: {0}")]
    Transport(String),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// Sends saaskit's messages through the configured transport.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    /// The transport the settings name.
    ///
    /// # Errors
    /// `SAASKIT_SMTP_URL` or `SAASKIT_MAIL_FROM` cannot be parsed, or the mail directory cannot
    /// be created.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        use anyhow::Context;
        let from: Mailbox = settings.mail_from.parse().context(
            "SAASKIT_MAIL_FROM is not an address such as `saaskit <no-reply@example.com>`",
        )?;
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(&with_starttls(url.expose_secret()))
                    .context("SAASKIT_SMTP_URL is not an smtp:// or smtps:// URL")?
                    .build(),
            ),
            None => {
                std::fs::create_dir_all(&settings.mail_dir).with_context(|| {
                    format!(
                        "cannot create the mail directory {} (SAASKIT_MAIL_DIR)",
                        settings.mail_dir.display()
                    )
                })?;
                Transport::File(AsyncFileTransport::<Tokio1Executor>::new(
                    &settings.mail_dir,
                ))
            }
        };
        Ok(Self { transport, from })
    }

    /// Renders `template` with `data` and hands it to the transport. `Ok` means the transport
    /// accepted the message (the SMTP server answered 250, or the file was written).
    ///
    /// # Errors
    /// [`MailError::Permanent`] when the message cannot be built, [`MailError::Transport`] when
    /// it was not accepted.
    #[tracing::instrument(skip_all, fields(template = template.name()))]
    pub async fn send(&self, template: Template, to: &str, data: &Value) -> Result<(), MailError> {
        let message = self.build(template, to, data)?;
        let sent = match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            Transport::File(file) => file
                .send(message)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        };
        sent.map_err(MailError::Transport)
    }

    fn build(&self, template: Template, to: &str, data: &Value) -> Result<Message, MailError> {
        let permanent = |err: &dyn std::fmt::Display| MailError::Permanent(err.to_string());
        let rendered = render(template, data).map_err(|e| permanent(&e))?;
        let to: Mailbox = to.parse().map_err(|e| permanent(&e))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| permanent(&e))
    }
}

/// `smtp://` URLs upgrade with STARTTLS whenever the server offers it (lettre's plain `smtp://`
/// never would); an explicit `tls=` parameter (`required`, or none at all) is kept.
fn with_starttls(url: &str) -> String {
    if !url.starts_with("smtp://") || url.contains("tls=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}tls=opportunistic")
}

#[cfg(test)]
mod tests {
    use super::with_starttls;

    #[test]
    fn smtp_urls_upgrade_when_offered_unless_told_otherwise() {
        assert_eq!(
            with_starttls("smtp://h:25"),
            "smtp://h:25?tls=opportunistic"
        );
        assert_eq!(
            with_starttls("smtp://u:p@h?x=1"),
            "smtp://u:p@h?x=1&tls=opportunistic"
        );
        assert_eq!(
            with_starttls("smtp://h?tls=required"),
            "smtp://h?tls=required"
        );
        assert_eq!(with_starttls("smtps://h"), "smtps://h");
    }
}
