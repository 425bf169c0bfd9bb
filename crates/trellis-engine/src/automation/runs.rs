//! A rule's runs and jobs as their reader may see them (a run touching records or fields hidden
//! from them veiled), and the retry of a dead job.

use serde_json::Value;
use trellis_core::Error;
use trellis_core::automation::RuleDef;
use trellis_core::error::FieldCode;
use trellis_core::status::{JobStatus, RunStatus};
use trellis_store::StoreError;
use trellis_store::jobs;

use std::collections::{HashMap, HashSet};

use trellis_core::CompiledEntity;
use trellis_core::permissions::{Right, is_guarded};
use trellis_store::records::Row;

use crate::access::{Access, get_many_scoped, get_scoped};
use crate::compiled::scripts::LoadedApp;
use crate::{Engine, TenantCtx};

use super::*;

/// One action of a run, as a durable job.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct JobOut {
    pub id: String,
    /// The action's place in the rule, from 0.
    pub index: i32,
    /// The action's type.
    pub action: String,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    #[schema(format = DateTime)]
    pub next_run_at: String,
    pub error: Option<String>,
    /// What the action did (`{sent, to}`, `{set}`, …), once done.
    pub output: Option<Value>,
    pub duration_ms: Option<i64>,
}

impl JobOut {
    pub(crate) fn of(j: &jobs::JobRow) -> Result<JobOut, Error> {
        Ok(JobOut {
            id: j.id.clone(),
            index: j.action_index,
            action: j.action.clone(),
            status: JobStatus::parse(&j.status)
                .ok_or_else(|| Error::internal(format!("unknown job status '{}' stored", j.status)))?,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            next_run_at: trellis_core::value::format_datetime(&j.next_run_at),
            error: j.last_error.clone(),
            output: j.output.as_deref().and_then(|o| serde_json::from_str::<Value>(o).ok()),
            duration_ms: j.duration_ms,
        })
    }
}

/// A run of a rule.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RunOut {
    pub id: String,
    pub status: RunStatus,
    /// Whether the condition matched.
    pub matched: bool,
    pub error: Option<String>,
    /// How many rules' runs led to this one.
    pub depth: i32,
    /// The record it ran on.
    pub record: Option<String>,
    pub rule_version: i64,
    /// The event as the rule saw it (an update's `changes` as `{field: {from, to}}`).
    pub trigger: Value,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    pub actions: Vec<JobOut>,
}

/// The row as the caller's view of its entity holds it (hidden columns left out).
pub(crate) fn view_row(access: &Access, row: &Row) -> Row {
    Row {
        values: access
            .view
            .columns
            .iter()
            .map(|c| row.get(&access.entity, &c.name).cloned())
            .collect(),
    }
}

/// What a caller limited by role permissions may read of a rule's runs ([`Engine::rule_runs`]).
pub(crate) struct RunVeil {
    /// Access to the trigger's entity (none: the trigger has no entity).
    trigger: Option<Access>,
    /// By entity touched by an action of another entity (`create_record`, `update_related`):
    /// the caller's access and the touched records they read.
    others: HashMap<String, (Access, HashSet<String>)>,
    /// Per action of the rule: whether its recipients are read from a hidden field.
    addresses_hidden: Vec<bool>,
    /// The names of every field hidden from the caller, in any entity.
    hidden_names: Vec<String>,
}

/// What an error text of a run reads as when it names a field hidden from the caller.
pub(crate) const HIDDEN_ERROR: &str = "the action failed on a field you cannot see";

impl RunVeil {
    /// A run as the caller reads it: the trigger's changes of hidden fields left out; the values
    /// actions set without the fields hidden in the entity they were set on; a record of
    /// another entity the caller does not read left out with everything set on it (as is
    /// everything an action did on an entity they cannot read); recipients read from a hidden
    /// field left out; no answers of called webhooks (they may echo anything); and error texts
    /// that name a hidden field replaced by [`HIDDEN_ERROR`].
    pub(crate) fn redact(&self, trigger: &mut Value, actions: &mut [JobOut], error: &mut Option<String>) {
        if let (Some(access), Some(Value::Object(changes))) = (&self.trigger, trigger.get_mut("changes")) {
            let hidden_ids = access.hidden_ids();
            changes.retain(|k, _| !hidden_ids.contains(k) && !access.grant.hidden.contains(k));
        }
        if error.as_deref().is_some_and(|e| self.names_hidden(e)) {
            *error = Some(HIDDEN_ERROR.to_string());
        }
        for a in actions {
            let addresses_hidden = usize::try_from(a.index)
                .ok()
                .and_then(|i| self.addresses_hidden.get(i))
                .copied()
                .unwrap_or(true);
            if a.error.as_deref().is_some_and(|e| self.names_hidden(e)) {
                a.error = Some(HIDDEN_ERROR.to_string());
            }
            let Some(Value::Object(out)) = a.output.as_mut() else {
                continue;
            };
            out.remove("response");
            if addresses_hidden {
                out.remove("to");
                out.remove("notified");
            }
            let other = out.get("entity").and_then(Value::as_str).map(str::to_string);
            let access = match &other {
                None => self.trigger.as_ref(),
                Some(name) => {
                    let seen = self.others.get(name).filter(|(_, readable)| {
                        ["record", "created"]
                            .iter()
                            .filter_map(|k| out.get(*k).and_then(Value::as_str))
                            .all(|id| readable.contains(id))
                    });
                    match seen {
                        Some((access, _)) => Some(access),
                        None => {
                            for k in ["record", "created", "owner", "set", "version"] {
                                out.remove(k);
                            }
                            continue;
                        }
                    }
                }
            };
            if let Some(set) = out.get_mut("set") {
                match access {
                    Some(access) => access.redact(set),
                    None => *set = Value::Object(Default::default()),
                }
            }
        }
    }

    /// Whether a text names a field hidden from the caller (as a whole word).
    pub(crate) fn names_hidden(&self, text: &str) -> bool {
        self.hidden_names.iter().any(|name| {
            text.match_indices(name.as_str()).any(|(i, _)| {
                let before = text[..i].chars().next_back();
                let after = text[i + name.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
    }
}

pub(crate) fn rule_missing(name: &str) -> Error {
    Error::not_found(format!(
        "rule '{}' does not exist",
        trellis_core::names::truncate(name, 64)
    ))
}

/// A rule as a caller who may not see `hidden` knows it: one whose trigger or condition reads a
/// hidden field is not in their view of the app
/// ([`trellis_core::permissions::rule_reads_hidden`]), and answers 404 as an unknown rule, so
/// whether it ran or matched tells them nothing of the hidden values.
pub(crate) fn known_rule<'a>(
    app: &'a LoadedApp,
    rule: &str,
    hidden: &trellis_core::permissions::HiddenFields,
) -> Result<&'a RuleDef, Error> {
    app.def
        .rule(rule)
        .filter(|r| !trellis_core::permissions::rule_reads_hidden(&app.def, r, hidden))
        .ok_or_else(|| rule_missing(rule))
}

impl Engine {
    /// A rule's runs, newest first: the trigger, the condition's result, each action's status,
    /// attempts, error and duration.
    /// Who may read them: as for dry runs ([`Engine::require_rule_right`]); a caller limited by
    /// role permissions sees only the runs on records they read, and every record and value
    /// of them through their view ([`RunVeil`]); the runs of a rule whose trigger or condition
    /// reads a field hidden from them answer 404, as the rule is not in their view
    /// ([`known_rule`]).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, rule = %rule))]
    pub async fn rule_runs(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: &str,
        limit: Option<u64>,
    ) -> Result<Vec<RunOut>, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let hidden = self.hidden_fields(&self.db.read, ctx, &app).await?;
        let r = known_rule(&app, rule, &hidden)?;
        self.require_rule_right(&self.db.read, ctx, &app, rule).await?;
        let limit = limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(Error::bad_field("limit", FieldCode::Range, "must be 1 to 500"));
        }
        let mut runs = jobs::runs_of(&self.db.read, &app.id, rule, limit).await?;
        let entity = r.trigger.entity().and_then(|e| app.entity(e.as_str())).cloned();
        let limited = is_guarded(&app.def) && !ctx.is_admin();
        let trigger_access = match &entity {
            Some(ent) if limited => Some(self.access(&self.db.read, ctx, &app, ent).await?),
            _ => None,
        };
        if let (Some(access), Some(ent)) = (&trigger_access, &entity) {
            let readable = self.readable_ids(ctx, access, ent, &runs).await?;
            runs.retain(|r| {
                r.record_id
                    .as_ref()
                    .is_none_or(|id| id.is_empty() || readable.contains(id))
            });
        }
        let ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
        let all_jobs = jobs::jobs_of_runs(&self.db.read, &ids).await?;
        let veil = if limited {
            Some(self.run_veil(ctx, &app, r, trigger_access, &all_jobs, hidden).await?)
        } else {
            None
        };
        runs.iter()
            .map(|r| {
                let mut trigger = serde_json::from_str::<Value>(&r.trigger).unwrap_or(Value::Null);
                let mut actions = all_jobs
                    .iter()
                    .filter(|j| j.run_id == r.id)
                    .map(JobOut::of)
                    .collect::<Result<Vec<_>, Error>>()?;
                let mut error = r.error.clone();
                if let Some(v) = &veil {
                    v.redact(&mut trigger, &mut actions, &mut error);
                }
                Ok(RunOut {
                    id: r.id.clone(),
                    status: RunStatus::parse(&r.status)
                        .ok_or_else(|| Error::internal(format!("unknown run status '{}' stored", r.status)))?,
                    matched: r.matched,
                    error,
                    depth: r.depth,
                    record: r.record_id.clone(),
                    rule_version: r.rule_version,
                    trigger,
                    started_at: trellis_core::value::format_datetime(&r.started_at),
                    finished_at: r.finished_at.as_ref().map(trellis_core::value::format_datetime),
                    actions,
                })
            })
            .collect()
    }

    /// Puts a dead job back in the queue with fresh attempts (admin).
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn retry_job(&self, ctx: &TenantCtx, id: &str) -> Result<JobOut, Error> {
        ctx.require_admin_to("retry automation jobs")?;
        let job = jobs::job_by_id(&self.db.read, ctx.tenant_id(), id)
            .await?
            .ok_or_else(|| Error::not_found("no such job"))?;
        if job.status != JobStatus::Dead.as_str() {
            return Err(Error::conflict(format!(
                "only dead jobs are retried; this one is {}",
                job.status
            )));
        }
        let now = trellis_core::value::now_micros();
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        jobs::requeue(&tx, id, now).await?;
        // The run is open again; the actions after this one wait their turn once more.
        jobs::reopen_run(&tx, &job.run_id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake_workers();
        let job = jobs::job_by_id(&self.db.read, ctx.tenant_id(), id)
            .await?
            .ok_or_else(|| Error::not_found("no such job"))?;
        JobOut::of(&job)
    }

    /// The caller's access to an entity of the app by name (`None`: no such entity).
    /// A related record as the caller reads it (dry runs): `None` outside their read scope, and
    /// without the fields their roles hide.
    pub(crate) async fn related_as<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &str,
        id: &str,
    ) -> Result<Option<Value>, Error> {
        let Some(ent) = app.entity(entity) else { return Ok(None) };
        let access = self.access(conn, ctx, app, ent).await?;
        if access.grant.reach(Right::Read).is_none() {
            return Ok(None);
        }
        let scope = self.scope(conn, ctx, &access, Right::Read).await?;
        let row = get_scoped(conn, &access.entity, id, scope.as_ref(), None).await?;
        Ok(row.map(|r| crate::records::record_json(&access.view, &view_row(&access, &r))))
    }

    pub(crate) async fn access_to(
        &self,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: Option<&str>,
    ) -> Result<Option<Access>, Error> {
        match entity.and_then(|e| app.entity(e)) {
            Some(ent) => Ok(Some(self.access(&self.db.read, ctx, app, ent).await?)),
            None => Ok(None),
        }
    }

    /// The record ids of these runs that the caller reads (none without the read right).
    pub(crate) async fn readable_ids(
        &self,
        ctx: &TenantCtx,
        access: &Access,
        entity: &CompiledEntity,
        runs: &[jobs::RunRow],
    ) -> Result<HashSet<String>, Error> {
        let ids: Vec<String> = runs
            .iter()
            .filter_map(|r| r.record_id.clone())
            .filter(|id| !id.is_empty())
            .collect();
        self.readable_among(ctx, access, entity, ids).await
    }

    /// What a caller limited by role permissions may read of a rule's runs: the access to the
    /// trigger's entity and to every entity whose records the actions touched, the records of
    /// those they read, the fields hidden from them, and which actions address people through
    /// a hidden field.
    pub(crate) async fn run_veil(
        &self,
        ctx: &TenantCtx,
        app: &LoadedApp,
        rule: &RuleDef,
        trigger: Option<Access>,
        all_jobs: &[jobs::JobRow],
        hidden: trellis_core::permissions::HiddenFields,
    ) -> Result<RunVeil, Error> {
        let mut touched: HashMap<String, Vec<String>> = HashMap::new();
        for j in all_jobs {
            let Some(out) = j.output.as_deref().and_then(|o| serde_json::from_str::<Value>(o).ok()) else {
                continue;
            };
            if let Some(e) = out.get("entity").and_then(Value::as_str) {
                let ids = touched.entry(e.to_string()).or_default();
                for key in ["record", "created"] {
                    if let Some(id) = out.get(key).and_then(Value::as_str) {
                        ids.push(id.to_string());
                    }
                }
            }
        }
        let mut others = HashMap::new();
        for (name, ids) in touched {
            let Some(ent) = app.entity(&name) else { continue };
            let access = self.access(&self.db.read, ctx, app, ent).await?;
            let readable = self.readable_among(ctx, &access, ent, ids).await?;
            others.insert(name, (access, readable));
        }
        let trigger_entity = rule.trigger.entity().and_then(|e| app.def.entity(e.as_str()));
        let addresses_hidden = rule
            .actions
            .iter()
            .map(|a| recipients_read_hidden(&app.def, trigger_entity, &hidden, a))
            .collect();
        let mut hidden_names: Vec<String> = hidden.values().flatten().cloned().collect();
        hidden_names.sort();
        hidden_names.dedup();
        Ok(RunVeil {
            trigger,
            others,
            addresses_hidden,
            hidden_names,
        })
    }

    /// The ids among `ids` of records of `entity` the caller reads (read right, read scope).
    pub(crate) async fn readable_among(
        &self,
        ctx: &TenantCtx,
        access: &Access,
        entity: &CompiledEntity,
        mut ids: Vec<String>,
    ) -> Result<HashSet<String>, Error> {
        ids.retain(|id| !id.is_empty());
        ids.sort();
        ids.dedup();
        if access.grant.reach(Right::Read).is_none() {
            return Ok(HashSet::new());
        }
        Ok(match self.scope(&self.db.read, ctx, access, Right::Read).await? {
            None => ids.into_iter().collect(),
            Some(scope) => get_many_scoped(&self.db.read, entity, &ids, &scope)
                .await?
                .iter()
                .map(|r| r.id().to_string())
                .collect(),
        })
    }
}
