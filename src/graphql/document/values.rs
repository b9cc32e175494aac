//! The operation a request runs and its arguments' values, read the way the executor reads
//! them: the named operation (or the only one), and each variable as the request gives it, else
//! as the operation's definition defaults it. Every pass that judges values (authorization
//! facts, list sizes, text) reads them through here, so none of them can see other values than
//! the ones that run.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition,
};
use async_graphql::{Name, Value as ConstValue, Variables};

/// The operation the executor will run: the named one, or the only one; `None` when the
/// request names none that the document holds (execution then fails).
pub fn selected<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), None) => operation,
        (DocumentOperations::Single(_), Some(_)) => return None,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?,
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()?
        }
        (DocumentOperations::Multiple(_), None) => return None,
    };
    Some(&operation.node)
}

/// Values of one operation with one request's variables.
#[derive(Clone, Copy)]
pub struct Values<'a> {
    pub operation: &'a OperationDefinition,
    pub variables: &'a Variables,
}

/// An argument given by a variable that neither the request nor the operation provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing;

impl<'a> Values<'a> {
    pub fn new(operation: &'a OperationDefinition, variables: &'a Variables) -> Self {
        Values {
            operation,
            variables,
        }
    }

    /// A variable's value as the executor reads it: the request's, else the default; `None`
    /// for a variable the operation does not define or that has neither.
    pub fn variable(&self, name: &Name) -> Option<ConstValue> {
        let definition = self
            .operation
            .variable_definitions
            .iter()
            .find(|definition| definition.node.name.node == *name)?;
        self.variables
            .get(name)
            .or_else(|| definition.node.default_value())
            .cloned()
    }

    /// The value of `field`'s argument `argument`, from a literal or variables; `None` when the
    /// field is not given it.
    ///
    /// # Errors
    /// [`Missing`] when a variable in it has no value.
    pub fn argument(&self, field: &Field, argument: &str) -> Option<Result<ConstValue, Missing>> {
        let value = field.get_argument(argument)?.node.clone();
        Some(
            value
                .into_const_with(|name| self.variable(&name).ok_or(()))
                .map_err(|()| Missing),
        )
    }
}
