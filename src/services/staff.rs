//! Staff users: created by `saaskit staff create` or the bootstrap variables.

use chrono::{DateTime, Utc};
use entity::users;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use secrecy::SecretString;

use super::accounts::{find_by_email, new_user};
use super::validate;
use crate::auth::password;
use crate::error::{AppError, is_unique_violation};

/// Makes sure a staff user with `email` exists: creates it with `password`, or promotes an
/// existing user to staff (its password is then left as it is). Returns whether it created one.
///
/// # Errors
/// `BAD_USER_INPUT` for a malformed e-mail or weak password.
pub async fn ensure_staff(
    db: &DatabaseConnection,
    email: &str,
    password: SecretString,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let email = validate::email(email, "email")?;
    if let Some(user) = find_by_email(db, &email).await? {
        if user.is_bot {
            return Err(AppError::bad_input(
                "email",
                "that address belongs to an SDK bot",
            ));
        }
        users::Entity::update_many()
            .col_expr(users::Column::IsStaff, Expr::value(true))
            .col_expr(users::Column::IsActive, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(user.id))
            .exec(db)
            .await?;
        return Ok(false);
    }
    password::validate(&password, "password")?;
    let hash = password::hash(password).await?;
    let mut user = new_user(email, Some("Staff".to_owned()), Some(hash), false, now);
    user.is_staff = true;
    match users::Entity::insert(users::ActiveModel::from(user))
        .exec_without_returning(db)
        .await
    {
        Ok(_) => Ok(true),
        // Another replica created it at the same moment.
        Err(err) if is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err.into()),
    }
}
