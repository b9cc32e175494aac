//! The HTTP routes: GraphQL, GraphiQL, and the health probes.

use actix_web::{HttpResponse, web};
use async_graphql::http::GraphiQLSource;
use serde_json::json;

use crate::error::present_errors;
use crate::graphql::AppSchema;
use crate::state::AppState;

/// Largest GraphQL request body accepted.
const MAX_BODY: usize = 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY))
        .route("/graphql", web::post().to(graphql))
        .route("/graphql", web::get().to(graphiql))
        .route("/graphiql", web::get().to(graphiql))
        .route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready));
}

async fn graphql(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return HttpResponse::BadRequest().json(json!({
                "errors": [{
                    "message": format!("the body is not a GraphQL request: {err}"),
                    "extensions": { "code": "BAD_REQUEST" }
                }]
            }));
        }
    };
    // Production keeps the schema to itself: introspection answers null.
    if state.settings.is_production() {
        request = request.disable_introspection();
    }
    let mut response = schema.execute(request).await;
    present_errors(&mut response);
    HttpResponse::Ok().json(response)
}

async fn graphiql(state: web::Data<AppState>) -> HttpResponse {
    if state.settings.is_production() {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(GraphiQLSource::build().endpoint("/graphql").finish())
}

/// The process is up.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The process can serve: its database answers.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "database unreachable" }))
        }
    }
}
