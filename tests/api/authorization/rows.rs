//! The rows: one path to one field each, and what every caller gets for it. Expectations read
//! in groups — anonymous | sdk | member admin owner | other owner | staff | impersonating
//! read-only, with write | narrowed | expired revoked foreign tampered.

use serde_json::{Value, json};

use super::Row;
use super::world::{INVITATION_KEY, MEMBER_EMAIL, OWNER_EMAIL, World};
use crate::helpers::PASSWORD;

/// Public: no token needed, and a broken token is ignored rather than refused.
const PUBLIC: &str = "O O OOO O O OO F OOOO";
/// Any valid token.
const SIGNED_IN: &str = "U O OOO O O OO O UUUU";
/// Staff only.
const STAFF: &str = "U F FFF F O FF F UUUU";
/// No caller, whatever its token.
const NOBODY: &str = "U F FFF F F FF F UUUU";

/// Through the root field `business`: any right the SDK key also holds (usage:read; the id).
const BUSINESS_SDK: &str = "U O OOO O F OO F UUUU";
/// Through `business`: business, team or billing reads.
const BUSINESS_READ: &str = "U F OOO O F OO F UUUU";
/// Through `business`: the manage rights (business, team, billing), which write impersonation
/// holds too.
const BUSINESS_MANAGE: &str = "U F FOO O F FO F UUUU";
/// The SDK key, read or replaced: apikey rights, which no impersonation holds (the key would
/// outlive it).
const THE_KEY: &str = "U F FOO O F FF F UUUU";
/// Through `me`: as through `business`, except that staff see no business (null) and the
/// narrowed token, which may not call `business`, may not reach it either.
const ME_SDK: &str = "U O OOO O O OO F UUUU";
const ME_READ: &str = "U F OOO O O OO F UUUU";
const ME_KEY: &str = "U F FOO O O FF F UUUU";

/// Calls that answer with a new session and stay out of others' way.
const NEW_SESSION: &str = "U F OOO N N FF F UUUU";

pub fn all() -> Vec<Row> {
    let mut rows = Vec::new();
    let plan_fields = [
        "id",
        "code",
        "name",
        "description",
        "priceCents",
        "currency",
        "period { count }",
        "period { unit }",
        "limits { metric }",
        "limits { max }",
        "limits { resetsEachPeriod }",
        "isPublic",
        "isDefault",
        "archived",
    ];
    rows.extend(each("{ plans { % } }", &plan_fields, PUBLIC));
    rows.push(read("{ allPlans { code } }", STAFF));
    viewer(&mut rows);
    business(&mut rows);
    staff_reads(&mut rows);
    sessions(&mut rows);
    mutations(&mut rows);
    team(&mut rows);
    billing(&mut rows);
    rows
}

/// The subscription: billing:manage in the caller's own business.
fn billing(rows: &mut Vec<Row>) {
    rows.push(
        read(
            "mutation($p: ID!) { changePlan(planId: $p, timing: AT_PERIOD_END) { scheduledPlan { code } } }",
            BUSINESS_MANAGE,
        )
        .with(|world| json!({ "p": world.pro_plan })),
    );
    rows.push(
        read(
            "mutation { cancelSubscription { cancelAtPeriodEnd } }",
            BUSINESS_MANAGE,
        )
        .destructive(),
    );
    // The world's cancellation is pending in business A; the other owner's is not.
    rows.push(
        read(
            "mutation { resumeSubscription { cancelAtPeriodEnd } }",
            "U F FOO C F FO F UUUU",
        )
        .destructive(),
    );
}

/// Invitations and members: team:manage in business A; another business's ids are not found.
fn team(rows: &mut Vec<Row>) {
    rows.push(read(
        "mutation { requestPasswordReset(email: \"owner@example.com\") }",
        PUBLIC,
    ));
    rows.push(read(
        "mutation { resetPassword(input: { token: \"00\", newPassword: \"another password\" }) { token } }",
        "B B BBB B B BB F BBBB",
    ));
    const MANAGE: &str = "U F FOO N F FO F UUUU";
    let preview = [
        "email",
        "name",
        "businessName",
        "invitedByName",
        "role",
        "expiresAt",
        "hasAccount",
    ];
    for field in preview {
        rows.push(
            read(
                &format!(
                    "query($key: String!) {{ invitation(activationKey: $key) {{ {field} }} }}"
                ),
                PUBLIC,
            )
            .with(|_| json!({ "key": INVITATION_KEY })),
        );
    }
    rows.push(
        read(
            "mutation($input: InviteInput!) { inviteTeamMember(input: $input) { id } }",
            "U F FOO O F FO F UUUU",
        )
        .with(|world| {
            json!({ "input": { "email": format!("invitee{}@example.com", world.unique()),
                "role": "MEMBER" } })
        }),
    );
    rows.push(
        read(
            "mutation($id: ID!) { resendInvitation(id: $id) { id } }",
            MANAGE,
        )
        .with(invitation_a),
    );
    rows.push(
        read("mutation($id: ID!) { revokeInvitation(id: $id) }", MANAGE)
            .with(invitation_a)
            .destructive(),
    );
    rows.push(
        read(
            "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { token } }",
            "B B BBB B B BB F BBBB",
        )
        .with(|_| json!({ "input": { "activationKey": "0".repeat(64), "password": PASSWORD } })),
    );
    for (query, destructive) in [
        (
            "mutation($id: ID!) { updateMemberRole(memberId: $id, role: MEMBER) { role } }",
            false,
        ),
        (
            "mutation($id: ID!) { deactivateMember(memberId: $id) { status } }",
            true,
        ),
        (
            "mutation($id: ID!) { reactivateMember(memberId: $id) { status } }",
            false,
        ),
    ] {
        let row = read(query, MANAGE).with(member_a);
        rows.push(if destructive { row.destructive() } else { row });
    }
}

fn invitation_a(world: &World) -> Value {
    json!({ "id": world.invitation_id })
}

fn member_a(world: &World) -> Value {
    json!({ "id": world.member_id })
}

fn viewer(rows: &mut Vec<Row>) {
    let viewer_fields = [
        "role",
        "isStaff",
        "rights",
        "impersonator { email }",
        "memberships { role }",
        "user { id }",
        "user { email }",
        "user { name }",
        "user { isStaff }",
        "user { createdAt }",
        "business { id }",
    ];
    rows.extend(each("{ me { % } }", &viewer_fields, SIGNED_IN));
    rows.push(read(
        "{ me { memberships { business { name } } } }",
        "U O OOO O O OO F UUUU",
    ));
    rows.push(read(
        "{ me { memberships { business { apiKey } } } }",
        "U O FOO O O FF F UUUU",
    ));
    let reads = [
        "name",
        "createdAt",
        "subscription { status }",
        "subscription { usage { used } }",
        "members { edges { node { role } } }",
        "invitations { id }",
        "auditLog { edges { node { action } } }",
    ];
    rows.extend(each("{ me { business { % } } }", &reads, ME_READ));
    rows.push(read("{ me { business { usage { used } } } }", ME_SDK));
    rows.push(read("{ me { business { apiKey } } }", ME_KEY));
}

fn business(rows: &mut Vec<Row>) {
    rows.push(read("{ business { id } }", BUSINESS_SDK));
    rows.push(read("{ business { apiKey } }", THE_KEY));
    rows.extend(each(
        "{ business { % } }",
        &["name", "createdAt"],
        BUSINESS_READ,
    ));
    let subscription = [
        "id",
        "plan { code }",
        "status",
        "currentPeriodStart",
        "currentPeriodEnd",
        "cancelAtPeriodEnd",
        "scheduledPlan { code }",
        "usage { used }",
        "creditPeriods",
    ];
    let member = [
        "id",
        "user { email }",
        "role",
        "status",
        "joinedAt",
        "invitedBy { email }",
    ];
    let invitation = [
        "id",
        "email",
        "role",
        "invitedBy { email }",
        "expiresAt",
        "createdAt",
    ];
    let event = [
        "id",
        "action",
        "actor { email }",
        "target",
        "data",
        "createdAt",
    ];
    let usage = ["metric", "used", "limit", "remaining", "resetsAt"];
    let history = ["metric", "used", "periodStart", "periodEnd"];
    for (template, fields, expect) in [
        (
            "{ business { subscription { % } } }",
            &subscription[..],
            BUSINESS_READ,
        ),
        (
            "{ business { members { edges { node { % } } } } }",
            &member,
            BUSINESS_READ,
        ),
        (
            "{ business { invitations { % } } }",
            &invitation,
            BUSINESS_READ,
        ),
        (
            "{ business { auditLog { edges { node { % } } } } }",
            &event,
            BUSINESS_READ,
        ),
        ("{ business { usage { % } } }", &usage, BUSINESS_SDK),
        (
            "{ business { usageHistory { edges { node { % } } } } }",
            &history,
            BUSINESS_SDK,
        ),
    ] {
        rows.extend(each(template, fields, expect));
    }
}

fn staff_reads(rows: &mut Vec<Row>) {
    let fields = [
        ("name", STAFF),
        ("members { edges { node { role } } }", STAFF),
        ("subscription { usage { used } }", STAFF),
        ("auditLog { edges { node { action } } }", STAFF),
        ("invitations { id }", STAFF),
        ("apiKey", NOBODY),
    ];
    for (field, expect) in fields {
        rows.push(read(
            &format!("{{ businesses {{ edges {{ node {{ {field} }} }} }} }}"),
            expect,
        ));
        rows.push(
            read(
                &format!("query($id: ID!) {{ businessById(id: $id) {{ {field} }} }}"),
                expect,
            )
            .with(business_a),
        );
    }
}

/// Calls that open a session: what their payload shows is read with the new session's rights.
fn sessions(rows: &mut Vec<Row>) {
    let signup = [
        "token",
        "expiresAt",
        "viewer { role }",
        "viewer { memberships { business { name } } }",
        "viewer { business { name } }",
        "viewer { business { apiKey } }",
        "viewer { business { members { edges { node { role } } } } }",
        "viewer { business { subscription { usage { used } } } }",
        "viewer { business { auditLog { edges { node { action } } } } }",
    ];
    let template = "mutation($input: SignupInput!) { signup(input: $input) { % } }";
    rows.extend(each(template, &signup, PUBLIC).map(|row| row.with(new_signup)));
    let login = "mutation($input: LoginInput!) { login(input: $input) { % } }";
    let owner_login = [
        "token",
        "viewer { business { name } }",
        "viewer { business { apiKey } }",
        "viewer { business { subscription { status } } }",
    ];
    rows.extend(each(login, &owner_login, PUBLIC).map(|row| row.with(owner_logs_in)));
    // A member's new session may not read the key, whoever asks for it.
    let member_key = login.replace('%', "viewer { business { apiKey } }");
    rows.push(read(&member_key, "F F FFF F F FF F FFFF").with(member_logs_in));

    let switch = "mutation($id: ID!) { switchBusiness(businessId: $id) { % } }";
    rows.push(read(&switch.replace('%', "token"), NEW_SESSION).with(business_a));
    rows.push(
        read(
            &switch.replace('%', "viewer { business { name } }"),
            NEW_SESSION,
        )
        .with(business_a),
    );
    rows.push(
        read(
            &switch.replace('%', "viewer { business { apiKey } }"),
            "U F FOO N N FF F UUUU",
        )
        .with(business_a),
    );

    // A user's own login founds another business; the SDK key, impersonation and a narrowed
    // token may not. What the payload shows is the new session's: its owner reads its key.
    let create = "mutation($name: String!) { createBusiness(name: $name) { % } }";
    for field in ["token", "viewer { business { apiKey } }"] {
        rows.push(
            read(&create.replace('%', field), "U F OOO O O FF F UUUU")
                .with(|world| json!({ "name": format!("Venture {}", world.unique()) }))
                .destructive(),
        );
    }

    let impersonate = "mutation($id: ID!, $write: Boolean!) {
        impersonate(businessId: $id, reason: \"matrix\", write: $write) { % } }";
    for (field, read_only, write) in [
        ("token", STAFF, STAFF),
        ("viewer { impersonator { email } }", STAFF, STAFF),
        (
            "viewer { business { members { edges { node { role } } } } }",
            STAFF,
            STAFF,
        ),
        ("viewer { business { apiKey } }", NOBODY, NOBODY),
    ] {
        let query = impersonate.replace('%', field);
        rows.push(
            read(&query, read_only).with(|world| json!({ "id": world.business_a, "write": false })),
        );
        rows.push(
            read(&query, write).with(|world| json!({ "id": world.business_a, "write": true })),
        );
    }
}

fn mutations(rows: &mut Vec<Row>) {
    rows.push(read("mutation { logout }", "U F OOO O O OO F UUUU").destructive());
    rows.push(read("mutation { logoutEverywhere }", "U F OOO O O FF F UUUU").destructive());
    rows.push(
        read(
            "mutation($input: ChangePasswordInput!) { changePassword(input: $input) }",
            "U F OOO O O FF F UUUU",
        )
        .with(|_| {
            json!({ "input": { "currentPassword": PASSWORD, "newPassword": "another password" } })
        })
        .destructive(),
    );
    rows.push(read("mutation { rotateApiKey }", THE_KEY).destructive());
    rows.push(read(
        "mutation { updateBusiness(input: { name: \"Renamed\" }) { name } }",
        BUSINESS_MANAGE,
    ));
    let record = "mutation { recordUsage(input: { metric: \"recordings\" }) { % } }";
    let result = ["metric", "used", "limit", "remaining", "duplicate"];
    rows.extend(each(record, &result, "U O FFF F F FF F UUUU"));
    let batch = "mutation { recordUsages(inputs: [{ metric: \"recordings\" }]) { % } }";
    let outcome = result
        .iter()
        .map(|field| format!("usage {{ {field} }}"))
        .chain(
            ["code", "message", "field", "metric", "limit", "used"]
                .iter()
                .map(|field| format!("error {{ {field} }}")),
        )
        .collect::<Vec<_>>();
    let outcome: Vec<&str> = outcome.iter().map(String::as_str).collect();
    rows.extend(each(batch, &outcome, "U O FFF F F FF F UUUU").collect::<Vec<_>>());
    rows.push(
        read(
            "mutation($input: CreatePlanInput!) { createPlan(input: $input) { code } }",
            STAFF,
        )
        .with(|world| {
            json!({ "input": { "code": format!("plan-{}", world.unique()), "name": "Plan",
                "priceCents": 100, "currency": "EUR", "period": { "count": 1, "unit": "MONTH" },
                "limits": [], "isPublic": false } })
        }),
    );
    rows.push(
        read(
            "mutation($id: ID!) { updatePlan(id: $id, input: { name: \"Pro+\" }) { name } }",
            STAFF,
        )
        .with(|world| json!({ "id": world.pro_plan })),
    );
    rows.push(
        read(
            "mutation($id: ID!) { archivePlan(id: $id) { archived } }",
            STAFF,
        )
        .with(|world| json!({ "id": world.pro_plan }))
        .destructive(),
    );
    let grant = "mutation($b: ID!, $p: ID!) { grantPlan(businessId: $b, planId: $p) { % } }";
    for field in ["status", "usage { used }"] {
        rows.push(
            read(&grant.replace('%', field), STAFF)
                .with(|world| json!({ "b": world.business_a, "p": world.unlimited_plan })),
        );
    }
    rows.push(
        read(
            "mutation($b: ID!) { grantCreditPeriods(businessId: $b, periods: 1) { creditPeriods } }",
            STAFF,
        )
        .with(|world| json!({ "b": world.business_a })),
    );
}

fn read(query: &str, expect: &'static str) -> Row {
    Row {
        query: query.to_owned(),
        variables: |_| json!({}),
        expect,
        destructive: false,
    }
}

/// One row per field, each `template` with `%` replaced by one of `fields`.
fn each<'a>(
    template: &'a str,
    fields: &'a [&'a str],
    expect: &'static str,
) -> impl Iterator<Item = Row> + 'a {
    fields
        .iter()
        .map(move |field| read(&template.replace('%', field), expect))
}

impl Row {
    fn with(self, variables: fn(&World) -> Value) -> Row {
        Row { variables, ..self }
    }

    /// The row changes what other cells rely on (sessions, passwords, keys, the world's one
    /// invitation or pending cancellation): each cell it allows runs in a fresh world of its
    /// own, and is judged there once.
    fn destructive(self) -> Row {
        Row {
            destructive: true,
            ..self
        }
    }
}

fn business_a(world: &World) -> Value {
    json!({ "id": world.business_a })
}

fn new_signup(world: &World) -> Value {
    json!({ "input": { "email": format!("new{}@example.com", world.unique()),
        "password": PASSWORD, "name": "New", "businessName": "New" } })
}

fn owner_logs_in(_: &World) -> Value {
    json!({ "input": { "email": OWNER_EMAIL, "password": PASSWORD } })
}

fn member_logs_in(_: &World) -> Value {
    json!({ "input": { "email": MEMBER_EMAIL, "password": PASSWORD } })
}
