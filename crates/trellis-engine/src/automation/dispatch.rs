//! The dispatcher: claims committed events from the outbox, matches them against the rules of
//! their app, evaluates conditions, and records a run with its jobs, all in the transaction
//! that marks the events dispatched, so an event is matched exactly once even across crashes
//! and nodes. It also schedules relative-time triggers for the records the events are about.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use trellis_core::automation::{MAX_DEPTH, RuleDef, Trigger};
use trellis_core::status::{EventKind, JobStatus, RunStatus, TimerKind, TimerStatus};
use trellis_core::{CompiledEntity, CompiledField, Error, Val};
use trellis_rules::{ScriptContext, UserInfo, json_to_dynamic, record_map, to_dynamic};
use trellis_store::events::EventRow;
use trellis_store::jobs::{self, JobRow, RunRow};
use trellis_store::records::{self, Row};
use trellis_store::{StoreError, events, system, timers};

use crate::automation::template;
use crate::compiled::scripts::LoadedApp;
use crate::records::record_json;
use crate::{Engine, TenantCtx};

/// Events taken per dispatch round.
pub const BATCH: u64 = 200;
/// Default attempts of an action.
pub const DEFAULT_ATTEMPTS: u32 = 5;

/// Default of the per-tenant limit on rule runs started per minute (setting
/// `automation_runs_per_minute`).
pub const DEFAULT_RUNS_PER_MINUTE: i64 = 60_000;

async fn runs_per_minute<C: trellis_store::Reads>(conn: &C, tenant_id: &str) -> Result<i64, Error> {
    Ok(
        trellis_store::settings::get(conn, tenant_id, "automation_runs_per_minute")
            .await?
            .and_then(|v| v.trim_matches('"').parse::<i64>().ok())
            .unwrap_or(DEFAULT_RUNS_PER_MINUTE),
    )
}

/// Whether a rule's trigger matches an event.
fn matches(rule: &RuleDef, e: &EventRow, entity: Option<&CompiledEntity>, data: &Value) -> bool {
    let entity_is = |name: &str| entity.is_some_and(|x| x.name() == name);
    let by_rule = || data.get("rule").and_then(Value::as_str) == Some(rule.name.as_str());
    let stage_is = |key: &str, want: &Option<trellis_core::Slug>| {
        want.as_ref()
            .is_none_or(|s| data.get(key).and_then(Value::as_str) == Some(s.as_str()))
    };
    match &rule.trigger {
        Trigger::RecordCreated { entity } => e.kind == EventKind::Created && entity_is(entity.as_str()),
        Trigger::RecordUpdated { entity } => e.kind == EventKind::Updated && entity_is(entity.as_str()),
        Trigger::RecordDeleted { entity } => e.kind == EventKind::Deleted && entity_is(entity.as_str()),
        Trigger::FieldChanged {
            entity: name,
            field,
            from,
            to,
        } => {
            if e.kind != EventKind::Updated || !entity_is(name.as_str()) {
                return false;
            }
            let key = entity
                .and_then(|x| x.def.field(field.as_str()))
                .map(|f| f.storage_id().to_string())
                .unwrap_or_else(|| field.to_string());
            match data.get("changes").and_then(|c| c.get(&key)) {
                Some(Value::Array(pair)) if pair.len() == 2 => {
                    from.as_ref().is_none_or(|f| &pair[0] == f) && to.as_ref().is_none_or(|t| &pair[1] == t)
                }
                _ => false,
            }
        }
        Trigger::StageEntered { entity, stage } => {
            e.kind == EventKind::StageChanged && entity_is(entity.as_str()) && stage_is("to", stage)
        }
        Trigger::StageLeft { entity, stage } => {
            e.kind == EventKind::StageChanged && entity_is(entity.as_str()) && stage_is("from", stage)
        }
        Trigger::SlaBreached { entity, stage } => {
            e.kind == EventKind::SlaBreached && entity_is(entity.as_str()) && stage_is("stage", stage)
        }
        Trigger::Manual { entity } => e.kind == EventKind::Manual && entity_is(entity.as_str()) && by_rule(),
        Trigger::CommentCreated { entity } => e.kind == EventKind::CommentCreated && entity_is(entity.as_str()),
        Trigger::Webhook { .. } => e.kind == EventKind::Webhook && by_rule(),
        Trigger::RelativeTime { entity, .. } | Trigger::SlaDue { entity, .. } => {
            e.kind == EventKind::Timer && entity_is(entity.as_str()) && by_rule()
        }
        Trigger::Cron { .. } => e.kind == EventKind::Timer && by_rule(),
    }
}

/// A record's fields as scripts see them.
pub(crate) fn script_fields<'a>(entity: &'a CompiledEntity, row: &'a Row) -> Vec<(&'a CompiledField, &'a Val)> {
    entity
        .columns
        .iter()
        .zip(&row.values)
        .filter(|(c, _)| !c.system || matches!(c.name.as_str(), "id" | "owner" | "stage" | "created_at" | "created_by"))
        .filter_map(|(c, v)| v.as_ref().map(|v| (c, v)))
        .collect()
}

/// The input of a run: the event, the record as answered now (or as it was, when deleted), its
/// values before an update, and an inbound webhook's payload.
/// An event's changes as rules and run logs read them: `{field name: {from, to}}` (stored by
/// storage id as `[from, to]`, so that a rename keeps the history).
fn named_changes(entity: Option<&CompiledEntity>, changes: &Value) -> Value {
    let Value::Object(ch) = changes else {
        return changes.clone();
    };
    let named = ch
        .iter()
        .map(|(key, pair)| {
            let name = entity
                .and_then(|ent| ent.def.fields.iter().find(|f| f.storage_id().as_str() == key))
                .map(|f| f.name.to_string())
                .unwrap_or_else(|| key.clone());
            let (from, to) = match pair {
                Value::Array(p) if p.len() == 2 => (p[0].clone(), p[1].clone()),
                other => (Value::Null, other.clone()),
            };
            (name, json!({"from": from, "to": to}))
        })
        .collect();
    Value::Object(named)
}

pub(crate) fn run_input(
    e: &EventRow,
    entity: Option<&CompiledEntity>,
    row: Option<&Row>,
    data: &Value,
    rule: &str,
) -> Value {
    let record = match (entity, row) {
        (Some(ent), Some(r)) => record_json(ent, r),
        _ => data.get("record").cloned().unwrap_or(Value::Null),
    };
    let old = match (entity, &record, data.get("changes")) {
        (Some(ent), Value::Object(now), Some(Value::Object(ch))) if e.kind == EventKind::Updated => {
            let mut old = now.clone();
            for (key, pair) in ch {
                let name = ent
                    .def
                    .fields
                    .iter()
                    .find(|f| f.storage_id().as_str() == key)
                    .map(|f| f.name.to_string())
                    .unwrap_or_else(|| key.clone());
                if let Value::Array(p) = pair {
                    old.insert(name, p.first().cloned().unwrap_or(Value::Null));
                }
            }
            Value::Object(old)
        }
        _ => Value::Null,
    };
    let mut event = json!({
        "id": e.id, "kind": e.kind, "at": trellis_core::value::format_datetime(&e.at),
        "actor": e.actor, "via": e.via, "depth": e.depth,
    });
    if let (Value::Object(o), Value::Object(d)) = (&mut event, data) {
        for (k, v) in d {
            if k == "changes" {
                o.insert(k.clone(), named_changes(entity, v));
            } else if k != "record" && k != "payload" {
                o.insert(k.clone(), v.clone());
            }
        }
    }
    json!({
        "event": event,
        "entity": entity.map(|x| x.name()),
        "record": record,
        "old": old,
        "payload": data.get("payload").cloned().unwrap_or(Value::Null),
        "rule": rule,
    })
}

/// The script context of a rule's condition: `record` typed from the row (or the webhook's
/// payload), `old` from the values before an update.
pub(crate) fn condition_context(entity: Option<&CompiledEntity>, row: Option<&Row>, input: &Value) -> ScriptContext {
    let record = match (entity, row) {
        (Some(ent), Some(r)) => record_map(&script_fields(ent, r)),
        _ => match input.get("payload").filter(|p| !p.is_null()).or(input.get("record")) {
            Some(Value::Object(o)) => o.iter().map(|(k, v)| (k.as_str().into(), json_to_dynamic(v))).collect(),
            _ => trellis_rules::Map::new(),
        },
    };
    let user = UserInfo {
        id: input["event"]["actor"].as_str().unwrap_or("").to_string(),
        roles: Vec::new(),
        team: None,
    };
    let mut ctx = ScriptContext::new(record.clone(), user, trellis_core::value::now_micros());
    if let (Some(ent), Value::Object(old)) = (entity, &input["old"]) {
        let mut m = record;
        for (k, v) in old {
            if let Some(f) = ent.column(k) {
                let val = f.coerce(v).unwrap_or(Val::Null);
                m.insert(k.as_str().into(), to_dynamic(f, &val));
            }
        }
        ctx.old = Some(m);
    }
    ctx
}

impl Engine {
    /// One dispatch round: claims up to [`BATCH`] events and matches them. Returns how many
    /// events were dispatched.
    pub async fn dispatch_events(&self) -> Result<usize, Error> {
        if events::pending(&self.db.read, 1).await?.is_empty() {
            return Ok(0);
        }
        let skip: Vec<String> = {
            let mut t = self.wake.throttled.lock();
            let now = std::time::Instant::now();
            t.retain(|_, until| *until > now);
            t.keys().cloned().collect()
        };
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let mut claimed = jobs::claim_events(&tx, BATCH, &skip).await?;
        let now = trellis_core::value::now_micros();
        // A tenant over its runs-per-minute limit keeps its events in the outbox for a while:
        // delayed, never dropped, and other tenants' events pass meanwhile.
        let mut apps: HashMap<String, Option<Arc<LoadedApp>>> = HashMap::new();
        for e in &claimed {
            if !apps.contains_key(&e.app_id) {
                let a = self.app_by_id(&tx, &e.app_id).await?;
                apps.insert(e.app_id.clone(), a);
            }
        }
        // Only events of apps with rules can start runs, so only they count against the budget.
        let has_rules = |e: &EventRow| {
            apps.get(&e.app_id)
                .and_then(|a| a.as_ref())
                .is_some_and(|a| a.def.rules.iter().any(|r| r.enabled))
        };
        let mut budget: HashMap<String, i64> = HashMap::new();
        let mut deferred = std::collections::HashSet::new();
        let mut waiting = std::collections::HashSet::new();
        for e in claimed.iter().filter(|e| has_rules(e)) {
            if !budget.contains_key(&e.tenant_id) {
                let limit = runs_per_minute(&tx, &e.tenant_id).await?;
                let used = jobs::runs_since(&tx, &e.tenant_id, now - chrono::TimeDelta::minutes(1)).await?;
                budget.insert(e.tenant_id.clone(), limit - used);
            }
            let left = budget.get_mut(&e.tenant_id).expect("inserted above");
            if *left <= 0 {
                deferred.insert(e.tenant_id.clone());
                waiting.insert(e.id.clone());
            } else {
                *left -= 1;
            }
        }
        if !deferred.is_empty() {
            let mut t = self.wake.throttled.lock();
            for tenant in &deferred {
                tracing::warn!(tenant = %tenant, "automation runs per minute exceeded; events wait");
                t.insert(
                    tenant.clone(),
                    std::time::Instant::now() + std::time::Duration::from_secs(5),
                );
            }
            claimed.retain(|e| !waiting.contains(&e.id));
        }
        // The records that matched events are about, read together per entity.
        let mut wanted: HashMap<(String, String), Vec<String>> = HashMap::new();
        for e in &claimed {
            let Some(app) = apps.get(&e.app_id).and_then(|a| a.as_ref()) else {
                continue;
            };
            let Some(ent) = app.entity_by_id(&e.entity_id) else {
                continue;
            };
            if e.kind == EventKind::Deleted || e.record_id.is_empty() {
                continue;
            }
            let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
            if app
                .def
                .rules
                .iter()
                .any(|r| r.enabled && matches(r, e, Some(&ent), &data))
            {
                wanted
                    .entry((e.app_id.clone(), e.entity_id.clone()))
                    .or_default()
                    .push(e.record_id.clone());
            }
        }
        let mut rows: HashMap<String, Row> = HashMap::new();
        for ((app_id, entity_id), ids) in wanted {
            let Some(ent) = apps
                .get(&app_id)
                .and_then(|a| a.as_ref())
                .and_then(|a| a.entity_by_id(&entity_id))
            else {
                continue;
            };
            for row in records::get_many(&tx, &ent, &ids).await? {
                rows.insert(row.id().to_string(), row);
            }
        }
        let mut queued = 0;
        for e in &claimed {
            if let Some(app) = apps.get(&e.app_id).cloned().flatten() {
                queued += self.dispatch_one(&tx, &app, e, now, &rows).await?;
            }
        }
        let ids: Vec<String> = claimed.iter().map(|e| e.id.clone()).collect();
        jobs::mark_dispatched(&tx, &ids, now).await?;
        tx.commit().await.map_err(StoreError::from)?;
        if queued > 0 {
            self.wake_workers();
        }
        Ok(claimed.len())
    }

    /// Matches one event; answers how many jobs it queued.
    async fn dispatch_one<C: trellis_store::Writes>(
        &self,
        tx: &C,
        app: &Arc<LoadedApp>,
        e: &EventRow,
        now: DateTime<Utc>,
        rows: &HashMap<String, Row>,
    ) -> Result<usize, Error> {
        let entity = app.entity_by_id(&e.entity_id);
        let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
        if let Some(ent) = &entity {
            self.schedule_relative(tx, app, ent, e, now).await?;
        }
        let rules: Vec<&RuleDef> = app
            .def
            .rules
            .iter()
            .filter(|r| r.enabled && matches(r, e, entity.as_deref(), &data))
            .collect();
        if rules.is_empty() {
            return Ok(0);
        }
        // Read before the round for every matched event (a record deleted since has none).
        let row = match &entity {
            Some(_) if e.kind != EventKind::Deleted => rows.get(&e.record_id).cloned(),
            _ => None,
        };
        let mut queued = 0;
        for rule in rules {
            // A rule never runs again on its own write.
            if e.via.as_deref() == Some(&format!("rule:{}", rule.name)) {
                continue;
            }
            let input = run_input(e, entity.as_deref(), row.as_ref(), &data, rule.name.as_str());
            queued += self
                .start_run(tx, app, rule, Some(e), entity.as_deref(), row.as_ref(), input, now)
                .await?;
        }
        Ok(queued)
    }

    /// Loads, once per run, the records the rule's templates reach through N:1 relations
    /// (`{{record.customer.phone}}`) into the input's [`template::RELATED`], shortest path first.
    /// `reader` reads them as a caller does (dry runs: their scope and view); `None` as the rule.
    pub(crate) async fn follow_relations<C: trellis_store::Reads>(
        &self,
        conn: &C,
        app: &LoadedApp,
        rule: &RuleDef,
        input: &mut Value,
        reader: Option<&TenantCtx>,
    ) -> Result<(), Error> {
        for hop in trellis_core::template::hops_of(&app.def, rule, &crate::automation::actions::texts) {
            let Some(id) = template::lookup(input, &hop.prefix)
                .and_then(Value::as_str)
                .map(str::to_string)
            else {
                continue;
            };
            let Some(target) = app.compiled.entity(&hop.target).cloned() else {
                continue;
            };
            let values = match reader {
                None => records::get(conn, &target, &id, None)
                    .await?
                    .map(|row| crate::records::record_json(&target, &row)),
                Some(ctx) => self.related_as(conn, ctx, app, &hop.target, &id).await?,
            };
            if let Some(v) = values {
                input[template::RELATED][hop.prefix.as_str()] = v;
            }
        }
        Ok(())
    }

    /// Records a run of a rule: the depth guard, the condition, and its jobs (the first queued,
    /// the others waiting their turn). Answers how many jobs it queued.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start_run<C: trellis_store::Writes>(
        &self,
        tx: &C,
        app: &LoadedApp,
        rule: &RuleDef,
        e: Option<&EventRow>,
        entity: Option<&CompiledEntity>,
        row: Option<&Row>,
        input: Value,
        now: DateTime<Utc>,
    ) -> Result<usize, Error> {
        let depth = e.map_or(0, |e| e.depth);
        let tenant_id = e.map(|e| e.tenant_id.clone()).unwrap_or_default();
        let mut run = RunRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id,
            app_id: app.id.clone(),
            rule: rule.name.to_string(),
            rule_version: app.version,
            event_id: e.map(|e| e.id.clone()),
            record_id: e.map(|e| e.record_id.clone()).filter(|r| !r.is_empty()),
            trigger: input["event"].to_string(),
            matched: false,
            status: RunStatus::Running.to_string(),
            error: None,
            depth,
            started_at: now,
            finished_at: None,
        };
        if depth >= MAX_DEPTH {
            run.status = RunStatus::DepthLimit.to_string();
            run.error = Some(format!(
                "not run: the change was made {depth} rules deep (a chain stops at {MAX_DEPTH})"
            ));
            run.finished_at = Some(now);
            tracing::warn!(rule = %rule.name, depth, "rule chain stopped at the depth limit");
            jobs::insert_run(tx, &run).await?;
            return Ok(0);
        }
        let mut input = input;
        self.follow_relations(tx, app, rule, &mut input, None).await?;
        let matched = match app.conditions.get(rule.name.as_str()) {
            None => Ok(true),
            Some(script) => {
                let mut ctx = condition_context(entity, row, &input);
                // `user` is the user who made the change, with their roles and first team (read
                // only when the condition mentions it).
                if let Some(actor) = input["event"]["actor"].as_str().filter(|a| !a.is_empty())
                    && !run.tenant_id.is_empty()
                    && rule.condition.as_deref().is_some_and(|c| c.contains("user"))
                {
                    let admin = system::user_by_id(tx, &run.tenant_id, actor)
                        .await?
                        .is_some_and(|u| u.is_admin);
                    ctx.user = self.user_info_of(tx, &run.tenant_id, app, actor, admin).await?;
                }
                self.rules.eval_bool(script, &ctx).map_err(|err| err.to_string())
            }
        };
        match matched {
            Err(msg) => {
                run.status = RunStatus::Error.to_string();
                run.error = Some(format!("the condition failed: {msg}"));
                run.finished_at = Some(now);
                jobs::insert_run(tx, &run).await?;
                Ok(0)
            }
            Ok(false) => {
                run.status = RunStatus::Skipped.to_string();
                run.finished_at = Some(now);
                jobs::insert_run(tx, &run).await?;
                Ok(0)
            }
            Ok(true) => {
                run.matched = true;
                jobs::insert_run(tx, &run).await?;
                let key_base = match e {
                    Some(e) => format!("{}:{}:{}", app.id, rule.name, e.id),
                    None => format!("{}:{}:{}", app.id, rule.name, run.id),
                };
                let input_text = input.to_string();
                let attempts = rule.max_attempts.unwrap_or(DEFAULT_ATTEMPTS) as i32;
                let jobs: Vec<JobRow> = rule
                    .actions
                    .iter()
                    .enumerate()
                    .map(|(i, a)| JobRow {
                        id: uuid::Uuid::now_v7().to_string(),
                        tenant_id: run.tenant_id.clone(),
                        app_id: app.id.clone(),
                        run_id: run.id.clone(),
                        rule: rule.name.to_string(),
                        action_index: i as i32,
                        action: a.kind().to_string(),
                        idempotency_key: format!("{key_base}:{i}"),
                        status: if i == 0 { JobStatus::Queued } else { JobStatus::Waiting }.to_string(),
                        attempts: 0,
                        max_attempts: attempts,
                        next_run_at: now,
                        locked_until: None,
                        last_error: None,
                        input: input_text.clone(),
                        output: None,
                        duration_ms: None,
                        created_at: now,
                        updated_at: now,
                    })
                    .collect();
                jobs::insert_jobs(tx, &jobs).await?;
                Ok(1)
            }
        }
    }

    /// Keeps the relative-time timers of a record in step with it: (re)scheduled when it is
    /// created or its date field changes, cancelled when it is deleted.
    async fn schedule_relative<C: trellis_store::Writes>(
        &self,
        tx: &C,
        app: &LoadedApp,
        entity: &CompiledEntity,
        e: &EventRow,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        for rule in &app.def.rules {
            // Both time triggers are a date of the record plus an offset: a field (or
            // `created_at`), or the due time of the stage's SLA while in a given stage.
            let (name, field, offset_seconds, stage) = match &rule.trigger {
                Trigger::RelativeTime {
                    entity,
                    field,
                    offset_seconds,
                } => (entity, field.as_str(), *offset_seconds, None),
                Trigger::SlaDue {
                    entity,
                    stage,
                    before_seconds,
                } => (entity, "stage_due_at", -*before_seconds, Some(stage)),
                _ => continue,
            };
            if name.as_str() != entity.name() || !rule.enabled {
                continue;
            }
            let key = format!("{}:{}", rule.name, e.record_id);
            match EventKind::parse(&e.kind) {
                Some(EventKind::Deleted) => {
                    cancel_rule_timer(tx, &key).await?;
                }
                // A field-relative time moves when the record changes; an SLA-relative one
                // when the record enters a stage.
                Some(k)
                    if (stage.is_none() && matches!(k, EventKind::Created | EventKind::Updated))
                        || (stage.is_some() && matches!(k, EventKind::Created | EventKind::StageChanged)) =>
                {
                    let Some(row) = records::get(tx, entity, &e.record_id, None).await? else {
                        continue;
                    };
                    let in_stage = match stage {
                        None => true,
                        Some(want) => want
                            .as_ref()
                            .is_none_or(|s| row.get(entity, "stage") == Some(&Val::Text(s.to_string()))),
                    };
                    if stage.is_some() && e.kind != EventKind::Created {
                        // The SLA's due time moves with the stage: the old timer goes.
                        cancel_rule_timer(tx, &key).await?;
                    }
                    if !in_stage {
                        continue;
                    }
                    let base = match row.get(entity, field) {
                        Some(Val::DateTime(t)) => Some(*t),
                        Some(Val::Date(d)) => d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()),
                        _ => None,
                    };
                    let due = base.map(|b| b + chrono::TimeDelta::seconds(offset_seconds));
                    if e.kind == EventKind::Updated && stage.is_none() {
                        cancel_rule_timer(tx, &key).await?;
                    }
                    if let Some(due) = due.filter(|d| *d > now - chrono::TimeDelta::minutes(1)) {
                        timers::insert(
                            tx,
                            &timers::TimerRow {
                                id: uuid::Uuid::now_v7().to_string(),
                                tenant_id: e.tenant_id.clone(),
                                app_id: app.id.clone(),
                                entity_id: e.entity_id.clone(),
                                record_id: Some(e.record_id.clone()),
                                kind: TimerKind::Rule.to_string(),
                                key,
                                due_at: due,
                                status: TimerStatus::Pending.to_string(),
                                data: json!({"rule": rule.name}).to_string(),
                            },
                        )
                        .await?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

async fn cancel_rule_timer<C: trellis_store::Writes>(c: &C, key: &str) -> Result<(), Error> {
    trellis_store::timers::cancel_rule_timers(c, key).await?;
    Ok(())
}
