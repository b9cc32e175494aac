//! Typed settings. This is the only module that reads the environment (and `.env`).
//!
//! Every setting has the default documented in `docs/operations.md`, so `cargo run` needs none; a value
//! that cannot be parsed is reported with the name of its variable.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use figment::providers::Serialized;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

use crate::client_addr::TrustedProxies;
use crate::cors::AllowedOrigins;

/// Where saaskit runs: production closes GraphiQL and introspection to everyone but staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Compact,
    Pretty,
    Json,
}

/// All of saaskit's settings, read once at start.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…`.
    pub database_url: SecretString,
    /// `SAASKIT_BIND`: the HTTP listen address; port 0 picks a free port.
    pub bind: String,
    /// `SAASKIT_ROOT_KEY`: hex ed25519 private key that signs every token.
    pub root_key: Option<SecretString>,
    /// `SAASKIT_ROOT_KEY_FILE`: where development keeps its generated root key.
    pub root_key_file: PathBuf,
    /// `SAASKIT_PUBLIC_URL`: the base of links in e-mails.
    pub public_url: String,
    /// `SAASKIT_SMTP_URL`: unset means e-mails are written as files into `mail_dir`.
    pub smtp_url: Option<SecretString>,
    /// `SAASKIT_MAIL_DIR`.
    pub mail_dir: PathBuf,
    /// `SAASKIT_MAIL_FROM`.
    pub mail_from: String,
    /// `SAASKIT_CYCLE_EVERY`: how often the subscription cycle runs.
    #[serde(with = "humantime_serde")]
    pub cycle_every: Duration,
    /// `SAASKIT_BILLING_GRACE`: how long a PAST_DUE subscription waits before EXPIRED.
    #[serde(with = "humantime_serde")]
    pub billing_grace: Duration,
    /// `SAASKIT_IDEMPOTENCY_WINDOW`: how long usage idempotency keys are kept.
    #[serde(with = "humantime_serde")]
    pub idempotency_window: Duration,
    /// `SAASKIT_SESSION_TTL`: lifetime of a login session.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// `SAASKIT_ENV`.
    pub env: Environment,
    /// `SAASKIT_BOOTSTRAP_STAFF_EMAIL`.
    pub bootstrap_staff_email: Option<String>,
    /// `SAASKIT_BOOTSTRAP_STAFF_PASSWORD`.
    pub bootstrap_staff_password: Option<SecretString>,
    /// `SAASKIT_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `RUST_LOG`, else `SAASKIT_LOG`: a tracing filter such as `info,saaskit=debug`.
    pub log: String,
    /// `SAASKIT_HTTP_WORKERS`: HTTP worker threads; unset means one per core.
    #[serde(default, deserialize_with = "optional_number")]
    pub http_workers: Option<usize>,
    /// `SAASKIT_TRUSTED_PROXIES`: comma-separated IPs and CIDR networks of the proxies whose
    /// `X-Forwarded-For` is believed; empty (the default) means the TCP peer is the client.
    #[serde(deserialize_with = "trusted_proxies")]
    pub trusted_proxies: TrustedProxies,
    /// The former `SAASKIT_TRUST_FORWARDED_FOR`, refused so that an old deployment does not
    /// silently count every client as its proxy.
    #[serde(default)]
    trust_forwarded_for: Option<Value>,
    /// `SAASKIT_AUTH_ATTEMPTS_PER_MINUTE`: `login` and `signup` attempts one client address
    /// may make per minute on one node, whatever the e-mail.
    #[serde(deserialize_with = "number")]
    pub auth_attempts_per_minute: NonZeroU32,
    /// `SAASKIT_DB_MAX_CONNECTIONS`: size of the database pool; unset means 10 on PostgreSQL
    /// and 4 on SQLite (one writer at a time: more connections only wait longer for the lock).
    #[serde(default, deserialize_with = "optional_number")]
    pub db_max_connections: Option<u32>,
    /// `SAASKIT_JOB_RETRY_BASE`: the first retry of a failed mail waits this long, each next
    /// one twice as long as the one before.
    #[serde(with = "humantime_serde")]
    pub job_retry_base: Duration,
    /// `SAASKIT_JOB_MAX_ATTEMPTS`: sends tried per hand-over before a mail is left to the
    /// sweep (kept in the outbox with its last error, never dropped).
    #[serde(deserialize_with = "number")]
    pub job_max_attempts: u32,
    /// `SAASKIT_JOB_POLL_EVERY`: how often an idle worker looks for new jobs.
    #[serde(with = "humantime_serde")]
    pub job_poll_every: Duration,
    /// `SAASKIT_OUTBOX_SWEEP_EVERY`: how often the worker looks for mail that was committed but
    /// never handed over, or whose job died.
    #[serde(with = "humantime_serde")]
    pub outbox_sweep_every: Duration,
    /// `SAASKIT_OUTBOX_STALE_AFTER`: an unsent mail handed over this long ago is handed over
    /// again by the sweep.
    #[serde(with = "humantime_serde")]
    pub outbox_stale_after: Duration,
    /// `SAASKIT_JOB_SHUTDOWN_TIMEOUT`: on Ctrl-C/SIGTERM, how long running jobs may take to
    /// finish.
    #[serde(with = "humantime_serde")]
    pub job_shutdown_timeout: Duration,
    /// `SAASKIT_HTTP_SHUTDOWN_TIMEOUT`: on Ctrl-C/SIGTERM, how long in-flight HTTP requests may
    /// take to finish before their connections are closed.
    #[serde(with = "humantime_serde")]
    pub http_shutdown_timeout: Duration,
    /// `SAASKIT_CORS_ORIGINS`: comma-separated browser origins allowed to call the API, or `*`;
    /// unset means any localhost origin in development and none in production.
    #[serde(default, deserialize_with = "cors_origins")]
    pub cors_origins: AllowedOrigins,
    /// `SAASKIT_REQUEST_TIMEOUT`: how long one HTTP request to `/graphql` may run before it is
    /// answered with `TIMEOUT` (its unfinished work is dropped, its open transaction rolled
    /// back) — unless a usage call of it has entered a batch, whose answer it then waits for,
    /// at most as long again (`services::usage::Pending`).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// `SAASKIT_USAGE_RATE_PER_SECOND`: `recordUsage` calls per second one SDK key (one
    /// session) may make on one node, after its burst.
    #[serde(deserialize_with = "number")]
    pub usage_rate_per_second: NonZeroU32,
    /// `SAASKIT_USAGE_RATE_BURST`: `recordUsage` calls one SDK key may make at once.
    #[serde(deserialize_with = "number")]
    pub usage_rate_burst: NonZeroU32,
    /// `SAASKIT_USAGE_WRITERS`: group-commit writers of usage on this node, each with its own
    /// database connection; a business's calls always go to the same one. Unset means 2 on
    /// PostgreSQL and 1 on SQLite (one write at a time).
    #[serde(default, deserialize_with = "optional_number")]
    pub usage_writers: Option<u32>,
    /// `SAASKIT_METRICS_BIND`: a listener of its own for `/metrics` and `/health`; `saaskit
    /// serve` then serves `/metrics` only there, and `saaskit worker` serves it at all.
    #[serde(default)]
    pub metrics_bind: Option<String>,
    /// `SAASKIT_METRICS_TOKEN`: when set, a scrape must send `Authorization: Bearer <it>`.
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
    /// `SAASKIT_METRICS_OPERATIONS`: comma-separated operation names that `/metrics` labels by
    /// name besides saaskit's own (`examples/operations`); every other name is `other`.
    #[serde(default, deserialize_with = "names")]
    pub metrics_operations: Vec<String>,
}

/// The defaults, as the figment layer everything else overrides.
#[derive(Serialize)]
struct Defaults {
    database_url: &'static str,
    bind: &'static str,
    root_key_file: &'static str,
    public_url: &'static str,
    mail_dir: &'static str,
    mail_from: &'static str,
    cycle_every: &'static str,
    billing_grace: &'static str,
    idempotency_window: &'static str,
    session_ttl: &'static str,
    env: Environment,
    log_format: LogFormat,
    log: &'static str,
    trusted_proxies: &'static str,
    auth_attempts_per_minute: u32,
    job_retry_base: &'static str,
    job_max_attempts: u32,
    job_poll_every: &'static str,
    outbox_sweep_every: &'static str,
    outbox_stale_after: &'static str,
    job_shutdown_timeout: &'static str,
    http_shutdown_timeout: &'static str,
    request_timeout: &'static str,
    usage_rate_per_second: u32,
    usage_rate_burst: u32,
}

const DEFAULTS: Defaults = Defaults {
    database_url: "sqlite://saaskit.db?mode=rwc",
    bind: "127.0.0.1:8080",
    root_key_file: ".saaskit/root.key",
    public_url: "http://127.0.0.1:8080",
    mail_dir: "mail-outbox",
    mail_from: "saaskit <no-reply@localhost>",
    cycle_every: "60s",
    billing_grace: "7d",
    idempotency_window: "24h",
    session_ttl: "24h",
    env: Environment::Development,
    log_format: LogFormat::Compact,
    log: "info,sqlx=warn,sea_orm=warn",
    trusted_proxies: "",
    auth_attempts_per_minute: 20,
    job_retry_base: "1s",
    job_max_attempts: 8,
    job_poll_every: "1s",
    outbox_sweep_every: "5s",
    outbox_stale_after: "10m",
    job_shutdown_timeout: "30s",
    http_shutdown_timeout: "10s",
    request_timeout: "15s",
    usage_rate_per_second: 1_000,
    usage_rate_burst: 2_000,
};

/// How long a login session may be set to live: past a year, dates overflow long before a
/// session could matter, and under a minute no one can use one.
pub const SESSION_TTL_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(60)..=Duration::from_secs(365 * 24 * 3600);

/// How long a PAST_DUE subscription may wait: zero expires it at the first decline; past a
/// year no one is still waiting to pay.
pub const BILLING_GRACE_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::ZERO..=Duration::from_secs(365 * 24 * 3600);

/// How long usage idempotency keys are kept: `recordUsage` promises at least a day.
pub const IDEMPOTENCY_WINDOW_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(24 * 3600)..=Duration::from_secs(365 * 24 * 3600);

/// How long a request may run: a request of an hour is already a stuck one.
pub const REQUEST_TIMEOUT_RANGE: std::ops::RangeInclusive<Duration> =
    Duration::from_millis(1)..=Duration::from_secs(3600);

/// A setting that could not be used, named by its environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is invalid: {reason}")]
    Invalid { var: String, reason: String },
}

impl Settings {
    /// Reads `.env` (when present) and the environment.
    ///
    /// # Errors
    /// A variable that cannot be parsed, or a value that makes no sense (e.g. a `DATABASE_URL`
    /// of an unsupported database).
    pub fn load() -> Result<Self, ConfigError> {
        // A missing .env is the normal case; a malformed one is worth failing on.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(err) if err.not_found() => {}
            Err(err) => {
                return Err(ConfigError::Invalid {
                    var: ".env".into(),
                    reason: err.to_string(),
                });
            }
        }
        Self::from_figment(Self::defaults().merge(VerbatimEnv))
    }

    /// The defaults alone; tests and tools merge their own values over them.
    pub fn defaults() -> Figment {
        Figment::from(Serialized::defaults(DEFAULTS))
    }

    /// Extracts and checks settings from any figment (the environment, or a test's values).
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment.extract().map_err(|err| ConfigError::Invalid {
            var: err
                .path
                .first()
                .map_or_else(String::new, |key| variable_of(key)),
            reason: err.kind.to_string(),
        })?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;
        let invalid = |var: &str, reason: &str| ConfigError::Invalid {
            var: var.into(),
            reason: reason.into(),
        };
        let url = self.database_url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "DATABASE_URL",
                "expected sqlite://<file>?mode=rwc or postgres://user@host/db",
            ));
        }
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err(invalid(
                "SAASKIT_PUBLIC_URL",
                "expected an http:// or https:// URL",
            ));
        }
        if !SESSION_TTL_RANGE.contains(&self.session_ttl) {
            return Err(invalid(
                "SAASKIT_SESSION_TTL",
                "must be between 1m and 365d (e.g. 24h)",
            ));
        }
        if !BILLING_GRACE_RANGE.contains(&self.billing_grace) {
            return Err(invalid(
                "SAASKIT_BILLING_GRACE",
                "must be between 0s and 365d (e.g. 7d)",
            ));
        }
        if !IDEMPOTENCY_WINDOW_RANGE.contains(&self.idempotency_window) {
            return Err(invalid(
                "SAASKIT_IDEMPOTENCY_WINDOW",
                "must be between 24h and 365d (recordUsage promises a day)",
            ));
        }
        if self.cycle_every.is_zero() {
            return Err(invalid("SAASKIT_CYCLE_EVERY", "must be longer than zero"));
        }
        for (var, every) in [
            ("SAASKIT_JOB_RETRY_BASE", self.job_retry_base),
            ("SAASKIT_JOB_POLL_EVERY", self.job_poll_every),
            ("SAASKIT_OUTBOX_SWEEP_EVERY", self.outbox_sweep_every),
            ("SAASKIT_OUTBOX_STALE_AFTER", self.outbox_stale_after),
        ] {
            if every.is_zero() {
                return Err(invalid(var, "must be longer than zero"));
            }
        }
        if self.http_shutdown_timeout < Duration::from_secs(1) {
            // actix counts it in whole seconds: less would cut every request in flight.
            return Err(invalid(
                "SAASKIT_HTTP_SHUTDOWN_TIMEOUT",
                "must be at least 1s",
            ));
        }
        if self.job_max_attempts == 0 {
            return Err(invalid("SAASKIT_JOB_MAX_ATTEMPTS", "must be at least 1"));
        }
        if self
            .usage_writers
            .is_some_and(|writers| !(1..=64).contains(&writers))
        {
            return Err(invalid("SAASKIT_USAGE_WRITERS", "must be 1 to 64"));
        }
        if self.db_max_connections == Some(0) {
            return Err(invalid("SAASKIT_DB_MAX_CONNECTIONS", "must be at least 1"));
        }
        if self.bootstrap_staff_email.is_some() != self.bootstrap_staff_password.is_some() {
            return Err(invalid(
                "SAASKIT_BOOTSTRAP_STAFF_EMAIL",
                "set it together with SAASKIT_BOOTSTRAP_STAFF_PASSWORD, or neither",
            ));
        }
        if self.trust_forwarded_for.is_some() {
            return Err(invalid(
                "SAASKIT_TRUST_FORWARDED_FOR",
                "replaced by SAASKIT_TRUSTED_PROXIES: list the proxies' addresses instead",
            ));
        }
        if !REQUEST_TIMEOUT_RANGE.contains(&self.request_timeout) {
            return Err(invalid(
                "SAASKIT_REQUEST_TIMEOUT",
                "must be between 1ms and 1h (e.g. 15s)",
            ));
        }
        if self.http_workers == Some(0) {
            return Err(invalid("SAASKIT_HTTP_WORKERS", "must be at least 1"));
        }
        Ok(())
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }
}

/// The environment variable that sets the field `key`.
fn variable_of(key: &str) -> String {
    match key {
        "database_url" => "DATABASE_URL".to_owned(),
        "log" => "RUST_LOG or SAASKIT_LOG".to_owned(),
        other => format!("SAASKIT_{}", other.to_uppercase()),
    }
}

/// saaskit's variables, each value kept as the string it is. (figment's own `Env` provider
/// re-types values, so a password of digits would arrive as a number.) Empty means unset.
struct VerbatimEnv;

impl Provider for VerbatimEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variables")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        let mut rust_log = None;
        for (name, value) in std::env::vars() {
            if value.is_empty() {
                continue;
            }
            let key = match name.as_str() {
                "DATABASE_URL" => "database_url".to_owned(),
                "RUST_LOG" => {
                    rust_log = Some(value);
                    continue;
                }
                _ => match name.strip_prefix("SAASKIT_") {
                    Some(rest) => rest.to_lowercase(),
                    None => continue,
                },
            };
            dict.insert(key, Value::from(value));
        }
        // The conventional variable wins over ours.
        if let Some(filter) = rust_log {
            dict.insert("log".to_owned(), Value::from(filter));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// A number given as a number (defaults, tests) or as a string (the environment).
fn number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    let text = match Raw::deserialize(deserializer)? {
        Raw::Number(n) => n.to_string(),
        Raw::Text(text) => text,
    };
    text.trim()
        .parse()
        .map_err(|err| serde::de::Error::custom(format!("{text:?} is not a number: {err}")))
}

fn trusted_proxies<'de, D: Deserializer<'de>>(deserializer: D) -> Result<TrustedProxies, D::Error> {
    let list = String::deserialize(deserializer)?;
    TrustedProxies::parse(&list).map_err(serde::de::Error::custom)
}

fn names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let list = String::deserialize(deserializer)?;
    Ok(list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect())
}

fn cors_origins<'de, D: Deserializer<'de>>(deserializer: D) -> Result<AllowedOrigins, D::Error> {
    let list = String::deserialize(deserializer)?;
    AllowedOrigins::parse(&list).map_err(serde::de::Error::custom)
}

fn optional_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    number(deserializer).map(Some)
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut figment = Settings::defaults();
        for (key, value) in pairs {
            figment = figment.merge((*key, *value));
        }
        Settings::from_figment(figment)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let settings = with(&[]).expect("defaults parse");
        assert_eq!(settings.bind, "127.0.0.1:8080");
        assert_eq!(settings.cycle_every, Duration::from_secs(60));
        assert_eq!(settings.session_ttl, Duration::from_secs(24 * 3600));
        assert_eq!(settings.env, Environment::Development);
        assert!(settings.root_key.is_none());
    }

    #[test]
    fn an_unparsable_duration_names_its_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAASKIT_CYCLE_EVERY", "soon");
            let err = Settings::load().expect_err("must fail");
            assert!(err.to_string().starts_with("SAASKIT_CYCLE_EVERY"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_session_ttl_outside_a_minute_to_a_year_is_refused() {
        for ttl in ["5000000000000h", "366d", "59s", "0s"] {
            let err = with(&[("session_ttl", ttl)]).expect_err(ttl);
            assert!(err.to_string().starts_with("SAASKIT_SESSION_TTL"), "{err}");
        }
        for ttl in ["1m", "365d", "24h"] {
            with(&[("session_ttl", ttl)]).expect(ttl);
        }
    }

    #[test]
    fn billing_grace_and_idempotency_window_are_checked() {
        let settings = with(&[]).expect("defaults parse");
        assert_eq!(settings.billing_grace, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(settings.idempotency_window, Duration::from_secs(24 * 3600));
        for (key, value, var) in [
            ("billing_grace", "366d", "SAASKIT_BILLING_GRACE"),
            ("billing_grace", "5000000000000h", "SAASKIT_BILLING_GRACE"),
            ("idempotency_window", "1h", "SAASKIT_IDEMPOTENCY_WINDOW"),
            ("idempotency_window", "400d", "SAASKIT_IDEMPOTENCY_WINDOW"),
        ] {
            let err = with(&[(key, value)]).expect_err(value);
            assert!(err.to_string().starts_with(var), "{err}");
        }
        with(&[("billing_grace", "0s"), ("idempotency_window", "48h")]).expect("in range");
    }

    #[test]
    fn the_http_shutdown_timeout_is_whole_seconds_from_one() {
        let settings = with(&[]).expect("parses");
        assert_eq!(settings.http_shutdown_timeout, Duration::from_secs(10));
        let err = with(&[("http_shutdown_timeout", "500ms")]).expect_err("must fail");
        assert!(
            err.to_string().starts_with("SAASKIT_HTTP_SHUTDOWN_TIMEOUT"),
            "{err}"
        );
    }

    #[test]
    fn the_request_timeout_is_bounded() {
        assert_eq!(
            with(&[]).expect("defaults").request_timeout,
            Duration::from_secs(15)
        );
        for timeout in ["0s", "2h"] {
            let err = with(&[("request_timeout", timeout)]).expect_err(timeout);
            assert!(
                err.to_string().starts_with("SAASKIT_REQUEST_TIMEOUT"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_unsupported_database_is_refused() {
        let err = with(&[("database_url", "mysql://localhost/x")]).expect_err("must fail");
        assert!(err.to_string().starts_with("DATABASE_URL"), "{err}");
    }

    #[test]
    fn trusted_proxies_are_a_list_and_the_old_flag_is_refused() {
        let settings = with(&[("trusted_proxies", "10.0.0.0/8, 127.0.0.1")]).expect("parses");
        assert!(settings.trusted_proxies.contains([10, 1, 2, 3].into()));
        assert!(!settings.trusted_proxies.contains([192, 0, 2, 1].into()));
        let err = with(&[("trusted_proxies", "10.0.0.0/33")]).expect_err("must fail");
        assert!(
            err.to_string().starts_with("SAASKIT_TRUSTED_PROXIES"),
            "{err}"
        );
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAASKIT_TRUST_FORWARDED_FOR", "true");
            let err = Settings::load().expect_err("must fail");
            assert!(err.to_string().contains("SAASKIT_TRUSTED_PROXIES"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn cors_origins_are_a_list_and_a_bad_one_names_its_variable() {
        assert_eq!(
            with(&[]).expect("parses").cors_origins,
            AllowedOrigins::Default
        );
        let settings = with(&[("cors_origins", "https://app.example.com")]).expect("parses");
        assert_eq!(
            settings.cors_origins,
            AllowedOrigins::List(vec!["https://app.example.com".into()])
        );
        let err = with(&[("cors_origins", "app.example.com/")]).expect_err("must fail");
        assert!(err.to_string().starts_with("SAASKIT_CORS_ORIGINS"), "{err}");
    }

    #[test]
    fn a_numeric_looking_secret_stays_a_string() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SAASKIT_ROOT_KEY", "1234");
            jail.set_env("SAASKIT_MAIL_FROM", "42");
            jail.set_env("SAASKIT_DB_MAX_CONNECTIONS", "7");
            let settings = Settings::load().expect("loads");
            assert_eq!(settings.mail_from, "42");
            assert_eq!(settings.db_max_connections, Some(7));
            Ok(())
        });
    }
}
