//! The root fields an operation runs, as the Biscuit authorizer sees them: `operation(name)`
//! plus facts drawn from their arguments (`metric(m)` for `recordUsage`), derived from the same
//! view the executor runs — every fragment at any nesting, variables resolved the way the
//! executor resolves them (the request's value, else the operation's default).

use std::collections::{BTreeSet, HashSet};

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Value as ConstValue, Variables};

use super::values::{Values, selected};

use crate::auth::token::Operation;
use crate::services::usage;

/// An argument that a holder's check may be about, which this document hides from view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    pub field: String,
    pub argument: &'static str,
}

/// The root fields of the operation the request runs, each with its facts, in a stable order.
/// `@skip`/`@include` are not applied: a field that might run is authorized as if it does.
/// Empty when the document names no runnable operation (execution then fails).
///
/// # Errors
/// [`Unresolved`] when an argument that facts are drawn from is neither a literal nor a
/// variable the request or the operation's default provides.
pub fn root_operations(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Result<Vec<Operation>, Unresolved> {
    let Some(operation) = selected(document, operation_name) else {
        return Ok(Vec::new());
    };
    let mut walk = Walk {
        document,
        values: Values::new(operation, variables),
        expanded: HashSet::new(),
        found: BTreeSet::new(),
    };
    walk.collect(&operation.selection_set.node)?;
    Ok(walk
        .found
        .into_iter()
        .map(|(name, facts)| Operation { name, facts })
        .collect())
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    values: Values<'a>,
    /// Fragments already walked: a fragment's root fields are the same at every spread.
    expanded: HashSet<&'a str>,
    found: BTreeSet<(String, Vec<(String, String)>)>,
}

impl<'a> Walk<'a> {
    fn collect(&mut self, set: &'a SelectionSet) -> Result<(), Unresolved> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    for facts in self.facts(&field.node)? {
                        self.found.insert((field.node.name.node.to_string(), facts));
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let document = self.document;
                    if let Some((name, fragment)) = document
                        .fragments
                        .get_key_value(&spread.node.fragment_name.node)
                        && self.expanded.insert(name.as_str())
                    {
                        self.collect(&fragment.node.selection_set.node)?;
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.collect(&inline.node.selection_set.node)?;
                }
            }
        }
        Ok(())
    }

    /// The sets of argument facts a root field is authorized with: one per event for
    /// `recordUsages`, so that a holder's check judges every event's metric on its own.
    fn facts(&self, field: &Field) -> Result<Vec<Vec<(String, String)>>, Unresolved> {
        // A name that cannot be counted is judged as the empty name, which nothing counts on:
        // the resolver refuses it before anything is queued.
        let metric = |input: &ConstValue| {
            input_string(input, "metric").map(|metric| {
                let name = usage::metric_name(metric).unwrap_or_default();
                vec![("metric".to_owned(), name.to_owned())]
            })
        };
        Ok(match field.name.node.as_str() {
            "recordUsage" => {
                let input = self.argument(field, "input")?;
                vec![metric(&input).ok_or_else(|| unresolved(field, "input"))?]
            }
            "recordUsages" => match self.argument(field, "inputs")? {
                // Nothing is recorded, but the operation is still named.
                ConstValue::List(inputs) if inputs.is_empty() => vec![Vec::new()],
                // A list past the most a call takes is refused by the resolver before anything
                // counts: judging its first events bounds the authorizer's work by that limit,
                // not by the size of the body.
                ConstValue::List(inputs) => inputs
                    .iter()
                    .take(usage::MAX_EVENTS)
                    .map(|input| metric(input).ok_or_else(|| unresolved(field, "inputs")))
                    .collect::<Result<_, _>>()?,
                // A single value where a list is expected is a list of one (input coercion).
                input => vec![metric(&input).ok_or_else(|| unresolved(field, "inputs"))?],
            },
            _ => vec![Vec::new()],
        })
    }

    /// An argument's value, from a literal or variables.
    fn argument(&self, field: &Field, argument: &'static str) -> Result<ConstValue, Unresolved> {
        match self.values.argument(field, argument) {
            Some(Ok(value)) => Ok(value),
            Some(Err(_)) | None => Err(unresolved(field, argument)),
        }
    }
}

fn unresolved(field: &Field, argument: &'static str) -> Unresolved {
    Unresolved {
        field: field.name.node.to_string(),
        argument,
    }
}

/// `input.key` as a string.
fn input_string<'v>(input: &'v ConstValue, key: &str) -> Option<&'v str> {
    match input {
        ConstValue::Object(map) => match map.get(key) {
            Some(ConstValue::String(text)) => Some(text),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::Variables;
    use async_graphql::parser::parse_query;
    use serde_json::json;

    use super::{Operation, Unresolved, root_operations, usage};

    fn roots(query: &str, name: Option<&str>, variables: serde_json::Value) -> Vec<Operation> {
        let document = parse_query(query).expect("parses");
        root_operations(&document, name, &Variables::from_json(variables)).expect("resolves")
    }

    fn names(query: &str, name: Option<&str>) -> Vec<String> {
        roots(query, name, json!({}))
            .into_iter()
            .map(|op| op.name)
            .collect()
    }

    fn metric(op: &Operation) -> &str {
        &op.facts[0].1
    }

    #[test]
    fn a_metric_is_judged_by_the_name_it_is_counted_under() {
        let query = "mutation($i: RecordUsageInput!) { recordUsage(input: $i) { used } }";
        let judged = |given: &str| {
            let found = roots(query, None, json!({ "i": { "metric": given } }));
            metric(&found[0]).to_owned()
        };
        assert_eq!(judged("  recordings "), "recordings");
        // What cannot be counted is judged as the empty name, which nothing counts on.
        for bad in ["recordings\u{0}", "\u{0}", &"m".repeat(65)] {
            assert_eq!(judged(bad), "", "{bad:?}");
            assert!(usage::metric_name(bad).is_err());
        }
    }

    #[test]
    fn root_fields_are_named_through_aliases_and_fragments() {
        let query = "query A { x: me { id } ...F ... on Query { plans { code } } }
                     fragment F on Query { business { id } }
                     mutation B { logout }";
        assert_eq!(names(query, Some("A")), ["business", "me", "plans"]);
        assert_eq!(names(query, Some("B")), ["logout"]);
        assert!(names(query, None).is_empty(), "ambiguous without a name");
    }

    #[test]
    fn fragments_nested_deeper_than_any_bound_are_still_seen() {
        let mut query = String::from("mutation { ");
        for _ in 0..40 {
            query.push_str("... on Mutation { ");
        }
        query.push_str(r#"recordUsage(input: { metric: "applications" }) { used }"#);
        query.push_str(&" }".repeat(41));
        let found = roots(&query, None, json!({}));
        assert_eq!(found.len(), 1);
        assert_eq!(metric(&found[0]), "applications");
    }

    #[test]
    fn a_metric_comes_from_a_literal_a_variable_or_the_variables_default() {
        let literal = roots(
            r#"mutation { recordUsage(input: { metric: " recordings " }) { used } }"#,
            None,
            json!({}),
        );
        assert_eq!(metric(&literal[0]), "recordings", "as the service trims it");
        let query = r#"mutation($i: RecordUsageInput! = { metric: "applications" }) {
                         recordUsage(input: $i) { used } }"#;
        assert_eq!(metric(&roots(query, None, json!({}))[0]), "applications");
        let given = roots(query, None, json!({ "i": { "metric": "seats" } }));
        assert_eq!(metric(&given[0]), "seats", "the request's value wins");
        let nested = r#"mutation($m: String = "applications") {
                          recordUsage(input: { metric: $m }) { used } }"#;
        assert_eq!(metric(&roots(nested, None, json!({}))[0]), "applications");
    }

    #[test]
    fn every_metric_of_a_document_is_a_fact() {
        let found = roots(
            r#"mutation { a: recordUsage(input: { metric: "x" }) { used }
                          b: recordUsage(input: { metric: "y" }) @skip(if: true) { used } }"#,
            None,
            json!({}),
        );
        let metrics: Vec<&str> = found.iter().map(metric).collect();
        assert_eq!(metrics, ["x", "y"], "skipped fields are authorized too");
    }

    #[test]
    fn every_event_of_record_usages_is_authorized_on_its_own() {
        let query = r#"mutation($m: String = "seats", $list: [RecordUsageInput!]!) {
            a: recordUsages(inputs: [{ metric: " x " }, { metric: $m }]) { error { code } }
            b: recordUsages(inputs: $list) { error { code } }
            c: recordUsages(inputs: { metric: "single" }) { error { code } } }"#;
        let found = roots(query, None, json!({ "list": [{ "metric": "y" }] }));
        let metrics: Vec<&str> = found.iter().map(metric).collect();
        assert_eq!(metrics, ["seats", "single", "x", "y"]);
        assert!(found.iter().all(|op| op.name == "recordUsages"));
    }

    #[test]
    fn a_list_longer_than_a_call_takes_is_judged_by_its_first_events() {
        let list: Vec<_> = (0..10 * usage::MAX_EVENTS)
            .map(|i| json!({ "metric": format!("m{i}") }))
            .collect();
        let query = "mutation($list: [RecordUsageInput!]!) { recordUsages(inputs: $list) { error { code } } }";
        let found = roots(query, None, json!({ "list": list }));
        assert_eq!(found.len(), usage::MAX_EVENTS);
    }

    #[test]
    fn an_event_whose_metric_the_document_hides_is_unresolved() {
        let query = r#"mutation($m: String) {
            recordUsages(inputs: [{ metric: "x" }, { metric: $m }]) { error { code } } }"#;
        let document = parse_query(query).expect("parses");
        assert_eq!(
            root_operations(&document, None, &Variables::default()),
            Err(Unresolved {
                field: "recordUsages".into(),
                argument: "inputs"
            })
        );
    }

    #[test]
    fn a_metric_the_document_hides_is_unresolved() {
        let document =
            parse_query("mutation($i: RecordUsageInput!) { recordUsage(input: $i) { used } }")
                .expect("parses");
        let found = root_operations(&document, None, &Variables::default());
        assert_eq!(
            found,
            Err(Unresolved {
                field: "recordUsage".into(),
                argument: "input"
            })
        );
    }
}
