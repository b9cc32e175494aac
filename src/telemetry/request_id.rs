//! Request ids: every HTTP request runs inside a `request` span carrying its id, so every log
//! line of the request names it, and the response's `X-Request-Id` header returns it.
//!
//! A caller (or the proxy in front) may choose the id by sending `X-Request-Id`; it is kept
//! when it is short and made of `[A-Za-z0-9._-]` (it goes into logs and headers verbatim), and
//! replaced by a fresh UUIDv7 otherwise.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Instrument;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// Longest id accepted from a caller.
const MAX_LEN: usize = 64;

/// The id a request goes by, as request data for handlers that want it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The middleware (`actix_web::middleware::from_fn(request_id::middleware)`).
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(&HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_sane(id))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
    );
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut response = next.call(req).instrument(span).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}

/// Whether a caller's id may be used as is.
fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::is_sane;

    #[test]
    fn only_short_plain_ids_are_taken_from_callers() {
        assert!(is_sane("0193a2b4-7c1d-7000-8000-000000000000"));
        assert!(is_sane("req_1.2"));
        assert!(!is_sane(""));
        assert!(!is_sane("a b"));
        assert!(!is_sane("x\u{7f}"));
        assert!(!is_sane("line\nbreak"));
        assert!(!is_sane(&"a".repeat(65)));
    }
}
