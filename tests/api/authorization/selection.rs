//! What a row's query actually selects, read from the query itself and typed by introspection:
//! coverage is never taken from a label.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{DocumentOperations, OperationType, Selection, SelectionSet};
use serde_json::{Value, json};

use crate::helpers::{TestApp, data};

/// The schema's object types: for each, its fields and the named type each returns.
pub struct Types {
    pub query: String,
    pub mutation: String,
    fields: BTreeMap<String, BTreeMap<String, String>>,
}

/// A (type, field) pair, e.g. `("Business", "apiKey")`.
pub type Field = (String, String);

impl Types {
    pub async fn introspect(app: &TestApp) -> Types {
        let response = app
            .graphql(
                "{ __schema { queryType { name } mutationType { name } types { name kind
                    fields { name type { name kind ofType { name kind ofType { name kind
                        ofType { name } } } } } } } }",
                json!({}),
                None,
            )
            .await;
        let schema = &data(&response)["__schema"];
        let mut fields = BTreeMap::new();
        for ty in schema["types"].as_array().expect("types") {
            let Some(list) = ty["fields"].as_array() else {
                continue;
            };
            let of_type = list
                .iter()
                .map(|field| (text(&field["name"]), named(&field["type"])))
                .collect();
            fields.insert(text(&ty["name"]), of_type);
        }
        Types {
            query: text(&schema["queryType"]["name"]),
            mutation: text(&schema["mutationType"]["name"]),
            fields,
        }
    }

    /// Every field a row must cover: those of the object types, leaving out introspection and
    /// the Relay wrappers (connections, edges, `PageInfo`), which only carry what they wrap.
    pub fn guarded_surface(&self) -> BTreeSet<Field> {
        self.fields
            .iter()
            .filter(|(ty, _)| {
                !ty.starts_with("__")
                    && !ty.ends_with("Connection")
                    && !ty.ends_with("Edge")
                    && ty.as_str() != "PageInfo"
            })
            .flat_map(|(ty, fields)| fields.keys().map(|field| (ty.clone(), field.clone())))
            .collect()
    }

    /// The (type, field) pairs `query` selects, in order from the root to its one leaf.
    ///
    /// # Panics
    /// When the query does not parse, names a field the schema lacks, or selects anything but
    /// one path of plain fields ending in one leaf: a row asks for exactly one thing.
    pub fn path(&self, query: &str) -> Vec<Field> {
        let document = parse_query(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert!(document.fragments.is_empty(), "{query}: no fragments");
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("{query}: one operation");
        };
        let mut ty = match operation.node.ty {
            OperationType::Query => self.query.clone(),
            OperationType::Mutation => self.mutation.clone(),
            OperationType::Subscription => panic!("{query}: no subscriptions"),
        };
        let mut set: &SelectionSet = &operation.node.selection_set.node;
        let mut path = Vec::new();
        while !set.items.is_empty() {
            let [selection] = set.items.as_slice() else {
                panic!("{query}: one field per selection set");
            };
            let Selection::Field(field) = &selection.node else {
                panic!("{query}: fields only, no fragments");
            };
            assert!(field.node.alias.is_none(), "{query}: no aliases");
            let name = field.node.name.node.to_string();
            let next = self
                .fields
                .get(&ty)
                .and_then(|fields| fields.get(&name))
                .unwrap_or_else(|| panic!("{query}: {ty} has no field {name}"))
                .clone();
            path.push((std::mem::replace(&mut ty, next), name));
            set = &field.node.selection_set.node;
        }
        assert!(
            self.fields.get(&ty).is_none_or(BTreeMap::is_empty),
            "{query}: ends on {ty}, not on a leaf"
        );
        path
    }
}

fn text(value: &Value) -> String {
    value.as_str().expect("a name").to_owned()
}

/// The named type under any `NON_NULL`/`LIST` wrappers.
fn named(ty: &Value) -> String {
    match ty["name"].as_str() {
        Some(name) => name.to_owned(),
        None => named(&ty["ofType"]),
    }
}
