//! Time triggers: cron rules keep one pending timer each (its next fire time); relative-time
//! timers are set by the dispatcher. A due timer becomes a `timer` event for the dispatcher; a
//! cron fire is first recorded under the unique (rule, fire time), so two nodes never fire one
//! tick twice, and the next tick is scheduled from now (ticks missed while down are not replayed).

use chrono::{DateTime, Utc};
use serde_json::json;
use trellis_core::automation::Trigger;
use trellis_core::status::{EventKind, TimerKind, TimerStatus};
use trellis_core::{AppDef, Error};
use trellis_store::events::EventRow;
use trellis_store::{events, jobs, timers};

use crate::compiled::cron::next_fire;

/// Replaces an app's pending cron timers with one per enabled cron rule, due at its next fire.
pub async fn sync_cron<C: trellis_store::Writes>(
    conn: &C,
    tenant_id: &str,
    app_id: &str,
    def: &AppDef,
) -> Result<(), Error> {
    timers::cancel_cron_of_app(conn, app_id).await?;
    let now = trellis_core::value::now_micros();
    for r in def.rules.iter().filter(|r| r.enabled) {
        if let Trigger::Cron { schedule, timezone } = &r.trigger {
            let due = next_fire(schedule, timezone.as_deref(), now).map_err(Error::bad_request)?;
            insert_cron_timer(conn, tenant_id, app_id, r.name.as_str(), due).await?;
        }
    }
    Ok(())
}

async fn insert_cron_timer<C: trellis_store::Writes>(
    conn: &C,
    tenant_id: &str,
    app_id: &str,
    rule: &str,
    due: DateTime<Utc>,
) -> Result<(), Error> {
    timers::insert(
        conn,
        &timers::TimerRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant_id.to_string(),
            app_id: app_id.to_string(),
            entity_id: String::new(),
            record_id: None,
            kind: TimerKind::Cron.to_string(),
            key: rule.to_string(),
            due_at: due,
            status: TimerStatus::Pending.to_string(),
            data: json!({ "rule": rule }).to_string(),
        },
    )
    .await?;
    Ok(())
}

/// Turns a fired rule timer into a `timer` event; a cron timer also schedules its next tick.
pub async fn fire<C: trellis_store::Writes>(
    conn: &C,
    t: &timers::TimerRow,
    def: Option<&AppDef>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let rule = serde_json::from_str::<serde_json::Value>(&t.data)
        .ok()
        .and_then(|d| d["rule"].as_str().map(str::to_string))
        .unwrap_or_else(|| t.key.clone());
    if t.kind == TimerKind::Cron {
        if !jobs::record_fire(conn, &format!("{}:{rule}", t.app_id), t.due_at, now).await? {
            return Ok(());
        }
        if let Some(Trigger::Cron { schedule, timezone }) = def
            .and_then(|d| d.rule(&rule))
            .filter(|r| r.enabled)
            .map(|r| &r.trigger)
            && let Ok(next) = next_fire(schedule, timezone.as_deref(), std::cmp::max(now, t.due_at))
        {
            insert_cron_timer(conn, &t.tenant_id, &t.app_id, &rule, next).await?;
        }
    }
    let e = EventRow {
        id: uuid::Uuid::now_v7().to_string(),
        tenant_id: t.tenant_id.clone(),
        app_id: t.app_id.clone(),
        entity_id: t.entity_id.clone(),
        record_id: t.record_id.clone().unwrap_or_default(),
        kind: EventKind::Timer.to_string(),
        actor: None,
        via: Some(format!("timer:{}", t.id)),
        at: now,
        data: json!({"rule": rule, "due_at": trellis_core::value::format_datetime(&t.due_at)}).to_string(),
        depth: 0,
    };
    events::insert(conn, &[e]).await?;
    Ok(())
}
