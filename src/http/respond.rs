//! What `POST /graphql` takes and what it sends back, at the edges of the handler.
//!
//! - It runs only a body sent as `application/json` or `application/graphql-response+json`
//!   (parameters such as `charset` aside). A browser sends a cross-site request without asking
//!   the server first (a CORS preflight) only as `text/plain`, form-urlencoded or multipart,
//!   so refusing those — and a missing type — before the body is read means a page elsewhere
//!   can never make a signed-in browser run an operation (Apollo Server's CSRF prevention).
//!   Refused with HTTP 415 and `UNSUPPORTED_MEDIA_TYPE`.
//! - It never sends a body larger than [`MAX_RESPONSE`]: the document limits bound a result
//!   long before that (see `docs/security.md`), and this is the backstop should they not. A
//!   larger answer is replaced by a `RESPONSE_TOO_LARGE` error (for a batch, in every slot),
//!   found while serializing, so the large body is never held in memory whole.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::json;

/// Largest response body sent, in bytes (8 MiB).
pub const MAX_RESPONSE: usize = 8 * 1024 * 1024;

/// Whether `http` declares a JSON body.
pub fn is_json(http: &HttpRequest) -> bool {
    http.headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            let essence = value.split(';').next().unwrap_or_default().trim();
            essence.eq_ignore_ascii_case("application/json")
                || essence.eq_ignore_ascii_case("application/graphql-response+json")
        })
}

/// A GraphQL-shaped error body with `status` and `code`.
pub fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    }))
}

/// `body` as JSON, or — when it would be larger than `max` bytes — the `RESPONSE_TOO_LARGE`
/// error, in each of `slots` places (`None`: the body is one answer, not a batch).
pub fn json_within(body: &impl Serialize, slots: Option<usize>, max: usize) -> HttpResponse {
    let mut out = Bounded {
        bytes: Vec::new(),
        max,
    };
    match serde_json::to_writer(&mut out, body) {
        Ok(()) => HttpResponse::Ok()
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(out.bytes),
        Err(err) => {
            if err.is_io() {
                tracing::warn!(max, "a response was larger than the limit and was not sent");
            } else {
                tracing::error!(error = %err, "a response could not be serialized");
            }
            let refusal = json!({ "errors": [{
                "message": format!(
                    "the response would be larger than {max} bytes; ask for fewer or smaller pages"
                ),
                "extensions": { "code": "RESPONSE_TOO_LARGE", "limit": "responseBytes", "max": max }
            }] });
            match slots {
                None => HttpResponse::Ok().json(refusal),
                Some(n) => HttpResponse::Ok().json(vec![refusal; n]),
            }
        }
    }
}

/// A buffer that refuses to grow past `max` bytes.
struct Bounded {
    bytes: Vec<u8>,
    max: usize,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.max {
            return Err(std::io::Error::other("response too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn json_types_with_parameters_are_json_and_nothing_else_is() {
        let with = |value: &str| TestRequest::default().insert_header((CONTENT_TYPE, value));
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/graphql-response+json",
        ] {
            assert!(is_json(&with(json).to_http_request()), "{json}");
        }
        for other in [
            "text/plain",
            "text/plain; charset=application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "",
        ] {
            assert!(!is_json(&with(other).to_http_request()), "{other}");
        }
        assert!(
            !is_json(&TestRequest::default().to_http_request()),
            "no type"
        );
    }

    #[actix_web::test]
    async fn a_body_past_the_limit_becomes_one_error_per_slot() {
        let big = vec!["x".repeat(100); 10];
        let fits = json_within(&big, None, 2_000);
        let body = to_bytes(fits.into_body()).await.expect("a body");
        assert_eq!(
            body.len(),
            serde_json::to_vec(&big).expect("serializes").len()
        );
        let over = json_within(&big, Some(3), 500);
        let body = to_bytes(over.into_body()).await.expect("a body");
        let answers: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(answers.as_array().map(Vec::len), Some(3));
        assert_eq!(
            answers[2]["errors"][0]["extensions"]["code"],
            "RESPONSE_TOO_LARGE"
        );
    }
}
