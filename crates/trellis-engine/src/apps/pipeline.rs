//! An entity's pipeline as a part of the app definition: read through the caller's view,
//! replaced (or removed) as one versioned app change.

use serde_json::Value;
use trellis_core::Error;

use super::{ChangeOptions, ChangeOut, entity_missing};
use crate::Engine;
use crate::context::TenantCtx;

impl Engine {
    /// The pipeline of an entity (`null` when it has none), as the caller may read it (no field
    /// their roles hide).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn get_pipeline(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
    ) -> Result<Option<trellis_core::pipeline::PipelineDef>, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let def = self.def_for(&self.db.read, ctx, &app.id, &app.def).await?;
        let e = def.entity(entity).ok_or_else(|| entity_missing(entity))?;
        Ok(e.pipeline.clone())
    }

    /// Sets (or with `null` removes) the pipeline of an entity: checked against
    /// `pipeline.schema.json`, then with the app (roles, fields, reachability, guards compile).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn put_pipeline(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        let pipeline = match body {
            Value::Null => None,
            v => Some(trellis_core::validate::parse_pipeline(v)?),
        };
        let entity = entity.to_string();
        self.change_app(ctx, app, opts, move |def| {
            let e = def.entity_mut(&entity).ok_or_else(|| entity_missing(&entity))?;
            e.pipeline = pipeline;
            Ok(())
        })
        .await
    }
}
