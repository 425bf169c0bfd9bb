//! Stage SLAs: the due time on the stage's business calendar, the values and timer of a stage
//! entered, and the breach of an overdue record (marked once, told to owner and escalation).

use chrono::{DateTime, Utc};
use serde_json::json;
use trellis_core::calendar::{Calendar, CalendarDef};
use trellis_core::pipeline::StageDef;
use trellis_core::status::{EventKind, TimerKind, TimerStatus};
use trellis_core::{CompiledEntity, CompiledField, Error, Label, Val};
use trellis_store::records::{self};
use trellis_store::{directory, timers};

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::events::{EventDraft, record_event};

use super::*;

/// The due time of a stage's SLA entered at `at`: working time on the stage's calendar, or
/// wall-clock time without one (or when the calendar is gone).
pub async fn sla_due<C: trellis_store::Reads>(
    conn: &C,
    tenant_id: &str,
    stage: &StageDef,
    at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let Some(sla) = &stage.sla else {
        return Ok(None);
    };
    let limit = chrono::TimeDelta::seconds(sla.seconds_total());
    let calendar = match &sla.calendar {
        None => Calendar::always(),
        Some(name) => match directory::calendar(conn, tenant_id, name.as_str()).await? {
            None => {
                tracing::warn!(calendar = %name, stage = %stage.key, "SLA calendar missing; counting wall-clock time");
                Calendar::always()
            }
            Some(text) => serde_json::from_str::<CalendarDef>(&text)
                .ok()
                .and_then(|d| Calendar::compile(&d).ok())
                .unwrap_or_else(Calendar::always),
        },
    };
    Ok(Some(calendar.add(at, limit)))
}

/// The values a record takes on entering a stage.
pub fn entry_values<'e>(
    entity: &'e CompiledEntity,
    stage: &str,
    at: DateTime<Utc>,
    due: Option<DateTime<Utc>>,
) -> Result<Vec<(&'e CompiledField, Val)>, Error> {
    Ok(vec![
        (col(entity, "stage")?, Val::Text(stage.to_string())),
        (col(entity, "stage_entered_at")?, Val::DateTime(at)),
        (col(entity, "stage_due_at")?, opt_time(due)),
        (col(entity, "stage_breached_at")?, Val::Null),
        (col(entity, "pending_stage")?, Val::Null),
    ])
}

/// Starts the SLA timer of a stage just entered.
pub async fn start_timer<C: trellis_store::Writes>(
    conn: &C,
    tenant_id: &str,
    app: &LoadedApp,
    entity: &CompiledEntity,
    record_id: &str,
    stage: &str,
    due: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    if let Some(due) = due {
        timers::insert(
            conn,
            &timers::TimerRow {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant_id.to_string(),
                app_id: app.id.clone(),
                entity_id: entity.def.storage_id().to_string(),
                record_id: Some(record_id.to_string()),
                kind: TimerKind::Sla.to_string(),
                key: stage.to_string(),
                due_at: due,
                status: TimerStatus::Pending.to_string(),
                data: "{}".into(),
            },
        )
        .await?;
    }
    Ok(())
}

impl Engine {
    /// Marks the record of a due SLA timer overdue once, writes an `sla_breached` event and
    /// tells its owner and the escalation target ([`crate::automation::timers`] calls it).
    pub(crate) async fn breach(
        &self,
        tx: &trellis_store::WriteTx,
        t: &timers::TimerRow,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let Some(app) = self.app_by_id(tx, &t.app_id).await? else {
            return Ok(());
        };
        let Some(entity) = app.entity_by_id(&t.entity_id) else {
            return Ok(());
        };
        let Some(record_id) = &t.record_id else {
            return Ok(());
        };
        let Some(row) = records::get(tx, &entity, record_id, None).await? else {
            return Ok(());
        };
        if text_of(&entity, &row, "stage") != Some(t.key.as_str()) {
            return Ok(());
        }
        let p = pipeline_of(&entity)?;
        let stage = p.stage(&t.key);
        // The stage lost its SLA after the timer was read (a definition change cancels them).
        if stage.is_none_or(|s| s.sla.is_none()) {
            return Ok(());
        }
        let breached = col(&entity, "stage_breached_at")?;
        records::update(
            tx,
            &entity,
            record_id,
            None,
            now,
            None,
            &[(breached, Val::DateTime(now))],
        )
        .await?;
        let escalate: Vec<String> = match stage.and_then(|s| s.sla.as_ref()).and_then(|s| s.escalate_to.as_ref()) {
            Some(r) => self.resolve_users(tx, &app, &entity, &row, r).await?,
            None => Vec::new(),
        };
        let owner: Vec<String> = text_of(&entity, &row, "owner")
            .map(str::to_string)
            .into_iter()
            .collect();
        record_event(
            tx,
            EventDraft {
                tenant_id: &t.tenant_id,
                app: &app,
                entity: &entity,
                record_id,
                kind: EventKind::SlaBreached,
                actor: None,
                via: Some(format!("timer:{}", t.id)),
                depth: 0,
                data: json!({"stage": t.key, "due_at": trellis_core::value::format_datetime(&t.due_at), "escalated_to": escalate}),
            },
        )
        .await?;
        let mut users = owner;
        for u in escalate {
            if !users.contains(&u) {
                users.push(u);
            }
        }
        let stage_label = stage.map(|s| s.label.clone()).unwrap_or_default();
        crate::notifications::notify(
            tx,
            &t.tenant_id,
            &users,
            trellis_core::status::NotificationKind::SlaBreached,
            &Label::new(
                &format!("超时：{}", stage_label.zh.as_deref().unwrap_or(&t.key)),
                &format!("Overdue: {}", stage_label.en.as_deref().unwrap_or(&t.key)),
            ),
            json!({"app": app.def.name, "entity": entity.name(), "record": record_id, "stage": t.key}),
        )
        .await?;
        Ok(())
    }
}

/// Pipelines' part of creating a record: it starts in its pipeline's first stage, with that
/// stage's SLA timer (registered on the engine as a [`crate::records::hooks::OnCreate`]).
pub struct StageEntry;

#[async_trait::async_trait]
impl crate::records::hooks::OnCreate for StageEntry {
    async fn initial_values<'e>(
        &self,
        tx: &trellis_store::WriteTx,
        tenant_id: &str,
        entity: &'e CompiledEntity,
        at: DateTime<Utc>,
    ) -> Result<Vec<(&'e CompiledField, Val)>, Error> {
        let Some(p) = &entity.def.pipeline else {
            return Ok(Vec::new());
        };
        let stage = p.initial_stage();
        let due = sla_due(tx, tenant_id, stage, at).await?;
        entry_values(entity, stage.key.as_str(), at, due)
    }

    async fn created(
        &self,
        tx: &trellis_store::WriteTx,
        tenant_id: &str,
        app: &LoadedApp,
        entity: &CompiledEntity,
        record_id: &str,
        values: &[(&CompiledField, Val)],
    ) -> Result<serde_json::Map<String, Value>, Error> {
        let Some(p) = &entity.def.pipeline else {
            return Ok(serde_json::Map::new());
        };
        let stage = p.initial_stage().key.as_str();
        let due = values.iter().find_map(|(f, v)| match v {
            Val::DateTime(t) if f.name == "stage_due_at" => Some(*t),
            _ => None,
        });
        start_timer(tx, tenant_id, app, entity, record_id, stage, due).await?;
        let at = values
            .iter()
            .find_map(|(f, v)| match v {
                Val::DateTime(t) if f.name == "stage_entered_at" => Some(*t),
                _ => None,
            })
            .unwrap_or_else(trellis_core::value::now_micros);
        trellis_store::stages::insert_moves(
            tx,
            &[trellis_store::stages::Move {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: tenant_id.to_string(),
                app_id: app.id.clone(),
                entity_id: entity.def.storage_id().to_string(),
                record_id: record_id.to_string(),
                from_stage: None,
                to_stage: stage.to_string(),
                at,
                seconds_in_from: None,
                from_due_at: None,
                actor: None,
            }],
        )
        .await?;
        Ok(serde_json::Map::from_iter([("stage".to_string(), Value::from(stage))]))
    }
}
