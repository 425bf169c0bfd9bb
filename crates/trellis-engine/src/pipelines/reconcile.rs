//! Definition changes meet records: a record in a stage the new pipeline drops moves to its
//! first stage, and timers of stages that lost their SLA are cancelled.

use chrono::{DateTime, Utc};
use trellis_core::status::TimerKind;
use trellis_core::{CompiledEntity, Error, Val};
use trellis_store::records::Row;
use trellis_store::timers;

use crate::compiled::scripts::LoadedApp;

use super::*;

/// The row after a write of ours: new version and update time.
pub(super) fn bump(entity: &CompiledEntity, row: &mut Row, at: DateTime<Utc>) {
    let v = row.version() + 1;
    for (i, c) in entity.columns.iter().enumerate() {
        match c.name.as_str() {
            "version" => row.values[i] = Some(Val::Int(v)),
            "updated_at" => row.values[i] = Some(Val::DateTime(at)),
            _ => {}
        }
    }
}

/// Keeps records consistent with a changed pipeline, inside the definition change: records
/// without a stage (the pipeline is new) enter the initial one, with its SLA timer when it has
/// one; a stage that still holds records cannot be removed.
pub async fn reconcile<C: trellis_store::Writes>(
    conn: &C,
    tenant_id: &str,
    old: &trellis_core::AppDef,
    app: &LoadedApp,
) -> Result<(), Error> {
    use trellis_store::stages;
    let now = trellis_core::value::now_micros();
    let new = &app.compiled;
    for entity in new.entities.values() {
        let Some(p) = &entity.def.pipeline else {
            continue;
        };
        let table = entity.table.as_str();
        let old_p = old
            .entities
            .iter()
            .find(|e| e.id == entity.def.id)
            .and_then(|e| e.pipeline.as_ref());
        if let Some(old_p) = old_p {
            let gone: Vec<String> = old_p
                .stages
                .iter()
                .filter(|s| p.stage(s.key.as_str()).is_none())
                .map(|s| s.key.to_string())
                .collect();
            if !gone.is_empty() {
                let n = stages::count_in_stages(conn, table, &gone).await?;
                if n > 0 {
                    return Err(Error::conflict(format!(
                        "{n} '{}' record(s) are in (or waiting for) stage(s) {}; move them before removing the stage",
                        entity.name(),
                        gone.join(", ")
                    )));
                }
            }
        }
        let initial = p.initial_stage();
        let due = sla_due(conn, tenant_id, initial, now).await?;
        // The records entering now, for their SLA timers.
        let entering: Vec<String> = match due {
            None => Vec::new(),
            Some(_) => stages::ids_without_stage(conn, table).await?,
        };
        stages::record_initial_entries(
            conn,
            tenant_id,
            &app.id,
            entity.def.storage_id().as_str(),
            table,
            initial.key.as_str(),
            now,
        )
        .await?;
        stages::enter_initial(conn, table, initial.key.as_str(), now, due).await?;
        for id in &entering {
            start_timer(conn, tenant_id, app, entity, id, initial.key.as_str(), due).await?;
        }
        // A stage given an SLA: its records have none running; they get one counted from now
        // (they entered when no time limit was set). A stage whose SLA is gone: its running
        // timers stop. A changed SLA applies from the next entry; running timers keep their due.
        for stage in &p.stages {
            if stage.sla.is_none() {
                let had_sla = old_p
                    .and_then(|o| o.stage(stage.key.as_str()))
                    .is_some_and(|s| s.sla.is_some());
                if !had_sla {
                    continue;
                }
                timers::cancel_for_key(
                    conn,
                    entity.def.storage_id().as_str(),
                    TimerKind::Sla,
                    stage.key.as_str(),
                )
                .await?;
                stages::clear_due(conn, table, stage.key.as_str()).await?;
                continue;
            }
            let ids = stages::ids_without_due(conn, table, stage.key.as_str()).await?;
            if ids.is_empty() {
                continue;
            }
            // Due from now, on the stage's calendar (read only when some record needs it).
            let Some(due) = sla_due(conn, tenant_id, stage, now).await? else {
                continue;
            };
            stages::set_missing_due(conn, table, stage.key.as_str(), due).await?;
            for id in &ids {
                start_timer(conn, tenant_id, app, entity, id, stage.key.as_str(), Some(due)).await?;
            }
        }
    }
    Ok(())
}
