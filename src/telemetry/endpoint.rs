//! `/metrics`: served on the HTTP port of `saaskit serve`, or — with `SAASKIT_METRICS_BIND` —
//! on a listener of its own (which `saaskit worker` needs, having no HTTP port otherwise).
//! With `SAASKIT_METRICS_TOKEN` set, a scrape must send `Authorization: Bearer <token>`.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::pools::Pools;

/// What the `/metrics` route needs: the pools to sample and the token a scrape must show.
#[derive(Clone)]
pub struct MetricsEndpoint {
    pub pools: Pools,
    pub token: Option<SecretString>,
}

/// The `/metrics` route.
pub async fn metrics(endpoint: web::Data<MetricsEndpoint>, http: HttpRequest) -> HttpResponse {
    if !endpoint.allows(&http) {
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer"))
            .finish();
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(super::metrics::render(&endpoint.pools))
}

impl MetricsEndpoint {
    /// Whether the request may scrape. Tokens are compared as digests, so the time a
    /// comparison takes says nothing about the token.
    fn allows(&self, http: &HttpRequest) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = http
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        Sha256::digest(given.as_bytes()) == Sha256::digest(token.expose_secret().as_bytes())
    }
}

/// A small HTTP server serving `/metrics` and `/health` on `bind`, not yet awaited.
///
/// # Errors
/// The address cannot be bound.
pub fn listen(bind: &str, endpoint: MetricsEndpoint) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(bind).with_context(|| {
        format!("cannot listen on {bind} (SAASKIT_METRICS_BIND); is another process using it?")
    })?;
    let addr = listener.local_addr()?;
    let port = addr.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(endpoint.clone()))
            .route("/metrics", web::get().to(metrics))
            .route(
                "/health",
                web::get().to(|| async { HttpResponse::Ok().json(json!({ "status": "ok" })) }),
            )
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    tracing::info!("metrics on http://{addr}/metrics");
    Ok((server, port))
}
