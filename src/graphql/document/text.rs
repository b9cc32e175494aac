//! One rule for every string a request hands the server: each argument of each field that
//! runs — literal or from a variable, at any depth of input objects and lists — is read as the
//! executor reads it and refused (`BAD_USER_INPUT` naming the argument) when it holds what
//! [`refused_text`] refuses — the characters are defined there, once, for the domain too:
//!
//! - a control character (U+0000–U+001F, U+007F–U+009F); fields named in [`MULTILINE`] may
//!   hold tab, line feed and carriage return;
//! - a bidirectional control: the embeddings, overrides and isolates U+202A–U+202E and
//!   U+2066–U+2069, and the marks U+200E, U+200F, U+061C;
//! - a Unicode non-character (U+FDD0–U+FDEF, and U+xFFFE/U+xFFFF of every plane).
//!
//! Secrets ([`SECRETS`]: passwords) are the caller's own and are hashed, never stored or
//! shown: only NUL is refused in them, so that every password set before this rule still logs
//! in. No refusal repeats the value. So no NUL reaches a database, and no name can render
//! reversed in another member's view.
//!
//! The one exception, [`PER_ITEM`], is a list whose items are answered one by one; their
//! resolver holds each item to the same rule. A fragment is read once however often it is
//! spread, and a variable once per rule, so the work is linear in the size of the request.

use std::collections::HashSet;

use async_graphql::parser::types::{
    ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Value as ConstValue};
use async_graphql_value::Value;

use super::values::Values;
use crate::services::validate::{TextRule as Rule, refused_text};

/// Input fields and arguments that may span lines (tab, line feed, carriage return).
pub const MULTILINE: &[&str] = &["description"];

/// Input fields and arguments that are secrets: only NUL is refused in them.
pub const SECRETS: &[&str] = &["password", "currentPassword", "newPassword"];

/// Arguments whose items are answered one by one, so that one bad item must not refuse the
/// others: `(field, argument)`. Their resolver holds each item to this rule (and stricter):
/// an event of `recordUsages` with a refused metric or key is that event's `BAD_USER_INPUT`
/// (`usage::metric_name` reads names with [`refused_text`]; keys are printable ASCII).
pub const PER_ITEM: &[(&str, &str)] = &[("recordUsages", "inputs")];

/// A string argument the rule refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The field given the argument.
    pub field: String,
    /// The argument, and the input fields down to the string (`input.email`).
    pub path: String,
    /// What the string holds, e.g. "a bidirectional control (U+202E)".
    pub holds: String,
}

impl Refused {
    /// The innermost name of [`Refused::path`], as `extensions.field` names it.
    pub fn input_field(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }
}

fn rule_of(name: &str) -> Rule {
    if MULTILINE.contains(&name) {
        Rule::Multiline
    } else if SECRETS.contains(&name) {
        Rule::Secret
    } else {
        Rule::Line
    }
}

/// Checks every string argument of `operation` with `values`' variables.
///
/// # Errors
/// The first string the rule refuses.
pub fn check(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    values: Values<'_>,
) -> Result<(), Refused> {
    let mut walk = Walk {
        document,
        values,
        expanded: HashSet::new(),
        read: HashSet::new(),
    };
    walk.set(&operation.selection_set.node)
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    values: Values<'a>,
    expanded: HashSet<&'a str>,
    /// Variables already read, with the rule they were read under.
    read: HashSet<(Name, Rule)>,
}

impl<'a> Walk<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> Result<(), Refused> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    for (name, value) in &field.arguments {
                        let per_item = (field.name.node.as_str(), name.node.as_str());
                        if PER_ITEM.contains(&per_item) {
                            continue;
                        }
                        let mut path = vec![name.node.as_str().to_owned()];
                        let rule = rule_of(name.node.as_str());
                        if let Some(holds) = self.value(&value.node, rule, &mut path) {
                            return Err(Refused {
                                field: field.name.node.to_string(),
                                path: path.join("."),
                                holds,
                            });
                        }
                    }
                    self.set(&field.selection_set.node)?;
                }
                Selection::FragmentSpread(spread) => {
                    let document = self.document;
                    if let Some((name, fragment)) = document
                        .fragments
                        .get_key_value(&spread.node.fragment_name.node)
                        && self.expanded.insert(name.as_str())
                    {
                        self.set(&fragment.node.selection_set.node)?;
                    }
                }
                Selection::InlineFragment(inline) => self.set(&inline.node.selection_set.node)?,
            }
        }
        Ok(())
    }

    /// What `value` holds that its rule refuses; `path` then leads to it.
    fn value(&mut self, value: &Value, rule: Rule, path: &mut Vec<String>) -> Option<String> {
        match value {
            Value::Variable(name) => {
                if !self.read.insert((name.clone(), rule)) {
                    return None;
                }
                let value = self.values.variable(name)?;
                self.constant(&value, rule, path)
            }
            Value::String(text) => refused_text(text, rule),
            Value::List(items) => items.iter().find_map(|item| self.value(item, rule, path)),
            Value::Object(fields) => fields.iter().find_map(|(key, item)| {
                path.push(key.to_string());
                let found = self.value(item, rule_of(key.as_str()), path);
                if found.is_none() {
                    path.pop();
                }
                found
            }),
            _ => None,
        }
    }

    /// As [`Walk::value`], for a variable's value.
    fn constant(&self, value: &ConstValue, rule: Rule, path: &mut Vec<String>) -> Option<String> {
        match value {
            ConstValue::String(text) => refused_text(text, rule),
            ConstValue::List(items) => items
                .iter()
                .find_map(|item| self.constant(item, rule, path)),
            ConstValue::Object(fields) => fields.iter().find_map(|(key, item)| {
                path.push(key.to_string());
                let found = self.constant(item, rule_of(key.as_str()), path);
                if found.is_none() {
                    path.pop();
                }
                found
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::Variables;
    use async_graphql::parser::parse_query;
    use serde_json::json;

    use super::super::values::selected;
    use super::*;

    fn checked(query: &str, variables: serde_json::Value) -> Result<(), Refused> {
        let document = parse_query(query).expect("parses");
        let variables = Variables::from_json(variables);
        let operation = selected(&document, None).expect("one operation");
        check(&document, operation, Values::new(operation, &variables))
    }

    #[test]
    fn strings_are_read_in_literals_variables_defaults_objects_and_lists() {
        let login = "mutation($i: LoginInput!) { login(input: $i) { token } }";
        let refused = checked(
            login,
            json!({ "i": { "email": "a@b.c\u{0}", "password": "x" } }),
        )
        .expect_err("a NUL in the e-mail");
        assert_eq!(
            (refused.field.as_str(), refused.path.as_str()),
            ("login", "input.email")
        );
        assert_eq!(refused.input_field(), "email");
        assert!(
            checked(
                login,
                json!({ "i": { "email": "a@b.c", "password": "x\ty" } })
            )
            .is_ok()
        );
        let default = "mutation($e: String = \"x\\u0000\") { requestPasswordReset(email: $e) }";
        assert!(checked(default, json!({})).is_err(), "the default runs");
        assert!(
            checked(default, json!({ "e": "fine" })).is_ok(),
            "the request's value runs"
        );
        let nested = r#"mutation { updatePlan(id: "1", input: { limits: [{ metric: "ok", resetsEachPeriod: true }, { metric: "b\u202Ed", resetsEachPeriod: true }] }) { id } }"#;
        let refused = checked(nested, json!({})).expect_err("in a list");
        assert_eq!(refused.path, "input.limits.metric");
        let deep = "{ business { members(after: \"\\u0000\") { nodes { id } } } }";
        assert_eq!(checked(deep, json!({})).expect_err("deep").field, "members");
    }

    #[test]
    fn multiline_fields_take_tabs_and_newlines_and_only_those() {
        let plan = "mutation($i: UpdatePlanInput!) { updatePlan(id: \"1\", input: $i) { id } }";
        assert!(checked(plan, json!({ "i": { "description": "a\n\tb" } })).is_ok());
        assert!(checked(plan, json!({ "i": { "name": "a\tb" } })).is_err());
        assert!(checked(plan, json!({ "i": { "description": "a\u{0}" } })).is_err());
    }

    #[test]
    fn each_event_of_record_usages_is_left_to_be_answered_on_its_own_by_the_same_rule() {
        let many = r#"mutation { recordUsages(inputs: [{ metric: "ok" }, { metric: "b\u202Ed" }]) { error { code } } }"#;
        assert!(checked(many, json!({})).is_ok());
        assert!(crate::services::usage::metric_name("b\u{202E}d").is_err());
        assert!(crate::services::usage::metric_name("b\u{FFFF}d").is_err());
        let one = r#"mutation { recordUsage(input: { metric: "b\u202Ed" }) { used } }"#;
        assert_eq!(
            checked(one, json!({})).expect_err("one event").path,
            "input.metric"
        );
    }

    #[test]
    fn fragments_are_read() {
        let doc =
            "{ ...F } fragment F on Query { businesses(search: \"\\u0000\") { nodes { id } } }";
        assert_eq!(
            checked(doc, json!({})).expect_err("in a fragment").path,
            "search"
        );
    }

    #[test]
    fn the_exceptions_name_inputs_of_the_schema() {
        let sdl = crate::graphql::sdl();
        for name in MULTILINE.iter().chain(SECRETS) {
            assert!(
                sdl.contains(&format!("\t{name}: String")),
                "{name} is not an input of the schema"
            );
        }
    }
}
