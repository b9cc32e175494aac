//! The limits every document is held to, and the refusal a document over one of them gets
//! (`docs/security.md`, "Document limits", lists them).

use serde_json::json;

use super::Cost;

/// The bounds every document must stay within, whoever sends it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of query text (variables are not part of it; the body limit bounds them).
    pub bytes: usize,
    /// Lexical tokens in the query text.
    pub tokens: usize,
    /// Nesting of `{`, `(` and `[` in the query text.
    pub nesting: usize,
    /// Selections (fields, spreads, inline fragments) once fragments are expanded.
    pub selections: u64,
    /// Nesting of fields.
    pub depth: u64,
    /// Aliased fields once fragments are expanded.
    pub aliases: u64,
    /// Directives once fragments are expanded.
    pub directives: u64,
    /// `__schema` fields per operation.
    pub schemas: u64,
    /// Selections inside `__schema` and `__type`, which do not count as [`Limits::selections`].
    pub introspection_selections: u64,
    /// Nesting inside `__schema` and `__type`, which does not count as [`Limits::depth`].
    pub introspection_depth: u64,
    /// Items (list elements) the results of one HTTP request may hold, its batch's operations
    /// added together: each list counts its cap or its page's `first` for every item of the
    /// lists above it (see [`nodes`]).
    pub nodes: u64,
    /// Distinct root fields with their facts, each judged by a run of the token's authorizer
    /// (a `recordUsages` field is one per event's metric).
    pub authorizations: usize,
}

/// The limits in force (`docs/security.md`, "Document limits", lists them).
pub const LIMITS: Limits = Limits {
    bytes: 128 * 1024,
    tokens: 5_000,
    nesting: 64,
    selections: 1_000,
    depth: 12,
    aliases: 30,
    directives: 50,
    schemas: 1,
    introspection_selections: 1_000,
    introspection_depth: 32,
    nodes: 10_000,
    authorizations: 256,
};

/// Why a document is refused before execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    /// `GRAPHQL_VALIDATION_FAILED` for the document, `BAD_USER_INPUT` for a value.
    pub code: &'static str,
    /// The limit crossed: its name, its value and what the document needs.
    pub limit: Option<(&'static str, u64, u64)>,
    /// The input field or argument refused, for `BAD_USER_INPUT`.
    pub field: Option<String>,
}

impl Refusal {
    pub(super) fn over(name: &'static str, max: u64, found: u64, what: &str) -> Refusal {
        let found_text = if found == u64::MAX {
            "far more".to_owned()
        } else {
            found.to_string()
        };
        Refusal {
            message: format!("the query {what}: {found_text}, more than the limit of {max}"),
            limit: Some((name, max, found)),
            ..Refusal::invalid(String::new())
        }
    }

    pub(super) fn invalid(message: String) -> Refusal {
        Refusal {
            message,
            code: "GRAPHQL_VALIDATION_FAILED",
            limit: None,
            field: None,
        }
    }

    /// A batch whose operations together may return more items than `limits` allow.
    pub fn too_many_nodes(limits: &Limits, found: u64) -> Refusal {
        Refusal::over(
            "nodes",
            limits.nodes,
            found,
            "may return too many items (each list's size times the lists above it)",
        )
    }

    /// The refusal as a JSON response body.
    pub fn to_json(&self) -> serde_json::Value {
        let mut extensions = json!({ "code": self.code });
        if let Some((name, max, found)) = self.limit {
            extensions["limit"] = json!(name);
            extensions["max"] = json!(max);
            extensions["found"] = json!(found);
        }
        if let Some(field) = &self.field {
            extensions["field"] = json!(field);
        }
        json!({ "errors": [{ "message": self.message, "extensions": extensions }] })
    }
}

/// Checks a document's `cost` against `limits`; returns whether it introspects.
pub(super) fn check(cost: &Cost, limits: &Limits) -> Result<bool, Refusal> {
    let checks = [
        (
            "selections",
            limits.selections,
            cost.selections,
            "selects too many fields",
        ),
        ("depth", limits.depth, cost.depth, "nests fields too deeply"),
        (
            "aliases",
            limits.aliases,
            cost.aliases,
            "uses too many aliases",
        ),
        (
            "directives",
            limits.directives,
            cost.directives,
            "uses too many directives",
        ),
        (
            "schemas",
            limits.schemas,
            cost.schemas,
            "asks for __schema more than once",
        ),
        (
            "introspectionSelections",
            limits.introspection_selections,
            cost.introspection_selections,
            "selects too many introspection fields",
        ),
        (
            "introspectionDepth",
            limits.introspection_depth,
            cost.introspection_depth,
            "nests introspection too deeply",
        ),
    ];
    for (name, max, found, what) in checks {
        if found > max {
            return Err(Refusal::over(name, max, found, what));
        }
    }
    Ok(cost.introspection_selections > 0)
}
