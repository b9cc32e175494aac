//! One bounded pass over a request's document before anything else sees it.
//!
//! The pass scans the text (tokens, bracket nesting) before parsing it, parses it once — the
//! parse is kept in the request and executed as is — and measures every operation and
//! fragment with fragments memoized and spread cycles refused. A document over any of
//! [`LIMITS`] is refused with `GRAPHQL_VALIDATION_FAILED` before async-graphql validates or
//! executes it, so the work of refusing is linear in the size of the body. The same pass
//! derives the root fields and argument facts that the token's authorizer judges, counts the
//! most items the result can hold ([`nodes`]) and reads every string argument under one rule
//! ([`text`]), from the same parse and the same variables the executor runs ([`values`]).
//!
//! Files, in reading order: `limits` (the bounds, the refusal), `lexer` (the scan), `cost`
//! (sizes with fragments expanded), `values` (the operation that runs, its variables), `shape`
//! (the schema's lists), `nodes`, `text`, `roots` (authorization facts).

use std::sync::{Arc, LazyLock};

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;
use moka::sync::Cache;

mod cost;
mod lexer;
mod limits;
mod nodes;
mod roots;
mod shape;
mod text;
mod values;

pub use cost::Cost;
use limits::check;
pub use limits::{LIMITS, Limits, Refusal};
pub use roots::Unresolved;

use crate::auth::token::Operation;

/// What the pass found in a document within the limits.
#[derive(Debug, Clone, Default)]
pub struct Inspected {
    /// The root fields of the operation that runs, with their facts.
    pub operations: Vec<Operation>,
    /// The document asks for `__schema` or `__type`.
    pub introspection: bool,
    /// The name of the operation that runs: the request's `operationName`, else the name of
    /// the document's only operation; `None` when it is anonymous.
    pub operation_name: Option<String>,
    /// The most items the operation's result may hold (see [`Limits::nodes`]).
    pub nodes: u64,
}

/// Measures `request`'s document against `limits` and derives its root fields.
///
/// A document that does not parse passes through: the executor reports the syntax error
/// (the scan has already bounded what that costs).
///
/// # Errors
/// A [`Refusal`] for a document over a limit, with fragment spread cycles, or whose
/// authorization facts it cannot resolve.
pub fn inspect(request: &mut Request, limits: &Limits) -> Result<Inspected, Refusal> {
    // The parser's time grows with the text even where tokens do not (comments, strings).
    if request.query.len() > limits.bytes {
        return Err(Refusal::over(
            "bytes",
            limits.bytes as u64,
            request.query.len() as u64,
            "is too long",
        ));
    }
    let operation_name = request.operation_name.clone();
    let variables = std::mem::take(&mut request.variables);
    let inspected = match parse(request, limits) {
        Ok(Some((document, cost))) => check(&cost, limits).and_then(|introspection| {
            let nodes = judge_values(document, operation_name.as_deref(), &variables, limits)?;
            let operations =
                roots::root_operations(document, operation_name.as_deref(), &variables).map_err(
                    |Unresolved { field, argument }| {
                        Refusal::invalid(format!(
                            "{field}'s {argument} must be given in the document or by a variable \
                             the request or the operation's defaults provide"
                        ))
                    },
                )?;
            if operations.len() > limits.authorizations {
                return Err(Refusal::over(
                    "authorizations",
                    limits.authorizations as u64,
                    operations.len() as u64,
                    "needs too many authorizations",
                ));
            }
            Ok(Inspected {
                operations,
                introspection,
                operation_name: operation_name.clone().or_else(|| only_name(document)),
                nodes,
            })
        }),
        Ok(None) => Ok(Inspected {
            operation_name: operation_name.clone(),
            ..Inspected::default()
        }),
        Err(refusal) => Err(refusal),
    };
    request.variables = variables;
    inspected
}

/// A document as parsed and measured before, and what its text scanned to.
struct Parsed {
    document: ExecutableDocument,
    cost: Cost,
    tokens: usize,
    nesting: usize,
}

/// Texts longer than this are parsed every time (the cache is for the few documents a client
/// sends again and again).
const CACHED_TEXT: usize = 16 * 1024;

/// Documents parsed before, by their exact text: SDKs and apps send the same few documents
/// over and over, and parsing is the largest part of serving a small one. Only documents that
/// parsed are kept, each weighed by [`weight`]; the cache holds at most 32 MiB of them, so a
/// caller who sends many different documents costs memory bounded by it.
static PARSED: LazyLock<Cache<String, Arc<Parsed>>> = LazyLock::new(|| {
    Cache::builder()
        .max_capacity(32 * 1024 * 1024)
        .weigher(|text: &String, parsed: &Arc<Parsed>| weight(text, parsed.tokens))
        .build()
});

/// A generous estimate of a cached document's bytes: its text, and for each token the parsed
/// node it may become (a name, a position, a vector's slot: well under 512 bytes).
fn weight(text: &str, tokens: usize) -> u32 {
    u32::try_from(text.len() + tokens * 512 + 1024).unwrap_or(u32::MAX)
}

/// Scans and parses `request`'s text — or takes it from [`PARSED`] — and leaves the parse in
/// the request for the executor; `None` when it does not parse (the executor reports why).
fn parse<'r>(
    request: &'r mut Request,
    limits: &Limits,
) -> Result<Option<(&'r ExecutableDocument, Cost)>, Refusal> {
    if let Some(parsed) = PARSED.get(&request.query) {
        within_scan(parsed.tokens, parsed.nesting, limits)?;
        request.set_parsed_query(parsed.document.clone());
        let cost = parsed.cost;
        return Ok(request.parsed_query().ok().map(|document| (document, cost)));
    }
    let (tokens, nesting) = match lexer::scan(&request.query, limits.tokens, limits.nesting) {
        lexer::Scan::Within { tokens, nesting } => (tokens, nesting),
        // The scan stops at the limit: how far past it the text goes is not known.
        lexer::Scan::TooManyTokens { max } => return Err(too_many_tokens(max, u64::MAX)),
        lexer::Scan::TooDeep { max } => return Err(too_deep(max, max as u64 + 1)),
    };
    let query = request.query.clone();
    let Ok(document) = request.parsed_query() else {
        return Ok(None);
    };
    let cost = cost_of(document)?;
    if query.len() <= CACHED_TEXT {
        let parsed = Parsed {
            document: document.clone(),
            cost,
            tokens,
            nesting,
        };
        PARSED.insert(query, Arc::new(parsed));
    }
    Ok(Some((document, cost)))
}

/// Refuses a text that scanned to more tokens or deeper nesting than `limits` allow.
fn within_scan(tokens: usize, nesting: usize, limits: &Limits) -> Result<(), Refusal> {
    if tokens > limits.tokens {
        return Err(too_many_tokens(limits.tokens, tokens as u64));
    }
    if nesting > limits.nesting {
        return Err(too_deep(limits.nesting, nesting as u64));
    }
    Ok(())
}

fn too_many_tokens(max: usize, found: u64) -> Refusal {
    Refusal::over("tokens", max as u64, found, "has too many tokens")
}

fn too_deep(max: usize, found: u64) -> Refusal {
    Refusal::over("nesting", max as u64, found, "nests brackets too deeply")
}

/// The name of a document's only operation, if it has one.
fn only_name(document: &ExecutableDocument) -> Option<String> {
    use async_graphql::parser::types::DocumentOperations;
    match &document.operations {
        DocumentOperations::Multiple(operations) if operations.len() == 1 => {
            operations.keys().next().map(ToString::to_string)
        }
        _ => None,
    }
}

/// The worst cost of any operation of `document`, fragments expanded.
fn cost_of(document: &ExecutableDocument) -> Result<Cost, Refusal> {
    cost::Costs::new(document)
        .worst()
        .map_err(|cost::Cycle(name)| {
            Refusal::invalid(format!("the fragment {name} spreads itself"))
        })
}

/// Counts the items the operation that runs may return and reads its strings, with this
/// request's own variables (a cached parse is judged anew each time); returns the count.
fn judge_values(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &async_graphql::Variables,
    limits: &Limits,
) -> Result<u64, Refusal> {
    let Some(operation) = values::selected(document, operation_name) else {
        return Ok(0);
    };
    let values = values::Values::new(operation, variables);
    let nodes = nodes::of_operation(document, operation, values);
    if nodes > limits.nodes {
        return Err(Refusal::too_many_nodes(limits, nodes));
    }
    text::check(document, operation, values).map_err(|refused| Refusal {
        message: format!(
            "{}'s argument {} must not hold {}",
            refused.field, refused.path, refused.holds
        ),
        code: "BAD_USER_INPUT",
        limit: None,
        field: Some(refused.input_field().to_owned()),
    })?;
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(metric: &str) -> Request {
        let query = "mutation Cached($i: RecordUsageInput!) { recordUsage(input: $i) { used } }";
        let variables = json!({ "i": { "metric": metric } });
        Request::new(query).variables(async_graphql::Variables::from_json(variables))
    }

    #[test]
    fn a_cached_document_is_judged_with_each_request_s_own_variables_and_limits() {
        for metric in ["recordings", "applications", "recordings"] {
            let mut sent = request(metric);
            let inspected = inspect(&mut sent, &LIMITS).expect("within the limits");
            let facts = &inspected.operations[0].facts;
            assert_eq!(facts, &[("metric".to_owned(), metric.to_owned())]);
            assert!(
                sent.parsed_query().is_ok(),
                "the parse is left for the executor"
            );
        }
        // The same text, now cached, is still held to tighter limits.
        let tight = Limits {
            tokens: 5,
            ..LIMITS
        };
        let refused = inspect(&mut request("recordings"), &tight).expect_err("too many tokens");
        assert_eq!(refused.limit.map(|(name, ..)| name), Some("tokens"));
        let shallow = Limits { depth: 1, ..LIMITS };
        let refused = inspect(&mut request("recordings"), &shallow).expect_err("too deep");
        assert_eq!(refused.limit.map(|(name, ..)| name), Some("depth"));
    }

    #[test]
    fn a_document_that_needs_more_authorizer_runs_than_the_limit_is_refused() {
        let field = |i: usize| format!("recordUsage(input: {{ metric: \"m{i}\" }}) {{ used }}");
        let fields: Vec<String> = (0..=LIMITS.authorizations).map(field).collect();
        let mut request = Request::new(format!("mutation {{ {} }}", fields.join(" ")));
        let refused = inspect(&mut request, &LIMITS).expect_err("one authorization too many");
        assert_eq!(
            refused.limit,
            Some((
                "authorizations",
                LIMITS.authorizations as u64,
                LIMITS.authorizations as u64 + 1
            ))
        );
        let within = fields[..LIMITS.authorizations].join(" ");
        let mut request = Request::new(format!("mutation {{ {within} }}"));
        assert!(inspect(&mut request, &LIMITS).is_ok());
    }
}
