//! Signing up, logging in and out, sessions and passwords.

use entity::{businesses, subscriptions, team_members, users};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::helpers::{PASSWORD, data, error_code, spawn_app};

const SIGNUP: &str = "mutation($input: SignupInput!) { signup(input: $input) { token } }";

fn signup_input(email: &str, password: &str, name: &str, business: &str) -> serde_json::Value {
    json!({ "input": { "email": email, "password": password, "name": name, "businessName": business } })
}

#[tokio::test]
async fn signup_creates_the_business_its_owner_its_sdk_key_and_a_subscription() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let response = app
        .graphql(
            "{ me { user { email name } role isStaff rights memberships { role business { id } } }
               business { id name apiKey subscription { status plan { code } } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    let data = data(&response);
    assert_eq!(data["me"]["user"]["email"], "ada@example.com");
    assert_eq!(data["me"]["role"], "OWNER");
    assert_eq!(data["me"]["isStaff"], false);
    assert!(
        data["me"]["rights"]
            .as_array()
            .expect("rights")
            .contains(&json!("apikey:manage"))
    );
    assert_eq!(
        data["me"]["memberships"],
        json!([{ "role": "OWNER", "business": { "id": account.business_id } }])
    );
    assert_eq!(
        data["business"]["subscription"],
        json!({ "status": "ACTIVE", "plan": { "code": "free" } })
    );

    let sdk = app
        .graphql("{ me { role rights } }", json!({}), Some(&account.api_key))
        .await;
    assert_eq!(
        data_of(&sdk)["me"],
        json!({ "role": "SDK", "rights": ["usage:read", "usage:record"] })
    );
}

fn data_of(response: &serde_json::Value) -> &serde_json::Value {
    data(response)
}

#[tokio::test]
async fn a_duplicate_email_is_a_conflict_and_leaves_nothing_behind() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let count = |app: &crate::helpers::TestApp| {
        let db = app.state.db.clone();
        async move {
            (
                businesses::Entity::find().count(&db).await.expect("count"),
                users::Entity::find().count(&db).await.expect("count"),
                team_members::Entity::find()
                    .count(&db)
                    .await
                    .expect("count"),
                subscriptions::Entity::find()
                    .count(&db)
                    .await
                    .expect("count"),
            )
        }
    };
    let before = count(&app).await;
    let response = app
        .graphql(
            SIGNUP,
            signup_input(" ADA@example.com", PASSWORD, "Ada", "Second"),
            None,
        )
        .await;
    assert_eq!(error_code(&response), "CONFLICT");
    assert_eq!(response["errors"][0]["extensions"]["field"], "email");
    assert_eq!(
        count(&app).await,
        before,
        "no business, member or subscription is left behind"
    );
}

#[tokio::test]
async fn concurrent_signups_with_one_email_create_one_account() {
    let app = spawn_app().await;
    let input = signup_input("race@example.com", PASSWORD, "Ada", "Race");
    let (a, b) = tokio::join!(
        app.graphql(SIGNUP, input.clone(), None),
        app.graphql(SIGNUP, input, None)
    );
    let ok = [&a, &b]
        .iter()
        .filter(|r| r.get("errors").is_none())
        .count();
    assert_eq!(ok, 1, "{a} {b}");
    let loser = if a.get("errors").is_some() { &a } else { &b };
    assert_eq!(error_code(loser), "CONFLICT");
    assert_eq!(
        businesses::Entity::find()
            .count(&app.state.db)
            .await
            .expect("count"),
        1
    );
}

#[tokio::test]
async fn bad_signup_input_names_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            signup_input("not-an-email", PASSWORD, "Ada", "Acme"),
            "email",
        ),
        (
            signup_input("ada@example.com", "short", "Ada", "Acme"),
            "password",
        ),
        (
            signup_input("ada@example.com", &"x".repeat(1025), "Ada", "Acme"),
            "password",
        ),
        (
            signup_input("ada@example.com", PASSWORD, "  ", "Acme"),
            "name",
        ),
        (
            signup_input("ada@example.com", PASSWORD, "Ada", ""),
            "businessName",
        ),
    ];
    for (input, field) in cases {
        let response = app.graphql(SIGNUP, input, None).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{field}: {response}"
        );
        assert_eq!(response["errors"][0]["extensions"]["field"], field);
    }
    assert_eq!(
        users::Entity::find()
            .count(&app.state.db)
            .await
            .expect("count"),
        0
    );
}

#[tokio::test]
async fn login_answers_alike_for_an_unknown_email_and_a_wrong_password() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let unknown = app.login("nobody@example.com", PASSWORD, None).await;
    let wrong = app.login("ada@example.com", "wrong password", None).await;
    assert_eq!(error_code(&unknown), "UNAUTHENTICATED");
    assert_eq!(
        unknown["errors"][0]["message"],
        wrong["errors"][0]["message"]
    );
    assert_eq!(
        unknown["errors"][0]["extensions"],
        wrong["errors"][0]["extensions"]
    );
    let ok = app.login("  Ada@Example.com ", PASSWORD, None).await;
    assert_eq!(data(&ok)["login"]["viewer"]["role"], "OWNER");
}

#[tokio::test]
async fn a_logged_out_token_is_refused_at_once() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let response = app
        .graphql("mutation { logout }", json!({}), Some(&account.token))
        .await;
    assert_eq!(data(&response)["logout"], true);
    let response = app
        .graphql("{ me { role } }", json!({}), Some(&account.token))
        .await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
}

#[tokio::test]
async fn logout_everywhere_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let second = app.token_for(&account.email, PASSWORD, None).await;
    let response = app
        .graphql("mutation { logoutEverywhere }", json!({}), Some(&second))
        .await;
    assert_eq!(data(&response)["logoutEverywhere"], true);
    for token in [&account.token, &second] {
        let response = app.graphql("{ me { role } }", json!({}), Some(token)).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    let sdk = app
        .graphql("{ me { role } }", json!({}), Some(&account.api_key))
        .await;
    assert_eq!(
        data(&sdk)["me"]["role"],
        "SDK",
        "the SDK key is not a login session"
    );
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let other = app.token_for(&account.email, PASSWORD, None).await;
    let change = "mutation($input: ChangePasswordInput!) { changePassword(input: $input) }";
    let wrong = app
        .graphql(
            change,
            json!({ "input": { "currentPassword": "nope nope", "newPassword": "new password 1" } }),
            Some(&account.token),
        )
        .await;
    assert_eq!(error_code(&wrong), "BAD_USER_INPUT");
    assert_eq!(wrong["errors"][0]["extensions"]["field"], "currentPassword");
    let ok = app
        .graphql(
            change,
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": "new password 1" } }),
            Some(&account.token),
        )
        .await;
    assert_eq!(data(&ok)["changePassword"], true);
    let me = app
        .graphql("{ me { role } }", json!({}), Some(&account.token))
        .await;
    assert_eq!(data(&me)["me"]["role"], "OWNER", "this session goes on");
    let me = app
        .graphql("{ me { role } }", json!({}), Some(&other))
        .await;
    assert_eq!(error_code(&me), "UNAUTHENTICATED");
    assert_eq!(
        error_code(&app.login(&account.email, PASSWORD, None).await),
        "UNAUTHENTICATED"
    );
    data(&app.login(&account.email, "new password 1", None).await);
}

#[tokio::test]
async fn a_user_in_two_businesses_logs_in_to_either_and_switches() {
    let app = spawn_app().await;
    let first = app.signup("ada@example.com").await;
    let second = app.signup("bob@example.com").await;
    // Ada joins Bob's business as a member.
    let ada = {
        use sea_orm::{ColumnTrait, QueryFilter};
        users::Entity::find()
            .filter(users::Column::Email.eq("ada@example.com"))
            .one(&app.state.db)
            .await
            .expect("query")
            .expect("ada")
    };
    app.add_membership(&second.business_id, ada.id, entity::Role::Member)
        .await;
    let latest = app.login("ada@example.com", PASSWORD, None).await;
    assert_eq!(
        data(&latest)["login"]["viewer"]["business"]["id"],
        second.business_id,
        "most recently joined"
    );
    let own = app
        .login("ada@example.com", PASSWORD, Some(&first.business_id))
        .await;
    assert_eq!(data(&own)["login"]["viewer"]["role"], "OWNER");
    let switched = app
        .graphql(
            "mutation($id: ID!) { switchBusiness(businessId: $id) { viewer { role business { id } } } }",
            json!({ "id": second.business_id }),
            Some(&first.token),
        )
        .await;
    assert_eq!(
        data(&switched)["switchBusiness"]["viewer"]["role"],
        "MEMBER"
    );
    let foreign = app.signup("eve@example.com").await;
    let refused = app
        .graphql(
            "mutation($id: ID!) { switchBusiness(businessId: $id) { token } }",
            json!({ "id": foreign.business_id }),
            Some(&first.token),
        )
        .await;
    assert_eq!(error_code(&refused), "NOT_FOUND");
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address_without_locking_the_owner_out() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    for _ in 0..5 {
        let response = app.login(&account.email, "wrong password", None).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    let response = app.login(&account.email, PASSWORD, None).await;
    assert_eq!(
        error_code(&response),
        "RATE_LIMITED",
        "even the right password, from here"
    );
    assert!(
        response["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );

    // The owner, from another address, still gets in.
    let elsewhere = saaskit::services::identity::accounts::login(
        &app.state.db,
        &app.state.root_key,
        app.state.session_ttl(),
        chrono::Utc::now(),
        &app.state.auth_rate,
        saaskit::services::identity::accounts::Login {
            email: account.email.clone(),
            password: PASSWORD.into(),
            business_id: None,
            client_addr: "203.0.113.7".into(),
            budget: saaskit::auth::password::Budget::new(),
        },
    )
    .await;
    assert!(elsewhere.is_ok());
}

#[tokio::test]
async fn garbage_and_foreign_tokens_are_unauthenticated_never_a_server_error() {
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let foreign = saaskit::auth::token::mint(
        &biscuit_auth::KeyPair::new(),
        &saaskit::auth::token::Claims {
            user_id: uuid::Uuid::now_v7(),
            session_id: uuid::Uuid::now_v7(),
            business_id: None,
            role: None,
            rights: saaskit::auth::RightSet::default(),
            staff: true,
            impersonator: None,
            expires_at: None,
        },
    )
    .expect("mints");
    let truncated = &account.token[..account.token.len() / 2];
    for token in ["garbage", "", truncated, foreign.as_str(), "Bearer Bearer"] {
        let response = app.graphql("{ me { role } }", json!({}), Some(token)).await;
        assert_eq!(
            error_code(&response),
            "UNAUTHENTICATED",
            "{token:?}: {response}"
        );
    }
}

#[tokio::test]
async fn the_team_lists_its_people_but_not_the_sdk_key() {
    use entity::team_members;
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    app.member_token(
        &account.business_id,
        "bob@example.com",
        entity::Role::Member,
    )
    .await;
    let query = "query($all: Boolean) { business { members(includeDeactivated: $all) {
        edges { node { role status joinedAt user { email } } } } invitations { id } } }";
    let response = app.graphql(query, json!({}), Some(&account.token)).await;
    let members = &data(&response)["business"]["members"]["edges"];
    let people: Vec<(&str, &str)> = members
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["user"]["email"].as_str().unwrap_or_default(),
                e["node"]["role"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        people,
        [("ada@example.com", "OWNER"), ("bob@example.com", "MEMBER")]
    );
    assert!(members[0]["node"]["joinedAt"].is_string());
    assert_eq!(data(&response)["business"]["invitations"], json!([]));

    let bob = users::Entity::find()
        .filter(users::Column::Email.eq("bob@example.com"))
        .one(&app.state.db)
        .await
        .expect("query")
        .expect("bob");
    team_members::Entity::update_many()
        .col_expr(team_members::Column::Status, Expr::value("deactivated"))
        .filter(team_members::Column::UserId.eq(bob.id))
        .exec(&app.state.db)
        .await
        .expect("deactivated");
    let active = app.graphql(query, json!({}), Some(&account.token)).await;
    assert_eq!(
        data(&active)["business"]["members"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let all = app
        .graphql(query, json!({ "all": true }), Some(&account.token))
        .await;
    let edges = &data(&all)["business"]["members"]["edges"];
    assert_eq!(edges[1]["node"]["status"], "DEACTIVATED");
}

#[tokio::test]
async fn one_email_is_throttled_across_all_addresses_past_a_much_higher_ceiling() {
    use entity::login_attempts;
    use sea_orm::ActiveValue::Set;
    let app = spawn_app().await;
    let account = app.signup("ada@example.com").await;
    let now = chrono::Utc::now();
    // A distributed guess: 100 failures, each from its own address.
    let attempts = (0..100).map(|i| login_attempts::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        email: Set(account.email.clone()),
        client_addr: Set(format!("198.51.100.{i}")),
        created_at: Set(now),
    });
    login_attempts::Entity::insert_many(attempts)
        .exec_without_returning(&app.state.db)
        .await
        .expect("recorded");
    let response = app.login(&account.email, PASSWORD, None).await;
    assert_eq!(error_code(&response), "RATE_LIMITED");
    // Another account is not affected.
    app.signup("bob@example.com").await;
    data(&app.login("bob@example.com", PASSWORD, None).await);
}

#[tokio::test]
async fn logging_in_to_a_business_one_is_not_in_is_not_found() {
    let app = spawn_app().await;
    app.signup("ada@example.com").await;
    let other = app.signup("eve@example.com").await;
    let response = app
        .login("ada@example.com", PASSWORD, Some(&other.business_id))
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
}

#[tokio::test]
async fn a_new_sessions_payload_is_read_with_that_sessions_rights() {
    let app = spawn_app().await;
    let response = app
        .graphql(
            "mutation($input: SignupInput!) { signup(input: $input) { viewer { business {
                name subscription { plan { code } usage { metric used } } } } } }",
            signup_input("ada@example.com", PASSWORD, "Ada", "Acme"),
            None,
        )
        .await;
    let business = &data(&response)["signup"]["viewer"]["business"];
    assert_eq!(business["name"], "Acme");
    assert_eq!(business["subscription"]["plan"]["code"], "free");
    assert_eq!(
        business["subscription"]["usage"].as_array().map(Vec::len),
        Some(3)
    );
}
