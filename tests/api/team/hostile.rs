//! Invitations as a weapon: what an inviter writes never becomes saaskit's own words, names
//! cannot hide text, and no path turns a pending invitation into an OWNER.

use serde_json::json;

use super::{invite, latest_key, member_id, preview};
use crate::helpers::{TestApp, data, error_code, spawn_app};
use crate::mail::{header, text_part, wait_for_mails};

const PHISH: &str = "ACCOUNT SUSPENDED - verify now at https://evil.example/login";

/// An owner whose own name and business name are a phishing line.
async fn phisher(app: &TestApp) -> String {
    let owner = app.signup("owner@example.com").await;
    data(
        &app.graphql(
            "mutation($n: String!) { updateBusiness(input: { name: $n }) { name } }",
            json!({ "n": PHISH }),
            Some(&owner.token),
        )
        .await,
    );
    owner.token
}

#[tokio::test]
async fn the_subject_is_saaskits_and_the_inviters_words_are_quoted_as_theirs() {
    let app = spawn_app().await;
    let token = phisher(&app).await;
    data(&invite(&app, &token, "nina@example.com", "MEMBER").await);
    latest_key(&app, "nina@example.com").await;
    let mails = wait_for_mails(&app.mail_dir, Some("nina@example.com"), 1).await;
    let mail = &mails[0];
    assert_eq!(
        header(mail, "Subject"),
        "You're invited to join a team on saaskit"
    );
    let text = text_part(mail);
    assert!(
        text.contains(&format!("Team:    \"{PHISH}\"")),
        "quoted, beside its label: {text}"
    );
    assert!(
        text.contains("their own words, not checked by saaskit"),
        "{text}"
    );
    assert_eq!(
        text.matches(PHISH).count(),
        1,
        "the inviter's text appears once, where it is marked as theirs"
    );
}

#[tokio::test]
async fn names_with_bidi_or_control_characters_are_refused_everywhere_they_are_shown() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let hidden = "Support\u{202E}nimda";
    let renamed = app
        .graphql(
            "mutation($n: String!) { updateBusiness(input: { name: $n }) { name } }",
            json!({ "n": hidden }),
            Some(&owner.token),
        )
        .await;
    assert_eq!(error_code(&renamed), "BAD_USER_INPUT", "{renamed}");
    let invited = app
        .graphql(
            "mutation($input: InviteInput!) { inviteTeamMember(input: $input) { id } }",
            json!({ "input": { "email": "nina@example.com", "role": "MEMBER",
                "name": "Nina\u{2066}Admin" } }),
            Some(&owner.token),
        )
        .await;
    assert_eq!(error_code(&invited), "BAD_USER_INPUT", "{invited}");
    assert_eq!(invited["errors"][0]["extensions"]["field"], "name");
    let signup = app
        .graphql(
            "mutation($input: SignupInput!) { signup(input: $input) { token } }",
            json!({ "input": { "email": "eve@example.com", "password": "long enough pw",
                "name": "Eve", "businessName": "Acme\u{200B}Corp" } }),
            None,
        )
        .await;
    assert_eq!(error_code(&signup), "BAD_USER_INPUT", "{signup}");
    assert_eq!(signup["errors"][0]["extensions"]["field"], "businessName");
}

#[tokio::test]
async fn a_pending_invitation_never_becomes_an_owner_invitation() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    data(&invite(&app, &owner.token, "nina@example.com", "MEMBER").await);
    let id = member_id(&app, &owner.token, "nina@example.com").await;
    let role = "mutation($id: ID!, $role: Role!) { updateMemberRole(memberId: $id, role: $role) { role } }";
    let refused = app
        .graphql(
            role,
            json!({ "id": id, "role": "OWNER" }),
            Some(&owner.token),
        )
        .await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(refused["errors"][0]["extensions"]["field"], "role");
    // ADMIN is what an owner may still make of it.
    let admin = app
        .graphql(
            role,
            json!({ "id": id, "role": "ADMIN" }),
            Some(&owner.token),
        )
        .await;
    assert_eq!(data(&admin)["updateMemberRole"]["role"], "ADMIN");
    let key = latest_key(&app, "nina@example.com").await;
    assert_eq!(preview(&app, &key).await["role"], "ADMIN");
}

#[tokio::test]
async fn a_revoke_or_re_send_racing_an_acceptance_never_touches_the_member_it_became() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let revoke = "mutation($id: ID!) { revokeInvitation(id: $id) }";
    let resend = "mutation($id: ID!) { resendInvitation(id: $id) { id } }";
    for (i, step) in [revoke, resend, revoke, resend].into_iter().enumerate() {
        let email = format!("racer{i}@example.com");
        let sent = invite(&app, &owner.token, &email, "MEMBER").await;
        let id = data(&sent)["inviteTeamMember"]["id"].clone();
        let key = latest_key(&app, &email).await;
        let (accepted, stepped) = tokio::join!(
            super::accept(&app, &key, "a new password"),
            app.graphql(step, json!({ "id": id }), Some(&owner.token)),
        );
        let members = app
            .graphql(super::MEMBERS, json!({}), Some(&owner.token))
            .await;
        let status = data(&members)["business"]["members"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .find(|e| e["node"]["user"]["email"] == email.as_str())
            .map(|e| e["node"]["status"].clone());
        if accepted.get("errors").is_none() {
            assert_eq!(status, Some(json!("ACTIVE")), "{email}: {stepped}");
            assert_eq!(
                error_code(&stepped),
                "NOT_FOUND",
                "it came after: {stepped}"
            );
        } else {
            assert!(stepped.get("errors").is_none(), "{accepted} {stepped}");
        }
    }
}
