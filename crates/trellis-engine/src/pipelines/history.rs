//! A record's history as its reader may see it: field changes, stage moves with time in
//! stage, approvals and SLA breaches, oldest first.

use serde::Serialize;
use trellis_core::Error;
use trellis_core::error::FieldCode;
use trellis_core::permissions::Right;
use trellis_store::events;
use trellis_store::records::{self};

use crate::Engine;
use crate::context::TenantCtx;
use crate::events::Event;

/// A page of a record's history, oldest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub data: Vec<Event>,
    /// The `cursor` of the next page; none on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

impl Engine {
    /// A record's history: every event oldest first (field changes, stage moves with time in
    /// stage, approvals, SLA breaches), paged by event id.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn record_history(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        after: Option<&str>,
        limit: Option<u64>,
    ) -> Result<HistoryPage, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = crate::records::entity_of(&app, entity)?.clone();
        let id = crate::records::check_id(id)?;
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::bad_field("limit", FieldCode::Range, "must be 1 to 1000"));
        }
        let access = self.access(&self.db.read, ctx, &app, &entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        // A caller limited to some rows reads the history of those that exist and are in reach.
        if scope.is_some()
            && crate::access::get_scoped(&self.db.read, &entity, &id, scope.as_ref(), Some(&[]))
                .await?
                .is_none()
        {
            return Err(Error::not_found("no such record"));
        }
        // A deleted record's history stays readable; a record never seen answers 404.
        let rows = events::of_record(&self.db.read, ctx.tenant_id(), &id, after, limit).await?;
        if rows.is_empty() && after.is_none() && records::get(&self.db.read, &entity, &id, Some(&[])).await?.is_none() {
            return Err(Error::not_found("no such record"));
        }
        let hidden = access.hidden_ids();
        let names: std::collections::HashMap<String, String> = entity
            .def
            .fields
            .iter()
            .map(|f| (f.storage_id().to_string(), f.name.to_string()))
            .collect();
        let data = rows
            .iter()
            .filter(|e| e.entity_id == entity.def.storage_id().as_str())
            .map(|e| {
                let mut event = Event::without(e, &names, &hidden)?;
                if let Some(r) = event.data.get_mut("record") {
                    access.redact(r);
                }
                Ok(event)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let next = if rows.len() as u64 == limit {
            rows.last().map(|e| e.id.clone())
        } else {
            None
        };
        Ok(HistoryPage {
            data,
            next_cursor: next,
        })
    }
}
