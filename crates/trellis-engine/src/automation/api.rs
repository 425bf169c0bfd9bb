//! The use cases of automation that the API serves: rules (kept in the app definition), their
//! runs, dry runs, inbound webhooks, manual runs and retries of dead jobs.

use serde_json::{Value, json};
use trellis_core::automation::{ActionDef, RuleDef, Trigger};
use trellis_core::status::{EventKind, JobStatus, RunStatus};
use trellis_core::validate::parse_rule;
use trellis_core::{Error, FieldError};
use trellis_store::events::EventRow;
use trellis_store::jobs;
use trellis_store::{StoreError, events, system};

use std::collections::{HashMap, HashSet};

use trellis_core::CompiledEntity;
use trellis_core::permissions::{Right, RunRules, is_guarded};
use trellis_store::records::Row;

use crate::access::{Access, get_many_scoped, get_scoped};
use crate::apps::{ChangeOptions, ChangeOut, merge_patch};
use crate::automation::actions::recipients::{self, Resolved, Target, Unresolved};
use crate::automation::dispatch::{condition_context, run_input};
use crate::automation::template::{render, render_json};
use crate::compiled::scripts::LoadedApp;
use crate::{Engine, TenantCtx};

/// What a dry run of a rule found: whether its condition matches, and what each action would do.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RuleTest {
    pub matched: bool,
    /// Why the condition failed to evaluate.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<String>,
    /// Each action, when it matched.
    pub actions: Vec<ActionPreview>,
}

/// What one action would do.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ActionPreview {
    /// The action's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its rendered texts, computed values, URL, … (`{error}` when they cannot be computed).
    #[schema(value_type = Object)]
    pub would: Value,
    /// Messages (notify, email, sms): who it would reach, and each part of `to` that reaches
    /// nobody.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub recipients: Option<RecipientsPreview>,
}

/// Who a message would reach on its channel.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RecipientsPreview {
    /// Each recipient once: users for an in-app notification, those with an e-mail address for
    /// an e-mail, phone numbers for an SMS.
    pub to: Vec<Target>,
    /// Each part of `to` that gives nobody on this channel, and why.
    pub unresolved: Vec<Unresolved>,
    /// Nobody at all: a real run would fail with "no recipient".
    pub empty: bool,
}

/// The channel a message goes out on.
#[derive(Clone, Copy)]
enum Channel {
    InApp,
    Email,
    Sms,
}

impl RecipientsPreview {
    /// `found` narrowed to what `channel` can reach. A user field hidden from the caller reads
    /// as hidden, not as empty (the dry run reads the record through the caller's view).
    fn of(found: Resolved, channel: Channel, view: Option<&CompiledEntity>) -> Self {
        let Resolved { to, mut unresolved } = found;
        if let Some(view) = view {
            for u in &mut unresolved {
                if let Some(f) = u.source.strip_prefix("fields.")
                    && view.def.field(f).is_none()
                {
                    u.reason = "the field is hidden from you".into();
                }
            }
        }
        let mut reach = Vec::with_capacity(to.len());
        for t in to {
            let (ok, why) = match channel {
                Channel::InApp => (t.user_id.is_some(), "in-app notifications reach users only"),
                Channel::Email => (t.email.is_some(), "has no e-mail address"),
                Channel::Sms => (t.phone.is_some(), "has no phone number (users have none in Trellis)"),
            };
            if ok {
                reach.push(t);
            } else {
                let who = t
                    .user_id
                    .clone()
                    .or(t.email.clone())
                    .or(t.phone.clone())
                    .unwrap_or_default();
                unresolved.push(Unresolved {
                    source: who,
                    reason: why.to_string(),
                });
            }
        }
        RecipientsPreview {
            empty: reach.is_empty(),
            to: reach,
            unresolved,
        }
    }
}

/// Runs in a row that failed, from which a rule counts as failing.
pub const FAILING_AFTER: usize = 3;

fn rule_missing(name: &str) -> Error {
    Error::not_found(format!(
        "rule '{}' does not exist",
        trellis_core::names::truncate(name, 64)
    ))
}

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
    fn of(j: &jobs::JobRow) -> Result<JobOut, Error> {
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

/// How a rule's recent runs (the last 20) went.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RuleHealth {
    /// Its last runs failed ([`FAILING_AFTER`] in a row, skipped ones aside): flagged, never
    /// silently disabled.
    pub failing: bool,
    /// How the last run ended (none: it never ran).
    pub last_status: Option<RunStatus>,
    /// Failed runs among the recent ones.
    pub recent_failures: usize,
}

/// A rule as listed: its definition and its health.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleEntry {
    #[serde(flatten)]
    pub rule: RuleDef,
    pub health: RuleHealth,
}

/// The schema of [`RuleEntry`]: the properties of [`RuleDef`] and `health` beside them (a
/// flattened `RuleDef` would be an `allOf` whose `additionalProperties: false` refuses it).
impl utoipa::PartialSchema for RuleEntry {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let RefOr::T(Schema::Object(mut o)) = <RuleDef as utoipa::PartialSchema>::schema() else {
            unreachable!("RuleDef derives an object schema")
        };
        o.properties.insert(
            "health".into(),
            RefOr::Ref(utoipa::openapi::Ref::from_schema_name("RuleHealth")),
        );
        o.required.push("health".into());
        o.description = Some("A rule with the health of its recent runs.".into());
        RefOr::T(Schema::Object(o))
    }
}

impl utoipa::ToSchema for RuleEntry {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <RuleDef as utoipa::ToSchema>::schemas(schemas);
        schemas.push(("RuleHealth".into(), <RuleHealth as utoipa::PartialSchema>::schema()));
    }
}

impl Engine {
    /// The app's rules, each with its health: how its recent runs ended and whether it keeps
    /// failing (flagged, never silently disabled).
    pub async fn list_rules(&self, ctx: &TenantCtx, app: &str) -> Result<Vec<RuleEntry>, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let def = self.def_for(&self.db.read, ctx, &app.id, &app.def).await?;
        let mut out = Vec::new();
        for r in &def.rules {
            let statuses: Vec<RunStatus> = jobs::runs_of(&self.db.read, &app.id, r.name.as_str(), 20)
                .await?
                .iter()
                .map(|x| {
                    RunStatus::parse(&x.status)
                        .ok_or_else(|| Error::internal(format!("unknown run status '{}' stored", x.status)))
                })
                .collect::<Result<_, Error>>()?;
            let failed = |s: &&RunStatus| matches!(s, RunStatus::Failed | RunStatus::Error);
            let failing = statuses.len() >= FAILING_AFTER
                && statuses
                    .iter()
                    .filter(|s| **s != RunStatus::Skipped)
                    .take(FAILING_AFTER)
                    .all(|s| failed(&s));
            out.push(RuleEntry {
                rule: r.clone(),
                health: RuleHealth {
                    failing,
                    last_status: statuses.first().copied(),
                    recent_failures: statuses.iter().filter(failed).count(),
                },
            });
        }
        Ok(out)
    }

    /// A rule as the caller may read it (secrets masked; a summary for members of a guarded app).
    /// With the app version it was read at.
    pub async fn get_rule(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: &str,
    ) -> Result<crate::apps::parts::Versioned<RuleDef>, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let def = self.def_for(&self.db.read, ctx, &app.id, &app.def).await?;
        let part = def.rule(rule).cloned().ok_or_else(|| rule_missing(rule))?;
        Ok(crate::apps::parts::Versioned {
            part,
            version: app.compiled.version,
        })
    }

    /// Adds a rule (`rule.schema.json`); its condition must compile.
    pub async fn create_rule(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: RuleDef,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        ctx.require_admin()?;
        self.change_app(ctx, app, opts, move |def| {
            if def.rule(rule.name.as_str()).is_some() {
                return Err(Error::conflict(format!("rule '{}' exists", rule.name))
                    .with_errors(vec![FieldError::new("name", "duplicate", "is taken")]));
            }
            def.rules.push(rule);
            Ok(())
        })
        .await
    }

    /// Changes a rule (merge patch); the name stays.
    pub async fn patch_rule(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: &str,
        body: &Value,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        ctx.require_admin()?;
        let (body, name) = (body.clone(), rule.to_string());
        self.change_app(ctx, app, opts, move |def| {
            let i = def
                .rules
                .iter()
                .position(|r| r.name.as_str() == name)
                .ok_or_else(|| rule_missing(&name))?;
            let mut v = serde_json::to_value(&def.rules[i]).map_err(|e| Error::internal(e.to_string()))?;
            merge_patch(&mut v, &body);
            let patched: RuleDef = parse_rule(&v)?;
            if patched.name.as_str() != name {
                return Err(Error::validation(vec![FieldError::new(
                    "name",
                    "read_only",
                    "a rule cannot be renamed; its runs are kept under its name",
                )]));
            }
            def.rules[i] = patched;
            Ok(())
        })
        .await
    }

    pub async fn delete_rule(
        &self,
        ctx: &TenantCtx,
        app: &str,
        rule: &str,
        opts: ChangeOptions,
    ) -> Result<ChangeOut, Error> {
        let name = rule.to_string();
        self.change_app(ctx, app, opts, move |def| {
            let before = def.rules.len();
            def.rules.retain(|r| r.name.as_str() != name);
            if def.rules.len() == before {
                return Err(rule_missing(&name));
            }
            // Roles that may run it no longer name it.
            for role in &mut def.roles {
                if let RunRules::Only(list) = &mut role.run_rules {
                    list.retain(|r| *r != name);
                }
            }
            Ok(())
        })
        .await
    }

    /// A rule's runs, newest first: the trigger, the condition's result, each action's status,
    /// attempts, error and duration.
    /// Who may read them: as for dry runs ([`Engine::require_rule_right`]); a caller limited by
    /// role permissions sees only the runs on records they read, and every record and value
    /// of them through their view ([`RunVeil`]); the runs of a rule whose trigger or condition
    /// reads a field hidden from them answer 404, as the rule is not in their view
    /// ([`known_rule`]).
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
            return Err(Error::bad_field("limit", "range", "must be 1 to 500"));
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

    /// A dry run on a record (`{record: id}` or `{record: {values}}`): would the condition
    /// match, and what would each action do (rendered texts, computed values). Nothing is
    /// written or sent.
    pub async fn test_rule(
        &self,
        ctx: &TenantCtx,
        app_name: &str,
        rule: &str,
        body: &Value,
    ) -> Result<RuleTest, Error> {
        let app = self.compiled_app(ctx, app_name).await?;
        let r = known_rule(&app, rule, &self.hidden_fields(&self.db.read, ctx, &app).await?)?;
        self.require_rule_right(&self.db.read, ctx, &app, rule).await?;
        let declared = r.trigger.entity().and_then(|e| app.entity(e.as_str())).cloned();
        let access = match &declared {
            Some(ent) => Some(self.access(&self.db.read, ctx, &app, ent).await?),
            None => None,
        };
        // The record is read as the caller reads it: within their read scope (404 outside, as
        // everywhere), through their view (hidden fields absent from the condition and previews).
        let entity = access.as_ref().map(|a| a.view.clone());
        let (row, data) = match (&access, body.get("record")) {
            (Some(access), Some(Value::String(id))) => {
                let id = crate::records::check_id(id)?;
                let scope = self.scope(&self.db.read, ctx, access, Right::Read).await?;
                let row = get_scoped(&self.db.read, &access.entity, &id, scope.as_ref(), None)
                    .await?
                    .ok_or_else(|| Error::not_found("no such record"))?;
                (Some(view_row(access, &row)), json!({}))
            }
            (_, Some(Value::Object(o))) => (None, json!({"record": o, "payload": body.get("payload")})),
            (_, None) => (None, json!({"payload": body.get("payload")})),
            _ => return Err(Error::bad_field("record", "type", "a record id or an object of values")),
        };
        let event = EventRow {
            id: "test".into(),
            tenant_id: ctx.tenant_id().to_string(),
            app_id: app.id.clone(),
            entity_id: entity
                .as_ref()
                .map(|e| e.def.storage_id().to_string())
                .unwrap_or_default(),
            record_id: row.as_ref().map(|r| r.id().to_string()).unwrap_or_default(),
            kind: EventKind::Test.to_string(),
            actor: Some(ctx.user_id().to_string()),
            via: None,
            at: trellis_core::value::now_micros(),
            data: data.to_string(),
            depth: 0,
        };
        let mut input = run_input(&event, entity.as_deref(), row.as_ref(), &data, rule);
        self.follow_relations(&self.db.read, &app, r, &mut input, Some(ctx))
            .await?;
        let matched = match app.conditions.get(rule) {
            None => Ok(true),
            Some(s) => self
                .rules
                .eval_bool(s, &condition_context(entity.as_deref(), row.as_ref(), &input))
                .map_err(|e| e.to_string()),
        };
        let mut actions: Vec<ActionPreview> = Vec::with_capacity(r.actions.len());
        for a in &r.actions {
            use trellis_core::automation::ActionDef as A;
            // Values an action would write to a field hidden from the caller are not shown.
            let target = match a {
                A::SetFields { .. } => access.clone(),
                A::CreateRecord { entity: t, .. } => self.access_to(ctx, &app, Some(t.as_str())).await?,
                A::UpdateRelated { relation, .. } => {
                    let t = declared
                        .as_ref()
                        .and_then(|e| e.def.field(relation.as_str()))
                        .and_then(|f| f.target.as_ref());
                    self.access_to(ctx, &app, t.map(|t| t.as_str())).await?
                }
                _ => None,
            };
            let preview = match a {
                A::SetFields { values } | A::CreateRecord { values, .. } | A::UpdateRelated { values, .. } => {
                    match crate::automation::actions::records::body_of(self, values, entity.as_deref(), &input) {
                        Ok(mut v) => {
                            if let Some(t) = &target {
                                t.redact(&mut v);
                            }
                            json!({"values": v})
                        }
                        Err(e) => json!({"error": e.message}),
                    }
                }
                A::Notify { title, body, .. } => json!({
                    "title": {"zh": title.zh.as_deref().map(|t| render(t, &input)), "en": title.en.as_deref().map(|t| render(t, &input))},
                    "body": body.as_deref().map(|b| render(b, &input)),
                }),
                A::Email { subject, body, .. } => {
                    json!({"subject": render(subject, &input), "body": render(body, &input)})
                }
                A::Sms { text, .. } => json!({"text": render(text, &input)}),
                A::Webhook { url, body, .. } => {
                    json!({"url": url, "body": body.as_ref().map(|b| render_json(b, &input)).unwrap_or(input.clone())})
                }
                A::RenderDocument { template, name, .. } => {
                    json!({"name": render(name, &input), "content": render(template, &input)})
                }
                A::Transition { to, .. } => json!({"to": to}),
                A::AssignOwner { assign } => json!({"assign": assign}),
            };
            let recipients = match a {
                A::Notify { to, .. } => Some((to, Channel::InApp)),
                A::Email { to, .. } => Some((to, Channel::Email)),
                A::Sms { to, .. } => Some((to, Channel::Sms)),
                _ => None,
            };
            let recipients = match recipients {
                Some((to, channel)) => {
                    let found = recipients::resolve_all(&self.db.read, ctx.tenant_id(), &app.id, &input, to)
                        .await
                        .map_err(Error::from)?;
                    Some(RecipientsPreview::of(found, channel, entity.as_deref()))
                }
                None => None,
            };
            actions.push(ActionPreview {
                kind: a.kind().to_string(),
                would: preview,
                recipients,
            });
        }
        Ok(match matched {
            Ok(m) => RuleTest {
                matched: m,
                error: None,
                actions: if m { actions } else { Vec::new() },
            },
            Err(e) => RuleTest {
                matched: false,
                error: Some(format!("the condition failed: {e}")),
                actions: Vec::new(),
            },
        })
    }

    /// An inbound webhook: finds the app's rule with this key whose secret matches (compared in
    /// constant time) and writes a `webhook` event for the dispatcher. Answers the event id.
    pub async fn inbound_hook(
        &self,
        app: &str,
        key: &str,
        secret: Option<&str>,
        payload: Value,
    ) -> Result<String, Error> {
        let not_found = || Error::not_found("no such webhook");
        let secret =
            secret.ok_or_else(|| Error::unauthenticated("the webhook secret is missing (X-Trellis-Secret)"))?;
        let name = trellis_core::Slug::from_path("app", app).map_err(|_| not_found())?;
        for row in system::apps_named(&self.db.read, name.as_str()).await? {
            let Some(loaded) = self.app_by_id(&self.db.read, &row.id).await? else {
                continue;
            };
            let Some(rule) = loaded.def.rules.iter().find(|r| {
                matches!(&r.trigger, Trigger::Webhook { key: k, secret: s } if k.as_str() == key && constant_eq(s.as_bytes(), secret.as_bytes()))
            }) else {
                continue;
            };
            if !rule.enabled {
                return Err(Error::conflict("this webhook's rule is disabled"));
            }
            let e = EventRow {
                id: uuid::Uuid::now_v7().to_string(),
                tenant_id: row.tenant_id.clone(),
                app_id: row.id.clone(),
                entity_id: String::new(),
                record_id: String::new(),
                kind: EventKind::Webhook.to_string(),
                actor: None,
                via: Some(format!("hook:{key}")),
                at: trellis_core::value::now_micros(),
                data: json!({"rule": rule.name, "payload": payload}).to_string(),
                depth: 0,
            };
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            events::insert(&tx, std::slice::from_ref(&e)).await?;
            tx.commit().await.map_err(StoreError::from)?;
            self.wake_dispatcher();
            return Ok(e.id);
        }
        // The same answer for an unknown key and a wrong secret: nothing to probe.
        Err(Error::unauthenticated("unknown webhook or wrong secret"))
    }

    /// A manual run of a rule on a record (the button in the UI).
    pub async fn run_rule_on(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        rule: &str,
    ) -> Result<String, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let ent = crate::records::entity_of(&app, entity)?.clone();
        let r = known_rule(&app, rule, &self.hidden_fields(&self.db.read, ctx, &app).await?)?;
        if !matches!(&r.trigger, Trigger::Manual { entity: e } if e.as_str() == ent.name()) {
            return Err(Error::bad_field(
                "rule",
                "not_manual",
                format!("rule '{rule}' is not a manual rule of '{entity}'"),
            ));
        }
        self.require_rule_right(&self.db.read, ctx, &app, rule).await?;
        let id = crate::records::check_id(id)?;
        // The record must be one the caller reads: 404 outside their scope, as everywhere.
        let access = self.access(&self.db.read, ctx, &app, &ent).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        get_scoped(&tx, &ent, &id, scope.as_ref(), None)
            .await?
            .ok_or_else(|| Error::not_found("no such record"))?;
        let e = EventRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: ctx.tenant_id().to_string(),
            app_id: app.id.clone(),
            entity_id: ent.def.storage_id().to_string(),
            record_id: id,
            kind: EventKind::Manual.to_string(),
            actor: Some(ctx.user_id().to_string()),
            via: ctx.via(),
            at: trellis_core::value::now_micros(),
            data: json!({"rule": rule}).to_string(),
            depth: ctx.depth(),
        };
        events::insert(&tx, std::slice::from_ref(&e)).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake_dispatcher();
        Ok(e.id)
    }

    /// Puts a dead job back in the queue with fresh attempts (admin).
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
}

impl Engine {
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

    async fn access_to(&self, ctx: &TenantCtx, app: &LoadedApp, entity: Option<&str>) -> Result<Option<Access>, Error> {
        match entity.and_then(|e| app.entity(e)) {
            Some(ent) => Ok(Some(self.access(&self.db.read, ctx, app, ent).await?)),
            None => Ok(None),
        }
    }

    /// The record ids of these runs that the caller reads (none without the read right).
    async fn readable_ids(
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
    async fn run_veil(
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
    async fn readable_among(
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

/// A rule as a caller who may not see `hidden` knows it: one whose trigger or condition reads a
/// hidden field is not in their view of the app
/// ([`trellis_core::permissions::rule_reads_hidden`]), and answers 404 as an unknown rule, so
/// whether it ran or matched tells them nothing of the hidden values.
fn known_rule<'a>(
    app: &'a LoadedApp,
    rule: &str,
    hidden: &trellis_core::permissions::HiddenFields,
) -> Result<&'a RuleDef, Error> {
    app.def
        .rule(rule)
        .filter(|r| !trellis_core::permissions::rule_reads_hidden(&app.def, r, hidden))
        .ok_or_else(|| rule_missing(rule))
}

/// The row as the caller's view of its entity holds it (hidden columns left out).
fn view_row(access: &Access, row: &Row) -> Row {
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
struct RunVeil {
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
const HIDDEN_ERROR: &str = "the action failed on a field you cannot see";

impl RunVeil {
    /// A run as the caller reads it: the trigger's changes of hidden fields left out; the values
    /// actions set without the fields hidden in the entity they were set on; a record of
    /// another entity the caller does not read left out with everything set on it (as is
    /// everything an action did on an entity they cannot read); recipients read from a hidden
    /// field left out; no answers of called webhooks (they may echo anything); and error texts
    /// that name a hidden field replaced by [`HIDDEN_ERROR`].
    fn redact(&self, trigger: &mut Value, actions: &mut [JobOut], error: &mut Option<String>) {
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
    fn names_hidden(&self, text: &str) -> bool {
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

/// Whether an action addresses people through a field hidden from the caller: a user field
/// among its recipients, or an address template that reads a hidden value.
fn recipients_read_hidden(
    app: &trellis_core::AppDef,
    entity: Option<&trellis_core::EntityDef>,
    hidden: &trellis_core::permissions::HiddenFields,
    a: &ActionDef,
) -> bool {
    let to = match a {
        ActionDef::Notify { to, .. } | ActionDef::Email { to, .. } | ActionDef::Sms { to, .. } => to,
        _ => return false,
    };
    let Some(e) = entity else {
        return false;
    };
    let own = hidden.get(e.name.as_str());
    to.fields.iter().any(|f| own.is_some_and(|h| h.contains(f.as_str())))
        || to
            .addresses
            .iter()
            .any(|t| trellis_core::permissions::script_reads_hidden(app, e, hidden, t))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
