//! The authorization matrix: every root field of the schema × every kind of caller, each cell
//! asserted. A root field without a row fails `every_operation_has_a_row`.

use std::collections::BTreeSet;

use entity::Role;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, data, spawn_app};

/// The callers, in the order of each row's expectations.
const CALLERS: [&str; 12] = [
    "anonymous",
    "sdk key",
    "member",
    "admin",
    "owner",
    "owner of another business",
    "staff",
    "staff impersonating read-only",
    "expired token",
    "revoked token",
    "token signed by another key",
    "tampered token",
];

/// One cell's expectation, by letter: O allowed, U UNAUTHENTICATED, F FORBIDDEN, N NOT_FOUND.
fn expected(letter: char) -> Option<&'static str> {
    match letter {
        'O' => None,
        'U' => Some("UNAUTHENTICATED"),
        'F' => Some("FORBIDDEN"),
        'N' => Some("NOT_FOUND"),
        other => panic!("unknown expectation {other}"),
    }
}

/// Everything a cell needs to build its request.
struct World {
    tokens: Vec<Option<String>>,
    business_a: String,
    pro_plan: String,
    unlimited_plan: String,
}

struct Row {
    /// The root field this row covers.
    field: &'static str,
    query: &'static str,
    variables: fn(&World, usize) -> Value,
    expect: &'static str,
}

fn none(_: &World, _: usize) -> Value {
    json!({})
}

fn business_a(world: &World, _: usize) -> Value {
    json!({ "id": world.business_a })
}

const ROWS: &[Row] = &[
    Row {
        field: "plans",
        query: "{ plans { code } }",
        variables: none,
        expect: "OOOOOOOOOOOO",
    },
    Row {
        field: "me",
        query: "{ me { role rights } }",
        variables: none,
        expect: "UOOOOOOOUUUU",
    },
    Row {
        field: "business",
        query: "{ business { id } }",
        variables: none,
        expect: "UOOOOOFOUUUU",
    },
    Row {
        field: "business",
        query: "{ business { name createdAt } }",
        variables: none,
        expect: "UFOOOOFOUUUU",
    },
    Row {
        field: "business",
        query: "{ business { subscription { status plan { code } } } }",
        variables: none,
        expect: "UFOOOOFOUUUU",
    },
    Row {
        field: "business",
        query: "{ business { apiKey } }",
        variables: none,
        expect: "UFFOOOFFUUUU",
    },
    Row {
        field: "business",
        query: "{ business { auditLog(first: 5) { edges { node { action } } } } }",
        variables: none,
        expect: "UFOOOOFOUUUU",
    },
    Row {
        field: "business",
        query: "{ business { usage { metric used limit } } }",
        variables: none,
        expect: "UOOOOOFOUUUU",
    },
    Row {
        field: "business",
        query: "{ business { usageHistory(first: 5) { edges { node { metric used } } } } }",
        variables: none,
        expect: "UOOOOOFOUUUU",
    },
    Row {
        field: "business",
        query: "{ business { members { edges { node { role user { email } } } } invitations { id } } }",
        variables: none,
        expect: "UFOOOOFOUUUU",
    },
    Row {
        field: "businesses",
        query: "{ businesses(first: 5) { edges { node { id name } } } }",
        variables: none,
        expect: "UFFFFFOFUUUU",
    },
    Row {
        field: "businessById",
        query: "query($id: ID!) { businessById(id: $id) { name subscription { status }
            members { edges { node { role } } } } }",
        variables: business_a,
        expect: "UFFFFFOFUUUU",
    },
    Row {
        field: "allPlans",
        query: "{ allPlans { code } }",
        variables: none,
        expect: "UFFFFFOFUUUU",
    },
    Row {
        field: "signup",
        query: "mutation($input: SignupInput!) { signup(input: $input) { token } }",
        variables: |_, cell| {
            json!({ "input": { "email": format!("new{cell}@example.com"), "password": PASSWORD,
                               "name": "New", "businessName": "New" } })
        },
        expect: "OOOOOOOOOOOO",
    },
    Row {
        field: "login",
        query: "mutation($input: LoginInput!) { login(input: $input) { token } }",
        variables: |_, _| json!({ "input": { "email": "owner@example.com", "password": PASSWORD } }),
        expect: "OOOOOOOOOOOO",
    },
    Row {
        field: "logout",
        query: "mutation { logout }",
        variables: none,
        expect: "UFOOOOOOUUUU",
    },
    Row {
        field: "logoutEverywhere",
        query: "mutation { logoutEverywhere }",
        variables: none,
        expect: "UFOOOOOFUUUU",
    },
    Row {
        field: "switchBusiness",
        query: "mutation($id: ID!) { switchBusiness(businessId: $id) { token } }",
        variables: business_a,
        expect: "UFOOONNFUUUU",
    },
    Row {
        field: "changePassword",
        query: "mutation($input: ChangePasswordInput!) { changePassword(input: $input) }",
        variables: |_, _| json!({ "input": { "currentPassword": PASSWORD, "newPassword": "another password" } }),
        expect: "UFOOOOOFUUUU",
    },
    Row {
        field: "updateBusiness",
        query: "mutation { updateBusiness(input: { name: \"Renamed\" }) { name } }",
        variables: none,
        expect: "UFFOOOFFUUUU",
    },
    Row {
        field: "rotateApiKey",
        query: "mutation { rotateApiKey }",
        variables: none,
        expect: "UFFOOOFFUUUU",
    },
    Row {
        field: "changePlan",
        query: "mutation($p: ID!) { changePlan(planId: $p, timing: AT_PERIOD_END) { scheduledPlan { code } } }",
        variables: |world, _| json!({ "p": world.pro_plan }),
        expect: "UFFOOOFFUUUU",
    },
    Row {
        field: "cancelSubscription",
        query: "mutation { cancelSubscription { cancelAtPeriodEnd } }",
        variables: none,
        expect: "UFFOOOFFUUUU",
    },
    Row {
        field: "resumeSubscription",
        query: "mutation { cancelSubscription { id } resumeSubscription { cancelAtPeriodEnd } }",
        variables: none,
        expect: "UFFOOOFFUUUU",
    },
    Row {
        field: "recordUsage",
        query: "mutation { recordUsage(input: { metric: \"recordings\" }) { used } }",
        variables: none,
        expect: "UOFFFFFFUUUU",
    },
    Row {
        field: "createPlan",
        query: "mutation($input: CreatePlanInput!) { createPlan(input: $input) { code } }",
        variables: |_, cell| {
            json!({ "input": { "code": format!("plan-{cell}"), "name": "Plan", "priceCents": 100,
                "currency": "EUR", "period": { "count": 1, "unit": "MONTH" }, "limits": [],
                "isPublic": false } })
        },
        expect: "UFFFFFOFUUUU",
    },
    Row {
        field: "updatePlan",
        query: "mutation($id: ID!) { updatePlan(id: $id, input: { name: \"Pro+\" }) { name } }",
        variables: |world, _| json!({ "id": world.pro_plan }),
        expect: "UFFFFFOFUUUU",
    },
    Row {
        field: "archivePlan",
        query: "mutation($id: ID!) { archivePlan(id: $id) { archived } }",
        variables: |world, _| json!({ "id": world.pro_plan }),
        expect: "UFFFFFOFUUUU",
    },
    Row {
        field: "grantPlan",
        query: "mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { status } }",
        variables: |world, _| json!({ "b": world.business_a, "p": world.unlimited_plan }),
        expect: "UFFFFFOFUUUU",
    },
    Row {
        field: "grantCreditPeriods",
        query: "mutation($b: ID!) { grantCreditPeriods(businessId: $b, periods: 1) { creditPeriods } }",
        variables: |world, _| json!({ "b": world.business_a }),
        expect: "UFFFFFOFUUUU",
    },
    Row {
        field: "impersonate",
        query: "mutation($b: ID!) { impersonate(businessId: $b, reason: \"support\") { token } }",
        variables: |world, _| json!({ "b": world.business_a }),
        expect: "UFFFFFOFUUUU",
    },
];

async fn world(app: &TestApp) -> World {
    let owner = app.signup("owner@example.com").await;
    let other = app.signup("other@example.com").await;
    let member = app
        .member_token(&owner.business_id, "member@example.com", Role::Member)
        .await;
    let admin = app
        .member_token(&owner.business_id, "admin@example.com", Role::Admin)
        .await;
    let staff = app.staff_token("staff@example.com").await;
    let impersonation = app
        .graphql(
            "mutation($b: ID!) { impersonate(businessId: $b, reason: \"matrix\") { token } }",
            json!({ "b": owner.business_id }),
            Some(&staff),
        )
        .await;
    let impersonation = data(&impersonation)["impersonate"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let revoked = app.token_for("owner@example.com", PASSWORD, None).await;
    data(
        &app.graphql("mutation { logout }", json!({}), Some(&revoked))
            .await,
    );

    let now = chrono::Utc::now();
    let principal = |token: &str| {
        saaskit::auth::token::verify(
            app.state.root_key.public(),
            token,
            &[saaskit::auth::token::Operation::named("me")],
            now,
        )
        .expect("a valid token")
        .0
    };
    let owner_claims = principal(&owner.token);
    let expired = saaskit::auth::token::mint(
        &app.state.root_key,
        &saaskit::auth::token::Claims {
            expires_at: Some(now - chrono::TimeDelta::minutes(1)),
            ..owner_claims.clone()
        },
    )
    .expect("mints");
    let foreign =
        saaskit::auth::token::mint(&biscuit_auth::KeyPair::new(), &owner_claims).expect("mints");
    let mut tampered = owner.token.clone().into_bytes();
    let at = tampered.len() / 3;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");

    let plans = app
        .graphql("{ allPlans { id code } }", json!({}), Some(&staff))
        .await;
    let plan = |code: &str| {
        data(&plans)["allPlans"]
            .as_array()
            .and_then(|plans| plans.iter().find(|p| p["code"] == code))
            .and_then(|p| p["id"].as_str())
            .expect("a seeded plan")
            .to_owned()
    };
    World {
        tokens: vec![
            None,
            Some(owner.api_key.clone()),
            Some(member),
            Some(admin),
            Some(owner.token.clone()),
            Some(other.token),
            Some(staff),
            Some(impersonation),
            Some(expired),
            Some(revoked),
            Some(foreign),
            Some(tampered),
        ],
        business_a: owner.business_id,
        pro_plan: plan("pro"),
        unlimited_plan: plan("unlimited"),
    }
}

#[tokio::test]
async fn every_caller_gets_exactly_what_its_rights_allow() {
    let mut failures = Vec::new();
    for row in ROWS {
        assert_eq!(
            row.expect.len(),
            CALLERS.len(),
            "{}: one expectation per caller",
            row.query
        );
        // A fresh world per row: rows log out, rotate keys and change passwords.
        let app = spawn_app().await;
        let world = world(&app).await;
        for (cell, letter) in row.expect.chars().enumerate() {
            let token = world.tokens[cell].as_deref();
            let response = app
                .graphql(row.query, (row.variables)(&world, cell), token)
                .await;
            let got = response["errors"][0]["extensions"]["code"].as_str();
            if got != expected(letter) {
                failures.push(format!(
                    "{} as {}: expected {:?}, got {response}",
                    row.query,
                    CALLERS[cell],
                    expected(letter).unwrap_or("success")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_operation_has_a_row() {
    let app = spawn_app().await;
    let response = app
        .graphql(
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
            None,
        )
        .await;
    let schema = &data(&response)["__schema"];
    let mut fields = BTreeSet::new();
    for root in ["queryType", "mutationType"] {
        for field in schema[root]["fields"].as_array().expect("fields") {
            fields.insert(field["name"].as_str().expect("a name").to_owned());
        }
    }
    let covered: BTreeSet<String> = ROWS.iter().map(|row| row.field.to_owned()).collect();
    let missing: Vec<_> = fields.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "operations without a row in the matrix: {missing:?}"
    );
}
