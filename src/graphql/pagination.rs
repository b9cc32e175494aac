//! Relay connections over id-ordered rows: the cursor is the row's id.

use async_graphql::OutputType;
use async_graphql::connection::{Connection, Edge, EmptyFields};
use uuid::Uuid;

use crate::error::AppError;

/// Rows of a page when `first` is not given.
pub(crate) const DEFAULT_PAGE: u64 = 20;
/// Most rows of a page (`first` beyond it is refused).
pub(crate) const MAX_PAGE: u64 = 100;

/// A page request: at most `limit` rows after the cursor `after`.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub after: Option<Uuid>,
    pub limit: u64,
}

impl Page {
    /// # Errors
    /// `BAD_USER_INPUT` on `first` outside 1..=100 or on an `after` that is not a cursor.
    pub fn new(first: Option<i32>, after: Option<&str>) -> Result<Page, AppError> {
        let limit = match first {
            None => DEFAULT_PAGE,
            Some(n) if n >= 1 && (n as u64) <= MAX_PAGE => n as u64,
            Some(_) => {
                return Err(AppError::bad_input(
                    "first",
                    format!("must be between 1 and {MAX_PAGE}"),
                ));
            }
        };
        let after = after
            .map(|cursor| {
                Uuid::parse_str(cursor)
                    .map_err(|_| AppError::bad_input("after", "not a cursor from this list"))
            })
            .transpose()?;
        Ok(Page { after, limit })
    }
}

/// Builds the connection from `rows`, which hold up to `limit + 1` rows (the extra one only
/// says that there is a next page).
pub fn connection<R, N: OutputType>(
    mut rows: Vec<R>,
    page: Page,
    edge: impl Fn(R) -> Edge<String, N, EmptyFields>,
) -> Connection<String, N, EmptyFields, EmptyFields> {
    let has_next = rows.len() as u64 > page.limit;
    rows.truncate(usize::try_from(page.limit).unwrap_or(usize::MAX));
    let mut connection = Connection::new(page.after.is_some(), has_next);
    connection.edges.extend(rows.into_iter().map(edge));
    connection
}
