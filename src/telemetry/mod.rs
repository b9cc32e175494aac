//! What a running saaskit tells its operators: log lines (the tracing subscriber), Prometheus
//! metrics ([`metrics`], served by [`endpoint`]), request ids ([`request_id`]) and spans per
//! root field ([`spans`]).

pub mod endpoint;
pub mod metrics;
pub mod operation;
pub mod pools;
pub mod request_id;
pub mod spans;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber, writing to stderr. A second call (as in tests) is a no-op.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|err| {
        eprintln!("warning: log filter {filter:?} is invalid ({err}); using \"info\"");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // Err only means a subscriber is already installed.
    let _ = match format {
        LogFormat::Compact => builder.compact().try_init(),
        LogFormat::Pretty => builder.pretty().try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
