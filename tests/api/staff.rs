//! Staff: the catalogue of plans, grants, the list of businesses, and audited impersonation.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, data, error_code, spawn_app, spawn_app_with};

async fn plan_id(app: &TestApp, staff: &str, code: &str) -> String {
    let plans = app
        .graphql("{ allPlans { id code } }", json!({}), Some(staff))
        .await;
    data(&plans)["allPlans"]
        .as_array()
        .and_then(|plans| plans.iter().find(|p| p["code"] == code))
        .and_then(|p| p["id"].as_str())
        .expect("the plan exists")
        .to_owned()
}

#[tokio::test]
async fn staff_list_and_search_businesses_page_by_page() {
    let app = spawn_app().await;
    for name in [
        "acme@example.com",
        "globex@example.com",
        "initech@example.com",
    ] {
        app.signup(name).await;
    }
    let staff = app.staff_token("staff@example.com").await;
    let query = "query($first: Int, $after: String, $search: String) {
        businesses(first: $first, after: $after, search: $search) {
          edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }";
    let first = app
        .graphql(query, json!({ "first": 2 }), Some(&staff))
        .await;
    let page = &data(&first)["businesses"];
    assert_eq!(page["edges"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let after = page["pageInfo"]["endCursor"].as_str().expect("a cursor");
    let second = app
        .graphql(query, json!({ "first": 2, "after": after }), Some(&staff))
        .await;
    let page = &data(&second)["businesses"];
    assert_eq!(page["edges"][0]["node"]["name"], "initech@example.com");
    assert_eq!(page["pageInfo"]["hasNextPage"], false);

    let by_name = app
        .graphql(query, json!({ "search": "GLOBEX" }), Some(&staff))
        .await;
    assert_eq!(
        data(&by_name)["businesses"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // A member's e-mail finds the business too; LIKE wildcards are taken literally.
    let member = app.signup("someone@wonka.test").await;
    let by_email = app
        .graphql(query, json!({ "search": "wonka" }), Some(&staff))
        .await;
    assert_eq!(
        data(&by_email)["businesses"]["edges"][0]["node"]["name"],
        member.email
    );
    let wildcard = app
        .graphql(query, json!({ "search": "%_%" }), Some(&staff))
        .await;
    assert_eq!(
        data(&wildcard)["businesses"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    // An id finds its business exactly; a part of a name needs three characters.
    let by_id = app
        .graphql(query, json!({ "search": member.business_id }), Some(&staff))
        .await;
    let edges = &data(&by_id)["businesses"]["edges"];
    assert_eq!(edges.as_array().map(Vec::len), Some(1), "{by_id}");
    assert_eq!(edges[0]["node"]["name"], member.email);
    for short in ["ac", " x ", &"x".repeat(255)] {
        let refused = app
            .graphql(query, json!({ "search": short }), Some(&staff))
            .await;
        assert_eq!(error_code(&refused), "BAD_USER_INPUT", "{short}: {refused}");
    }
    let bad = app
        .graphql(query, json!({ "after": "nonsense" }), Some(&staff))
        .await;
    assert_eq!(error_code(&bad), "BAD_USER_INPUT");
}

#[tokio::test]
async fn staff_grant_the_unlimited_plan_and_credit_periods() {
    let app = spawn_app().await;
    let account = app.signup("beta@example.com").await;
    let staff = app.staff_token("staff@example.com").await;
    let unlimited = plan_id(&app, &staff, "unlimited").await;
    let granted = app
        .graphql(
            "mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { status plan { code } } }",
            json!({ "b": account.business_id, "p": unlimited }),
            Some(&staff),
        )
        .await;
    assert_eq!(
        data(&granted)["grantPlan"],
        json!({ "status": "ACTIVE", "plan": { "code": "unlimited" } })
    );
    let credits = app
        .graphql(
            "mutation($b: ID!, $n: Int!) { grantCreditPeriods(businessId: $b, periods: $n) { creditPeriods } }",
            json!({ "b": account.business_id, "n": 3 }),
            Some(&staff),
        )
        .await;
    assert_eq!(data(&credits)["grantCreditPeriods"]["creditPeriods"], 3);
    let zero = app
        .graphql(
            "mutation($b: ID!) { grantCreditPeriods(businessId: $b, periods: 0) { creditPeriods } }",
            json!({ "b": account.business_id }),
            Some(&staff),
        )
        .await;
    assert_eq!(error_code(&zero), "BAD_USER_INPUT");
    let unknown = app
        .graphql(
            "mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { status } }",
            json!({ "b": uuid::Uuid::now_v7().to_string(), "p": unlimited }),
            Some(&staff),
        )
        .await;
    assert_eq!(error_code(&unknown), "NOT_FOUND");
    let seen = app
        .graphql(
            "query($id: ID!) { businessById(id: $id) { name subscription { plan { code } creditPeriods } } }",
            json!({ "id": account.business_id }),
            Some(&staff),
        )
        .await;
    assert_eq!(
        data(&seen)["businessById"]["subscription"],
        json!({ "plan": { "code": "unlimited" }, "creditPeriods": 3 })
    );
    let owner_view = app
        .graphql(
            "{ business { auditLog { edges { node { action } } } } }",
            json!({}),
            Some(&account.token),
        )
        .await;
    let actions: Vec<&str> = data(&owner_view)["business"]["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|e| e["node"]["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "subscription.credit_granted",
            "subscription.plan_granted",
            "business.created"
        ]
    );
}

const CREATE: &str = "mutation($input: CreatePlanInput!) { createPlan(input: $input) {
    id code priceCents currency isDefault period { count unit } limits { metric max resetsEachPeriod } } }";

fn plan_input(code: &str) -> Value {
    json!({ "input": { "code": code, "name": "Team", "priceCents": 9900, "currency": "eur",
        "period": { "count": 3, "unit": "MONTH" },
        "limits": [{ "metric": "recordings", "max": 500000, "resetsEachPeriod": true },
                   { "metric": "members", "max": null, "resetsEachPeriod": false }],
        "isPublic": true } })
}

#[tokio::test]
async fn staff_manage_the_plan_catalogue() {
    let app = spawn_app().await;
    let staff = app.staff_token("staff@example.com").await;
    let created = app.graphql(CREATE, plan_input("team"), Some(&staff)).await;
    let plan = &data(&created)["createPlan"];
    assert_eq!(plan["currency"], "EUR");
    assert_eq!(plan["period"], json!({ "count": 3, "unit": "MONTH" }));
    assert_eq!(
        plan["limits"][0],
        json!({ "metric": "members", "max": null, "resetsEachPeriod": false })
    );
    let id = plan["id"].as_str().expect("an id").to_owned();

    let duplicate = app.graphql(CREATE, plan_input("team"), Some(&staff)).await;
    assert_eq!(error_code(&duplicate), "CONFLICT");
    assert_eq!(duplicate["errors"][0]["extensions"]["field"], "code");
    for (field, value, expected_field) in [
        ("code", json!("Not A Slug"), "code"),
        ("priceCents", json!(-1), "priceCents"),
        ("period", json!({ "count": 0, "unit": "DAY" }), "period"),
        ("currency", json!("dollars"), "currency"),
    ] {
        let mut input = plan_input("other");
        input["input"][field] = value;
        let response = app.graphql(CREATE, input, Some(&staff)).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{field}");
        assert_eq!(response["errors"][0]["extensions"]["field"], expected_field);
    }

    // Making it the default moves the flag: there is always exactly one.
    let update = "mutation($id: ID!, $input: UpdatePlanInput!) { updatePlan(id: $id, input: $input) { isDefault name } }";
    let moved = app
        .graphql(
            update,
            json!({ "id": id, "input": { "isDefault": true } }),
            Some(&staff),
        )
        .await;
    assert_eq!(data(&moved)["updatePlan"]["isDefault"], true);
    let public = app
        .graphql("{ plans { code isDefault } }", json!({}), None)
        .await;
    let defaults: Vec<_> = data(&public)["plans"]
        .as_array()
        .expect("plans")
        .iter()
        .filter(|p| p["isDefault"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    let undefault = app
        .graphql(
            update,
            json!({ "id": id, "input": { "isDefault": false } }),
            Some(&staff),
        )
        .await;
    assert_eq!(error_code(&undefault), "BAD_USER_INPUT");
    let archive = "mutation($id: ID!) { archivePlan(id: $id) { archived } }";
    assert_eq!(
        error_code(
            &app.graphql(archive, json!({ "id": id }), Some(&staff))
                .await
        ),
        "BAD_USER_INPUT"
    );

    let pro = plan_id(&app, &staff, "pro").await;
    let archived = app
        .graphql(archive, json!({ "id": pro }), Some(&staff))
        .await;
    assert_eq!(data(&archived)["archivePlan"]["archived"], true);
    let customer = app.signup("customer@example.com").await;
    let grant = app
        .graphql(
            "mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { id } }",
            json!({ "b": customer.business_id, "p": pro }),
            Some(&staff),
        )
        .await;
    assert_eq!(
        error_code(&grant),
        "BAD_USER_INPUT",
        "an archived plan takes no one new"
    );
    assert_eq!(grant["errors"][0]["extensions"]["field"], "planId");
    let public = app.graphql("{ plans { code } }", json!({}), None).await;
    assert!(
        !data(&public)["plans"]
            .as_array()
            .expect("plans")
            .iter()
            .any(|p| p["code"] == "pro")
    );
    let new_business = app.signup("late@example.com").await;
    let plan = app
        .graphql(
            "{ business { subscription { plan { code } } } }",
            json!({}),
            Some(&new_business.token),
        )
        .await;
    assert_eq!(
        data(&plan)["business"]["subscription"]["plan"]["code"],
        "team",
        "new businesses start on the new default"
    );
}

#[tokio::test]
async fn impersonation_is_read_only_time_boxed_and_audited() {
    let app = spawn_app().await;
    let account = app.signup("customer@example.com").await;
    // The customer also belongs to another business, which impersonation must not reveal.
    let elsewhere = app.signup("elsewhere@example.com").await;
    let customer = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::users::Entity::find()
            .filter(entity::users::Column::Email.eq("customer@example.com"))
            .one(&app.state.db)
            .await
            .expect("query")
            .expect("the customer")
    };
    app.add_membership(&elsewhere.business_id, customer.id, entity::Role::Member)
        .await;
    let staff = app.staff_token("staff@example.com").await;
    let impersonate = "mutation($b: ID!, $reason: String!, $write: Boolean) {
        impersonate(businessId: $b, reason: $reason, write: $write) {
          token expiresAt viewer { role impersonator { email } user { email } } } }";
    let no_reason = app
        .graphql(
            impersonate,
            json!({ "b": account.business_id, "reason": "  " }),
            Some(&staff),
        )
        .await;
    assert_eq!(error_code(&no_reason), "BAD_USER_INPUT");
    assert_eq!(no_reason["errors"][0]["extensions"]["field"], "reason");

    let response = app
        .graphql(
            impersonate,
            json!({ "b": account.business_id, "reason": "ticket 42" }),
            Some(&staff),
        )
        .await;
    let payload = &data(&response)["impersonate"];
    assert_eq!(
        payload["viewer"]["impersonator"]["email"],
        "staff@example.com"
    );
    assert_eq!(payload["viewer"]["user"]["email"], "customer@example.com");
    let expires: chrono::DateTime<chrono::Utc> = payload["expiresAt"]
        .as_str()
        .expect("an expiry")
        .parse()
        .expect("a time");
    assert!(expires <= chrono::Utc::now() + chrono::TimeDelta::hours(1));
    let token = payload["token"].as_str().expect("a token").to_owned();

    let me = app
        .graphql(
            "{ me { impersonator { email } memberships { business { id } } } business { name } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(
        data(&me)["me"]["impersonator"]["email"],
        "staff@example.com"
    );
    assert_eq!(data(&me)["business"]["name"], "customer@example.com");
    assert_eq!(
        data(&me)["me"]["memberships"],
        json!([{ "business": { "id": account.business_id } }]),
        "only the impersonated business, not the owner's others"
    );
    let write = app
        .graphql(
            "mutation { updateBusiness(input: { name: \"x\" }) { name } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(error_code(&write), "FORBIDDEN");
    let key = app
        .graphql("{ business { apiKey } }", json!({}), Some(&token))
        .await;
    assert_eq!(
        error_code(&key),
        "FORBIDDEN",
        "reading the SDK key needs write access"
    );

    let log = app.graphql("{ business { auditLog(first: 10) { edges { node { action data actor { email } } } } } }", json!({}), Some(&account.token)).await;
    let edges = data(&log)["business"]["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .clone();
    let uses: Vec<&Value> = edges
        .iter()
        .filter(|e| e["node"]["action"] == "impersonation.request")
        .collect();
    assert_eq!(uses.len(), 3, "every use is written: {edges:?}");
    assert!(
        uses.iter()
            .all(|e| e["node"]["actor"]["email"] == "staff@example.com")
    );
    let started = edges
        .iter()
        .find(|e| e["node"]["action"] == "impersonation.started")
        .expect("the start");
    assert_eq!(started["node"]["data"]["reason"], "ticket 42");

    let writer = app
        .graphql(
            impersonate,
            json!({ "b": account.business_id, "reason": "fix name", "write": true }),
            Some(&staff),
        )
        .await;
    let token = data(&writer)["impersonate"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let renamed = app
        .graphql(
            "mutation { updateBusiness(input: { name: \"Fixed\" }) { name } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(data(&renamed)["updateBusiness"]["name"], "Fixed");
}

#[tokio::test]
async fn introspection_in_production_is_for_staff_only() {
    let app = spawn_app_with(|f| f.merge(("env", "production"))).await;
    let staff = app.staff_token("staff@example.com").await;
    let account = app.signup("ada@example.com").await;
    let query = "{ __schema { queryType { name } } }";
    let for_staff = app.graphql(query, json!({}), Some(&staff)).await;
    assert_eq!(for_staff["data"]["__schema"]["queryType"]["name"], "Query");
    let for_owner = app.graphql(query, json!({}), Some(&account.token)).await;
    assert_eq!(error_code(&for_owner), "FORBIDDEN", "{for_owner}");
    assert!(for_owner["data"].is_null());
    let anonymous = app.graphql(query, json!({}), None).await;
    assert_eq!(error_code(&anonymous), "FORBIDDEN", "{anonymous}");
    let page = app
        .client
        .get(format!("{}/graphiql", app.address))
        .bearer_auth(&staff)
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), 200);
}

#[tokio::test]
async fn bootstrap_variables_create_a_staff_user_at_start() {
    let app = spawn_app_with(|f| {
        f.merge(("bootstrap_staff_email", "Root@Example.com"))
            .merge(("bootstrap_staff_password", PASSWORD))
    })
    .await;
    let login = app.login("root@example.com", PASSWORD, None).await;
    assert_eq!(data(&login)["login"]["viewer"]["isStaff"], true);
    assert_eq!(data(&login)["login"]["viewer"]["business"], Value::Null);
}

#[tokio::test]
async fn staff_search_by_a_part_of_a_name_or_e_mail_can_use_the_trigram_indexes() {
    use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement, TransactionTrait};
    let app = spawn_app().await;
    if app.state.db.get_database_backend() != DbBackend::Postgres {
        return; // SQLite scans; nothing to plan.
    }
    let select =
        saaskit::services::team::search::query(Some("globex"), None, 20).expect("a valid term");
    let statement = select.build(DbBackend::Postgres);
    // Tables this small are scanned whenever the planner may; forbidding scans asks whether
    // the query's shape matches the indexes at all.
    let txn = app.state.db.begin().await.expect("begins");
    txn.execute_unprepared("SET LOCAL enable_seqscan = off")
        .await
        .expect("sets");
    let plan = txn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("EXPLAIN {}", statement.sql),
            statement.values.map(|v| v.0).unwrap_or_default(),
        ))
        .await
        .expect("explains");
    let plan: Vec<String> = plan
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a line"))
        .collect();
    let plan = plan.join("\n");
    for index in ["businesses_name_trigrams", "users_email_trigrams"] {
        assert!(plan.contains(index), "{index} is not used:\n{plan}");
    }
}
