//! The audit trail beyond record changes: definition changes (with their plan), role membership
//! and API tokens, written as events; an app's trail newest first; and the housekeeping that
//! applies the tenant's retention.
//!
//! Audit events use `entity_id` `$app` (record id: the app id), `$roles` (record id: the app id)
//! and `$tokens` (app id `$tenant`, record id: the token id). They are written already dispatched,
//! so automation never sees them.

use std::collections::HashMap;
use trellis_core::error::FieldCode;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use trellis_core::status::EventKind;
use trellis_core::value::now_micros;
use trellis_core::{Error, Slug};
use trellis_store::events::EventRow;
use trellis_store::{StoreError, audit, system};

use crate::Engine;
use crate::context::TenantCtx;
use crate::events::Event;

/// The app id of audit events that belong to no app (tokens).
pub const TENANT_SCOPE: &str = "$tenant";
/// The setting holding a tenant's retention in days.
pub const RETENTION_KEY: &str = "audit_retention_days";
/// Undispatched events are kept this many days past the retention (the automation outbox).
pub const OUTBOX_GRACE_DAYS: i64 = 7;

/// An event of an app's audit trail: an event (as in a record's history) with the entity and
/// record it is about.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// What happened (`created`, `updated`, `stage_changed`, `app_changed`, …).
    pub kind: EventKind,
    /// The user who acted (none for the system).
    #[schema(required = true)]
    pub actor: Option<String>,
    /// How: `api`, `ui`, `rule:{name}`, `hook:{key}`, …
    #[schema(required = true)]
    pub via: Option<String>,
    /// The entity's name, or `$app` / `$roles` for definition and membership changes.
    pub entity: String,
    pub record_id: String,
    /// The members of the event's kind.
    #[serde(flatten)]
    pub data: Map<String, Value>,
}

impl AuditEvent {
    /// `event` as the trail answers it, about `record_id` of `entity`.
    pub fn of(event: Event, entity: String, record_id: String) -> AuditEvent {
        let Event {
            id,
            at,
            kind,
            actor,
            via,
            mut data,
        } = event;
        data.retain(|k, _| k != "entity" && k != "record_id");
        AuditEvent {
            id,
            at,
            kind,
            actor,
            via,
            entity,
            record_id,
            data,
        }
    }
}

/// A page of an app's audit trail, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEvent>,
    /// The `cursor` of the next page; none on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// Writes one audit event in the caller's transaction (or on its own).
pub async fn write<C: trellis_store::Writes>(
    conn: &C,
    ctx: &TenantCtx,
    app_id: &str,
    entity_id: &str,
    record_id: &str,
    kind: trellis_core::status::EventKind,
    data: Value,
) -> Result<(), Error> {
    let e = EventRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: ctx.tenant_id().to_string(),
        app_id: app_id.to_string(),
        entity_id: entity_id.to_string(),
        record_id: record_id.to_string(),
        kind: kind.as_str().to_string(),
        actor: Some(ctx.user_id().to_string()),
        via: ctx.via(),
        at: now_micros(),
        data: data.to_string(),
        depth: ctx.depth(),
    };
    audit::insert(conn, &e).await?;
    Ok(())
}

impl Engine {
    /// An app's audit trail (administrators only): record events and metadata events, newest
    /// first, paged by `cursor` (the last event id of the page before).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn app_audit(
        &self,
        ctx: &TenantCtx,
        app: &str,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<AuditPage, Error> {
        ctx.require_admin_to("read the audit trail")?;
        let name = Slug::from_path("app", app)?;
        let row = system::app_by_name(&self.db.read, ctx.tenant_id(), name.as_str())
            .await?
            .ok_or_else(|| Error::not_found(format!("app '{name}' does not exist")))?;
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::bad_field("limit", FieldCode::Range, "must be 1 to 1000"));
        }
        let def = crate::compiled::parse_stored(&row)?;
        let mut fields: HashMap<String, String> = HashMap::new();
        let mut entities: HashMap<String, String> = HashMap::new();
        for e in &def.entities {
            entities.insert(e.storage_id().to_string(), e.name.to_string());
            for f in &e.fields {
                fields.insert(f.storage_id().to_string(), f.name.to_string());
            }
        }
        let rows = audit::of_app(&self.db.read, ctx.tenant_id(), &row.id, cursor, limit).await?;
        let data = rows
            .iter()
            .map(|e| {
                let entity = entities
                    .get(&e.entity_id)
                    .cloned()
                    .unwrap_or_else(|| e.entity_id.clone());
                Ok(AuditEvent::of(Event::of(e, &fields)?, entity, e.record_id.clone()))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let next = (rows.len() as u64 == limit)
            .then(|| rows.last().map(|e| e.id.clone()))
            .flatten();
        Ok(AuditPage {
            data,
            next_cursor: next,
        })
    }

    /// Deletes events past each tenant's retention: those automation dispatched, and any more
    /// than [`OUTBOX_GRACE_DAYS`] past it. Answers how many. Housekeeping runs it.
    pub async fn purge_events(&self, now: DateTime<Utc>) -> Result<u64, Error> {
        let mut n = 0;
        for (tenant, value) in trellis_store::settings::everywhere(&self.db.read, RETENTION_KEY).await? {
            let Ok(days) = value.parse::<i64>() else { continue };
            let cutoff = now - chrono::Duration::days(days);
            let hard = cutoff - chrono::Duration::days(OUTBOX_GRACE_DAYS);
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            n += audit::purge(&tx, &tenant, cutoff, hard).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        Ok(n)
    }
}
