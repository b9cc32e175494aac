//! The most items a result can hold, known before anything runs (GitHub's rule): each list
//! field counts as many items as it may return for every item of the lists above it, so
//! nested lists multiply, aliases count apart, and a page counts as its `first`, read from
//! the request's own variables. `@skip` and `@include` are not applied: a field that might run
//! counts as if it does. Introspection is bounded by its own limits and not counted here.
//!
//! The walk expands fragments; it runs only on documents within the selection limits, so it
//! takes at most as many steps as those allow.

use async_graphql::Value as ConstValue;
use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationDefinition, OperationType, Selection, SelectionSet,
};

use super::shape::{SHAPE, Shape, Size};
use super::values::Values;
use crate::graphql::pagination::MAX_PAGE;

/// The most items `operation` may return with `values`' variables, saturating at `u64::MAX`.
pub fn of_operation(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    values: Values<'_>,
) -> u64 {
    let shape: &Shape = &SHAPE;
    let root = match operation.ty {
        OperationType::Query => shape.query.as_str(),
        OperationType::Mutation => shape.mutation.as_str(),
        // The schema serves no subscriptions: validation refuses one.
        OperationType::Subscription => return 0,
    };
    let count = Count {
        document,
        values,
        shape,
    };
    count.set(&operation.selection_set.node, root, 1, None)
}

struct Count<'a> {
    document: &'a ExecutableDocument,
    values: Values<'a>,
    shape: &'a Shape,
}

impl Count<'_> {
    /// Items under `set`, a selection on the type `on`, for `above` items of the lists above
    /// it; `page` is the size of the page `set` is the connection of, if it is one.
    fn set(&self, set: &SelectionSet, on: &str, above: u64, page: Option<u64>) -> u64 {
        let mut total: u64 = 0;
        for selection in &set.items {
            let items = match &selection.node {
                Selection::Field(field) => self.field(&field.node, on, above, page),
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    // An unknown fragment runs nothing; validation refuses it.
                    self.document.fragments.get(name).map_or(0, |fragment| {
                        let fragment = &fragment.node;
                        let on = fragment.type_condition.node.on.node.as_str();
                        self.set(&fragment.selection_set.node, on, above, page)
                    })
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let on = inline
                        .type_condition
                        .as_ref()
                        .map_or(on, |condition| condition.node.on.node.as_str());
                    self.set(&inline.selection_set.node, on, above, page)
                }
            };
            total = total.saturating_add(items);
        }
        total
    }

    fn field(&self, field: &Field, on: &str, above: u64, page: Option<u64>) -> u64 {
        // `__typename` is one value; `__schema` and `__type` have their own limits.
        let name = field.name.node.as_str();
        if name.starts_with("__") {
            return 0;
        }
        // A field the type does not have runs nothing; validation refuses it.
        let Some(shape) = self.shape.field(on, name) else {
            return 0;
        };
        let (own, each, page) = match shape.size {
            Size::One => (0, above, None),
            Size::Page { default } => (0, above, Some(self.first(field, default))),
            Size::OfPage => {
                let items = above.saturating_mul(page.unwrap_or(MAX_PAGE));
                (items, items, None)
            }
            Size::List(cap) => {
                let items = above.saturating_mul(cap);
                (items, items, None)
            }
        };
        let below = self.set(&field.selection_set.node, &shape.returns, each, page);
        own.saturating_add(below)
    }

    /// The page a field's `first` asks for, as the resolver reads it: absent or null is the
    /// default, past the largest page or negative is refused (counted as the most it could
    /// be, and as nothing).
    fn first(&self, field: &Field, default: u64) -> u64 {
        match self.values.argument(field, "first") {
            None | Some(Err(_) | Ok(ConstValue::Null)) => default,
            Some(Ok(ConstValue::Number(n))) => match (n.as_u64(), n.as_i64()) {
                (Some(n), _) => n.min(MAX_PAGE),
                (None, Some(_)) => 0,
                (None, None) => MAX_PAGE,
            },
            // Not an integer: validation refuses it; counted as the largest page regardless.
            Some(Ok(_)) => MAX_PAGE,
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::Variables;
    use async_graphql::parser::parse_query;
    use serde_json::json;

    use super::super::values::{Values, selected};
    use super::*;
    use crate::services::billing::plans::MAX_LISTED;
    use crate::services::team::business::MAX_MEMBERSHIPS;

    fn nodes(query: &str, variables: serde_json::Value) -> u64 {
        let document = parse_query(query).expect("parses");
        let variables = Variables::from_json(variables);
        let operation = selected(&document, None).expect("one operation");
        of_operation(&document, operation, Values::new(operation, &variables))
    }

    #[test]
    fn nested_lists_multiply_and_aliases_count_apart() {
        let doc = "{ me { memberships { business {
            a: auditLog(first: 100) { nodes { id actor { email } } }
            b: auditLog(first: 10) { edges { node { id } } pageInfo { hasNextPage } } } } } }";
        let m = MAX_MEMBERSHIPS;
        assert_eq!(nodes(doc, json!({})), m + m * 100 + m * 10);
    }

    #[test]
    fn a_page_is_its_first_from_a_literal_a_variable_or_a_default() {
        let doc = "query($n: Int = 7) { business { auditLog(first: $n) { nodes { id } } } }";
        assert_eq!(nodes(doc, json!({})), 7, "the variable's default");
        assert_eq!(nodes(doc, json!({ "n": 50 })), 50, "the request's value");
        assert_eq!(
            nodes(doc, json!({ "n": 5000 })),
            MAX_PAGE,
            "refused past a page"
        );
        assert_eq!(nodes(doc, json!({ "n": null })), DEFAULT_PAGE_FOR_TEST);
        let bare = "{ business { members { nodes { id } edges { node { id } } } } }";
        assert_eq!(nodes(bare, json!({})), 2 * DEFAULT_PAGE_FOR_TEST);
    }

    const DEFAULT_PAGE_FOR_TEST: u64 = crate::graphql::pagination::DEFAULT_PAGE;

    #[test]
    fn fragments_inline_fragments_and_skipped_fields_count() {
        let doc =
            "query($no: Boolean = true) { ...P ... on Query { plans @skip(if: $no) { code } } }
                   fragment P on Query { allPlans @include(if: false) { limits { metric } } }";
        let plans = MAX_LISTED;
        let limits = plans * crate::services::billing::plans::MAX_LIMITS as u64;
        assert_eq!(nodes(doc, json!({})), plans + limits + plans);
    }

    #[test]
    fn unknown_fields_and_introspection_count_nothing() {
        let doc = "{ nothing { here } __schema { types { fields { name } } } __typename }";
        assert_eq!(nodes(doc, json!({})), 0);
    }

    #[test]
    fn lists_under_single_objects_multiply_by_the_lists_above() {
        let doc =
            "{ me { memberships { business { subscription { plan { limits { metric } } } } } } }";
        let limits = MAX_MEMBERSHIPS * crate::services::billing::plans::MAX_LIMITS as u64;
        assert_eq!(nodes(doc, json!({})), MAX_MEMBERSHIPS + limits);
    }
}
