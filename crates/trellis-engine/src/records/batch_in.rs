//! Creating many records of one entity in one transaction with few statements (an import's
//! batch): every row is numbered, computed and checked exactly as a single create is
//! ([`Engine::insert_in`]), then the rows go in multi-row inserts, the creator's scope is checked
//! for all of them at once, and their events are written together. What other concepts add to a
//! creation (a pipeline's first stage) and rollups still run per row.

use serde_json::Value;
use trellis_core::permissions::Right;
use trellis_core::status::EventKind;
use trellis_core::{CompiledEntity, CompiledField, Val};
use trellis_store::records::{self, NewMeta};

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;

use super::*;

impl Engine {
    /// Creates the rows in `tx`, in order. The first refused row ends the call with its
    /// problems (the caller rolls the transaction back); nothing is answered per row.
    pub(crate) async fn insert_batch_in(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        guard: &Guard,
        rows: Vec<Prepared<'_>>,
    ) -> Result<(), WriteError> {
        let t0 = std::time::Instant::now();
        self.learn_references(tx, ctx, app, &rows, &guard.refs).await?;
        let mut written: Vec<(NewMeta, Vec<(&CompiledField, Val)>)> = Vec::with_capacity(rows.len());
        for prepared in rows {
            written.push(self.completed(tx, ctx, app, entity, guard, prepared).await?);
        }
        let t1 = std::time::Instant::now();
        records::insert_many(tx, entity, &written)
            .await
            .map_err(unique_to_conflict)?;
        let t2 = std::time::Instant::now();
        // Every new record must be one the creator may create: one read through the scope for
        // the batch, and the single check (which names the scope's fields) for one that is not.
        if let Some(scope) = guard.scope.as_ref() {
            let ids: Vec<String> = written.iter().map(|(m, _)| m.id.clone()).collect();
            let found = crate::access::ids_in_scope(tx, entity, &ids, Some(scope)).await?;
            if let Some(outside) = ids.iter().find(|id| !found.contains(*id)) {
                ensure_in_scope(tx, entity, guard, Right::Create, outside, None).await?;
            }
        }
        let mut events = Vec::with_capacity(written.len());
        for (meta, values) in &written {
            let mut data = serde_json::Map::new();
            for hook in &self.hooks.on_create {
                data.extend(hook.created(tx, ctx.tenant_id(), app, entity, &meta.id, values).await?);
            }
            events.push(
                crate::events::EventDraft {
                    tenant_id: ctx.tenant_id(),
                    app,
                    entity,
                    record_id: &meta.id,
                    kind: EventKind::Created,
                    actor: Some(ctx.user_id()),
                    via: ctx.via(),
                    depth: ctx.depth(),
                    data: Value::Object(data),
                }
                .row(),
            );
            crate::records::rollups::after_write(tx, app, entity, None, Some(values)).await?;
        }
        let t3 = std::time::Instant::now();
        crate::events::record_events(tx, app, events).await?;
        tracing::trace!(
            rows = written.len(),
            complete_ms = (t1 - t0).as_secs_f64() * 1e3,
            insert_ms = (t2 - t1).as_secs_f64() * 1e3,
            scope_and_rollups_ms = (t3 - t2).as_secs_f64() * 1e3,
            events_ms = t3.elapsed().as_secs_f64() * 1e3,
            "batch inserted"
        );
        Ok(())
    }
}
