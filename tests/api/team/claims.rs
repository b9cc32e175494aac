//! An invitation does not take an address hostage: the invited person signs up on their own,
//! gets exactly what sign-up gives (a business of their own), and the invitation stays theirs
//! to accept with its key — now with their password.

use serde_json::{Value, json};

use super::{accept, invite, latest_key, member_id, preview};
use crate::helpers::{TestApp, data, error_code, spawn_app};

const SIGNUP: &str = "mutation($input: SignupInput!) { signup(input: $input) {
    token viewer { role user { email name } business { id name } memberships { business { id } } } } }";

async fn signup(app: &TestApp, email: &str, password: &str) -> Value {
    app.graphql(
        SIGNUP,
        json!({ "input": { "email": email, "password": password, "name": "Nina herself",
            "businessName": "Nina's own" } }),
        None,
    )
    .await
}

#[tokio::test]
async fn an_invited_address_signs_up_on_its_own_and_keeps_the_invitation_to_accept() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    data(&invite(&app, &owner.token, "nina@example.com", "MEMBER").await);
    let key = latest_key(&app, "nina@example.com").await;

    let signed_up = signup(&app, "nina@example.com", "nina's own password").await;
    let viewer = &data(&signed_up)["signup"]["viewer"];
    assert_eq!(viewer["role"], "OWNER");
    assert_eq!(viewer["user"]["name"], "Nina herself");
    assert_eq!(viewer["business"]["name"], "Nina's own");
    let own_business = viewer["business"]["id"].clone();
    // Sign-up gave nothing of the invitation: one membership, her own business.
    assert_eq!(
        viewer["memberships"],
        json!([{ "business": { "id": own_business } }])
    );
    let pending = app
        .graphql(
            "{ business { invitations { email } } }",
            json!({}),
            Some(&owner.token),
        )
        .await;
    assert_eq!(
        data(&pending)["business"]["invitations"],
        json!([{ "email": "nina@example.com" }]),
        "still pending"
    );

    // The key still opens the invitation, now for an account with a password.
    assert_eq!(preview(&app, &key).await["hasAccount"], true);
    let wrong = accept(&app, &key, "a new password").await;
    assert_eq!(
        error_code(&wrong),
        "UNAUTHENTICATED",
        "the key alone no longer sets a password"
    );
    let joined = accept(&app, &key, "nina's own password").await;
    let payload = &data(&joined)["acceptInvitation"]["viewer"];
    assert_eq!(payload["business"]["id"], owner.business_id.as_str());
    assert_eq!(payload["role"], "MEMBER");
    assert_eq!(
        payload["user"]["name"], "Nina herself",
        "the invitation's name does not overwrite hers"
    );
}

#[tokio::test]
async fn an_address_with_a_password_still_cannot_be_signed_up_again() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    data(&invite(&app, &owner.token, "nina@example.com", "MEMBER").await);
    data(&signup(&app, "nina@example.com", "nina's own password").await);
    let again = signup(&app, "nina@example.com", "someone else's password").await;
    assert_eq!(error_code(&again), "CONFLICT");
    let login = app
        .login("nina@example.com", "nina's own password", None)
        .await;
    assert!(login["data"]["login"]["token"].is_string(), "{login}");
    // A staff user has no password-less account to claim either.
    let _staff = app.staff_token("staff@example.com").await;
    assert_eq!(
        error_code(&signup(&app, "staff@example.com", "a staff takeover").await),
        "CONFLICT"
    );
}

#[tokio::test]
async fn sign_up_racing_acceptance_sets_the_first_password_once() {
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    data(&invite(&app, &owner.token, "nina@example.com", "MEMBER").await);
    let key = latest_key(&app, "nina@example.com").await;

    let (signed_up, accepted) = tokio::join!(
        signup(&app, "nina@example.com", "the sign-up password"),
        accept(&app, &key, "the accepting password"),
    );
    let signup_won = signed_up.get("errors").is_none();
    let accept_won = accepted.get("errors").is_none();
    assert!(
        signup_won || accept_won,
        "one of them wins: {signed_up} {accepted}"
    );
    // Whichever won, its password is the one, and the loser changed nothing.
    let password = if signup_won {
        "the sign-up password"
    } else {
        "the accepting password"
    };
    let login = app.login("nina@example.com", password, None).await;
    assert!(login["data"]["login"]["token"].is_string(), "{login}");
    assert!(!(signup_won && accept_won), "{signed_up} {accepted}");
    if signup_won {
        // Lost before the claim committed (CONFLICT) or after it (the password is wrong).
        let code = error_code(&accepted);
        assert!(
            ["CONFLICT", "UNAUTHENTICATED"].contains(&code),
            "{accepted}"
        );
        assert_eq!(
            preview(&app, &key).await["hasAccount"],
            true,
            "still pending"
        );
    }
    if accept_won {
        assert_eq!(error_code(&signed_up), "CONFLICT", "{signed_up}");
        member_id(&app, &owner.token, "nina@example.com").await;
    }
}

#[tokio::test]
async fn a_password_less_account_that_is_already_a_member_somewhere_is_not_claimed() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let app = spawn_app().await;
    let owner = app.signup("owner@example.com").await;
    let other = app.signup("other@example.com").await;
    data(&invite(&app, &owner.token, "nina@example.com", "MEMBER").await);
    let nina = entity::users::Entity::find()
        .filter(entity::users::Column::Email.eq("nina@example.com"))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("the invited account");
    // However it came about, an ACTIVE membership must not go to whoever signs up first.
    app.add_membership(&other.business_id, nina.id, entity::Role::Admin)
        .await;
    let refused = signup(&app, "nina@example.com", "a takeover attempt").await;
    assert_eq!(error_code(&refused), "CONFLICT", "{refused}");
    let still = entity::users::Entity::find_by_id(nina.id)
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("the account");
    assert!(still.password_hash.is_none(), "nothing was set");
}
