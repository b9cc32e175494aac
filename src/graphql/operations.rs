//! The root fields a request selects, which the Biscuit authorizer sees as `operation(name)`.

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};

/// Deepest fragment nesting followed at the root (cycles are invalid anyway).
const MAX_FRAGMENT_DEPTH: usize = 8;

/// The names (not aliases) of the root fields of the operation `request` runs; empty when the
/// document does not parse or names no runnable operation (execution will then fail).
pub fn root_fields(query: &str, operation_name: Option<&str>) -> Vec<String> {
    let Ok(document) = parse_query(query) else {
        return Vec::new();
    };
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        (DocumentOperations::Multiple(_), None) => None,
    };
    let mut names = Vec::new();
    if let Some(operation) = operation {
        collect(&document, &operation.node.selection_set.node, 0, &mut names);
    }
    names
}

fn collect(
    document: &ExecutableDocument,
    set: &SelectionSet,
    depth: usize,
    names: &mut Vec<String>,
) {
    if depth > MAX_FRAGMENT_DEPTH {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let name = field.node.name.node.to_string();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    collect(
                        document,
                        &fragment.node.selection_set.node,
                        depth + 1,
                        names,
                    );
                }
            }
            Selection::InlineFragment(inline) => {
                collect(document, &inline.node.selection_set.node, depth + 1, names);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::root_fields;

    #[test]
    fn root_fields_are_named_through_aliases_and_fragments() {
        let query = "query A { x: me { id } ...F ... on Query { plans { code } } }
                     fragment F on Query { business { id } }
                     mutation B { logout }";
        assert_eq!(root_fields(query, Some("A")), ["me", "business", "plans"]);
        assert_eq!(root_fields(query, Some("B")), ["logout"]);
        assert!(
            root_fields(query, None).is_empty(),
            "ambiguous without a name"
        );
        assert!(root_fields("{ broken", None).is_empty());
    }
}
