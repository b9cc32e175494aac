//! Staff's plan catalogue: creating, editing and archiving plans.
//!
//! Editing a plan's limits applies to all its current subscribers at once (plans are not
//! versioned). Exactly one plan is the default: making another one default moves the flag.

use chrono::{DateTime, Utc};
use entity::{PeriodUnit, plan_limits, plans};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use crate::error::{AppError, is_unique_violation};
use crate::services::billing::plans::{MAX_LIMITS, MAX_LISTED};
use crate::services::{audit, locks};

#[derive(Clone)]
pub struct LimitInput {
    pub metric: String,
    pub max: Option<i64>,
    pub resets_each_period: bool,
}

pub struct CreatePlan {
    pub code: String,
    pub name: String,
    pub description: Option<String>,
    pub price_cents: i64,
    pub currency: String,
    pub period_count: i32,
    pub period_unit: PeriodUnit,
    pub limits: Vec<LimitInput>,
    pub is_public: bool,
    pub is_default: bool,
}

#[derive(Default, Clone)]
pub struct UpdatePlan {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price_cents: Option<i64>,
    pub limits: Option<Vec<LimitInput>>,
    pub is_public: Option<bool>,
    pub is_default: Option<bool>,
}

const MAX_PERIOD_COUNT: i32 = 1_000;

/// Every plan, archived ones included, for staff: the [`MAX_LISTED`] cheapest.
pub async fn list_all(db: &DatabaseConnection) -> Result<Vec<plans::Model>, AppError> {
    Ok(plans::Entity::find()
        .order_by_asc(plans::Column::PriceCents)
        .order_by_asc(plans::Column::Code)
        .limit(MAX_LISTED)
        .all(db)
        .await?)
}

fn slug(raw: &str, field: &str, extra: &[char]) -> Result<String, AppError> {
    let value = raw.trim().to_lowercase();
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || extra.contains(&c)
        });
    if ok {
        Ok(value)
    } else {
        Err(AppError::bad_input(
            field,
            "use 1 to 64 lower-case letters, digits and dashes, starting with a letter or digit",
        ))
    }
}

fn check_price(price_cents: i64) -> Result<(), AppError> {
    if price_cents < 0 {
        return Err(AppError::bad_input("priceCents", "must not be negative"));
    }
    Ok(())
}

fn check_limits(limits: Vec<LimitInput>) -> Result<Vec<LimitInput>, AppError> {
    if limits.len() > MAX_LIMITS {
        return Err(AppError::bad_input(
            "limits",
            format!("a plan has at most {MAX_LIMITS} limits"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let mut checked = Vec::with_capacity(limits.len());
    for limit in limits {
        let metric = slug(&limit.metric, "limits", &['_'])?;
        if !seen.insert(metric.clone()) {
            return Err(AppError::bad_input(
                "limits",
                format!("{metric} is listed twice"),
            ));
        }
        if limit.max.is_some_and(|max| max < 0) {
            return Err(AppError::bad_input(
                "limits",
                format!("the limit of {metric} must not be negative"),
            ));
        }
        if metric == "members" && limit.resets_each_period {
            return Err(AppError::bad_input(
                "limits",
                "members (seats) do not reset each period",
            ));
        }
        checked.push(LimitInput { metric, ..limit });
    }
    Ok(checked)
}

fn optional_text(raw: Option<String>) -> Option<String> {
    raw.map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

async fn write_limits<C: sea_orm::ConnectionTrait>(
    db: &C,
    plan_id: Uuid,
    limits: Vec<LimitInput>,
) -> Result<(), AppError> {
    plan_limits::Entity::delete_many()
        .filter(plan_limits::Column::PlanId.eq(plan_id))
        .exec(db)
        .await?;
    if limits.is_empty() {
        return Ok(());
    }
    plan_limits::Entity::insert_many(limits.into_iter().map(|limit| plan_limits::ActiveModel {
        plan_id: Set(plan_id),
        metric: Set(limit.metric),
        max: Set(limit.max),
        resets_each_period: Set(limit.resets_each_period),
    }))
    .exec_without_returning(db)
    .await?;
    Ok(())
}

async fn clear_default<C: sea_orm::ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    plans::Entity::update_many()
        .col_expr(plans::Column::IsDefault, Expr::value(false))
        .col_expr(plans::Column::UpdatedAt, Expr::value(now))
        .filter(plans::Column::IsDefault.eq(true))
        .exec(db)
        .await?;
    Ok(())
}

/// # Errors
/// `BAD_USER_INPUT` naming the field; `CONFLICT` on `code` when it is taken.
pub async fn create(
    db: &DatabaseConnection,
    actor: Uuid,
    input: CreatePlan,
    now: DateTime<Utc>,
) -> Result<plans::Model, AppError> {
    let code = slug(&input.code, "code", &[])?;
    let name = crate::services::validate::name(&input.name, "name")?;
    check_price(input.price_cents)?;
    let currency = input.currency.trim().to_uppercase();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(AppError::bad_input(
            "currency",
            "use a three-letter ISO 4217 code, e.g. USD",
        ));
    }
    if !(1..=MAX_PERIOD_COUNT).contains(&input.period_count) {
        return Err(AppError::bad_input(
            "period",
            format!("count must be between 1 and {MAX_PERIOD_COUNT}"),
        ));
    }
    let limits = check_limits(input.limits)?;
    let plan = plans::Model {
        id: Uuid::now_v7(),
        code,
        name,
        description: optional_text(input.description),
        price_cents: input.price_cents,
        currency,
        period_count: input.period_count,
        period_unit: input.period_unit,
        is_public: input.is_public,
        is_default: input.is_default,
        archived_at: None,
        created_at: now,
        updated_at: now,
    };
    let txn = crate::db::begin_write(db).await?;
    if plan.is_default {
        clear_default(&txn, now).await?;
    }
    plans::Entity::insert(plans::ActiveModel::from(plan.clone()))
        .exec_without_returning(&txn)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                AppError::conflict("code", "a plan with this code already exists")
            } else {
                err.into()
            }
        })?;
    write_limits(&txn, plan.id, limits).await?;
    audit_plan(&txn, actor, "plan.created", &plan, now).await?;
    txn.commit().await?;
    Ok(plan)
}

async fn find(db: &impl sea_orm::ConnectionTrait, id: Uuid) -> Result<plans::Model, AppError> {
    plans::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound { what: "plan" })
}

/// # Errors
/// `NOT_FOUND`; `BAD_USER_INPUT` naming the field, e.g. un-defaulting the default plan;
/// `CONFLICT` on `isDefault` when another plan is made the default at the same time.
pub async fn update(
    db: &DatabaseConnection,
    actor: Uuid,
    id: Uuid,
    input: UpdatePlan,
    now: DateTime<Utc>,
) -> Result<plans::Model, AppError> {
    locks::retrying(|| update_once(db, actor, id, input.clone(), now)).await
}

async fn update_once(
    db: &DatabaseConnection,
    actor: Uuid,
    id: Uuid,
    input: UpdatePlan,
    now: DateTime<Utc>,
) -> Result<plans::Model, AppError> {
    let txn = crate::db::begin_write(db).await?;
    // Two edits of one plan replace its limits one after the other (on PostgreSQL both would
    // otherwise delete the old rows and insert the same keys).
    let plan = plans::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound { what: "plan" })?;
    let mut active: plans::ActiveModel = plan.clone().into();
    if let Some(name) = &input.name {
        active.name = Set(crate::services::validate::name(name, "name")?);
    }
    if input.description.is_some() {
        active.description = Set(optional_text(input.description));
    }
    if let Some(price) = input.price_cents {
        check_price(price)?;
        active.price_cents = Set(price);
    }
    if let Some(public) = input.is_public {
        active.is_public = Set(public);
    }
    match input.is_default {
        Some(true) if !plan.is_default => {
            if plan.archived_at.is_some() {
                return Err(AppError::bad_input(
                    "isDefault",
                    "an archived plan cannot be the default",
                ));
            }
            clear_default(&txn, now).await?;
            active.is_default = Set(true);
        }
        Some(false) if plan.is_default => {
            return Err(AppError::bad_input(
                "isDefault",
                "make another plan the default instead",
            ));
        }
        _ => {}
    }
    if let Some(limits) = input.limits {
        write_limits(&txn, id, check_limits(limits)?).await?;
    }
    active.updated_at = Set(now);
    // Only the one-default index can refuse this write: another plan was made the default
    // concurrently, after this transaction cleared the flag.
    let updated = plans::Entity::update(active)
        .exec(&txn)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                AppError::conflict(
                    "isDefault",
                    "another plan was made the default at the same time; try again",
                )
            } else {
                err.into()
            }
        })?;
    audit_plan(&txn, actor, "plan.updated", &updated, now).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Archives the plan: its subscribers keep it, nobody new gets it. Archiving twice is harmless.
///
/// # Errors
/// `NOT_FOUND`; `BAD_USER_INPUT` for the default plan.
pub async fn archive(
    db: &DatabaseConnection,
    actor: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<plans::Model, AppError> {
    let plan = find(db, id).await?;
    if plan.is_default {
        return Err(AppError::bad_input(
            "id",
            "make another plan the default before archiving this one",
        ));
    }
    if plan.archived_at.is_some() {
        return Ok(plan);
    }
    let mut active: plans::ActiveModel = plan.into();
    active.archived_at = Set(Some(now));
    active.updated_at = Set(now);
    let txn = crate::db::begin_write(db).await?;
    let archived = plans::Entity::update(active).exec(&txn).await?;
    audit_plan(&txn, actor, "plan.archived", &archived, now).await?;
    txn.commit().await?;
    Ok(archived)
}

async fn audit_plan<C: sea_orm::ConnectionTrait>(
    db: &C,
    actor: Uuid,
    action: &str,
    plan: &plans::Model,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    audit::record(
        db,
        audit::Entry {
            business_id: None,
            actor_user_id: Some(actor),
            action,
            target: Some(plan.code.clone()),
            data: Some(serde_json::json!({ "planId": plan.id })),
        },
        now,
    )
    .await
}
