//! Group commit: concurrent `recordUsage` calls share one transaction.
//!
//! A call is queued for its business's writer. A writer that is idle writes the first call at
//! once, on its own (the one-statement path, no added latency); calls that arrive while it
//! writes wait in the queue and become its next batch, up to [`MAX_BATCH`] of them, written by
//! [`super::batch`] as one transaction. Each caller is answered only after its batch committed,
//! with the answer it would have had the calls run one by one in arrival order: one writer per
//! business keeps that order, and businesses are spread over several writers so that a busy
//! one does not hold the others up.

use std::panic::AssertUnwindSafe;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::batch::{BeforeCommit, Call, repeat, write_all};
use super::{Record, Recorded, Valid, record_valid};
use crate::error::AppError;

/// The most calls one transaction takes.
pub const MAX_BATCH: usize = 256;

struct Queued {
    call: Call,
    answer: oneshot::Sender<Result<Recorded, AppError>>,
}

/// The writers of one process. Cloning shares them.
#[derive(Clone)]
pub struct Coalescer {
    writers: std::sync::Arc<[mpsc::UnboundedSender<Queued>]>,
}

impl Coalescer {
    /// Starts `writers` writer tasks (at least one) on the current runtime, each with its own
    /// connection from `db`.
    pub fn start(db: DatabaseConnection, writers: usize) -> Coalescer {
        Self::start_with(db, writers, None)
    }

    /// As [`Coalescer::start`], running `before_commit` in every batch of two or more calls
    /// just before it commits (tests drop the connection there).
    pub fn start_with(
        db: DatabaseConnection,
        writers: usize,
        before_commit: Option<BeforeCommit>,
    ) -> Coalescer {
        let writers = (0..writers.max(1))
            .map(|_| {
                let (queue, calls) = mpsc::unbounded_channel();
                tokio::spawn(write(db.clone(), calls, before_commit.clone()));
                queue
            })
            .collect();
        Coalescer { writers }
    }

    /// Queues `input` now and answers once it is committed — as [`super::record`] would, had
    /// the queued calls run one by one in the order they were queued.
    ///
    /// # Errors
    /// As [`super::record`]; an internal error when the batch failed (nothing of it counted).
    pub fn record(
        &self,
        business_id: Uuid,
        input: Record,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Recorded, AppError>> + Send + 'static {
        let queued = Valid::parse(input).and_then(|valid| {
            let (answer, answered) = oneshot::channel();
            let call = Call {
                business_id,
                valid,
                now,
            };
            self.writer(business_id)
                .send(Queued { call, answer })
                .map_err(|_| stopped())?;
            Ok(answered)
        });
        async move { queued?.await.unwrap_or_else(|_| Err(stopped())) }
    }

    fn writer(&self, business_id: Uuid) -> &mpsc::UnboundedSender<Queued> {
        let count = self.writers.len() as u128;
        // Bounded by the number of writers, so it fits.
        let index = usize::try_from(business_id.as_u128() % count).unwrap_or(0);
        &self.writers[index]
    }
}

fn stopped() -> AppError {
    anyhow::anyhow!("the usage writer stopped").into()
}

/// One writer: drains whatever is queued, writes it, answers, again.
///
/// A batch that panics is contained: its callers' answers are dropped with it (each gets the
/// internal error of a stopped writer, and a transaction that did not commit counts nothing)
/// and the writer goes on with the next batch. Without this one bug would leave every business
/// of this writer unable to record until the process restarted.
async fn write(
    db: DatabaseConnection,
    mut calls: mpsc::UnboundedReceiver<Queued>,
    before_commit: Option<BeforeCommit>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while calls.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // A caller that gave up (its request ended) is not counted behind its back.
        batch.retain(|queued: &Queued| !queued.answer.is_closed());
        let queued = std::mem::take(&mut batch);
        let written = AssertUnwindSafe(write_batch(&db, queued, before_commit.as_ref()));
        if written.catch_unwind().await.is_err() {
            tracing::error!("a usage batch panicked; its callers were answered with an error");
        }
    }
}

/// Writes `queued` and answers each caller: one call alone takes the one-statement path, more
/// share one transaction.
async fn write_batch(
    db: &DatabaseConnection,
    mut queued: Vec<Queued>,
    before_commit: Option<&BeforeCommit>,
) {
    if queued.len() == 1 {
        let Some(Queued { call, answer }) = queued.pop() else {
            return;
        };
        let recorded = record_valid(db, call.business_id, call.valid, call.now).await;
        let _ = answer.send(recorded);
        return;
    }
    if queued.is_empty() {
        return;
    }
    let (calls, answers): (Vec<Call>, Vec<_>) =
        queued.into_iter().map(|q| (q.call, q.answer)).unzip();
    match write_all(db, &calls, before_commit).await {
        Ok(recorded) => {
            for (answer, recorded) in answers.into_iter().zip(recorded) {
                let _ = answer.send(recorded);
            }
        }
        Err(error) => {
            tracing::error!(error = ?error, calls = calls.len(), "a usage batch failed");
            for answer in answers {
                let _ = answer.send(Err(repeat(&error)));
            }
        }
    }
}
