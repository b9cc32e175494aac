//! A tracing span around each root field of an operation (`field` with its name and alias), so
//! the log lines a resolver writes say which field wrote them. Nested fields get none: a span
//! per field of a thousand-row list would cost more than the lines it labels.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};
use tracing::Instrument;

/// The schema extension (`SchemaBuilder::extension(RootFieldSpans)`).
pub struct RootFieldSpans;

impl ExtensionFactory for RootFieldSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RootFieldSpans)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for RootFieldSpans {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() || info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        let span = tracing::info_span!(
            "field",
            name = %info.name,
            alias = info.alias.unwrap_or_default(),
        );
        next.run(ctx, info).instrument(span).await
    }
}
