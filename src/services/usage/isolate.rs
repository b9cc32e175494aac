//! One tenant's bad call never fails another tenant's call that shares its batch.
//!
//! A batch holds many businesses' calls in one write. When the database refuses that write
//! for what one call carried — a value it cannot store, a row a constraint or trigger refuses
//! — every other call in it would fail with it. So a batch that fails for any reason but a
//! failure of the database itself ([`is_whole_database_failure`]: unreachable, out of
//! resources, shutting down) is written again in two halves, each on its own, and so on down
//! to the single caller: the callers whose part fails get the error, every other caller gets
//! the answer it would have had without them, exactly once (a failed write counted nothing).
//! The halves are written one after the other, first half first, so arrival order — and with
//! it each answer — is kept. A caller's events (`recordUsages`) are never split.
//!
//! The common case costs nothing: a batch that succeeds is written once. One poisoned caller
//! among `n` costs about `2·log2(n)` more writes (20 for a full batch of 1,000 callers); a
//! failure that every part repeats costs at most `2n - 1`, and is logged once per part.

use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use tokio::sync::oneshot;

use super::batch::{Call, WriteOptions, repeat, write_all};
use super::{Recorded, coalesce::Answers};
use crate::error::{AppError, is_whole_database_failure};

/// One caller's part of a batch: how many of the batch's calls are its, and where their
/// answers go.
pub(super) struct Part {
    pub(super) size: usize,
    pub(super) answer: oneshot::Sender<Answers>,
}

/// Writes `calls` (the calls of `parts`, in order) and answers each part; when the write
/// fails for what its calls carried, writes each half again on its own.
pub(super) fn write_apart<'a>(
    db: &'a DatabaseConnection,
    calls: &'a [Call],
    mut parts: Vec<Part>,
    options: &'a WriteOptions,
) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        match write_all(db, calls, options).await {
            Ok(recorded) => answer(parts, recorded),
            Err(error) if parts.len() > 1 && lies_in_the_calls(&error) => {
                tracing::warn!(error = ?error, calls = calls.len(), parts = parts.len(),
                    "a usage batch failed; writing its halves apart");
                let second = parts.split_off(parts.len() / 2);
                let (first_calls, second_calls) =
                    calls.split_at(parts.iter().map(|part| part.size).sum());
                write_apart(db, first_calls, parts, options).await;
                write_apart(db, second_calls, second, options).await;
            }
            Err(error) => {
                tracing::error!(error = ?error, calls = calls.len(), "a usage batch failed");
                for part in parts {
                    let _ = part.answer.send(Err(repeat(&error)));
                }
            }
        }
    })
}

fn answer(parts: Vec<Part>, recorded: Vec<Result<Recorded, AppError>>) {
    let mut recorded = recorded.into_iter();
    for part in parts {
        let _ = part
            .answer
            .send(Ok(recorded.by_ref().take(part.size).collect()));
    }
}

/// Whether writing fewer of the calls may succeed: the database refused what it was given,
/// or saaskit failed on it. A refusal (a `CONFLICT` after repeated tries) is already an
/// answer, and a database that failed as a whole fails every part too.
fn lies_in_the_calls(error: &AppError) -> bool {
    match error {
        AppError::Database(err) => !is_whole_database_failure(err),
        AppError::Internal(_) => true,
        _ => false,
    }
}
