//! The HTTP routes: GraphQL, GraphiQL (see [`crate::graphiql`]), and the health probes.

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::auth::Caller;
use crate::auth::authenticate::authenticate;
use crate::error::{AppError, present_errors};
use crate::graphiql;
use crate::graphql::context::{BusinessReach, ClientAddr};
use crate::graphql::{AppSchema, document};
use crate::state::AppState;

/// Largest GraphQL request body accepted.
const MAX_BODY: usize = 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/graphql", web::post().to(graphql))
        .route("/graphql", web::get().to(graphiql::page))
        .route("/graphiql", web::get().to(graphiql::page))
        .route("/graphiql/assets/{name}", web::get().to(graphiql::asset))
        .route("/health", web::get().to(health))
        .route("/ready", web::get().to(ready));
}

async fn graphql(
    schema: web::Data<AppSchema>,
    state: web::Data<AppState>,
    http: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    // Read by hand, so that an oversized body also gets a GraphQL-shaped answer.
    let body = match payload.to_bytes_limited(MAX_BODY).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return bad_body(
                StatusCode::BAD_REQUEST,
                "the request body could not be read".into(),
            );
        }
        Err(_) => {
            return bad_body(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {MAX_BODY} bytes"),
            );
        }
    };
    let mut request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return bad_body(
                StatusCode::BAD_REQUEST,
                format!("the body is not a GraphQL request: {err}"),
            );
        }
    };
    let inspected = match document::inspect(&mut request, &document::LIMITS) {
        Ok(inspected) => inspected,
        Err(refusal) => return HttpResponse::Ok().json(refusal.to_json()),
    };
    let caller = match authenticate(&state, authorization(&http), &inspected.operations).await {
        Ok(caller) => caller,
        Err(err) => return refuse(err),
    };
    // Production keeps the schema to itself but for staff.
    if state.settings.is_production() && !caller.is_staff() {
        if inspected.introspection {
            return refuse(AppError::forbidden(
                "introspection is open to staff only in production",
            ));
        }
        request = request.disable_introspection();
    }
    let reach = BusinessReach(match &caller {
        Caller::Authenticated(principal) => {
            !principal.token.is_attenuated()
                || principal
                    .token
                    .authorize("business", &[], state.clock.now())
                    .is_ok()
        }
        Caller::Anonymous | Caller::Rejected(_) => false,
    });
    let request = request
        .data(caller)
        .data(reach)
        .data(client_addr(&state, &http));
    let mut response = schema.execute(request).await;
    present_errors(&mut response);
    HttpResponse::Ok().json(response)
}

fn bad_body(status: StatusCode, message: String) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "errors": [{ "message": message, "extensions": { "code": "BAD_REQUEST" } }]
    }))
}

fn authorization(http: &HttpRequest) -> Option<&str> {
    http.headers()
        .get(AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""))
}

/// The client's address (see [`crate::client_addr`]): `X-Forwarded-For` counts only when the
/// TCP peer is one of `SAASKIT_TRUSTED_PROXIES`.
fn client_addr(state: &AppState, http: &HttpRequest) -> ClientAddr {
    crate::client_addr::of_request(&state.settings.trusted_proxies, http)
}

/// A whole request refused before execution (a token whose own checks forbid it).
fn refuse(err: AppError) -> HttpResponse {
    let mut response = async_graphql::Response::from_errors(vec![
        async_graphql::Error::from(err).into_server_error(async_graphql::Pos::default()),
    ]);
    present_errors(&mut response);
    HttpResponse::Ok().json(response)
}

/// The process is up.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The process can serve: its database answers and holds saaskit's tables.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match crate::services::plans::check_schema(&state.db).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "database unreachable" }))
        }
    }
}
