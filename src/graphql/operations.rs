//! The root fields a request selects, which the Biscuit authorizer sees as `operation(name)`,
//! with the facts of their arguments that tokens may be narrowed on (e.g. `metric(name)` for
//! `recordUsage`, so a key attenuated to one metric cannot record another).

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, Selection, SelectionSet,
};
use async_graphql::{Value as ConstValue, Variables};

pub use crate::auth::token::Operation;

/// Deepest fragment nesting followed at the root (cycles are invalid anyway).
const MAX_FRAGMENT_DEPTH: usize = 8;

/// Most aliases one document may use: aliases let a small query ask for the same expensive
/// field many times over.
pub const MAX_ALIASES: usize = 30;

/// How many aliased fields the document holds, in all its operations and fragments.
pub fn alias_count(document: &ExecutableDocument) -> usize {
    fn count(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|selection| match &selection.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + count(&field.node.selection_set.node)
                }
                Selection::InlineFragment(inline) => count(&inline.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = document
        .operations
        .iter()
        .map(|(_, operation)| count(&operation.node.selection_set.node))
        .sum();
    let fragments: usize = document
        .fragments
        .values()
        .map(|fragment| count(&fragment.node.selection_set.node))
        .sum();
    operations + fragments
}

/// The root fields of the operation a request runs. The document is parsed once: execution
/// reuses the parse kept in the request.
pub fn of_request(request: &mut async_graphql::Request) -> Vec<Operation> {
    let operation_name = request.operation_name.take();
    let variables = std::mem::take(&mut request.variables);
    let found = match request.parsed_query() {
        Ok(document) => root_fields(document, operation_name.as_deref(), &variables),
        Err(_) => Vec::new(),
    };
    request.operation_name = operation_name;
    request.variables = variables;
    found
}

/// The root fields (by name, not alias) of the operation a document runs; empty when it names
/// no runnable operation (execution will then fail).
pub fn root_fields(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Vec<Operation> {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        (DocumentOperations::Multiple(_), None) => None,
    };
    let mut found = Vec::new();
    if let Some(operation) = operation {
        let walk = Walk {
            document,
            variables,
        };
        walk.collect(&operation.node.selection_set.node, 0, &mut found);
    }
    found
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
}

impl Walk<'_> {
    fn collect(&self, set: &SelectionSet, depth: usize, found: &mut Vec<Operation>) {
        if depth > MAX_FRAGMENT_DEPTH {
            return;
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let operation = Operation {
                        name: field.node.name.node.to_string(),
                        facts: self.facts(&field.node),
                    };
                    if !found.contains(&operation) {
                        found.push(operation);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if let Some(fragment) = self.document.fragments.get(name) {
                        self.collect(&fragment.node.selection_set.node, depth + 1, found);
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.collect(&inline.node.selection_set.node, depth + 1, found);
                }
            }
        }
    }

    /// The argument facts of a root field.
    fn facts(&self, field: &Field) -> Vec<(String, String)> {
        match field.name.node.as_str() {
            "recordUsage" => self
                .input_string(field, "input", "metric")
                .map(|metric| vec![("metric".to_owned(), metric)])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// `argument.key` when it is a string, from a literal or a variable.
    fn input_string(&self, field: &Field, argument: &str, key: &str) -> Option<String> {
        let value = field.get_argument(argument)?.node.clone();
        let value = value
            .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()))
            .ok()?;
        match value {
            ConstValue::Object(map) => match map.get(key)? {
                ConstValue::String(text) => Some(text.trim().to_owned()),
                _ => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use async_graphql::{Request, Variables};

    use super::{Operation, of_request};

    fn root_fields(query: &str, operation: Option<&str>, variables: &Variables) -> Vec<Operation> {
        let mut request = Request::new(query).variables(variables.clone());
        if let Some(name) = operation {
            request = request.operation_name(name);
        }
        of_request(&mut request)
    }

    fn names(query: &str, operation: Option<&str>) -> Vec<String> {
        root_fields(query, operation, &Variables::default())
            .into_iter()
            .map(|op| op.name)
            .collect()
    }

    #[test]
    fn root_fields_are_named_through_aliases_and_fragments() {
        let query = "query A { x: me { id } ...F ... on Query { plans { code } } }
                     fragment F on Query { business { id } }
                     mutation B { logout }";
        assert_eq!(names(query, Some("A")), ["me", "business", "plans"]);
        assert_eq!(names(query, Some("B")), ["logout"]);
        assert!(names(query, None).is_empty(), "ambiguous without a name");
        assert!(names("{ broken", None).is_empty());
    }

    #[test]
    fn aliases_are_counted_everywhere() {
        let document = parse_query(
            "query { a: me { b: role } ...F } fragment F on Query { c: plans { code } }",
        )
        .expect("parses");
        assert_eq!(super::alias_count(&document), 3);
    }

    #[test]
    fn record_usage_carries_its_metric_from_a_literal_or_a_variable() {
        let literal = root_fields(
            r#"mutation { recordUsage(input: { metric: "recordings" }) { used } }"#,
            None,
            &Variables::default(),
        );
        assert_eq!(
            literal[0].facts,
            [("metric".to_owned(), "recordings".to_owned())]
        );
        let variables =
            Variables::from_json(serde_json::json!({ "i": { "metric": "applications" } }));
        let variable = root_fields(
            "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { used } }",
            None,
            &variables,
        );
        assert_eq!(
            variable[0].facts,
            [("metric".to_owned(), "applications".to_owned())]
        );
    }
}
