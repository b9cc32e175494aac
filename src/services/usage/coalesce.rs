//! Group commit: concurrent `recordUsage` and `recordUsages` calls share one write.
//!
//! A node has a few writers, each with its own database connection and its own queue, and a
//! business's calls always go to the same writer. A writer that is idle takes the first call
//! at once and writes it on its own (no added latency); calls that arrive while it writes wait,
//! and it then takes all of them — up to [`MAX_BATCH`] events, across businesses — as one
//! batch, written by [`super::batch`] as one transaction (on PostgreSQL usually one
//! statement). A `recordUsages` call is never split: its events are all in the same batch, so
//! in one transaction.
//!
//! Each caller is answered only after its batch committed, with the answer it would have had
//! had the calls run one by one in arrival order: one writer per business keeps that order.
//! Writers do not wait for each other: their batches hold different businesses' counters
//! (`bench/batch.sh` measured one shared queue for all writers: more, smaller batches that
//! queued for each other's counter locks, 17% slower).
//!
//! The queues hold at most [`QUEUED_EVENTS`] events in all; past that a caller is told
//! `RATE_LIMITED` at once, so that a flood costs memory bounded by the queues, not by the
//! callers.
//!
//! One business's bad call never fails another's: a batch whose write fails for what its
//! calls carried is written again in parts ([`super::isolate`]). A call that has entered a
//! batch gets the batch's answer even when its request's time runs out meanwhile; one still
//! queued is withdrawn and counts nothing ([`super::pending`]).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use sea_orm::DatabaseConnection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use uuid::Uuid;

use super::alone::write_alone;
use super::batch::{Call, WriteOptions};
use super::isolate::{Part, write_apart};
use super::pending::{Pending, Stand};
use super::{Record, Recorded, Valid};
use crate::error::AppError;
use crate::telemetry::metrics as measure;

/// The most events one batch takes.
pub const MAX_BATCH: usize = 1_000;

/// The most events waiting for a writer (about a second of work at full speed).
pub const QUEUED_EVENTS: usize = 20_000;

pub(super) type Answers = Result<Vec<Result<Recorded, AppError>>, AppError>;

/// One caller's events, written in the same batch, and where their answers go. Its place in
/// the queue is given back when it is dropped.
struct Queued {
    calls: Vec<Call>,
    answer: oneshot::Sender<Answers>,
    stand: Arc<Stand>,
    _place: OwnedSemaphorePermit,
}

/// A caller's hold on its queued events: their answers to come. Dropped before the writer
/// took them (the request ended), it withdraws them: they are not counted behind its back.
struct Ticket {
    answered: oneshot::Receiver<Answers>,
    stand: Arc<Stand>,
    timed_out: Option<AppError>,
}

impl Ticket {
    async fn answers(mut self) -> Answers {
        match (&mut self.answered).await {
            Ok(answers) => answers,
            Err(_) if self.stand.withdrawn() => Err(self
                .timed_out
                .take()
                .unwrap_or_else(|| anyhow::anyhow!("the call was withdrawn").into())),
            Err(_) => Err(stopped()),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.stand.withdraw();
    }
}

/// The writers of one process. Cloning shares them.
#[derive(Clone)]
pub struct Coalescer {
    writers: Arc<[mpsc::UnboundedSender<Queued>]>,
    places: Arc<Semaphore>,
}

/// A writer's queue, and a call that did not fit its last batch (it starts the next one).
struct Waiting {
    queue: mpsc::UnboundedReceiver<Queued>,
    next: Option<Queued>,
}

impl Coalescer {
    /// Starts `writers` writer tasks (at least one) on the current runtime, each with its own
    /// connection from `db`.
    pub fn start(db: DatabaseConnection, writers: usize) -> Coalescer {
        Self::start_with(db, writers, WriteOptions::default())
    }

    /// As [`Coalescer::start`], writing batches as `options` say (tests).
    pub fn start_with(db: DatabaseConnection, writers: usize, options: WriteOptions) -> Coalescer {
        let writers = (0..writers.max(1))
            .map(|_| {
                let (queue, calls) = mpsc::unbounded_channel();
                let waiting = Waiting {
                    queue: calls,
                    next: None,
                };
                tokio::spawn(write(db.clone(), waiting, options.clone()));
                queue
            })
            .collect();
        Coalescer {
            writers,
            places: Arc::new(Semaphore::new(QUEUED_EVENTS)),
        }
    }

    /// Queues `input` now and answers once it is committed — as [`super::reference::record`] would, had
    /// the queued calls run one by one in the order they were queued.
    ///
    /// # Errors
    /// As [`super::reference::record`]; `RATE_LIMITED` when the queue is full; an internal error
    /// when the batch failed (nothing of it counted).
    pub fn submit(
        &self,
        business_id: Uuid,
        input: Record,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Recorded, AppError>> + Send + 'static {
        self.submit_within(None, business_id, input, now)
    }

    /// As [`Coalescer::submit`], for a request whose deadline is `pending`'s.
    ///
    /// # Errors
    /// As [`Coalescer::submit`]; `TIMEOUT` when the request expired before the call entered
    /// a batch (nothing counted).
    pub fn submit_within(
        &self,
        pending: Option<&Pending>,
        business_id: Uuid,
        input: Record,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Recorded, AppError>> + Send + 'static {
        let queued = Valid::parse(input).and_then(|valid| {
            let call = Call {
                business_id,
                valid,
                now,
            };
            self.queue(pending, business_id, vec![call])
        });
        async move {
            let mut answers = queued?.answers().await?;
            answers
                .pop()
                .unwrap_or_else(|| Err(anyhow::anyhow!("a call was not answered").into()))
        }
    }

    /// Queues `inputs` now, as one unit, and answers each once they are committed — as
    /// [`super::reference::record_batch`] would, right after the calls queued before them.
    ///
    /// # Errors
    /// As [`super::reference::record_batch`]; `RATE_LIMITED` when the queue is full.
    pub fn submit_batch(
        &self,
        business_id: Uuid,
        inputs: Vec<Record>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Answers> + Send + 'static {
        self.submit_batch_within(None, business_id, inputs, now)
    }

    /// As [`Coalescer::submit_batch`], for a request whose deadline is `pending`'s.
    ///
    /// # Errors
    /// As [`Coalescer::submit_batch`]; `TIMEOUT` when the request expired before the events
    /// entered a batch (nothing counted).
    pub fn submit_batch_within(
        &self,
        pending: Option<&Pending>,
        business_id: Uuid,
        inputs: Vec<Record>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Answers> + Send + 'static {
        let parsed = super::check_count(inputs.len()).map(|()| {
            inputs
                .into_iter()
                .map(Valid::parse)
                .collect::<Vec<Result<Valid, AppError>>>()
        });
        let queued = parsed.and_then(|parsed| {
            let calls: Vec<Call> = parsed
                .iter()
                .filter_map(|valid| valid.as_ref().ok())
                .map(|valid| Call {
                    business_id,
                    valid: valid.clone(),
                    now,
                })
                .collect();
            let answered = if calls.is_empty() {
                None
            } else {
                Some(self.queue(pending, business_id, calls)?)
            };
            Ok((parsed, answered))
        });
        async move {
            let (parsed, answered) = queued?;
            let written = match answered {
                Some(ticket) => ticket.answers().await?,
                None => Vec::new(),
            };
            Ok(super::in_input_order(parsed, written))
        }
    }

    fn queue(
        &self,
        pending: Option<&Pending>,
        business_id: Uuid,
        calls: Vec<Call>,
    ) -> Result<Ticket, AppError> {
        let stand = Arc::new(Stand::default());
        if let Some(pending) = pending {
            pending.enter(&stand)?;
        }
        let events = u32::try_from(calls.len()).unwrap_or(u32::MAX);
        let place = self
            .places
            .clone()
            .try_acquire_many_owned(events)
            .map_err(|_| AppError::RateLimited {
                retry_after_secs: 1,
            })?;
        let (answer, answered) = oneshot::channel();
        let queued = Queued {
            calls,
            answer,
            stand: stand.clone(),
            _place: place,
        };
        self.writer(business_id)
            .send(queued)
            .map_err(|_| stopped())?;
        Ok(Ticket {
            answered,
            stand,
            timed_out: pending.map(Pending::timed_out),
        })
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

/// One writer: takes whatever is queued (up to [`MAX_BATCH`] events), writes it, answers,
/// again.
///
/// A batch that panics is contained: its callers' answers are dropped with it (each gets the
/// internal error of a stopped writer, and a transaction that did not commit counts nothing)
/// and the writer goes on with the next batch. Without this one bug would leave every business
/// of this writer unable to record until the process restarted.
async fn write(db: DatabaseConnection, mut waiting: Waiting, options: WriteOptions) {
    while let Some(mut batch) = take(&mut waiting).await {
        // A caller that gave up (its request ended or expired) is not counted behind its
        // back; the others are in the batch now, and will be answered by it.
        batch.retain(|queued| queued.stand.take());
        let written = AssertUnwindSafe(write_batch(&db, batch, &options));
        if written.catch_unwind().await.is_err() {
            tracing::error!("a usage batch panicked; its callers were answered with an error");
        }
    }
}

/// The next batch: waits for a first call, then takes what else is queued, up to
/// [`MAX_BATCH`] events. `None` once the coalescer is gone and the queue is empty.
async fn take(waiting: &mut Waiting) -> Option<Vec<Queued>> {
    let first = match waiting.next.take() {
        Some(first) => first,
        None => waiting.queue.recv().await?,
    };
    let mut events = first.calls.len();
    let mut batch = vec![first];
    while events < MAX_BATCH {
        let Ok(queued) = waiting.queue.try_recv() else {
            break;
        };
        if events + queued.calls.len() > MAX_BATCH {
            waiting.next = Some(queued);
            break;
        }
        events += queued.calls.len();
        batch.push(queued);
    }
    Some(batch)
}

/// Writes `batch` and answers each caller: one event alone takes the one-statement path of
/// [`write_alone`], more share one write ([`write_apart`]).
async fn write_batch(db: &DatabaseConnection, mut batch: Vec<Queued>, options: &WriteOptions) {
    if batch.len() == 1 && batch[0].calls.len() == 1 {
        let Some(Queued {
            mut calls, answer, ..
        }) = batch.pop()
        else {
            return;
        };
        let Some(call) = calls.pop() else { return };
        measure::usage_batch("alone", 1);
        let recorded = write_alone(db, call.business_id, call.valid, call.now).await;
        let _ = answer.send(Ok(vec![recorded]));
        return;
    }
    if batch.is_empty() {
        return;
    }
    let mut calls = Vec::with_capacity(batch.iter().map(|queued| queued.calls.len()).sum());
    let mut parts = Vec::with_capacity(batch.len());
    for queued in batch {
        parts.push(Part {
            size: queued.calls.len(),
            answer: queued.answer,
        });
        calls.extend(queued.calls);
    }
    write_apart(db, &calls, parts, options).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(events: usize, places: &Arc<Semaphore>) -> Queued {
        let call = Call {
            business_id: Uuid::nil(),
            valid: Valid {
                metric: "recordings".into(),
                quantity: 1,
                key: None,
            },
            now: Utc::now(),
        };
        let place = places
            .clone()
            .try_acquire_many_owned(u32::try_from(events).expect("small"))
            .expect("room");
        Queued {
            calls: vec![call; events],
            answer: oneshot::channel().0,
            stand: Arc::default(),
            _place: place,
        }
    }

    fn sizes(batch: &[Queued]) -> Vec<usize> {
        batch.iter().map(|queued| queued.calls.len()).collect()
    }

    #[tokio::test]
    async fn a_batch_stops_at_the_cap_and_never_splits_a_call() {
        let places = Arc::new(Semaphore::new(QUEUED_EVENTS));
        let (queue, calls) = mpsc::unbounded_channel();
        let mut waiting = Waiting {
            queue: calls,
            next: None,
        };
        for events in [400, 400, 400, 1] {
            queue.send(unit(events, &places)).expect("queued");
        }
        let first = take(&mut waiting).await.expect("a batch");
        assert_eq!(sizes(&first), [400, 400], "the third would pass the cap");
        let second = take(&mut waiting).await.expect("a batch");
        assert_eq!(
            sizes(&second),
            [400, 1],
            "the call left over starts the next"
        );
        for _ in 0..=MAX_BATCH / 100 {
            queue.send(unit(100, &places)).expect("queued");
        }
        let full = take(&mut waiting).await.expect("a batch");
        assert_eq!(full.iter().map(|q| q.calls.len()).sum::<usize>(), MAX_BATCH);
        assert_eq!(sizes(&take(&mut waiting).await.expect("a batch")), [100]);
        // Places come back as batches are dropped.
        drop((first, second, full));
        assert_eq!(places.available_permits(), QUEUED_EVENTS);
        drop(queue);
        assert!(
            take(&mut waiting).await.is_none(),
            "no more once the coalescer is gone"
        );
    }
}
