//! Generated documents: fragments, inline fragments, aliases, variables with defaults and
//! `@skip`/`@include`, wrapped in any order around `recordUsage` and business fields, sent with
//! narrowed tokens. Whatever the shape, nothing a holder's check refuses is run or recorded.

use std::fmt::Write;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

use super::attenuation::{narrow, used};
use crate::helpers::spawn_app;

/// How an item's argument reaches the field.
#[derive(Debug, Clone, Copy)]
enum Source {
    Literal,
    Variable,
    VariableDefault,
    InputVariable,
    InputDefault,
}

/// One layer around an item.
#[derive(Debug, Clone, Copy)]
enum Wrap {
    Inline,
    Named,
    Skip { value: bool, variable: bool },
    Include { value: bool, variable: bool },
}

#[derive(Debug, Clone)]
struct Item {
    forbidden: bool,
    source: Source,
    wraps: Vec<Wrap>,
}

fn item() -> impl Strategy<Value = Item> {
    let source = prop_oneof![
        Just(Source::Literal),
        Just(Source::Variable),
        Just(Source::VariableDefault),
        Just(Source::InputVariable),
        Just(Source::InputDefault),
    ];
    let wrap = prop_oneof![
        Just(Wrap::Inline),
        Just(Wrap::Named),
        (any::<bool>(), any::<bool>()).prop_map(|(value, variable)| Wrap::Skip { value, variable }),
        (any::<bool>(), any::<bool>())
            .prop_map(|(value, variable)| Wrap::Include { value, variable }),
    ];
    (any::<bool>(), source, prop::collection::vec(wrap, 0..7)).prop_map(
        |(forbidden, source, wraps)| Item {
            forbidden,
            source,
            wraps,
        },
    )
}

/// A document under construction: the operation's variables, its fragments, its request
/// variables.
#[derive(Default)]
struct Doc {
    definitions: Vec<String>,
    fragments: String,
    variables: Map<String, Value>,
    counter: usize,
}

impl Doc {
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    /// `selection` wrapped in `wraps`, innermost first; `root` is the type fragments are on.
    fn wrap(&mut self, mut selection: String, wraps: &[Wrap], root: &str) -> String {
        for wrap in wraps {
            selection = match *wrap {
                Wrap::Inline => format!("... on {root} {{ {selection} }}"),
                Wrap::Named => {
                    let name = self.fresh("F");
                    let _ = write!(
                        self.fragments,
                        " fragment {name} on {root} {{ {selection} }}"
                    );
                    format!("...{name}")
                }
                Wrap::Skip { value, variable } | Wrap::Include { value, variable } => {
                    let directive = if matches!(wrap, Wrap::Skip { .. }) {
                        "skip"
                    } else {
                        "include"
                    };
                    let condition = if variable {
                        let name = self.fresh("c");
                        // Half the time the condition is only the variable's default.
                        if self.counter.is_multiple_of(2) {
                            self.definitions
                                .push(format!("${name}: Boolean! = {value}"));
                        } else {
                            self.definitions.push(format!("${name}: Boolean!"));
                            self.variables.insert(name.clone(), json!(value));
                        }
                        format!("${name}")
                    } else {
                        value.to_string()
                    };
                    format!("... @{directive}(if: {condition}) {{ {selection} }}")
                }
            };
        }
        selection
    }

    fn record(&mut self, metric: &str, source: Source) -> String {
        let alias = self.fresh("r");
        let input = match source {
            Source::Literal => format!("{{ metric: \"{metric}\" }}"),
            Source::Variable => {
                let name = self.fresh("m");
                self.definitions.push(format!("${name}: String!"));
                self.variables.insert(name.clone(), json!(metric));
                format!("{{ metric: ${name} }}")
            }
            Source::VariableDefault => {
                let name = self.fresh("m");
                self.definitions
                    .push(format!("${name}: String = \"{metric}\""));
                format!("{{ metric: ${name} }}")
            }
            Source::InputVariable => {
                let name = self.fresh("i");
                self.definitions.push(format!("${name}: RecordUsageInput!"));
                self.variables
                    .insert(name.clone(), json!({ "metric": metric }));
                format!("${name}")
            }
            Source::InputDefault => {
                let name = self.fresh("i");
                self.definitions.push(format!(
                    "${name}: RecordUsageInput! = {{ metric: \"{metric}\" }}"
                ));
                format!("${name}")
            }
        };
        format!("{alias}: recordUsage(input: {input}) {{ used }}")
    }

    fn finish(self, kind: &str, body: &str) -> (String, Value) {
        let definitions = if self.definitions.is_empty() {
            String::new()
        } else {
            format!("({})", self.definitions.join(", "))
        };
        (
            format!("{kind} Q{definitions} {{ {body} }}{}", self.fragments),
            Value::Object(self.variables),
        )
    }
}

/// Whether any key `business` in `value` holds an object: business data was read.
fn reads_business(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, value)| (key == "business" && value.is_object()) || reads_business(value)),
        Value::Array(items) => items.iter().any(reads_business),
        _ => false,
    }
}

#[test]
fn no_document_shape_runs_what_a_holders_check_refuses() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let app = runtime.block_on(spawn_app());
    let owner = runtime.block_on(app.signup("ada@example.com"));
    let sdk = narrow(&app, &owner.api_key, r#"check if metric("recordings");"#);
    let me_only = narrow(&app, &owner.token, r#"check if operation("me");"#);
    let config = Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let documents = prop::collection::vec(item(), 1..4);
    runner
        .run(&documents, |items| {
            // A mutation with the SDK key narrowed to `recordings`.
            let mut doc = Doc::default();
            let mut body = String::new();
            for item in &items {
                let metric = if item.forbidden { "applications" } else { "recordings" };
                let field = doc.record(metric, item.source);
                body.push_str(&doc.wrap(field, &item.wraps, "Mutation"));
                body.push(' ');
            }
            let (query, variables) = doc.finish("mutation", &body);
            let before = runtime.block_on(used(&app, &owner, "recordings"));
            let response = runtime.block_on(app.graphql(&query, variables, Some(&sdk)));
            let after = runtime.block_on(used(&app, &owner, "recordings"));
            prop_assert_eq!(runtime.block_on(used(&app, &owner, "applications")), 0, "{} → {}", query, response);
            if items.iter().any(|item| item.forbidden) {
                prop_assert!(response["errors"].is_array(), "{} → {}", query, response);
                prop_assert_eq!(before, after, "nothing of a refused document runs: {}", query);
            }

            // A query with an owner token narrowed to `me`.
            let mut doc = Doc::default();
            let mut body = String::new();
            for (n, item) in items.iter().enumerate() {
                let field = if item.forbidden {
                    format!("b{n}: business {{ name }}")
                } else {
                    format!("m{n}: me {{ business {{ name apiKey }} memberships {{ business {{ name }} }} }}")
                };
                body.push_str(&doc.wrap(field, &item.wraps, "Query"));
                body.push(' ');
            }
            let (query, variables) = doc.finish("query", &body);
            let response = runtime.block_on(app.graphql(&query, variables, Some(&me_only)));
            prop_assert!(!reads_business(&response["data"]), "{} → {}", query, response);
            prop_assert!(!response.to_string().contains(&owner.api_key), "{}", query);
            Ok(())
        })
        .expect("no shape gets past the checks");
}
