//! What each field of the schema returns and how many of it at most, derived from the schema
//! itself (its SDL, parsed once), so that a new list field is seen without anyone listing it.
//!
//! A field with a `first` argument is a page: its connection's `edges` and `nodes` hold at most
//! `first` items (the field's default page when `first` is not given). Any other list is as
//! long as at most its entry in [`CAPS`], the cap its resolver or its data is held to; a list
//! missing from there counts as a full page, and a test fails until it is listed.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

use crate::auth::Right;
use crate::graphql::pagination::{DEFAULT_PAGE, MAX_PAGE};
use crate::services::billing::plans;
use crate::services::{team, usage};

/// The longest each list that is not a page may be: `(type, field, most items)`.
pub const CAPS: &[(&str, &str, u64)] = &[
    ("Query", "plans", plans::MAX_LISTED),
    ("Query", "allPlans", plans::MAX_LISTED),
    ("Plan", "limits", plans::MAX_LIMITS as u64),
    // One per limit of the plan.
    ("Business", "usage", plans::MAX_LIMITS as u64),
    ("Subscription", "usage", plans::MAX_LIMITS as u64),
    ("Business", "invitations", team::MAX_INVITATIONS_LISTED),
    ("Viewer", "memberships", team::business::MAX_MEMBERSHIPS),
    ("Viewer", "rights", Right::ALL.len() as u64),
    // One per event, and a call takes at most this many.
    ("Mutation", "recordUsages", usage::MAX_EVENTS as u64),
];

/// How many items a field returns for each of its parent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// One object or value (or null).
    One,
    /// A page of a connection: the connection's lists are `first` long, by default this.
    Page { default: u64 },
    /// `edges` or `nodes` of a connection: as long as the page asked for.
    OfPage,
    /// A list at most this long.
    List(u64),
}

/// A field of an object type.
#[derive(Debug, Clone)]
pub struct FieldShape {
    /// The named type it returns (lists and non-null unwrapped).
    pub returns: String,
    pub size: Size,
}

/// The schema's object fields, by type and field name, and its root types.
#[derive(Debug)]
pub struct Shape {
    fields: HashMap<(String, String), FieldShape>,
    pub query: String,
    pub mutation: String,
    /// Lists that are neither pages nor in [`CAPS`] (counted as a full page).
    pub uncapped: Vec<(String, String)>,
}

/// The shape of the served schema.
pub static SHAPE: LazyLock<Shape> = LazyLock::new(|| Shape::of_sdl(&crate::graphql::sdl()));

impl Shape {
    /// The field `field` of the object type `on`, if the schema has it.
    pub fn field(&self, on: &str, field: &str) -> Option<&FieldShape> {
        self.fields.get(&(on.to_owned(), field.to_owned()))
    }

    /// The shape of the schema written as `sdl`; a text that does not parse has no fields
    /// (which `SHAPE`'s tests refuse).
    pub fn of_sdl(sdl: &str) -> Shape {
        let mut shape = Shape {
            fields: HashMap::new(),
            query: "Query".to_owned(),
            mutation: "Mutation".to_owned(),
            uncapped: Vec::new(),
        };
        let Ok(document) = parse_schema(sdl) else {
            return shape;
        };
        let mut objects = Vec::new();
        for definition in &document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    if let Some(query) = &schema.node.query {
                        shape.query = query.node.to_string();
                    }
                    if let Some(mutation) = &schema.node.mutation {
                        shape.mutation = mutation.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    if let TypeKind::Object(object) = &ty.node.kind {
                        objects.push((ty.node.name.node.to_string(), object));
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        // The types that pages return: their lists are the page.
        let connections: HashSet<String> = objects
            .iter()
            .flat_map(|(_, object)| &object.fields)
            .filter(|field| field.node.arguments.iter().any(|a| is_first(&a.node)))
            .map(|field| named(&field.node.ty.node).to_owned())
            .collect();
        for (on, object) in &objects {
            for field in &object.fields {
                let field = &field.node;
                let name = field.name.node.to_string();
                let first = field.arguments.iter().find(|a| is_first(&a.node));
                let size = if let Some(first) = first {
                    let default = match first.node.default_value.as_ref().map(|v| &v.node) {
                        Some(async_graphql::Value::Number(n)) => n.as_u64().unwrap_or(MAX_PAGE),
                        _ => DEFAULT_PAGE,
                    };
                    Size::Page { default }
                } else if !is_list(&field.ty.node) {
                    Size::One
                } else if connections.contains(on) {
                    Size::OfPage
                } else if let Some((.., cap)) = CAPS.iter().find(|(t, f, _)| t == on && *f == name)
                {
                    Size::List(*cap)
                } else {
                    shape.uncapped.push((on.clone(), name.clone()));
                    Size::List(MAX_PAGE)
                };
                let returns = named(&field.ty.node).to_owned();
                shape
                    .fields
                    .insert((on.clone(), name), FieldShape { returns, size });
            }
        }
        shape
    }
}

fn is_first(argument: &async_graphql::parser::types::InputValueDefinition) -> bool {
    argument.name.node == "first" && named(&argument.ty.node) == "Int"
}

fn is_list(ty: &Type) -> bool {
    matches!(ty.base, BaseType::List(_))
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_of_the_schema_is_a_page_or_has_a_cap() {
        assert!(SHAPE.fields.len() > 50, "the schema's SDL parses");
        assert!(
            SHAPE.uncapped.is_empty(),
            "lists without a cap in shape::CAPS: {:?}",
            SHAPE.uncapped
        );
        for (on, field, _) in CAPS {
            let shape = SHAPE.field(on, field);
            assert!(
                shape.is_some_and(|shape| matches!(shape.size, Size::List(_))),
                "CAPS names {on}.{field}, which is not a list of the schema"
            );
        }
    }

    #[test]
    fn pages_and_their_lists_are_told_apart() {
        let audit = SHAPE.field("Business", "auditLog").expect("a field");
        assert_eq!(
            audit.size,
            Size::Page {
                default: DEFAULT_PAGE
            }
        );
        assert_eq!(audit.returns, "AuditEventConnection");
        let nodes = SHAPE
            .field("AuditEventConnection", "nodes")
            .expect("a field");
        assert_eq!(
            (nodes.size, nodes.returns.as_str()),
            (Size::OfPage, "AuditEvent")
        );
        let info = SHAPE
            .field("AuditEventConnection", "pageInfo")
            .expect("a field");
        assert_eq!(info.size, Size::One);
        assert_eq!(SHAPE.field("Query", "me").map(|f| f.size), Some(Size::One));
    }
}
