//! A `saaskit serve` process of the test's own. The metrics recorder is one per process, and
//! in-process tests share theirs with every test running beside them; a process of its own
//! counts exactly what its test did, so figures can be asserted exactly.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::test_client;

/// A `saaskit serve` process with its stderr in `saaskit.log` of its directory; killed when
/// dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `saaskit serve` on `db_url` in `dir` (mail into `dir/mail`), with jobs that poll
    /// and sweep as fast as the in-process tests', and `env` over that.
    pub fn start(dir: &Path, db_url: &str, env: &[(&str, &str)]) -> Server {
        let log = dir.join("saaskit.log");
        let file = std::fs::File::create(&log).expect("a log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_saaskit"));
        command
            .arg("serve")
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .env("DATABASE_URL", db_url)
            .env("SAASKIT_BIND", "127.0.0.1:0")
            .env("SAASKIT_MAIL_DIR", dir.join("mail"))
            .env("SAASKIT_HTTP_WORKERS", "1")
            .env("SAASKIT_JOB_POLL_EVERY", "100ms")
            .env("SAASKIT_OUTBOX_SWEEP_EVERY", "300ms")
            // As the in-process tests: a queued mail whose job stalls is delivered by the sweep.
            .env("SAASKIT_OUTBOX_STALE_AFTER", "3s");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("saaskit starts");
        let started = Instant::now();
        let base = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(at) = text.find("saaskit listening on http://") {
                let rest = &text[at + "saaskit listening on ".len()..];
                break rest
                    .split_whitespace()
                    .next()
                    .expect("an address")
                    .to_owned();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "saaskit did not start:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        Server { child, base }
    }

    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = test_client()
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json")
    }

    /// `GET path` with `token` as the bearer, when given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = test_client().get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("sent")
    }
}
