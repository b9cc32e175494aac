//! SMTP for real, against the loopback server of `scripts/smtp-server.py`: `TEST_SMTP_URL`
//! names a running one whose messages land in `TEST_SMTP_DIR` (`.ci/run` starts it). Without
//! it these tests say they are skipped and pass.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::json;

use super::{outbox, reset_token, wait_for_mails};
use crate::helpers::{data, spawn_app_with};

fn smtp_server() -> Option<(String, PathBuf)> {
    match (
        std::env::var("TEST_SMTP_URL"),
        std::env::var("TEST_SMTP_DIR"),
    ) {
        (Ok(url), Ok(dir)) if !url.is_empty() && !dir.is_empty() => Some((url, dir.into())),
        _ => {
            eprintln!("skipped: TEST_SMTP_URL and TEST_SMTP_DIR are not set (see .ci/run)");
            None
        }
    }
}

async fn request_reset(app: &crate::helpers::TestApp, email: &str) {
    let response = app
        .graphql(
            "mutation($email: String!) { requestPasswordReset(email: $email) }",
            json!({ "email": email }),
            None,
        )
        .await;
    assert_eq!(data(&response)["requestPasswordReset"], true);
}

#[tokio::test]
async fn a_reset_mail_goes_through_a_real_smtp_server() {
    let Some((url, dir)) = smtp_server() else {
        return;
    };
    let app = spawn_app_with(|figment| figment.merge(("smtp_url", url))).await;
    // Unique per run: the server's directory is shared by every test.
    let email = format!("smtp-{}@example.com", uuid::Uuid::new_v4().simple());
    app.signup(&email).await;
    request_reset(&app, &email).await;

    let mails = wait_for_mails(&dir, Some(&email), 1).await;
    let token = reset_token(&mails[0]);
    let response = app
        .graphql(
            "mutation($t: String!) { resetPassword(input: { token: $t, newPassword: \"smtp password\" }) { token } }",
            json!({ "t": token }),
            None,
        )
        .await;
    data(&response);
}

/// Stops the child server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(port: u16, dir: &Path) -> Server {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/smtp-server.py");
    let child = Command::new("/usr/bin/python3")
        .arg(script)
        .args(["--port", &port.to_string(), "--dir"])
        .arg(dir)
        .spawn()
        .expect("scripts/smtp-server.py starts");
    Server(child)
}

#[tokio::test]
async fn a_mail_waits_for_the_smtp_server_and_arrives_once_it_is_back() {
    if smtp_server().is_none() {
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let app =
        spawn_app_with(|figment| figment.merge(("smtp_url", format!("smtp://127.0.0.1:{port}"))))
            .await;
    app.signup("hal@example.com").await;
    request_reset(&app, "hal@example.com").await;

    // The server is down: the request was accepted, and the job keeps failing and retrying.
    let start = std::time::Instant::now();
    loop {
        let rows = outbox(&app).await;
        if rows.len() == 1 && rows[0].attempts >= 2 {
            assert!(rows[0].sent_at.is_none());
            assert!(rows[0].last_error.is_some(), "the failure is recorded");
            break;
        }
        assert!(start.elapsed() < super::PATIENCE, "no retry seen: {rows:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let dir = tempfile::tempdir().expect("a directory");
    let _server = start_server(port, dir.path());
    wait_for_mails(dir.path(), Some("hal@example.com"), 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(super::mails_in(dir.path(), None).len(), 1);
    let rows = outbox(&app).await;
    assert!(rows[0].sent_at.is_some());
}
