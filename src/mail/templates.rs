//! The message templates, from `templates/mail/` (embedded at build time): for each message a
//! subject, a plain-text body and an HTML body. HTML bodies are escaped (`.html` templates
//! auto-escape every value); a value the template needs but `data` lacks is an error, never an
//! empty hole in a sent mail.

use std::sync::LazyLock;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::services::outbox::Template;

/// A rendered message, ready to be addressed.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    for (name, source) in SOURCES {
        // The sources are ours and checked by a test; a broken one is a build-time mistake.
        if let Err(err) = env.add_template(name, source) {
            tracing::error!(template = name, error = %err, "a mail template does not parse");
        }
    }
    env
});

const SOURCES: [(&str, &str); 9] = [
    (
        "invitation.subject.txt",
        include_str!("../../templates/mail/invitation.subject.txt"),
    ),
    (
        "invitation.txt",
        include_str!("../../templates/mail/invitation.txt"),
    ),
    (
        "invitation.html",
        include_str!("../../templates/mail/invitation.html"),
    ),
    (
        "password_reset.subject.txt",
        include_str!("../../templates/mail/password_reset.subject.txt"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/mail/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/mail/password_reset.html"),
    ),
    (
        "plan_change_declined.subject.txt",
        include_str!("../../templates/mail/plan_change_declined.subject.txt"),
    ),
    (
        "plan_change_declined.txt",
        include_str!("../../templates/mail/plan_change_declined.txt"),
    ),
    (
        "plan_change_declined.html",
        include_str!("../../templates/mail/plan_change_declined.html"),
    ),
];

/// Renders `template` with `data`.
///
/// # Errors
/// A template is missing or `data` lacks a value it uses.
pub fn render(template: Template, data: &Value) -> Result<Rendered, minijinja::Error> {
    let name = template.name();
    let part = |suffix: &str| -> Result<String, minijinja::Error> {
        ENVIRONMENT
            .get_template(&format!("{name}.{suffix}"))?
            .render(data)
    };
    Ok(Rendered {
        subject: part("subject.txt")?.trim().to_owned(),
        text: part("txt")?,
        html: part("html")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_template_renders_and_html_is_escaped() {
        let reset = render(
            Template::PasswordReset,
            &json!({ "name": "<b>Ann</b>", "link": "https://x/r?token=a&b", "expires_at": "soon" }),
        )
        .expect("renders");
        assert_eq!(reset.subject, "Reset your password");
        assert!(reset.text.contains("https://x/r?token=a&b"));
        assert!(
            reset.html.contains("&lt;b&gt;Ann&lt;&#x2f;b&gt;")
                || reset.html.contains("&lt;b&gt;Ann")
        );
        assert!(!reset.html.contains("<b>Ann"));
        let invitation = render(
            Template::Invitation,
            &json!({ "business": "Acme", "inviter": "Bo", "role": "admin",
                     "link": "https://x/i", "expires_at": "later" }),
        )
        .expect("renders");
        assert_eq!(
            invitation.subject, "You're invited to join a team on saaskit",
            "the subject is saaskit's own, whatever the inviter wrote"
        );
        assert!(invitation.text.contains("Inviter: \"Bo\""));
        assert!(invitation.text.contains("Team:    \"Acme\""));
        assert!(
            invitation
                .text
                .contains("their own words, not checked by saaskit")
        );
        let declined = render(
            Template::PlanChangeDeclined,
            &json!({ "name": "Ann", "business": "Acme", "from_plan": "Pro", "to_plan": "Free",
                     "metric": "applications", "used": 10, "limit": 1 }),
        )
        .expect("renders");
        assert_eq!(declined.subject, "Acme stays on Pro");
        assert!(declined.text.contains("applications is at 10"));
    }

    #[test]
    fn a_missing_value_is_an_error() {
        assert!(render(Template::PasswordReset, &json!({ "name": "Ann" })).is_err());
    }
}
