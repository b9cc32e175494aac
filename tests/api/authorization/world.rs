//! The world a matrix runs in: two businesses, one token per kind of caller, and data behind
//! every field (an invitation, audit events, a scheduled plan) so that no row passes on an
//! empty list.

use std::sync::atomic::{AtomicUsize, Ordering};

use entity::{MemberStatus, Role, subscriptions, team_members, usage_periods, users};
use saaskit::auth::token::{self, Claims, Operation};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, RelationTrait,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{PASSWORD, TestApp, data};
use crate::security::attenuation::narrow;

/// The callers, in the order of each row's expectations.
pub const CALLERS: [&str; 14] = [
    "anonymous",
    "sdk key",
    "member",
    "admin",
    "owner",
    "owner of another business",
    "staff",
    "staff impersonating read-only",
    "staff impersonating with write",
    "owner's token narrowed to `me`",
    "expired token",
    "revoked token",
    "token signed by another key",
    "tampered token",
];

pub const OWNER_EMAIL: &str = "owner@example.com";
pub const MEMBER_EMAIL: &str = "member@example.com";

/// Everything a cell needs to build its request.
pub struct World {
    /// One per caller, in the order of [`CALLERS`]; none for the anonymous caller.
    pub tokens: Vec<Option<String>>,
    /// The business the callers act in (the other owner's aside).
    pub business_a: String,
    pub pro_plan: String,
    pub unlimited_plan: String,
    /// The member `member@example.com` of business A.
    pub member_id: String,
    /// A pending invitation into business A, sent by its owner, with the key [`INVITATION_KEY`].
    pub invitation_id: String,
    unique: AtomicUsize,
}

/// The activation key of the world's pending invitation.
pub const INVITATION_KEY: &str = "a11ce5b0b0c0ffee0000000000000000000000000000000000000000000000ff";

impl World {
    /// A number no other request of this world has had (for e-mails and plan codes).
    pub fn unique(&self) -> usize {
        self.unique.fetch_add(1, Ordering::Relaxed)
    }

    /// The world the rows' constants ([`OWNER_EMAIL`], [`MEMBER_EMAIL`], [`INVITATION_KEY`])
    /// name; one per database.
    pub async fn build(app: &TestApp) -> World {
        World::build_as(app, "").await
    }

    /// A world of its own in `app`'s database beside others: every user, business, session
    /// and key in it is new, its addresses start with `prefix` (unique in the database), and
    /// only the plans are shared.
    pub async fn build_as(app: &TestApp, prefix: &str) -> World {
        let email = |name: &str| format!("{prefix}{name}@example.com");
        let owner_email = email("owner");
        let owner = app.signup(&owner_email).await;
        let other = app.signup(&email("other")).await;
        let member_email = email("member");
        let member = app
            .member_token(&owner.business_id, &member_email, Role::Member)
            .await;
        let admin = app
            .member_token(&owner.business_id, &email("admin"), Role::Admin)
            .await;
        let staff = app.staff_token(&email("staff")).await;
        let impersonate = |write: bool| {
            let (staff, business) = (staff.clone(), owner.business_id.clone());
            async move {
                let response = app
                    .graphql(
                        "mutation($b: ID!, $w: Boolean!) {
                            impersonate(businessId: $b, reason: \"matrix\", write: $w) { token } }",
                        json!({ "b": business, "w": write }),
                        Some(&staff),
                    )
                    .await;
                data(&response)["impersonate"]["token"]
                    .as_str()
                    .expect("a token")
                    .to_owned()
            }
        };
        let read_only = impersonate(false).await;
        let read_write = impersonate(true).await;
        let narrowed = narrow(app, &owner.token, r#"check if operation("me");"#);
        let revoked = app.token_for(&owner_email, PASSWORD, None).await;
        data(
            &app.graphql("mutation { logout }", json!({}), Some(&revoked))
                .await,
        );

        let now = chrono::Utc::now();
        let owner_claims = token::verify(
            app.state.root_key.public(),
            &owner.token,
            &[Operation::named("me")],
            now,
        )
        .expect("a valid token")
        .0;
        let expired = token::mint(
            &app.state.root_key,
            &Claims {
                expires_at: Some(now - chrono::TimeDelta::minutes(1)),
                ..owner_claims.clone()
            },
        )
        .expect("mints");
        let foreign = token::mint(&biscuit_auth::KeyPair::new(), &owner_claims).expect("mints");
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
        let mut world = World {
            tokens: vec![
                None,
                Some(owner.api_key.clone()),
                Some(member),
                Some(admin),
                Some(owner.token.clone()),
                Some(other.token),
                Some(staff),
                Some(read_only),
                Some(read_write),
                Some(narrowed),
                Some(expired),
                Some(revoked),
                Some(foreign),
                Some(tampered),
            ],
            business_a: owner.business_id,
            pro_plan: plan("pro"),
            unlimited_plan: plan("unlimited"),
            member_id: String::new(),
            invitation_id: String::new(),
            unique: AtomicUsize::new(0),
        };
        let invitation_key = if prefix.is_empty() {
            INVITATION_KEY.to_owned()
        } else {
            hex::encode(Sha256::digest(prefix))
        };
        world
            .fill(
                app,
                owner_claims.user_id,
                &email("invitee"),
                &invitation_key,
                &member_email,
            )
            .await;
        world
    }

    /// What every field needs to have a value: a pending invitation with a key the rows know
    /// (sent by the owner), business A on `pro` (seats for the invitations rows send) with a
    /// plan change scheduled for the end of the period.
    async fn fill(
        &mut self,
        app: &TestApp,
        owner_id: Uuid,
        invitee_email: &str,
        invitation_key: &str,
        member_email: &str,
    ) {
        let db = &app.state.db;
        let now = app.state.clock.now();
        let business_id: Uuid = self.business_a.parse().expect("a uuid");
        let invitee = Uuid::now_v7();
        users::Entity::insert(users::ActiveModel {
            id: Set(invitee),
            email: Set(invitee_email.to_owned()),
            name: Set(Some("Invitee".to_owned())),
            password_hash: Set(None),
            is_active: Set(true),
            is_staff: Set(false),
            is_bot: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(None),
        })
        .exec_without_returning(db)
        .await
        .expect("a user");
        let invitation_id = Uuid::now_v7();
        self.invitation_id = invitation_id.to_string();
        team_members::Entity::insert(team_members::ActiveModel {
            id: Set(invitation_id),
            business_id: Set(business_id),
            user_id: Set(invitee),
            role: Set(Role::Member),
            status: Set(MemberStatus::Invited),
            invited_by: Set(Some(owner_id)),
            activation_key_hash: Set(Some(hex::encode(Sha256::digest(invitation_key)))),
            activation_expires_at: Set(Some(now + chrono::TimeDelta::days(7))),
            joined_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(db)
        .await
        .expect("an invitation");
        let pro: Uuid = self.pro_plan.parse().expect("a uuid");
        let unlimited: Uuid = self.unlimited_plan.parse().expect("a uuid");
        // On `unlimited` (seats for the invitations rows send), `pro` scheduled next — which
        // `changePlan` rows schedule again — and a cancellation pending for `resumeSubscription`.
        subscriptions::Entity::update_many()
            .col_expr(subscriptions::Column::PlanId, Expr::value(unlimited))
            .col_expr(subscriptions::Column::ScheduledPlanId, Expr::value(pro))
            .col_expr(subscriptions::Column::CancelAtPeriodEnd, Expr::value(true))
            .filter(subscriptions::Column::BusinessId.eq(business_id))
            .exec(db)
            .await
            .expect("a scheduled plan");
        let subscription = subscriptions::Entity::find()
            .filter(subscriptions::Column::BusinessId.eq(business_id))
            .one(db)
            .await
            .expect("a query")
            .expect("a subscription");
        usage_periods::Entity::insert(usage_periods::ActiveModel {
            id: Set(Uuid::now_v7()),
            subscription_id: Set(subscription.id),
            metric: Set("recordings".to_owned()),
            period_start: Set(now - chrono::TimeDelta::days(30)),
            period_end: Set(now),
            used: Set(7),
        })
        .exec_without_returning(db)
        .await
        .expect("an archived period");
        let member = team_members::Entity::find()
            .join(JoinType::InnerJoin, team_members::Relation::User.def())
            .filter(users::Column::Email.eq(member_email))
            .filter(team_members::Column::BusinessId.eq(business_id))
            .one(db)
            .await
            .expect("a query")
            .expect("the member");
        self.member_id = member.id.to_string();
    }
}
