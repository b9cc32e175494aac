//! Cross-origin requests from browser frontends (`SAASKIT_CORS_ORIGINS`).
//!
//! Tokens travel in the `Authorization` header, never in cookies, so no response ever allows
//! credentials: a listed origin, or the wildcard, can send a token it holds and nothing more.

use actix_cors::Cors;
use actix_web::http::{Method, header};

use crate::config::Settings;

/// The browser origins allowed to call the API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AllowedOrigins {
    /// Unset: any `http://localhost:*` or `http://127.0.0.1:*` origin in development, none in
    /// production.
    #[default]
    Default,
    /// `*`: any origin (sent as the wildcard, without credentials).
    Any,
    /// These exact origins, as a browser writes them: `https://app.example.com`.
    List(Vec<String>),
}

impl AllowedOrigins {
    /// Parses a comma-separated list of origins, or `*`.
    ///
    /// # Errors
    /// An entry that is not `http(s)://host[:port]` (no path, no trailing slash, no query), or
    /// `*` mixed with origins.
    pub fn parse(list: &str) -> Result<Self, String> {
        let entries: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .collect();
        if entries.is_empty() {
            return Ok(Self::Default);
        }
        if entries.contains(&"*") {
            return if entries.len() == 1 {
                Ok(Self::Any)
            } else {
                Err("`*` allows every origin: list origins or `*`, not both".into())
            };
        }
        entries
            .iter()
            .map(|entry| origin(entry))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::List)
    }
}

/// One origin, lower-cased as browsers send it.
fn origin(entry: &str) -> Result<String, String> {
    let lower = entry.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| format!("{entry:?} is not an origin such as https://app.example.com"))?;
    let valid = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    if !valid {
        return Err(format!(
            "{entry:?} is not an origin such as https://app.example.com (no path, no trailing slash)"
        ));
    }
    Ok(lower)
}

/// A local development origin: `http://localhost`, `http://127.0.0.1` or `http://[::1]`, on
/// any port.
fn is_local(origin: &[u8]) -> bool {
    let Some(rest) = origin.strip_prefix(b"http://") else {
        return false;
    };
    ["localhost", "127.0.0.1", "[::1]"].iter().any(|host| {
        rest.strip_prefix(host.as_bytes()).is_some_and(|port| {
            port.is_empty()
                || port.strip_prefix(b":").is_some_and(|digits| {
                    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
                })
        })
    })
}

/// The CORS middleware for `settings`: preflights for allowed origins are answered (`GET`,
/// `POST`; `Authorization`, `Content-Type`), others get 400; a request from an origin that is
/// not allowed still runs but its response carries no `Access-Control-Allow-Origin`, so the
/// browser keeps it from the page (and same-origin pages such as GraphiQL are unaffected).
pub fn middleware(settings: &Settings) -> Cors {
    let cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            crate::telemetry::request_id::HEADER,
        ])
        .expose_headers([crate::telemetry::request_id::HEADER])
        .max_age(3600);
    match &settings.cors_origins {
        AllowedOrigins::Any => cors.allow_any_origin().send_wildcard(),
        AllowedOrigins::List(origins) => origins
            .iter()
            .fold(cors, |cors, origin| cors.allowed_origin(origin)),
        AllowedOrigins::Default if settings.is_production() => cors,
        AllowedOrigins::Default => cors.allowed_origin_fn(|origin, _| is_local(origin.as_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_parsed_as_browsers_send_them() {
        assert_eq!(AllowedOrigins::parse(" "), Ok(AllowedOrigins::Default));
        assert_eq!(AllowedOrigins::parse("*"), Ok(AllowedOrigins::Any));
        assert_eq!(
            AllowedOrigins::parse("https://App.example.com, http://localhost:3000"),
            Ok(AllowedOrigins::List(vec![
                "https://app.example.com".into(),
                "http://localhost:3000".into()
            ]))
        );
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://x.com/path",
            "*, https://x.com",
            "ftp://x.com",
        ] {
            assert!(AllowedOrigins::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_loopback_http_origins_are_local() {
        for local in [
            "http://localhost",
            "http://localhost:5173",
            "http://127.0.0.1:3000",
            "http://[::1]:8080",
        ] {
            assert!(is_local(local.as_bytes()), "{local}");
        }
        for other in [
            "https://localhost:5173",
            "http://localhost.evil.com",
            "http://127.0.0.1.evil.com",
            "http://localhost:",
            "http://localhost:80x",
            "http://example.com",
        ] {
            assert!(!is_local(other.as_bytes()), "{other}");
        }
    }
}
