//! Mail: the password-reset flow read from the mail really written, delivery guarantees of the
//! outbox and the worker, and SMTP for real.

mod delivery;
mod reset;
mod smtp;

use std::path::Path;
use std::time::{Duration, Instant};

use entity::mail_outbox;
use sea_orm::EntityTrait;

use crate::helpers::TestApp;

/// How long a test waits for the worker before failing.
const PATIENCE: Duration = Duration::from_secs(60);

/// The `.eml` files in `dir` (that are addressed to `to`, when given).
pub fn mails_in(dir: &Path, to: Option<&str>) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "eml"))
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .filter(|mail| to.is_none_or(|to| header(mail, "To").contains(to)))
        .collect()
}

/// Waits (polling: delivery runs on its own) until `dir` holds `count` mails to `to`.
pub async fn wait_for_mails(dir: &Path, to: Option<&str>, count: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let mails = mails_in(dir, to);
        if mails.len() >= count {
            return mails;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "expected {count} mail(s) in {}, found {}",
            dir.display(),
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every outbox row.
pub async fn outbox(app: &TestApp) -> Vec<mail_outbox::Model> {
    mail_outbox::Entity::find()
        .all(&app.state.db)
        .await
        .expect("the outbox is readable")
}

/// A top-level header's value (first occurrence).
pub fn header<'a>(mail: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}: ");
    mail.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .unwrap_or("")
}

/// The decoded text/plain part of a multipart mail.
pub fn text_part(mail: &str) -> String {
    let mail = mail.replace("\r\n", "\n");
    let part = mail
        .split("\n--")
        .find(|part| part.contains("Content-Type: text/plain"))
        .unwrap_or_else(|| panic!("no text/plain part in {mail}"));
    let (headers, body) = part.split_once("\n\n").expect("a part has a body");
    if headers.contains("Content-Transfer-Encoding: quoted-printable") {
        decode_quoted_printable(body)
    } else if headers.contains("Content-Transfer-Encoding: base64") {
        use base64::Engine;
        let compact: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .expect("base64");
        String::from_utf8(bytes).expect("utf-8")
    } else {
        body.to_owned()
    }
}

fn decode_quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).expect("utf-8")
}

/// The key of the reset link in a mail's text part.
pub fn reset_token(mail: &str) -> String {
    let text = text_part(mail);
    let start = text
        .find("/reset-password?token=")
        .unwrap_or_else(|| panic!("no reset link in {text}"))
        + "/reset-password?token=".len();
    text[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}
