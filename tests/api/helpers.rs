//! `spawn_app()`: the real server on a free port, on a database of its own.
//!
//! SQLite by default (a file in a temporary directory); PostgreSQL when `TEST_DATABASE_URL`
//! is set, with a fresh database per test that is dropped afterwards.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use saaskit::clock::{SharedClock, SystemClock};
use saaskit::config::Settings;
use saaskit::services::billing::provider::{BillingProvider, ManualProvider};
use saaskit::startup::Application;
use saaskit::state::AppState;
use sea_orm::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use serde_json::{Value, json};
use tempfile::TempDir;

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub client: reqwest::Client,
    /// Where the file transport writes this node's mail (`.eml` files).
    pub mail_dir: PathBuf,
    /// The settings this node was built with.
    pub settings: Settings,
    /// The port of the `SAASKIT_METRICS_BIND` listener, when the test set one.
    pub metrics_port: Option<u16>,
    _db: TestDatabase,
    /// Holds the mail outbox and the SQLite file, removed when the test ends.
    _dir: TempDir,
}

/// Starts saaskit on `127.0.0.1:0` against a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|figment| figment).await
}

/// As [`spawn_app`], with settings of the test's own merged over the test defaults.
pub async fn spawn_app_with(
    customize: impl FnOnce(figment::Figment) -> figment::Figment,
) -> TestApp {
    spawn_app_on(Arc::new(SystemClock), customize).await
}

/// As [`spawn_app`], on a clock the test moves.
pub async fn spawn_app_with_clock(clock: SharedClock) -> TestApp {
    spawn_app_on(clock, |figment| figment).await
}

/// A clock for [`spawn_app_with_clock`], at the current whole second (Biscuit's `time` facts
/// have whole seconds).
pub fn manual_clock() -> Arc<saaskit::clock::ManualClock> {
    use chrono::SubsecRound;
    Arc::new(saaskit::clock::ManualClock::starting_at(
        chrono::Utc::now().trunc_subsecs(0),
    ))
}

/// As [`spawn_app_with_clock`], with settings of the test's own (e.g. `("http_workers", 2)`).
pub async fn spawn_app_with_clock_and(
    clock: SharedClock,
    customize: impl FnOnce(figment::Figment) -> figment::Figment,
) -> TestApp {
    spawn_app_on(clock, customize).await
}

pub async fn spawn_app_on(
    clock: SharedClock,
    customize: impl FnOnce(figment::Figment) -> figment::Figment,
) -> TestApp {
    spawn_app_billed(clock, Arc::new(ManualProvider))
        .await_with(customize)
        .await
}

/// As [`spawn_app_with_clock`], asking `billing` to pay for plan changes (and, in its worker,
/// for renewals).
pub fn spawn_app_billed(clock: SharedClock, billing: Arc<dyn BillingProvider>) -> Spawn {
    Spawn { clock, billing }
}

/// A test app about to start; `.await` it, or `.await_with(settings)`.
pub struct Spawn {
    clock: SharedClock,
    billing: Arc<dyn BillingProvider>,
}

impl Spawn {
    pub async fn await_with(
        self,
        customize: impl FnOnce(figment::Figment) -> figment::Figment,
    ) -> TestApp {
        init_test_logging();
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = TestDatabase::create(&dir).await;
        let key = saaskit::auth::keys::generate_hex();
        let figment = customize(node_settings(&db.url(), &key, dir.path()));
        start(figment, self.clock, self.billing, db, dir, true).await
    }
}

impl std::future::IntoFuture for Spawn {
    type Output = TestApp;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = TestApp> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.await_with(|figment| figment))
    }
}

/// As [`spawn_app_with`], as `saaskit serve --no-worker`: mail is recorded and enqueued, never
/// sent by this node.
pub async fn spawn_app_without_worker(
    customize: impl FnOnce(figment::Figment) -> figment::Figment,
) -> TestApp {
    init_test_logging();
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = TestDatabase::create(&dir).await;
    let key = saaskit::auth::keys::generate_hex();
    let figment = customize(node_settings(&db.url(), &key, dir.path()));
    let billing = Arc::new(ManualProvider);
    start(figment, Arc::new(SystemClock), billing, db, dir, false).await
}

/// The settings every test node runs with; jobs retry and sweep fast.
fn node_settings(database_url: &str, root_key: &str, dir: &Path) -> figment::Figment {
    Settings::defaults()
        .merge(("database_url", database_url))
        .merge(("bind", "127.0.0.1:0"))
        .merge(("root_key", root_key))
        .merge(("mail_dir", dir.join("mail-outbox")))
        .merge(("http_workers", 1))
        .merge(("db_max_connections", 5))
        // Every test client is 127.0.0.1; tests of the per-address rate set their own.
        .merge(("auth_attempts_per_minute", 10_000))
        .merge(("job_retry_base", "200ms"))
        .merge(("job_max_attempts", 12))
        .merge(("job_poll_every", "100ms"))
        .merge(("outbox_sweep_every", "300ms"))
        .merge(("outbox_stale_after", "3s"))
        // Tests run the cycle themselves; the one that tests the worker's sets its own.
        .merge(("cycle_every", "1h"))
}

async fn start(
    figment: figment::Figment,
    clock: SharedClock,
    billing: Arc<dyn BillingProvider>,
    db: TestDatabase,
    dir: TempDir,
    worker: bool,
) -> TestApp {
    let settings = Settings::from_figment(figment).expect("test settings");
    let mut app = Application::build_with(settings.clone(), clock, billing)
        .await
        .expect("the application builds");
    if !worker {
        app = app.without_worker();
    }
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_port = app.metrics_port();
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        state,
        client: test_client(),
        mail_dir: settings.mail_dir.clone(),
        settings,
        metrics_port,
        _db: db,
        _dir: dir,
    }
}

impl TestApp {
    /// Another saaskit process (a second replica) on the same database, root key and clock.
    pub async fn second_node(&self) -> TestApp {
        self.second_node_with(|figment| figment).await
    }

    /// As [`TestApp::second_node`], with settings of the test's own.
    pub async fn second_node_with(
        &self,
        customize: impl FnOnce(figment::Figment) -> figment::Figment,
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let key = self.state.root_key.private().to_bytes_hex();
        let figment = customize(node_settings(&self.db_url(), &key, dir.path()));
        start(
            figment,
            self.state.clock.clone(),
            self.state.billing.clone(),
            TestDatabase::Shared,
            dir,
            true,
        )
        .await
    }

    /// A separate job worker (as `saaskit worker`) on this node's database and settings,
    /// running until the test ends.
    pub async fn start_worker(&self) {
        let worker = saaskit::startup::build_worker(&self.settings, self.state.clock.clone())
            .await
            .expect("the worker builds");
        tokio::spawn(worker.run_until(std::future::pending()));
    }

    /// Makes the database unusable for the server: its `plans` table disappears.
    pub async fn break_database(&self) {
        use sea_orm::ConnectionTrait;
        self.state
            .db
            .execute_unprepared("ALTER TABLE plans RENAME TO plans_gone")
            .await
            .expect("the table is renamed");
    }

    /// The `DATABASE_URL` of this node's database (for running the `saaskit` binary on it).
    pub fn db_url(&self) -> String {
        self._db.url()
    }

    /// Posts a GraphQL request and returns the whole JSON response.
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the request is sent");
        assert!(
            response.status().is_success(),
            "GraphQL answered HTTP {}",
            response.status()
        );
        response.json().await.expect("a JSON response")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the request is sent")
    }
}

/// The first error's `extensions.code`, or a failure showing the response.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {response}"))
}

/// `data`, or a failure showing the errors.
pub fn data(response: &Value) -> &Value {
    assert!(
        response.get("errors").is_none(),
        "unexpected errors: {response}"
    );
    &response["data"]
}

pub enum TestDatabase {
    /// Another node's database, dropped by that node.
    Shared,
    Sqlite {
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDatabase {
    /// A fresh database: a SQLite file in `dir`, or a new database on `TEST_DATABASE_URL`.
    pub async fn create(dir: &TempDir) -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("saaskit_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::connect(&admin_url)
                    .await
                    .expect("TEST_DATABASE_URL is reachable");
                conn.execute(AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
                    .await
                    .expect("a test database is created");
                let url = with_database(&admin_url, &name);
                TestDatabase::Postgres {
                    admin_url,
                    name,
                    url,
                }
            }
            _ => TestDatabase::Sqlite {
                url: format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
            },
        }
    }

    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite { url } | TestDatabase::Postgres { url, .. } => url.clone(),
            TestDatabase::Shared => String::new(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let TestDatabase::Postgres {
            admin_url, name, ..
        } = self
        else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs inside the test's runtime, which cannot block: use a thread of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_url).await?;
                conn.execute(AssertSqlSafe(format!(
                    r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                )))
                .await
                .map(drop)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database {} was not dropped", self.url());
        }
    }
}

/// `postgres://user@host:5432/test?x=y` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        saaskit::telemetry::init(saaskit::config::LogFormat::Compact, "info,saaskit=debug");
    }
}

/// A business created through `signup`, with its owner's token and its SDK key.
pub struct Account {
    pub email: String,
    pub token: String,
    pub business_id: String,
    pub api_key: String,
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// Signs up `email` with a business of the same name; panics on failure.
    pub async fn signup(&self, email: &str) -> Account {
        let response = self
            .graphql(
                "mutation($input: SignupInput!) { signup(input: $input) {
                    token viewer { business { id apiKey } } } }",
                json!({ "input": {
                    "email": email, "password": PASSWORD, "name": "Owner", "businessName": email
                }}),
                None,
            )
            .await;
        let signup = &data(&response)["signup"];
        Account {
            email: email.to_owned(),
            token: signup["token"].as_str().expect("a token").to_owned(),
            business_id: signup["viewer"]["business"]["id"]
                .as_str()
                .expect("an id")
                .to_owned(),
            api_key: signup["viewer"]["business"]["apiKey"]
                .as_str()
                .expect("a key")
                .to_owned(),
        }
    }

    /// Logs in; returns the whole response.
    pub async fn login(&self, email: &str, password: &str, business_id: Option<&str>) -> Value {
        self.graphql(
            "mutation($input: LoginInput!) { login(input: $input) { token expiresAt
                viewer { role isStaff business { id } } } }",
            json!({ "input": { "email": email, "password": password, "businessId": business_id } }),
            None,
        )
        .await
    }

    /// Logs in and returns the token; panics on failure.
    pub async fn token_for(
        &self,
        email: &str,
        password: &str,
        business_id: Option<&str>,
    ) -> String {
        let response = self.login(email, password, business_id).await;
        data(&response)["login"]["token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }

    /// A staff user's token (the user is created as `saaskit staff create` would).
    pub async fn staff_token(&self, email: &str) -> String {
        saaskit::services::identity::staff::ensure_staff(
            &self.state.db,
            email,
            PASSWORD.into(),
            saaskit::services::identity::staff::IfNotStaff::Promote,
            self.state.clock.now(),
        )
        .await
        .expect("a staff user");
        self.token_for(email, PASSWORD, None).await
    }

    /// Makes `user_id` an active member of `business_id` (as an accepted invitation would).
    pub async fn add_membership(&self, business_id: &str, user_id: uuid::Uuid, role: entity::Role) {
        let business_id = business_id.parse().expect("a uuid");
        let now = self.state.clock.now();
        saaskit::services::identity::accounts::add_member(
            &self.state.db,
            business_id,
            user_id,
            role,
            now,
        )
        .await
        .expect("a membership");
    }

    /// Adds a new user to `business_id` with `role` and returns their token in that business.
    pub async fn member_token(&self, business_id: &str, email: &str, role: entity::Role) -> String {
        use entity::users;
        use sea_orm::{ActiveValue::Set, EntityTrait};
        let now = self.state.clock.now();
        let ticket = saaskit::auth::password::Budget::new()
            .take()
            .expect("a ticket");
        let hash = saaskit::auth::password::hash(&ticket, PASSWORD.into())
            .await
            .expect("a hash");
        let user_id = uuid::Uuid::now_v7();
        users::Entity::insert(users::ActiveModel {
            id: Set(user_id),
            email: Set(email.to_owned()),
            name: Set(Some("Member".to_owned())),
            password_hash: Set(Some(hash)),
            is_active: Set(true),
            is_staff: Set(false),
            is_bot: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(None),
        })
        .exec_without_returning(&self.state.db)
        .await
        .expect("a user");
        self.add_membership(business_id, user_id, role).await;
        self.token_for(email, PASSWORD, Some(business_id)).await
    }
}

/// An HTTP client that drops idle connections well before the server's 5 s keep-alive ends
/// them, so a request is never sent on a connection the server is closing (hyper's
/// `IncompleteMessage` under load).
pub fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(1))
        .build()
        .expect("an HTTP client")
}
