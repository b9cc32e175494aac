//! Builds the application: the pool, migrations, seed data, the schema, the HTTP server and
//! the in-process job worker.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::jobs::{Jobs, Queue, Worker};
use crate::services::billing::provider::{BillingProvider, ManualProvider};
use crate::state::AppState;
use crate::telemetry::endpoint::{self, MetricsEndpoint};
use crate::telemetry::pools::Pools;
use crate::telemetry::request_id;
use crate::{auth, db, graphql, http, services, telemetry};

/// A built application: bound to its port, not yet serving.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    worker: Option<Worker>,
    /// The listener of `SAASKIT_METRICS_BIND`, when set.
    metrics: Option<(Server, u16)>,
}

impl Application {
    /// Connects, migrates, seeds, loads the root key and binds `SAASKIT_BIND`.
    ///
    /// # Errors
    /// One line a person can act on: the database is unreachable or cannot be migrated, the
    /// root key is unusable, or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with the clock tests move.
    pub async fn build_with_clock(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        Self::build_with(settings, clock, Arc::new(ManualProvider)).await
    }

    /// As [`Application::build_with_clock`], asking `billing` to pay for plan changes and
    /// renewals (the default, [`ManualProvider`], approves every charge).
    pub async fn build_with(
        settings: Settings,
        clock: SharedClock,
        billing: Arc<dyn BillingProvider>,
    ) -> anyhow::Result<Self> {
        let setup = connect_and_migrate(&settings).await?;
        services::billing::plans::seed_defaults(&setup, clock.now())
            .await
            .context("cannot seed the default plans")?;
        let root_key = auth::keys::load(&settings)?;
        bootstrap_staff(&setup, &settings, clock.now()).await?;
        setup.close().await?;
        let url = settings.database_url.expose_secret();
        let pools = db::PoolSpec::parse(url, settings.db_max_connections)?;
        let workers = settings.http_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let worker_pool = pools.share(workers);
        // The dummy hash that keeps unknown e-mails as slow as wrong passwords.
        tokio::task::spawn_blocking(auth::password::warm_up);
        let auth_rate = Arc::new(services::identity::throttle::AddressRate::per_minute(
            settings.auth_attempts_per_minute,
            clock.clone(),
        ));
        let queue = Queue::open(url).await.with_context(|| {
            format!(
                "cannot open the job queue in {} (DATABASE_URL)",
                redact(url)
            )
        })?;
        let jobs = Jobs::new(
            queue.clone(),
            pools.open_lazy(),
            clock.clone(),
            settings.outbox_stale_after,
        );
        let password_rate = Arc::new(services::identity::throttle::KeyRate::per_minute(
            services::identity::throttle::PASSWORD_CHECKS_PER_USER_PER_MINUTE,
            clock.clone(),
        ));
        let usage_rate = Arc::new(services::identity::throttle::KeyRate::per_second(
            settings.usage_rate_per_second,
            settings.usage_rate_burst,
            clock.clone(),
        ));
        let worker = Worker::new(
            &settings,
            pools.open_lazy(),
            queue,
            clock.clone(),
            billing.clone(),
        )?;
        telemetry::metrics::handle();
        let watched = Pools::default();
        worker.watch_pools(&watched);
        jobs.watch_pools(&watched);
        // Its own connection per writer, opened on this (the main) runtime that runs them.
        let writers = pools.usage_writers(settings.usage_writers);
        let usage_db = pools.with_connections(writers).open_lazy();
        watched.watch("usage", &usage_db);
        let usage = services::usage::Coalescer::start(usage_db, writers as usize);
        let state = AppState {
            db: pools.open_lazy(),
            usage,
            billing,
            settings: Arc::new(settings),
            root_key: Arc::new(root_key),
            tokens: Arc::default(),
            jobs,
            auth_rate,
            password_rate,
            usage_rate,
            pools: watched,
            clock,
        };
        state.pools.watch("main", &state.db);
        let endpoint = MetricsEndpoint {
            pools: state.pools.clone(),
            token: state.settings.metrics_token.clone(),
        };
        let metrics = match &state.settings.metrics_bind {
            Some(bind) => Some(endpoint::listen(bind, endpoint.clone())?),
            None => None,
        };
        let metrics_on_main_port = metrics.is_none();

        let shared = state.clone();
        let bind = &state.settings.bind;
        let listener = TcpListener::bind(bind).with_context(|| {
            format!("cannot listen on {bind} (SAASKIT_BIND); is another process using it?")
        })?;
        let addr = listener.local_addr()?;
        let server = HttpServer::new(move || {
            // Each worker holds its own share of the connections (see `db::PoolSpec`).
            let state = AppState {
                db: worker_pool.open_lazy(),
                ..shared.clone()
            };
            state.pools.watch("http", &state.db);
            let mut app = App::new()
                .wrap(crate::cors::middleware(&state.settings))
                // Outermost, so that every response carries the id (CORS refusals too).
                .wrap(actix_web::middleware::from_fn(request_id::middleware))
                .app_data(web::Data::new(graphql::build(state.clone())))
                .app_data(web::Data::new(state));
            if metrics_on_main_port {
                app = app
                    .app_data(web::Data::new(endpoint.clone()))
                    .route("/metrics", web::get().to(endpoint::metrics));
            }
            app.configure(http::configure)
        })
        // On stop, actix itself drains: it stops accepting, answers requests in flight with
        // `Connection: close` and closes idle keep-alive connections; this bounds the wait.
        .shutdown_timeout(state.settings.http_shutdown_timeout.as_secs())
        // Time to receive a request's head. actix's 5 s default answered 408 to clients that
        // had connected while the worker was saturated; slow-header clients still time out.
        .client_request_timeout(std::time::Duration::from_secs(30))
        // Ctrl-C and SIGTERM both drain in-flight requests (see `run_until_stopped`); actix
        // alone would stop at once on Ctrl-C.
        .disable_signals()
        .workers(workers)
        .listen(listener)?
        .run();
        tracing::info!(
            "saaskit listening on http://{addr} (GraphQL at /graphql, GraphiQL at /graphiql)"
        );
        Ok(Self {
            port: addr.port(),
            server,
            state,
            worker: Some(worker),
            metrics,
        })
    }

    /// Leaves jobs to separate `saaskit worker` processes (`saaskit serve --no-worker`): this
    /// node still records mail and enqueues it, but sends none.
    #[must_use]
    pub fn without_worker(mut self) -> Self {
        self.worker = None;
        self
    }

    /// The port the server is bound to (useful with `SAASKIT_BIND=127.0.0.1:0`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `SAASKIT_METRICS_BIND` listener, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves (and runs the job worker) until the process receives Ctrl-C or SIGTERM, then
    /// stops accepting connections, answers the requests in flight for at most
    /// `SAASKIT_HTTP_SHUTDOWN_TIMEOUT`, and lets running jobs finish for at most
    /// `SAASKIT_JOB_SHUTDOWN_TIMEOUT`.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests and jobs");
            let _ = stop.send(true);
            handle.stop(true).await;
            if let Some(metrics) = metrics {
                metrics.stop(false).await;
            }
        });
        let worker = self.worker.map(|worker| {
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let signal = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                if let Err(err) = worker.run_until(signal).await {
                    tracing::error!(error = %err, "the job worker stopped");
                }
            })
        });
        let served = self.server.await;
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        served
    }
}

/// Runs the job worker alone, without HTTP (`saaskit worker`), until Ctrl-C or SIGTERM.
///
/// # Errors
/// As [`build_worker`].
pub async fn run_worker(settings: Settings) -> anyhow::Result<()> {
    let worker = build_worker(&settings, Arc::new(SystemClock)).await?;
    let metrics = match &settings.metrics_bind {
        Some(bind) => {
            telemetry::metrics::handle();
            let pools = Pools::default();
            worker.watch_pools(&pools);
            let endpoint = MetricsEndpoint {
                pools,
                token: settings.metrics_token.clone(),
            };
            let (server, _) = endpoint::listen(bind, endpoint)?;
            let handle = server.handle();
            tokio::spawn(server);
            Some(handle)
        }
        None => None,
    };
    tracing::info!("saaskit worker running: sending mail from the outbox");
    let ran = worker.run_until(shutdown_signal()).await;
    if let Some(metrics) = metrics {
        metrics.stop(false).await;
    }
    ran
}

/// A job worker on the database of `settings` (migrated first), not yet running.
///
/// # Errors
/// As [`Application::build`]; or the mail settings are unusable.
pub async fn build_worker(settings: &Settings, clock: SharedClock) -> anyhow::Result<Worker> {
    build_worker_with(settings, clock, Arc::new(ManualProvider)).await
}

/// As [`build_worker`], asking `billing` to pay for renewals.
///
/// # Errors
/// As [`build_worker`].
pub async fn build_worker_with(
    settings: &Settings,
    clock: SharedClock,
    billing: Arc<dyn BillingProvider>,
) -> anyhow::Result<Worker> {
    connect_and_migrate(settings).await?.close().await?;
    let url = settings.database_url.expose_secret();
    let queue = Queue::open(url).await.with_context(|| {
        format!(
            "cannot open the job queue in {} (DATABASE_URL)",
            redact(url)
        )
    })?;
    let db = db::PoolSpec::parse(url, settings.db_max_connections)?.open_lazy();
    Worker::new(settings, db, queue, clock, billing)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Ensures the staff user named by `SAASKIT_BOOTSTRAP_STAFF_EMAIL`/`_PASSWORD` exists: creates
/// it, or confirms an existing staff user. An existing account that is not staff is never
/// promoted (whoever signed it up chose its password): that is logged as an error and start-up
/// goes on.
async fn bootstrap_staff(
    db: &DatabaseConnection,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    use services::identity::staff::{Ensured, IfNotStaff};
    let (Some(email), Some(password)) = (
        &settings.bootstrap_staff_email,
        &settings.bootstrap_staff_password,
    ) else {
        return Ok(());
    };
    let ensured = services::identity::staff::ensure_staff(
        db,
        email,
        password.clone(),
        IfNotStaff::Refuse,
        now,
    )
    .await
    .map_err(|err| anyhow::anyhow!("SAASKIT_BOOTSTRAP_STAFF_EMAIL/PASSWORD: {err}"))?;
    match ensured {
        Ensured::Created => tracing::info!(email = %email, "created the bootstrap staff user"),
        Ensured::AlreadyStaff | Ensured::Promoted => {}
        Ensured::Refused => tracing::error!(
            email = %email,
            "SAASKIT_BOOTSTRAP_STAFF_EMAIL names an existing account that is not staff; it was \
             not promoted (its password is not the bootstrap one). If that account is yours, \
             run `saaskit staff create --promote --email <it>`"
        ),
    }
    Ok(())
}

/// Connects and applies pending migrations (`saaskit migrate`).
///
/// # Errors
/// As [`Application::build`].
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    connect_and_migrate(settings).await.map(drop)
}

/// Opens the pool and applies pending migrations.
///
/// # Errors
/// As [`Application::build`].
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url.expose_secret();
    let db = db::connect(url, settings.db_max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot connect to the database {} (DATABASE_URL); is it running, and does the URL name it?",
                redact(url)
            )
        })?;
    Migrator::up(&db, None).await.with_context(|| {
        format!(
            "cannot apply the migrations to {} (DATABASE_URL); does the user own the schema?",
            redact(url)
        )
    })?;
    Ok(db)
}

/// The URL without its password, fit for a log line.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/saaskit"),
            "postgres://app@db:5432/saaskit"
        );
        assert_eq!(
            redact("sqlite://saaskit.db?mode=rwc"),
            "sqlite://saaskit.db?mode=rwc"
        );
    }
}
