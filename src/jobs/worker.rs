//! The job worker: an apalis monitor running the `SendMail` handler, the outbox sweep, and the
//! subscription cycle every `SAASKIT_CYCLE_EVERY`.
//! `saaskit serve` runs one in-process, `saaskit worker` runs one alone; any number may run
//! on one database.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BackendExt, Monitor, Strategy, WorkerBuilder};
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tracing::Instrument;

use super::send_mail::{Delivery, send_mail};
use super::{Queue, SendMail};
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::mail::Mailer;
use crate::services::billing::cycle::{self, BillingProvider, Policy};
use crate::services::outbox;
use crate::telemetry::metrics::{self as measure, JobKind, Rehanded};
use crate::telemetry::pools::Pools;

/// Mail handed over per sweep; the rest waits for the next one.
const SWEEP_BATCH: u64 = 100;

/// A job worker, ready to run.
pub struct Worker {
    delivery: Arc<Delivery>,
    poll_every: Duration,
    sweep_every: Duration,
    stale_after: chrono::TimeDelta,
    shutdown_timeout: Duration,
    cycle_every: Duration,
    cycle_policy: Policy,
    billing: Arc<dyn BillingProvider>,
}

impl Worker {
    /// A worker sending mail with the transport of `settings`, reading the outbox on `db` and
    /// jobs from `queue`, and asking `billing` to pay for renewals.
    ///
    /// # Errors
    /// The mail settings are unusable.
    pub fn new(
        settings: &Settings,
        db: DatabaseConnection,
        queue: Queue,
        clock: SharedClock,
        billing: Arc<dyn BillingProvider>,
    ) -> anyhow::Result<Self> {
        let mailer = Mailer::from_settings(settings)?;
        let cycle_policy = Policy::from_settings(settings, db.get_database_backend());
        Ok(Worker {
            delivery: Arc::new(Delivery {
                db,
                mailer,
                queue,
                clock,
                retry_base: settings.job_retry_base,
                max_attempts: settings.job_max_attempts,
            }),
            poll_every: settings.job_poll_every,
            sweep_every: settings.outbox_sweep_every,
            stale_after: chrono::TimeDelta::from_std(settings.outbox_stale_after)
                .unwrap_or(chrono::TimeDelta::MAX),
            shutdown_timeout: settings.job_shutdown_timeout,
            cycle_every: settings.cycle_every,
            cycle_policy,
            billing,
        })
    }

    /// Lets `/metrics` sample the worker's database pool.
    pub fn watch_pools(&self, pools: &Pools) {
        pools.watch("worker", &self.delivery.db);
    }

    /// Runs until `shutdown` resolves, then stops taking jobs and lets running ones finish for
    /// at most `SAASKIT_JOB_SHUTDOWN_TIMEOUT`.
    ///
    /// # Errors
    /// The monitor failed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let sweep = tokio::spawn(sweep(
            self.delivery.clone(),
            self.sweep_every,
            self.stale_after,
            stopped.clone(),
        ));
        let cycle = tokio::spawn(cycle_loop(
            self.delivery.clone(),
            self.cycle_every,
            self.cycle_policy,
            self.billing.clone(),
            stopped.clone(),
        ));
        let monitor = self.monitor();
        let mut stopped = stopped;
        let signal = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
            tracing::info!("job worker stopping: finishing running jobs");
            Ok(())
        };
        let result = monitor.run_with_signal(signal).await;
        sweep.abort();
        cycle.abort();
        result.map_err(|err| anyhow::anyhow!("the job worker failed: {err}"))
    }

    fn monitor(&self) -> Monitor {
        let delivery = self.delivery.clone();
        let poll_every = self.poll_every;
        let monitor = Monitor::new()
            .shutdown_timeout(self.shutdown_timeout)
            .should_restart(|worker, error| {
                tracing::warn!(worker = worker.name(), error = %error, "job worker restarts");
                true
            });
        match delivery.queue.clone() {
            Queue::Sqlite(storage) => monitor.register(move |_| {
                WorkerBuilder::new(worker_name())
                    .backend(
                        storage
                            .clone()
                            .poll_with_strategy(Strategy::new().interval(poll_every)),
                    )
                    .data(delivery.clone())
                    .build(send_mail)
            }),
            Queue::Postgres(storage) => monitor.register(move |_| {
                WorkerBuilder::new(worker_name())
                    .backend(
                        storage
                            .clone()
                            .poll_with_strategy(Strategy::new().interval(poll_every)),
                    )
                    .data(delivery.clone())
                    .build(send_mail)
            }),
        }
    }
}

/// A name no worker ever had. apalis records which worker holds a job by name, and registers a
/// name it knows only under a PostgreSQL advisory lock held by the connection that took it
/// first: a worker restarted under its old name could fail to register for ever, leaving the
/// queue unserved. So every start — a restart too — is a new worker; the jobs a dead one held
/// return to the queue once its heartbeats stop (see `Queue::open`).
fn worker_name() -> String {
    format!("saaskit-mail-{}", uuid::Uuid::now_v7())
}

/// Every `every`, hands over unsent mail that was never handed over (the process died between
/// commit and [`super::Jobs::mail_recorded`]) or whose job died or gave up `stale_after` ago.
/// Each row is taken with a conditional update first, so concurrent sweeps enqueue it once.
async fn sweep(
    delivery: Arc<Delivery>,
    every: Duration,
    stale_after: chrono::TimeDelta,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        measure::job_run(JobKind::OutboxSweep);
        if let Err(err) = sweep_once(&delivery, stale_after).await {
            measure::job_failed(JobKind::OutboxSweep);
            tracing::warn!(error = %err, "outbox sweep failed; trying again later");
        }
    }
}

/// Every `every`, one pass of the subscription cycle ([`cycle::run_once`]). Passes of several
/// workers may overlap: each renewal is conditional on the period it ends, so none happens
/// twice; a pass that fails leaves each subscription renewed or untouched for the next one.
async fn cycle_loop(
    delivery: Arc<Delivery>,
    every: Duration,
    policy: Policy,
    billing: Arc<dyn BillingProvider>,
    mut stopped: watch::Receiver<bool>,
) {
    // The first pass one interval after start, like every later one.
    let start = tokio::time::Instant::now() + every;
    let mut ticks = tokio::time::interval_at(start, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => return,
        }
        cycle_pass(&delivery, &policy, billing.as_ref())
            .instrument(tracing::info_span!("job", kind = "cycle"))
            .await;
    }
}

/// One pass of the cycle, logged and counted.
async fn cycle_pass(delivery: &Delivery, policy: &Policy, billing: &dyn BillingProvider) {
    measure::job_run(JobKind::Cycle);
    let now = delivery.clock.now();
    match cycle::run_once(&delivery.db, now, billing, policy).await {
        Ok(summary) => {
            measure::cycle_pass(&summary);
            if summary.renewed + summary.expired + summary.past_due + summary.plan_changes > 0 {
                tracing::info!(%summary, "subscription cycle");
            } else {
                tracing::debug!(%summary, "subscription cycle");
            }
        }
        Err(err) => {
            measure::job_failed(JobKind::Cycle);
            tracing::warn!(error = %err, "subscription cycle failed; the next pass retries");
        }
    }
}

/// One sweep. Every mail it takes goes to the queue — a stale one too, as a new job with its
/// own retries, never sent here: a hung SMTP server would hold the sweep (and every mail
/// behind it) for a timeout per mail. A mail the queue refuses is given back as it was, so the
/// next sweep hands it over at once instead of after the stale delay; the sweep then stops, the
/// queue being unreachable for the rest too.
#[tracing::instrument(name = "job", skip_all, fields(kind = "outbox_sweep"))]
async fn sweep_once(delivery: &Delivery, stale_after: chrono::TimeDelta) -> anyhow::Result<()> {
    // To the microsecond, as every database stores it: `give_back` matches the stamp exactly.
    let now = chrono::SubsecRound::trunc_subsecs(delivery.clock.now(), 6);
    let stale_before = now - stale_after;
    for (id, handed_over) in outbox::due_for_queue(&delivery.db, stale_before, SWEEP_BATCH).await? {
        if !outbox::take_for_queue(&delivery.db, id, now, stale_before).await? {
            continue;
        }
        let how = if handed_over.is_none() {
            // Committed, but the process died before handing it over.
            tracing::info!(outbox_id = %id, "sweep hands over a mail");
            Rehanded::Queued
        } else {
            // Handed over long ago and still unsent: its job died or gave up. A new one
            // (the claim keeps a late old job from sending it twice).
            tracing::warn!(outbox_id = %id, "a queued mail went unsent; the sweep queues it again");
            Rehanded::Requeued
        };
        if let Err(err) = delivery
            .queue
            .push(SendMail { outbox_id: id }, Duration::ZERO)
            .await
        {
            tracing::warn!(outbox_id = %id, error = %err,
                "cannot hand a mail to the queue; the next sweep tries again");
            outbox::give_back(&delivery.db, id, now, handed_over).await?;
            return Err(err);
        }
        measure::outbox_rehanded(how);
    }
    Ok(())
}
