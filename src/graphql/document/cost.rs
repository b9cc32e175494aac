//! What a document costs once its fragments are expanded, computed without expanding them:
//! each fragment's cost is computed once and reused at every spread, so a fragment bomb (ten
//! spreads of a fragment that spreads another ten times, seven levels down) costs a few
//! hundred steps to measure rather than ten million to walk.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};

/// The cost of a selection set, fragments expanded. Counts saturate instead of overflowing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Selections (fields, fragment spreads, inline fragments) outside introspection.
    pub selections: u64,
    /// Deepest nesting of fields outside introspection.
    pub depth: u64,
    pub aliases: u64,
    pub directives: u64,
    /// `__schema` fields.
    pub schemas: u64,
    /// Selections inside `__schema` / `__type`, which are bounded by their own rule.
    pub introspection_selections: u64,
    pub introspection_depth: u64,
}

impl Cost {
    /// Two sibling selections.
    fn and(self, other: Cost) -> Cost {
        Cost {
            selections: self.selections.saturating_add(other.selections),
            depth: self.depth.max(other.depth),
            aliases: self.aliases.saturating_add(other.aliases),
            directives: self.directives.saturating_add(other.directives),
            schemas: self.schemas.saturating_add(other.schemas),
            introspection_selections: self
                .introspection_selections
                .saturating_add(other.introspection_selections),
            introspection_depth: self.introspection_depth.max(other.introspection_depth),
        }
    }

    /// The cost of a field whose own selection set costs `self`.
    fn under_field(self, name: &str, aliased: bool) -> Cost {
        let introspection = name == "__schema" || name == "__type";
        let mut cost = if introspection {
            // Everything below the root of an introspection counts as introspection.
            Cost {
                selections: 0,
                depth: 0,
                introspection_selections: self
                    .selections
                    .saturating_add(self.introspection_selections)
                    .saturating_add(1),
                introspection_depth: self.depth.max(self.introspection_depth).saturating_add(1),
                schemas: self.schemas.saturating_add(u64::from(name == "__schema")),
                ..self
            }
        } else {
            Cost {
                selections: self.selections.saturating_add(1),
                depth: self.depth.saturating_add(1),
                ..self
            }
        };
        cost.aliases = cost.aliases.saturating_add(u64::from(aliased));
        cost
    }

    /// `self`, counted as introspection (the selections of a fragment on `__Type`, say).
    fn as_introspection(self) -> Cost {
        Cost {
            selections: 0,
            depth: 0,
            introspection_selections: self
                .selections
                .saturating_add(self.introspection_selections),
            introspection_depth: self.depth.max(self.introspection_depth),
            ..self
        }
    }

    /// One more selection (a spread or an inline fragment) around `self`.
    fn wrapped(self) -> Cost {
        Cost {
            selections: self.selections.saturating_add(1),
            ..self
        }
    }

    fn with_directives(self, count: usize) -> Cost {
        Cost {
            directives: self.directives.saturating_add(count as u64),
            ..self
        }
    }
}

/// A fragment spreads itself, directly or through others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle(pub String);

enum Memo {
    Visiting,
    Done(Cost),
}

/// Costs of a document's operations and fragments, each fragment measured once.
pub struct Costs<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a str, Memo>,
}

impl<'a> Costs<'a> {
    pub fn new(document: &'a ExecutableDocument) -> Self {
        Costs {
            document,
            fragments: HashMap::new(),
        }
    }

    /// The largest cost of any operation or fragment of the document, field by field — what
    /// validation, which visits them all, and execution, which runs one, may have to walk.
    ///
    /// # Errors
    /// [`Cycle`] when fragments spread each other in a loop.
    pub fn worst(&mut self) -> Result<Cost, Cycle> {
        let document = self.document;
        let mut worst = Cost::default();
        for (_, operation) in document.operations.iter() {
            let cost = self
                .of_set(&operation.node.selection_set.node)?
                .with_directives(operation.node.directives.len());
            worst = max_each(worst, cost);
        }
        for name in document.fragments.keys() {
            let cost = self.of_fragment(name.as_str())?;
            worst = max_each(worst, cost);
        }
        Ok(worst)
    }

    fn of_set(&mut self, set: &'a SelectionSet) -> Result<Cost, Cycle> {
        let mut cost = Cost::default();
        for selection in &set.items {
            let directives = selection.node.directives().len();
            let own = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.of_set(&field.selection_set.node)?
                        .under_field(field.name.node.as_str(), field.alias.is_some())
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    self.of_fragment(name)?.wrapped()
                }
                Selection::InlineFragment(inline) => {
                    let cost = self.of_set(&inline.node.selection_set.node)?;
                    let on = inline.node.type_condition.as_ref();
                    introspective(on.map(|on| on.node.on.node.as_str()), cost).wrapped()
                }
            };
            cost = cost.and(own.with_directives(directives));
        }
        Ok(cost)
    }

    fn of_fragment(&mut self, name: &'a str) -> Result<Cost, Cycle> {
        match self.fragments.get(name) {
            Some(Memo::Done(cost)) => return Ok(*cost),
            Some(Memo::Visiting) => return Err(Cycle(name.to_owned())),
            None => {}
        }
        let document = self.document;
        // An unknown fragment costs nothing here; validation refuses it.
        let Some((key, fragment)) = document.fragments.get_key_value(name) else {
            return Ok(Cost::default());
        };
        let key = key.as_str();
        self.fragments.insert(key, Memo::Visiting);
        let cost = self
            .of_set(&fragment.node.selection_set.node)?
            .with_directives(fragment.node.directives.len());
        let on = fragment.node.type_condition.node.on.node.as_str();
        let cost = introspective(Some(on), cost);
        self.fragments.insert(key, Memo::Done(cost));
        Ok(cost)
    }
}

/// A fragment on one of the introspection types (`__Type`, `__Field`, …) is introspection.
fn introspective(type_condition: Option<&str>, cost: Cost) -> Cost {
    if type_condition.is_some_and(|on| on.starts_with("__")) {
        cost.as_introspection()
    } else {
        cost
    }
}

fn max_each(a: Cost, b: Cost) -> Cost {
    Cost {
        selections: a.selections.max(b.selections),
        depth: a.depth.max(b.depth),
        aliases: a.aliases.max(b.aliases),
        directives: a.directives.max(b.directives),
        schemas: a.schemas.max(b.schemas),
        introspection_selections: a.introspection_selections.max(b.introspection_selections),
        introspection_depth: a.introspection_depth.max(b.introspection_depth),
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::{Cost, Costs, Cycle};

    fn cost(query: &str) -> Result<Cost, Cycle> {
        let document = parse_query(query).expect("parses");
        Costs::new(&document).worst()
    }

    #[test]
    fn fields_depth_and_aliases_are_counted_through_fragments() {
        let cost = cost(
            "query { a: me { b: role } ...F ... on Query { plans { code } } }
             fragment F on Query { business @skip(if: true) { name } }",
        )
        .expect("no cycle");
        // me role F business name inline plans code
        assert_eq!(cost.selections, 8);
        assert_eq!(cost.depth, 2);
        assert_eq!(cost.aliases, 2);
        assert_eq!(cost.directives, 1);
    }

    #[test]
    fn a_fragment_bomb_is_measured_without_being_expanded() {
        let mut query = String::from("query { ...F1 }");
        for level in 1..=30 {
            let next = if level == 30 {
                "__typename".to_owned()
            } else {
                format!("...F{}", level + 1)
            };
            let spreads = vec![next; 10].join(" ");
            query.push_str(&format!(" fragment F{level} on Query {{ {spreads} }}"));
        }
        let cost = cost(&query).expect("no cycle");
        assert_eq!(cost.selections, u64::MAX, "saturates");
    }

    #[test]
    fn doubling_schema_fragments_saturate_instead_of_overflowing() {
        // Each fragment spreads the one before it twice: 2^70 `__schema` fields.
        let mut query =
            String::from("query { ...F70 } fragment F0 on Query { __schema { __typename } }");
        for level in 1..=70 {
            let before = level - 1;
            query.push_str(&format!(
                " fragment F{level} on Query {{ ...F{before} ... on Query {{ ...F{before} }} }}"
            ));
        }
        let cost = cost(&query).expect("no cycle");
        assert_eq!(cost.schemas, u64::MAX);
        assert_eq!(cost.introspection_selections, u64::MAX);
    }

    #[test]
    fn spread_cycles_are_found() {
        let found = cost("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }");
        assert!(matches!(found, Err(Cycle(_))));
    }

    #[test]
    fn introspection_is_measured_apart() {
        let cost = cost(
            "{ me { role } __schema { types { name fields { name type { ofType { name } } } } } }",
        )
        .expect("no cycle");
        assert_eq!((cost.selections, cost.depth), (2, 2));
        assert_eq!(cost.schemas, 1);
        assert_eq!(cost.introspection_selections, 8);
        assert_eq!(cost.introspection_depth, 6);
    }
}
