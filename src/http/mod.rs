//! The HTTP routes: GraphQL (one operation, or a batch of them: see [`batch`]), GraphiQL (see
//! [`crate::graphiql`]), and the health probes. `/metrics` is added by `startup`.
//!
//! `POST /graphql` takes only JSON bodies and sends no body past a size (see [`respond`]);
//! every operation of a request is inspected (`document::inspect`) before any of them runs, and
//! their node counts are added up against one budget.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::auth::Caller;
use crate::auth::authenticate::authenticate;
use crate::auth::password;
use crate::error::{AppError, present_errors};
use crate::graphiql;
use crate::graphql::context::{BusinessReach, ClientAddr};
use crate::graphql::{AppSchema, document};
use crate::services::usage::Pending;
use crate::state::AppState;
use crate::telemetry::metrics as measure;
use crate::telemetry::operation;

mod batch;
mod respond;

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
    if !respond::is_json(&http) {
        return bad_body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "POST /graphql takes a body of Content-Type application/json",
        );
    }
    // Read by hand, so that an oversized body also gets a GraphQL-shaped answer.
    let body = match payload.to_bytes_limited(MAX_BODY).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return bad_body(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "the request body could not be read",
            );
        }
        Err(_) => {
            return bad_body(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BAD_REQUEST",
                &format!("the request body is larger than {MAX_BODY} bytes"),
            );
        }
    };
    let requests = match batch::parse(&body) {
        Ok(requests) => requests,
        Err(message) => return bad_body(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message),
    };
    // One deadline for the whole HTTP request, batch or not.
    let deadline = tokio::time::Instant::now() + state.settings.request_timeout;
    match requests {
        batch::Requests::Single(request) => {
            let answers = serve_all(&schema, &state, &http, vec![*request], deadline).await;
            match answers.first() {
                Some(answer) => respond::json_within(answer, None, respond::MAX_RESPONSE),
                None => bad_body(StatusCode::BAD_REQUEST, "BAD_REQUEST", "no operation"),
            }
        }
        batch::Requests::Batch(requests) => {
            let slots = requests.len();
            let answers = serve_all(&schema, &state, &http, requests, deadline).await;
            respond::json_within(&answers, Some(slots), respond::MAX_RESPONSE)
        }
    }
}

/// Inspects every operation before any runs — their node counts together within one budget,
/// or each refused — then serves them one after another: a batch costs no more at once than
/// its operations sent apart.
async fn serve_all(
    schema: &AppSchema,
    state: &AppState,
    http: &HttpRequest,
    requests: Vec<async_graphql::Request>,
    deadline: tokio::time::Instant,
) -> Vec<Answer> {
    let mut inspected: Vec<_> = requests
        .into_iter()
        .map(|mut request| {
            let started = std::time::Instant::now();
            let inspected = document::inspect(&mut request, &document::LIMITS);
            (request, inspected, started)
        })
        .collect();
    let nodes = inspected
        .iter()
        .filter_map(|(_, inspected, _)| inspected.as_ref().ok())
        .fold(0_u64, |sum, inspected| sum.saturating_add(inspected.nodes));
    if nodes > document::LIMITS.nodes {
        let refusal = document::Refusal::too_many_nodes(&document::LIMITS, nodes);
        for (_, inspected, _) in &mut inspected {
            *inspected = Err(refusal.clone());
        }
    }
    let mut answers = Vec::with_capacity(inspected.len());
    for (request, inspected, started) in inspected {
        answers.push(serve_one(schema, state, http, request, inspected, started, deadline).await);
    }
    answers
}

/// What one operation answers: the executor's response, or a refusal made before it ran.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Answer {
    Executed(async_graphql::Response),
    Refused(serde_json::Value),
}

impl Answer {
    /// `OK`, or the first error's `extensions.code`.
    fn code(&self) -> &str {
        match self {
            Answer::Executed(response) => {
                response.errors.first().map_or("OK", |error| {
                    match error.extensions.as_ref().and_then(|e| e.get("code")) {
                        Some(async_graphql::Value::String(code)) => code.as_str(),
                        _ => "OTHER",
                    }
                })
            }
            Answer::Refused(json) => json["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("OTHER"),
        }
    }
}

/// Serves one operation — alone, or one of a batch — as `inspect` judged it, through every
/// check a single request gets, within `deadline`, and counts it.
async fn serve_one(
    schema: &AppSchema,
    state: &AppState,
    http: &HttpRequest,
    request: async_graphql::Request,
    inspected: Result<document::Inspected, document::Refusal>,
    started: std::time::Instant,
    deadline: tokio::time::Instant,
) -> Answer {
    let (name, answer) = match inspected {
        Ok(inspected) => {
            let name = inspected.operation_name.clone();
            let after = state.settings.request_timeout;
            let pending = Arc::new(Pending::new(after));
            let run = execute(schema, state, http, request, inspected, pending.clone());
            tokio::pin!(run);
            let answer = match tokio::time::timeout_at(deadline, &mut run).await {
                Ok(answer) => answer,
                // A usage call in a batch gets the batch's answer (see `usage::Pending`),
                // within a second deadline as long as the first.
                Err(_) if pending.expire() => {
                    tracing::warn!("request timed out with usage in a batch; waiting for it");
                    match tokio::time::timeout(after, run).await {
                        Ok(answer) => answer,
                        Err(_) => timed_out(after),
                    }
                }
                Err(_) => timed_out(after),
            };
            (name, answer)
        }
        Err(refusal) => (
            request.operation_name.clone(),
            Answer::Refused(refusal.to_json()),
        ),
    };
    measure::operation_served(
        operation::label(&state.settings.metrics_operations, name.as_deref()),
        answer.code(),
        started.elapsed(),
    );
    answer
}

fn timed_out(after: std::time::Duration) -> Answer {
    tracing::warn!("request timed out");
    Answer::Executed(refuse(AppError::TimedOut { after }))
}

/// Authenticates the caller for the operations `inspect` found and runs the request.
async fn execute(
    schema: &AppSchema,
    state: &AppState,
    http: &HttpRequest,
    mut request: async_graphql::Request,
    inspected: document::Inspected,
    pending: Arc<Pending>,
) -> Answer {
    let budget = password_budget(http);
    if budget.spent_for(inspected.operations.iter().map(|op| op.name.as_str())) {
        return Answer::Executed(refuse(AppError::RateLimited {
            retry_after_secs: 1,
        }));
    }
    let caller = match authenticate(state, authorization(http), &inspected.operations).await {
        Ok(caller) => caller,
        Err(err) => return Answer::Executed(refuse(err)),
    };
    // Production keeps the schema to itself but for staff.
    if state.settings.is_production() && !caller.is_staff() {
        if inspected.introspection {
            return Answer::Executed(refuse(AppError::forbidden(
                "introspection is open to staff only in production",
            )));
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
        .data(pending)
        .data(budget)
        .data(client_addr(state, http));
    let mut response = schema.execute(request).await;
    present_errors(&mut response);
    Answer::Executed(response)
}

fn bad_body(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    measure::operation_served(operation::label(&[], None), code, std::time::Duration::ZERO);
    respond::error(status, code, message)
}

fn authorization(http: &HttpRequest) -> Option<&str> {
    http.headers()
        .get(AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or(""))
}

/// The HTTP request's password budget, one for all the operations of a batch (see
/// [`password::Budget`]): kept in the request's extensions, which every operation shares.
fn password_budget(http: &HttpRequest) -> password::Budget {
    use actix_web::HttpMessage as _;
    http.extensions_mut()
        .get_or_insert_with(password::Budget::new)
        .clone()
}

/// The client's address (see [`crate::client_addr`]): `X-Forwarded-For` counts only when the
/// TCP peer is one of `SAASKIT_TRUSTED_PROXIES`.
fn client_addr(state: &AppState, http: &HttpRequest) -> ClientAddr {
    crate::client_addr::of_request(&state.settings.trusted_proxies, http)
}

/// A whole operation refused before or instead of execution (a token whose own checks forbid
/// it, a timeout).
fn refuse(err: AppError) -> async_graphql::Response {
    let mut response = async_graphql::Response::from_errors(vec![
        async_graphql::Error::from(err).into_server_error(async_graphql::Pos::default()),
    ]);
    present_errors(&mut response);
    response
}

/// The process is up.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The process can serve: its database answers and holds saaskit's tables.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match crate::services::billing::plans::check_schema(&state.db).await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "database unreachable" }))
        }
    }
}
