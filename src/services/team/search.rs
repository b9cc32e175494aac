//! Staff's search over every business: by a business's or a member's id, or by a part of a
//! business's name or of a member's e-mail.
//!
//! A part of a name or e-mail is at least [`MIN_TERM`] characters: on PostgreSQL it is found
//! through trigram indexes on `lower(businesses.name)` and `users.email` (`pg_trgm`, created
//! by the migration `m20261204_000002_search_trigrams`), which need three characters to
//! narrow anything. The query is shaped for them: the ids matching either index are gathered
//! first (`UNION`), then the page is read by primary key, so its cost follows the number of
//! matches, not the number of businesses. On SQLite, the development database, the same
//! query scans both tables (linear in their size). An id is matched exactly, by primary key.

use entity::{businesses, team_members, users};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, UnionType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::error::AppError;

/// The fewest characters of a name or e-mail a search term may have.
pub const MIN_TERM: usize = 3;
/// The most characters a search term may have (the longest e-mail address).
pub const MAX_TERM: usize = 254;

/// One page of all businesses, oldest first, for staff: those after `after`, at most `limit`
/// (plus one, to tell whether there is more), matching `search` when given.
///
/// # Errors
/// `BAD_USER_INPUT` on `search` for a term shorter than [`MIN_TERM`] or longer than
/// [`MAX_TERM`] characters.
pub async fn businesses<C: ConnectionTrait>(
    db: &C,
    search: Option<&str>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<businesses::Model>, AppError> {
    Ok(query(search, after, limit)?.all(db).await?)
}

/// The query [`businesses`] runs (public so that a test can ask PostgreSQL how it plans it).
///
/// # Errors
/// As [`businesses`].
pub fn query(
    search: Option<&str>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Select<businesses::Entity>, AppError> {
    let mut query = businesses::Entity::find().order_by_asc(businesses::Column::Id);
    if let Some(after) = after {
        query = query.filter(businesses::Column::Id.gt(after));
    }
    if let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) {
        query = query.filter(businesses::Column::Id.in_subquery(matching(term)?));
    }
    Ok(query.limit(limit + 1))
}

/// The ids of the businesses `term` matches.
fn matching(term: &str) -> Result<sea_orm::sea_query::SelectStatement, AppError> {
    let member_of = || {
        Query::select()
            .column((team_members::Entity, team_members::Column::BusinessId))
            .from(team_members::Entity)
            .to_owned()
    };
    if let Ok(id) = Uuid::parse_str(term) {
        let mut by_id = Query::select()
            .column(businesses::Column::Id)
            .from(businesses::Entity)
            .and_where(Expr::col(businesses::Column::Id).eq(id))
            .to_owned();
        let by_member = member_of()
            .and_where(Expr::col((team_members::Entity, team_members::Column::UserId)).eq(id))
            .to_owned();
        return Ok(by_id.union(UnionType::Distinct, by_member).to_owned());
    }
    let length = term.chars().count();
    if !(MIN_TERM..=MAX_TERM).contains(&length) {
        return Err(AppError::bad_input(
            "search",
            format!(
                "a search needs {MIN_TERM} to {MAX_TERM} characters of a name or an e-mail, \
                 or an id"
            ),
        ));
    }
    let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
    let mut by_name = Query::select()
        .column(businesses::Column::Id)
        .from(businesses::Entity)
        .and_where(
            Expr::expr(Func::lower(Expr::col(businesses::Column::Name))).like(like(&pattern)),
        )
        .to_owned();
    let by_member = member_of()
        .inner_join(
            users::Entity,
            Expr::col((users::Entity, users::Column::Id))
                .equals((team_members::Entity, team_members::Column::UserId)),
        )
        .and_where(Expr::col((users::Entity, users::Column::Email)).like(like(&pattern)))
        .to_owned();
    Ok(by_name.union(UnionType::Distinct, by_member).to_owned())
}

fn like(pattern: &str) -> sea_orm::sea_query::LikeExpr {
    sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')
}

fn escape_like(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
