//! Invitations and member management, over real HTTP.

mod claims;
mod expiry;
mod founding;
mod hostile;
mod invitations;
mod keys;
mod mail_cap;
mod members;
mod seats;

use entity::mail_outbox;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{TestApp, data};

pub const INVITE: &str = "mutation($input: InviteInput!) {
    inviteTeamMember(input: $input) { id email role expiresAt invitedBy { email } } }";

pub const ACCEPT: &str = "mutation($input: AcceptInvitationInput!) {
    acceptInvitation(input: $input) { token viewer { role user { email name } business { id } } } }";

pub const PREVIEW: &str = "query($key: String!) { invitation(activationKey: $key) {
    email name businessName invitedByName role expiresAt hasAccount } }";

pub const MEMBERS: &str = "{ business { members(includeDeactivated: true) {
    edges { node { id role status user { email } } } } } }";

/// Invites `email` as `role` with `token`; the whole response.
pub async fn invite(app: &TestApp, token: &str, email: &str, role: &str) -> Value {
    app.graphql(
        INVITE,
        json!({ "input": { "email": email, "role": role, "name": "Invitee" } }),
        Some(token),
    )
    .await
}

/// The link of the latest invitation mailed to `to`, read from the `.eml` file the worker
/// wrote once the outbox row was sent.
pub async fn latest_mail_link(app: &TestApp, to: &str) -> String {
    let start = std::time::Instant::now();
    let latest = loop {
        let mail = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::Recipient.eq(to))
            .order_by_desc(mail_outbox::Column::Id)
            .one(&app.state.db)
            .await
            .expect("the outbox is readable")
            .unwrap_or_else(|| panic!("no mail to {to}"));
        assert_eq!(mail.template, "invitation");
        if let Some(sent) = mail.sent_at {
            break sent;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "never sent: {mail:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // The newest file to `to`: the mail of the newest row.
    let mut files: Vec<_> = std::fs::read_dir(&app.mail_dir)
        .expect("the mail directory")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "eml"))
        .filter_map(|entry| {
            let modified = entry.metadata().ok()?.modified().ok()?;
            let text = std::fs::read_to_string(entry.path()).ok()?;
            crate::mail::header(&text, "To")
                .contains(to)
                .then_some((modified, text))
        })
        .collect();
    files.sort_by_key(|(modified, _)| *modified);
    let (_, mail) = files
        .pop()
        .unwrap_or_else(|| panic!("no .eml to {to} (sent {latest})"));
    let text = crate::mail::text_part(&mail);
    let start = text
        .find("/accept-invite?key=")
        .unwrap_or_else(|| panic!("no invitation link in {text}"));
    let link: String = text[..start]
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or_default()
        .to_owned();
    let key: String = text[start + "/accept-invite?key=".len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    format!("{link}/accept-invite?key={key}")
}

/// The activation key in the latest invitation mailed to `to`.
pub async fn latest_key(app: &TestApp, to: &str) -> String {
    let link = latest_mail_link(app, to).await;
    link.split_once("/accept-invite?key=")
        .map(|(_, key)| key.to_owned())
        .unwrap_or_else(|| panic!("not an invitation link: {link}"))
}

/// Accepts with `key`; the whole response.
pub async fn accept(app: &TestApp, key: &str, password: &str) -> Value {
    app.graphql(
        ACCEPT,
        json!({ "input": { "activationKey": key, "password": password, "name": "Nina" } }),
        None,
    )
    .await
}

/// The invitation preview of `key` (null when dead).
pub async fn preview(app: &TestApp, key: &str) -> Value {
    let response = app.graphql(PREVIEW, json!({ "key": key }), None).await;
    data(&response)["invitation"].clone()
}

/// The id of the member `email` of the caller's business.
pub async fn member_id(app: &TestApp, token: &str, email: &str) -> String {
    let response = app.graphql(MEMBERS, json!({}), Some(token)).await;
    data(&response)["business"]["members"]["edges"]
        .as_array()
        .and_then(|edges| edges.iter().find(|e| e["node"]["user"]["email"] == email))
        .and_then(|edge| edge["node"]["id"].as_str())
        .unwrap_or_else(|| panic!("no member {email}"))
        .to_owned()
}

/// Whether `token` is honoured (reads its business).
pub async fn token_works(app: &TestApp, token: &str) -> bool {
    let response = app
        .graphql("{ business { id } }", json!({}), Some(token))
        .await;
    response.get("errors").is_none()
}

/// The actions of the business's audit log, newest first.
pub async fn audit_actions(app: &TestApp, token: &str) -> Vec<String> {
    let response = app
        .graphql(
            "{ business { auditLog(first: 50) { edges { node { action } } } } }",
            json!({}),
            Some(token),
        )
        .await;
    data(&response)["business"]["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|edge| edge["node"]["action"].as_str().map(str::to_owned))
        .collect()
}
